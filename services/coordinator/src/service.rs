//! Hosting the coordinator: [`CoordinatorConfig`] (TOML) and [`CoordinatorService`], which opens
//! the store, recovers the open transactions (undecided ones are rolled back, decided ones
//! resume phase two), starts the phase-two driver and is [`Hosted`] on the adapter serving
//! `tars.tarscoordinator.CoordinatorObj` — alone ([`CoordinatorService::start`]) or next to the
//! registry in `tarsd`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tars::client::{Communicator, Locator};
use tars::server::{Servants, Server, ServerError};
use tars_bootstrap::{Hosted, Hosting};
use tars_protocols::tarstx::CoordinatorServant;

use crate::core::Admission;
use crate::core::TransactionCore;
use crate::driver::{DriverConfig, PhaseTwoDriver};
use crate::participants::Participants;
use crate::servant::CoordinatorServantImpl;
use crate::store::{SessionStore, StoreError, TxStore};
use crate::xid::XidGenerator;

/// Object name of the coordinator.
pub const COORDINATOR_OBJ: &str = "tars.tarscoordinator.CoordinatorObj";
/// Adapter name of the coordinator.
pub const ADAPTER: &str = "tars.tarscoordinator.CoordinatorAdapter";
/// The coordinator's default port.
pub const DEFAULT_PORT: u16 = 17891;

/// Coordinator settings (TOML; every field optional).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoordinatorConfig {
    /// Directory of the session database (`coordinator.redb`).
    pub data_dir: PathBuf,
    /// Keep sessions in memory only (nothing survives a restart). For tests.
    pub in_memory: bool,
    /// Begin a new database although this data directory ran a coordinator before and its
    /// database is missing or empty (tarsd `--init`; never read from a file). Without it such
    /// a start is refused ([`StoreError::Missing`]).
    #[serde(skip)]
    pub init: bool,
    /// Listening host.
    pub host: String,
    /// Listening port (0 picks a free one).
    pub port: u16,
    /// The fragment this coordinator leads (carried in every XID it issues).
    pub fragment: u32,
    /// Business threads; 0 serves on the network thread (nothing in the servant blocks).
    pub threads: usize,
    /// Network threads of the server [`CoordinatorService::start`] starts.
    pub net_threads: usize,
    /// The locator participants are resolved through: a registry's
    /// `tars.tarsregistry.RegistryObj@tcp -h .. -p ..` (with metadata) or any Tars registry's
    /// `...QueryObj@...`. Without one, branch resource ids must be full proxy strings.
    pub locator: Option<String>,
    /// Timeout of one phase-two call to a participant, in milliseconds.
    pub phase_two_timeout_ms: u64,
    /// Retry period (and first backoff) in milliseconds.
    pub retry_period_ms: u64,
    /// Longest backoff between retries of one transaction, in milliseconds.
    pub max_backoff_ms: u64,
    /// Timeout check period in milliseconds.
    pub timeout_check_ms: u64,
    /// Async commit period in milliseconds.
    pub async_commit_ms: u64,
    /// How long after its begin a commit keeps retrying before it ends as
    /// `CommitRetryTimeout`, in milliseconds (0: forever). Default a day.
    pub max_commit_retry_ms: u64,
    /// How long after its begin a rollback keeps retrying before it ends as
    /// `RollbackRetryTimeout` with its rows still locked, in milliseconds (0: forever).
    /// Default a day.
    pub max_rollback_retry_ms: u64,
    /// Open transactions at most (past it `begin` is refused as overloaded).
    pub max_open_transactions: usize,
    /// Open transactions of one application id at most.
    pub max_open_per_application: usize,
    /// All-AT commits waiting to finish in the background at most (past it `begin` is held
    /// back).
    pub max_async_commit_backlog: usize,
    /// The longest transaction timeout, in milliseconds (a longer one is cut to it).
    pub max_timeout_ms: u64,
    /// Who may do what to a transaction (`[coordinator.access]`; open when not enforced).
    pub access: crate::access::AccessConfig,
    /// How the nodes (their Seata bridges, other coordinators) are reached: `ssl` and `-e 1`
    /// where the node's adapters need them (set by tarsd from its `[security]`; never read
    /// from a file).
    #[serde(skip)]
    pub peer_transport: tars::endpoint::Transport,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        let d = DriverConfig::default();
        let a = Admission::default();
        CoordinatorConfig {
            data_dir: PathBuf::from("tars-data/coordinator"),
            in_memory: false,
            init: false,
            host: "127.0.0.1".into(),
            port: DEFAULT_PORT,
            fragment: 0,
            threads: 0,
            net_threads: 1,
            locator: None,
            phase_two_timeout_ms: 3000,
            retry_period_ms: d.retry_period.as_millis() as u64,
            max_backoff_ms: d.max_backoff.as_millis() as u64,
            timeout_check_ms: d.timeout_check_period.as_millis() as u64,
            async_commit_ms: d.async_commit_period.as_millis() as u64,
            max_commit_retry_ms: crate::driver::DEFAULT_MAX_RETRY.as_millis() as u64,
            max_rollback_retry_ms: crate::driver::DEFAULT_MAX_RETRY.as_millis() as u64,
            max_open_transactions: a.max_open,
            max_open_per_application: a.max_open_per_application,
            max_async_commit_backlog: a.max_async_backlog,
            max_timeout_ms: a.max_timeout.as_millis() as u64,
            access: Default::default(),
            peer_transport: Default::default(),
        }
    }
}

