//! Which fragments this node leads, kept in line with etcd by one control thread.
//!
//! Every [`ManagerConfig::period_ms`], and at once when an etcd watch sees a node, a leader or
//! an assignment change ([`super::wake`]), it reads the placement of every fragment (one small
//! range read of `fragments/`, which holds no sessions) and the live nodes, then per fragment:
//!
//! - **led here**: given up at once when its store failed, the node's lease is lost, or the
//!   leader key is no longer this leadership's; handed over gracefully when the scheduler
//!   assigned it to another live node.
//! - **no leader**: the assigned leader campaigns at once; a standby campaigns when the
//!   assigned leader is dead, or after [`ManagerConfig::standby_delay_ms`] times its rank
//!   without a leader — so failover does not wait for the scheduler. A fragment nobody
//!   assigned yet may be taken by any node (the scheduler moves it later).
//!
//! It also samples the open transactions of each led fragment into `fragments/<f>/load`
//! (for the scheduler's auto-grow), and re-joins with a new lease when the node's lease was
//! lost.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use etcd_client::PutOptions;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tars::client::Communicator;
use tars_coordinator::service::CoordinatorConfig;
use tars_coordinator::store::StoreError;

use super::fragment::LedFragment;
use super::leadership::{campaign, resign, Fence};
use super::standby::WarmCopy;
use super::wake::{PlacementWatch, Wake};
use crate::etcd::{ClusterError, Etcd};
use crate::keys::{Assignment, LeaderInfo, LoadSample, NodeInfo};
use crate::lease::NodeLease;

/// Timings of the fragment manager (the `[cluster]` TOML section).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ManagerConfig {
    /// How often placement is read and acted on at the latest, in milliseconds (a change
    /// seen by the manager's watches wakes it earlier).
    pub period_ms: u64,
    /// How long the n-th standby waits (n × this) for the assigned leader before it
    /// campaigns, in milliseconds.
    pub standby_delay_ms: u64,
    /// How often each led fragment's load is sampled into etcd, in milliseconds.
    pub load_sample_ms: u64,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            period_ms: 250,
            standby_delay_ms: 300,
            load_sample_ms: 1000,
        }
    }
}

/// One fragment as read from etcd.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Placement {
    /// The scheduler's assignment, once there is one.
    pub assignment: Option<Assignment>,
    /// The current leader and its key's create revision.
    pub leader: Option<(LeaderInfo, i64)>,
}

/// What the manager read last: fragments and live nodes.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    /// Every fragment.
    pub fragments: BTreeMap<u32, Placement>,
    /// Every live node.
    pub nodes: BTreeMap<String, NodeInfo>,
}

/// Reads every fragment's placement and every live node (one read of the small keys).
pub async fn read_view(etcd: &Etcd) -> Result<ClusterView, ClusterError> {
    let limit = crate::etcd::request_limit(etcd);
    let snapshot = crate::state::read(&etcd.client(), etcd.keys(), limit, None)
        .await?
        .ok_or_else(|| {
            ClusterError::Unavailable("an unguarded read reported a failed compare".into())
        })?;
    Ok(ClusterView {
        fragments: snapshot
            .fragments
            .into_iter()
            .map(|f| {
                let leader = f.leader.zip(f.leader_revision);
                (
                    f.id,
                    Placement {
                        assignment: f.assignment,
                        leader,
                    },
                )
            })
            .collect(),
        nodes: snapshot
            .nodes
            .into_iter()
            .map(|n| (n.node_id.clone(), n))
            .collect(),
    })
}

/// What a node runs fragments with.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    /// `--node-id`.
    pub node_id: String,
    /// What the node publishes under `nodes/<id>`.
    pub info: NodeInfo,
    /// `host:port` of its coordinator (where the other nodes forward calls to).
    pub coordinator: String,
    /// `host:port` carried in the XIDs it issues: its coordinator, or its Seata front end
    /// when it runs one (Java clients send a transaction's requests to its XID's address).
    pub xid_address: String,
}

struct State {
    led: RwLock<BTreeMap<u32, Arc<LedFragment>>>,
    /// Warm copies of the fragments this node stands by for.
    warm: Mutex<BTreeMap<u32, WarmCopy>>,
    view: RwLock<ClusterView>,
    lease: Mutex<NodeLease>,
    stop: AtomicBool,
    next_begin: AtomicUsize,
    /// Raised by the placement watches (and by stopping).
    wake: Arc<Wake>,
    watch: Mutex<Option<PlacementWatch>>,
}

impl State {
    /// Tells the control thread to end, wakes it and ends the watches.
    fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake.raise();
        self.watch.lock().take();
    }
}

