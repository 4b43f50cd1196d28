//! A fragment this node leads: its core, its etcd store, its phase-two driver and the
//! servant that serves its transactions — started when the node wins the fragment, handed
//! over or given up when it stops leading it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tars::client::Communicator;
use tars_coordinator::core::TransactionCore;
use tars_coordinator::driver::PhaseTwoDriver;
use tars_coordinator::servant::CoordinatorServantImpl;
use tars_coordinator::service::{take_over, CoordinatorConfig};
use tars_coordinator::store::{StoreError, TxStore};
use tars_coordinator::xid::XidGenerator;

use super::leadership::{resign_handover, Fence};
use super::standby::{LoadStats, Snapshot};
use super::store::FragmentStore;
use crate::etcd::{ClusterError, Etcd};

/// A led fragment (see the module docs).
#[derive(Debug)]
pub struct LedFragment {
    core: Arc<TransactionCore>,
    store: Arc<FragmentStore>,
    driver: Arc<PhaseTwoDriver>,
    servant: CoordinatorServantImpl,
    loaded: LoadStats,
    /// Set while handing over: new transactions go elsewhere.
    draining: AtomicBool,
}

impl LedFragment {
    /// Loads the fragment won with `fence` from etcd, takes its transactions over (undecided
    /// ones roll back — unless the previous leader handed over gracefully, then they stay
    /// open — decided ones resume phase two, AT rows stay locked) and starts serving
    /// it. XIDs carry `address` (this node's coordinator); participants are called through
    /// `communicator`. With a standby's `warm` copy only what changed since is read.
    pub fn start(
        etcd: &Etcd,
        fence: Fence,
        address: &str,
        communicator: Communicator,
        config: &CoordinatorConfig,
        warm: Option<Snapshot>,
    ) -> Result<Arc<LedFragment>, ClusterError> {
        let xids = XidGenerator::new(address, fence.fragment, fence.epoch)
            .map_err(|e| ClusterError::Config(e.to_string()))?;
        let (store, sessions, loaded) = FragmentStore::open_warm(etcd, fence, warm)?;
        let store = Arc::new(store);
        let core = Arc::new(
            TransactionCore::new(xids)
                .with_admission(config.admission())
                .with_journal(store.clone()),
        );
        let restored = sessions.len();
        let graceful = store.fence().graceful;
        let driver = take_over(
            &core,
            store.clone(),
            sessions,
            graceful,
            communicator,
            config,
        )
        .map_err(|e| ClusterError::Config(format!("phase-two driver: {e}")))?;
        // A failed write may leave a decision in memory that etcd does not have (the TM was
        // told FailedStore; the next leader reads the transaction back undecided and rolls it
        // back): phase two stops before anyone learns of the failure, so the background
        // retries never drive such a decision to the participants.
        let stop_driving = Arc::downgrade(&driver);
        store.on_failure(move || {
            if let Some(driver) = stop_driving.upgrade() {
                driver.shutdown();
            }
        });
        let servant = CoordinatorServantImpl::new(core.clone(), store.clone(), driver.clone())
            .with_access(config.access.clone());
        tracing::info!(
            fragment = store.fence().fragment,
            epoch = store.fence().epoch,
            restored,
            graceful,
            warm = loaded.from_warm_copy,
            values_read = loaded.values_read,
            "leading fragment"
        );
        Ok(Arc::new(LedFragment {
            core,
            store,
            driver,
            servant,
            loaded,
            draining: AtomicBool::new(false),
        }))
    }

    /// The fragment.
    pub fn fragment(&self) -> u32 {
        self.store.fence().fragment
    }

    /// The leadership it serves under.
    pub fn fence(&self) -> &Fence {
        self.store.fence()
    }

    /// How its sessions were loaded when it was taken over.
    pub fn loaded(&self) -> LoadStats {
        self.loaded
    }

    /// The transactions.
    pub fn core(&self) -> &Arc<TransactionCore> {
        &self.core
    }

    /// The servant serving its transactions.
    pub fn servant(&self) -> &CoordinatorServantImpl {
        &self.servant
    }

    /// Whether it takes new transactions (not handing over, store healthy).
    pub fn accepts_begins(&self) -> bool {
        !self.draining.load(Ordering::Acquire) && self.store.failure().is_none()
    }

    /// Why its store stopped, if it did.
    pub fn failure(&self) -> Option<StoreError> {
        self.store.failure()
    }

    /// Graceful handover: stops taking transactions, waits until everything acknowledged
    /// so far is in etcd, resigns (the leader key goes, so the assigned node takes over at
    /// once), then stops. Calls still arriving are answered `NotRaftLeader` and retried by
    /// the client on the new leader.
    pub fn hand_over(&self, etcd: &Etcd) {
        self.draining.store(true, Ordering::Release);
        if let Err(e) = self.store.sync() {
            tracing::warn!(fragment = self.fragment(), error = %e, "flushing before handover");
        }
        self.stop(StoreError::NotLeader {
            fragment: self.fragment(),
        });
        match etcd.block_on(resign_handover(etcd, self.fence())) {
            Ok(true) => tracing::info!(fragment = self.fragment(), "handed the fragment over"),
            Ok(false) => {}
            Err(e) => tracing::warn!(fragment = self.fragment(), error = %e, "resigning"),
        }
    }

    /// Stops serving at once: every waiting and later write fails with `why`, phase two
    /// stops (the next leader resumes it from etcd).
    pub fn stop(&self, why: StoreError) {
        self.draining.store(true, Ordering::Release);
        self.store.fail(why);
        self.driver.shutdown();
    }
}