impl CoordinatorConfig {
    /// What the core admits.
    pub fn admission(&self) -> Admission {
        Admission {
            max_open: self.max_open_transactions,
            max_open_per_application: self.max_open_per_application,
            max_async_backlog: self.max_async_commit_backlog,
            max_timeout: Duration::from_millis(self.max_timeout_ms.max(1)),
        }
    }

    /// The phase-two driver's periods.
    pub fn driver(&self) -> DriverConfig {
        DriverConfig {
            retry_period: Duration::from_millis(self.retry_period_ms),
            max_backoff: Duration::from_millis(self.max_backoff_ms),
            timeout_check_period: Duration::from_millis(self.timeout_check_ms),
            async_commit_period: Duration::from_millis(self.async_commit_ms),
            max_commit_retry: (self.max_commit_retry_ms > 0)
                .then(|| Duration::from_millis(self.max_commit_retry_ms)),
            max_rollback_retry: (self.max_rollback_retry_ms > 0)
                .then(|| Duration::from_millis(self.max_rollback_retry_ms)),
            ..DriverConfig::default()
        }
    }
}

/// Why the coordinator did not start.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The locator string is not a proxy.
    #[error("locator {0:?}: {1}")]
    Locator(String, String),
    /// The fragment or epoch does not fit in an XID.
    #[error(transparent)]
    Ids(#[from] crate::xid::IdError),
    /// The driver's threads did not start.
    #[error("starting the phase-two driver: {0}")]
    Driver(std::io::Error),
}

/// Takes over `recovered` sessions (undecided ones are rolled back — or kept open when
/// `keep_undecided`, after a graceful handover — decided ones resume phase two, AT rows are
/// locked again) into `core`, starts the phase-two driver calling
/// participants through `communicator`, and drives the recovered transactions once the
/// rollbacks decided here are durable. Used at every start, and by a new fragment leader in
/// cluster mode.
pub fn take_over(
    core: &Arc<TransactionCore>,
    store: Arc<dyn TxStore>,
    recovered: Vec<crate::session::GlobalSession>,
    keep_undecided: bool,
    communicator: Communicator,
    config: &CoordinatorConfig,
) -> std::io::Result<Arc<PhaseTwoDriver>> {
    let resume = core.restore_with(recovered, keep_undecided);
    let participants = Participants::new(
        communicator,
        Duration::from_millis(config.phase_two_timeout_ms.max(1)),
    )
    .with_bridge_transport(config.peer_transport.clone());
    let driver = Arc::new(PhaseTwoDriver::start(
        core.clone(),
        store.clone(),
        participants,
        config.driver(),
    )?);
    if !resume.is_empty() {
        tracing::info!(
            transactions = resume.len(),
            fragment = core.xids().fragment(),
            epoch = core.xids().epoch(),
            "resuming phase two of recovered transactions"
        );
    }
    // Undecided ones were turned into rollbacks by restore(): store that, then drive.
    let d = driver.clone();
    store.after_durable(Box::new(move |r| match r {
        Ok(()) => {
            for xid in resume {
                d.drive(xid, None);
            }
        }
        Err(e) => tracing::error!(error = %e, "recovered rollbacks not stored"),
    }));
    Ok(driver)
}

/// An opened coordinator, recovered and driving phase two, ready to be served.
#[derive(Debug, Clone)]
pub struct CoordinatorService {
    core: Arc<TransactionCore>,
    store: Arc<SessionStore>,
    driver: Arc<PhaseTwoDriver>,
    config: CoordinatorConfig,
    epoch: u64,
    communicator: Communicator,
}

impl CoordinatorService {
    /// Opens the store, takes over its open transactions and starts the driver. Participants
    /// are resolved through `config.locator` (if any).
    pub fn open(config: CoordinatorConfig) -> Result<CoordinatorService, CoordinatorError> {
        Self::open_with_locator(config, None)
    }

    /// Like [`CoordinatorService::open`], resolving participants through `locator` when
    /// given (it takes precedence over `config.locator`): `tarsd` passes the registry it hosts.
    pub fn open_with_locator(
        config: CoordinatorConfig,
        locator: Option<Arc<dyn Locator>>,
    ) -> Result<CoordinatorService, CoordinatorError> {
        Self::open_with(config, locator, Communicator::new())
    }