/// The fragments this node leads (see the module docs).
pub struct FragmentManager {
    etcd: Etcd,
    identity: NodeIdentity,
    communicator: Communicator,
    coordinator: CoordinatorConfig,
    config: ManagerConfig,
    state: State,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for FragmentManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FragmentManager")
            .field("node", &self.identity.node_id)
            .field("led", &self.led_ids())
            .finish_non_exhaustive()
    }
}

/// Publishes the node under `nodes/<id>` with `lease`.
pub fn publish_node(etcd: &Etcd, lease: &NodeLease, info: &NodeInfo) -> Result<(), ClusterError> {
    let value = serde_json::to_vec(info).map_err(|e| ClusterError::Config(e.to_string()))?;
    let key = etcd.keys().node(&info.node_id);
    let options = PutOptions::new().with_lease(lease.id());
    etcd.block_on(etcd.put(key, value, Some(options)))?;
    Ok(())
}

impl FragmentManager {
    /// Starts managing this node's fragments with `lease` (the node is published already).
    pub fn start(
        etcd: Etcd,
        lease: NodeLease,
        identity: NodeIdentity,
        communicator: Communicator,
        coordinator: CoordinatorConfig,
        config: ManagerConfig,
    ) -> Result<Arc<FragmentManager>, ClusterError> {
        let wake = Arc::new(Wake::default());
        let watch = PlacementWatch::start(&etcd, wake.clone());
        let manager = Arc::new(FragmentManager {
            etcd,
            identity,
            communicator,
            coordinator,
            config,
            state: State {
                led: RwLock::new(BTreeMap::new()),
                warm: Mutex::new(BTreeMap::new()),
                view: RwLock::new(ClusterView::default()),
                lease: Mutex::new(lease),
                stop: AtomicBool::new(false),
                next_begin: AtomicUsize::new(0),
                wake,
                watch: Mutex::new(Some(watch)),
            },
            thread: Mutex::new(None),
        });
        let m = manager.clone();
        let handle = std::thread::Builder::new()
            .name("fragment-manager".into())
            .spawn(move || m.run())
            .map_err(|e| ClusterError::Config(format!("fragment manager thread: {e}")))?;
        *manager.thread.lock() = Some(handle);
        Ok(manager)
    }

    /// The node's id.
    pub fn node_id(&self) -> &str {
        &self.identity.node_id
    }

    /// The fragments led here, sorted.
    pub fn led_ids(&self) -> Vec<u32> {
        self.state.led.read().keys().copied().collect()
    }

    /// The fragment `f`, if led here.
    pub fn led(&self, f: u32) -> Option<Arc<LedFragment>> {
        self.state.led.read().get(&f).cloned()
    }

    /// The led fragment that takes new transactions with the most free room: every fragment
    /// has the same capacity, so the one with the fewest open transactions (capacity-relative
    /// over the fragments led here); ties are taken in turn.
    pub fn pick_for_begin(&self) -> Option<Arc<LedFragment>> {
        let led = self.state.led.read();
        let open: Vec<(&Arc<LedFragment>, usize)> = led
            .values()
            .filter(|f| f.accepts_begins())
            .map(|f| (f, f.core().len()))
            .collect();
        let least = open.iter().map(|(_, n)| *n).min()?;
        let ties: Vec<&Arc<LedFragment>> = open
            .iter()
            .filter(|(_, n)| *n == least)
            .map(|(f, _)| *f)
            .collect();
        let i = self.state.next_begin.fetch_add(1, Ordering::Relaxed) % ties.len();
        Some(ties[i].clone())
    }

    /// The coordinator address of the leader of `f`, as last read.
    pub fn leader_address(&self, f: u32) -> Option<String> {
        let view = self.state.view.read();
        let (info, _) = view.fragments.get(&f)?.leader.as_ref()?;
        Some(info.coordinator.clone())
    }

    /// The coordinator address of some other node's leader (for a `begin` this node cannot
    /// take), spread over them.
    pub fn other_leader_address(&self) -> Option<String> {
        let view = self.state.view.read();
        let others: Vec<&str> = view
            .fragments
            .values()
            .filter_map(|p| p.leader.as_ref())
            .filter(|(l, _)| l.node_id != self.identity.node_id)
            .map(|(l, _)| l.coordinator.as_str())
            .collect();
        if others.is_empty() {
            return None;
        }
        let i = self.state.next_begin.fetch_add(1, Ordering::Relaxed) % others.len();
        Some(others[i].to_owned())
    }

    /// Open transactions of the fragments led here.
    pub fn active_transactions(&self) -> usize {
        self.state.led.read().values().map(|f| f.core().len()).sum()
    }

    /// Hands every led fragment over (graceful shutdown), stops the control thread.
    pub fn shutdown(&self) {
        self.state.stop();
        self.state.warm.lock().clear();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
        let led = std::mem::take(&mut *self.state.led.write());
        if !self.state.lease.lock().is_alive() {
            // Without the lease nothing can be flushed or resigned: the keys are gone or
            // going, and other nodes take over.
            for f in led.values() {
                f.stop(StoreError::NotLeader {
                    fragment: f.fragment(),
                });
            }
            return;
        }
        // In parallel: each handover waits for its flush and its resign.
        std::thread::scope(|scope| {
            for f in led.values() {
                scope.spawn(|| f.hand_over(&self.etcd));
            }
        });
    }

    /// Whether the node's lease is certainly still granted ([`NodeLease::is_valid`]): the
    /// router serves nothing from the fragments led here while it is not.
    pub fn lease_valid(&self) -> bool {
        self.state.lease.lock().is_valid()
    }

    /// The node's current lease.
    pub fn lease(&self) -> NodeLease {
        self.state.lease.lock().clone()
    }

    /// Stops at once, as if the process died: the control thread ends, every led fragment
    /// stops acknowledging (nothing is handed over or resigned) and the lease is abandoned,
    /// so other nodes take the fragments over when it expires.
    pub fn halt(&self) {
        self.state.stop();
        self.state.warm.lock().clear();
        self.state.lease.lock().abandon();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
        let led = std::mem::take(&mut *self.state.led.write());
        for f in led.values() {
            f.stop(StoreError::NotLeader {
                fragment: f.fragment(),
            });
        }
    }