    /// Like [`CoordinatorService::open_with_locator`], calling participants through a clone
    /// of `base` (e.g. one with the node's own credentials,
    /// [`Communicator::with_auth_key`] / [`Communicator::with_tls`]).
    pub fn open_with(
        config: CoordinatorConfig,
        locator: Option<Arc<dyn Locator>>,
        base: Communicator,
    ) -> Result<CoordinatorService, CoordinatorError> {
        let (store, recovered) = if config.in_memory {
            SessionStore::in_memory()?
        } else {
            SessionStore::open_with(&config.data_dir.join("coordinator.redb"), config.init)?
        };
        let store = Arc::new(store);
        let epoch = recovered.epoch;
        let address = format!("{}:{}", config.host, config.port);
        let xids = XidGenerator::new(&address, config.fragment, epoch)?;
        let core = Arc::new(
            TransactionCore::new(xids)
                .with_admission(config.admission())
                .with_journal(store.clone()),
        );
        let communicator = match (&config.locator, locator) {
            (_, Some(locator)) => Ok(base.with_locator_impl(locator)),
            (None, None) => Ok(base),
            (Some(l), None) if l.contains("QueryObj") => base.with_locator(l),
            (Some(l), None) => base.with_registry_locator(l),
        }
        .map_err(|e| {
            CoordinatorError::Locator(config.locator.clone().unwrap_or_default(), e.to_string())
        })?;
        let driver = take_over(
            &core,
            store.clone(),
            recovered.sessions,
            false,
            communicator.clone(),
            &config,
        )
        .map_err(CoordinatorError::Driver)?;
        Ok(CoordinatorService {
            core,
            store,
            driver,
            config,
            epoch,
            communicator,
        })
    }

    /// The transaction state.
    pub fn core(&self) -> &Arc<TransactionCore> {
        &self.core
    }

    /// The session store.
    pub fn store(&self) -> &Arc<SessionStore> {
        &self.store
    }

    /// The phase-two driver.
    pub fn driver(&self) -> &Arc<PhaseTwoDriver> {
        &self.driver
    }

    /// An operator retries a transaction whose phase two gave up (`CommitRetryTimeout`,
    /// `RollbackRetryTimeout`): it is driven again now, and may retry for the full time
    /// again. False when `xid` is not such a transaction (see [`TransactionCore::retry`]).
    pub fn retry(&self, xid: &str) -> bool {
        self.driver.retry(xid)
    }

    /// The communicator phase two reaches participants through (clones share its settings,
    /// e.g. the objects it calls in process, [`Communicator::serve_locally`]).
    pub fn communicator(&self) -> &Communicator {
        &self.communicator
    }

    /// The leader epoch of this start.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Starts a server with just the coordinator; [`Server::local_addr`] of [`ADAPTER`] gives
    /// its address. The same as [`Hosted::start`], without importing the trait.
    pub fn start(&self) -> Result<Server, ServerError> {
        let server = Hosted::start(self)?;
        if let Some(addr) = server.local_addr(ADAPTER) {
            self.set_address(addr);
        }
        Ok(server)
    }

    /// The address later XIDs carry (`host:port` of the bound coordinator adapter; the
    /// configured one until this is called).
    pub fn set_address(&self, addr: std::net::SocketAddr) {
        self.core.xids().set_address(&addr.to_string());
    }

    /// Stops phase two and writes out the store (call after the server stopped).
    pub fn shutdown(&self) {
        self.driver.shutdown();
        if let Err(e) = self.store.sync() {
            tracing::warn!(error = %e, "final store sync");
        }
        self.store.close();
    }
}

impl CoordinatorService {
    /// The servant over this coordinator's core, store and phase-two driver (the one hosted
    /// under [`COORDINATOR_OBJ`]; its `*_with` operations can be called directly).
    pub fn servant(&self) -> CoordinatorServantImpl {
        CoordinatorServantImpl::new(self.core.clone(), self.store.clone(), self.driver.clone())
            .with_access(self.config.access.clone())
    }
}

impl Hosted for CoordinatorService {
    /// [`ADAPTER`] on the configured host, port and threads.
    fn hosting(&self) -> Hosting {
        Hosting::new(ADAPTER, self.config.host.clone(), self.config.port)
            .with_threads(self.config.threads)
            .with_net_threads(self.config.net_threads)
    }

    /// The Coordinator servant under [`COORDINATOR_OBJ`].
    fn add_servants(&self, servants: &mut Servants) {
        servants.add(
            COORDINATOR_OBJ,
            Arc::new(CoordinatorServant::new(self.servant())),
        );
    }
}