    fn run(&self) {
        let period = Duration::from_millis(self.config.period_ms.max(10));
        let mut leaderless_since: HashMap<u32, Instant> = HashMap::new();
        let mut last_sample = Instant::now();
        while !self.state.stop.load(Ordering::Acquire) {
            let started = Instant::now();
            self.ensure_lease();
            match self.etcd.block_on(read_view(&self.etcd)) {
                Ok(view) => {
                    self.act(&view, &mut leaderless_since);
                    *self.state.view.write() = view;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "reading the cluster view");
                    // Without etcd nothing can be acknowledged anyway; leases decide.
                    self.drop_failed();
                }
            }
            if last_sample.elapsed() >= Duration::from_millis(self.config.load_sample_ms) {
                last_sample = Instant::now();
                self.sample_load();
            }
            self.state
                .wake
                .wait(period.saturating_sub(started.elapsed()));
        }
    }

    /// Gives up every fragment when the lease was lost, and re-joins with a new one.
    fn ensure_lease(&self) {
        let lease = self.state.lease.lock().clone();
        if lease.is_alive() {
            return;
        }
        let led = std::mem::take(&mut *self.state.led.write());
        for f in led.values() {
            tracing::warn!(
                fragment = f.fragment(),
                "node lease lost: giving the fragment up"
            );
            f.stop(StoreError::NotLeader {
                fragment: f.fragment(),
            });
        }
        match NodeLease::grant(&self.etcd, lease.ttl())
            .and_then(|l| publish_node(&self.etcd, &l, &self.identity.info).map(|()| l))
        {
            Ok(l) => {
                tracing::info!(node = %self.identity.node_id, "re-joined with a new lease");
                *self.state.lease.lock() = l;
            }
            Err(e) => tracing::debug!(error = %e, "re-joining"),
        }
    }

    fn drop_failed(&self) {
        let mut led = self.state.led.write();
        led.retain(|_, f| {
            let Some(e) = f.failure() else { return true };
            f.stop(e);
            false
        });
    }

    /// Keeps a warm copy of every fragment this node stands by for (and no other).
    fn keep_warm(&self, view: &ClusterView) {
        let me = self.identity.node_id.as_str();
        let led = self.led_ids();
        let mut warm = self.state.warm.lock();
        let wanted: Vec<u32> = view
            .fragments
            .iter()
            .filter(|(f, p)| {
                !led.contains(f)
                    && p.assignment
                        .as_ref()
                        .is_some_and(|a| a.standbys.iter().any(|s| s == me))
            })
            .map(|(f, _)| *f)
            .collect();
        warm.retain(|f, _| wanted.contains(f));
        for f in wanted {
            warm.entry(f)
                .or_insert_with(|| WarmCopy::start(&self.etcd, f));
        }
    }

    /// The fragments this node keeps a warm copy of, and whether each copy is current.
    pub fn warm_copies(&self) -> Vec<(u32, bool)> {
        self.state
            .warm
            .lock()
            .iter()
            .map(|(f, w)| (*f, w.snapshot().is_some()))
            .collect()
    }

    fn act(&self, view: &ClusterView, leaderless_since: &mut HashMap<u32, Instant>) {
        let me = self.identity.node_id.as_str();
        let lease = self.state.lease.lock().clone();
        if !lease.is_alive() {
            return;
        }
        self.keep_warm(view);
        for (&f, placement) in &view.fragments {
            if let Some(led) = self.led(f) {
                // Led here: when it is leaderless next (handed over, given up), the standby
                // delay counts from then, not from an older leaderless spell.
                leaderless_since.remove(&f);
                let still_ours = placement
                    .leader
                    .as_ref()
                    .is_some_and(|(_, rev)| *rev == led.fence().revision);
                if let Some(e) = led.failure() {
                    led.stop(e);
                    self.state.led.write().remove(&f);
                } else if !still_ours {
                    tracing::warn!(fragment = f, "lost the fragment's leader key: giving it up");
                    led.stop(StoreError::NotLeader { fragment: f });
                    self.state.led.write().remove(&f);
                } else if let Some(a) = &placement.assignment {
                    if a.leader != me && view.nodes.contains_key(&a.leader) {
                        tracing::info!(fragment = f, to = %a.leader, "handing the fragment over");
                        self.state.led.write().remove(&f);
                        led.hand_over(&self.etcd);
                    }
                }
                continue;
            }
            if let Some((info, revision)) = &placement.leader {
                leaderless_since.remove(&f);
                if info.node_id == me {
                    // A leadership this node holds but does not serve: given up after its
                    // store failed, or a take-over whose resign failed too (etcd was down).
                    // Its key lives as long as the node's lease, so nobody else would ever
                    // take the fragment over: let it go.
                    self.resign_unserved(f, info, *revision);
                }
                continue;
            }
            let since = *leaderless_since.entry(f).or_insert_with(Instant::now);
            let should = match &placement.assignment {
                None => true,
                Some(a) if a.leader == me => true,
                Some(a) => match a.standbys.iter().position(|s| s == me) {
                    Some(rank) => {
                        !view.nodes.contains_key(&a.leader)
                            || since.elapsed()
                                >= Duration::from_millis(
                                    self.config.standby_delay_ms * (rank as u64 + 1),
                                )
                    }
                    // Neither leader nor standby: only when nobody assigned is alive.
                    None => {
                        std::iter::once(&a.leader)
                            .chain(&a.standbys)
                            .all(|n| !view.nodes.contains_key(n))
                            && since.elapsed()
                                >= Duration::from_millis(self.config.standby_delay_ms * 4)
                    }
                },
            };
            if should {
                self.try_lead(f, &lease);
            }
        }
    }

    fn resign_unserved(&self, f: u32, info: &LeaderInfo, revision: i64) {
        let fence = Fence {
            fragment: f,
            key: self.etcd.keys().leader(f),
            revision,
            epoch: info.epoch,
            graceful: false,
        };
        match self.etcd.block_on(resign(&self.etcd, &fence)) {
            Ok(true) => tracing::warn!(
                fragment = f,
                epoch = info.epoch,
                "resigned a leadership this node no longer serves"
            ),
            Ok(false) => {}
            Err(e) => tracing::debug!(fragment = f, error = %e, "resigning an unserved leadership"),
        }
    }

    fn try_lead(&self, f: u32, lease: &NodeLease) {
        let won = self.etcd.block_on(campaign(
            &self.etcd,
            f,
            lease.id(),
            &self.identity.node_id,
            &self.identity.coordinator,
        ));
        let fence = match won {
            Ok(Some(fence)) => fence,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(fragment = f, error = %e, "campaign");
                return;
            }
        };
        let warm = self.state.warm.lock().remove(&f).and_then(|w| w.snapshot());
        match LedFragment::start(
            &self.etcd,
            fence.clone(),
            &self.identity.xid_address,
            self.communicator.clone(),
            &self.coordinator,
            warm,
        ) {
            Ok(led) => {
                self.state.led.write().insert(f, led);
            }
            Err(e) => {
                tracing::error!(fragment = f, error = %e, "taking the fragment over failed; resigning");
                // If this fails too, a later round resigns it (see `act`).
                let _ = self.etcd.block_on(resign(&self.etcd, &fence));
            }
        }
    }

    fn sample_load(&self) {
        let led: Vec<Arc<LedFragment>> = self.state.led.read().values().cloned().collect();
        let at_ms = tars_coordinator::session::wall_clock_ms();
        for f in led {
            let sample = LoadSample {
                active: f.core().len() as u64,
                at_ms,
            };
            let Ok(value) = serde_json::to_vec(&sample) else {
                continue;
            };
            let key = self.etcd.keys().load(f.fragment());
            if let Err(e) = self.etcd.block_on(self.etcd.put(key, value, None)) {
                tracing::debug!(fragment = f.fragment(), error = %e, "load sample");
            }
        }
    }
}
