//! The scheduler: one node, elected through etcd, places the fragments' leaders and standbys
//! and grows new fragments.
//!
//! Every node runs a [`Scheduler`]; each campaigns for the `scheduler` key with its node
//! lease (a transaction that puts the key only if it does not exist), and the one that
//! holds it schedules, until it stops (it deletes the key then, so another takes over at
//! once), its lease is lost (the key vanishes with it, and it stops acting at once), or the
//! key is gone (deposed). The others try again every period.
//!
//! While elected, every period it reads the nodes and each fragment's `meta`, `assign`,
//! `leader`, `epoch` and `load` keys at one revision, and:
//!
//! 1. creates the initial fragments when there are none;
//! 2. runs [`crate::placement::place`] and writes the `assign` keys that change — the nodes
//!    do the rest: a newly assigned leader takes over from the old one gracefully, and the
//!    standbys of a dead leader fail over without waiting for the scheduler. A fragment whose
//!    assigned leader died and that has no leader yet is left to its standbys for
//!    [`SchedulerConfig::failover_grace_ms`] before the scheduler promotes one, so that it
//!    adopts whichever standby won instead of moving the leadership again;
//! 3. feeds the leaders' load samples to [`crate::autogrow`] and, when a fragment stays
//!    overloaded and there are fewer than [`SchedulerConfig::max_fragments`], creates the next
//!    fragment (a new id, never one used before), which the next round places.
//!
//! Every write is an etcd transaction that compares the `scheduler` key's create revision
//! with the one this scheduler created: a deposed scheduler cannot write.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use etcd_client::{Client, Compare, CompareOp, PutOptions, Txn, TxnOp};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::autogrow::{self, Autogrow, AutogrowConfig};
use crate::etcd::{ClusterError, Etcd};
use crate::keys::{Assignment, Keys};
use crate::lease::NodeLease;
use crate::placement::{self, FragmentPlacement};
use crate::state::{self, Snapshot};

/// Assignments written per transaction.
const WRITES_PER_TXN: usize = 100;
/// The scheduler's settings (the `[cluster.scheduler]` TOML section).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Replicas per fragment, the leader included (fewer when there are fewer nodes).
    pub replicas: usize,
    /// Fragments created when the cluster has none.
    pub initial_fragments: u32,
    /// Auto-grow stops at this many fragments.
    pub max_fragments: u32,
    /// Auto-grow: a sample with more active transactions than this is an overloaded one.
    pub autogrow_threshold: u64,
    /// Auto-grow: the window, in milliseconds.
    pub autogrow_window_ms: u64,
    /// Auto-grow: fewer samples than this in the window is not enough to judge.
    pub autogrow_min_samples: usize,
    /// How often the elected scheduler looks at the cluster, and the others at the
    /// `scheduler` key, in milliseconds.
    pub period_ms: u64,
    /// How long a fragment whose assigned leader died is left to its standbys' failover
    /// before the scheduler promotes one, in milliseconds.
    pub failover_grace_ms: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            replicas: placement::DEFAULT_REPLICAS,
            initial_fragments: 6,
            max_fragments: 64,
            autogrow_threshold: autogrow::DEFAULT_THRESHOLD,
            autogrow_window_ms: autogrow::DEFAULT_WINDOW_MS,
            autogrow_min_samples: autogrow::DEFAULT_MIN_SAMPLES,
            period_ms: 500,
            failover_grace_ms: 3000,
        }
    }
}

impl SchedulerConfig {
    /// Checks the values (at least one replica and one initial fragment, a period, ...).
    pub fn validate(&self) -> Result<(), ClusterError> {
        let fail = |m: &str| Err(ClusterError::Config(format!("scheduler: {m}")));
        if self.replicas == 0 {
            return fail("replicas must be at least 1");
        }
        if self.initial_fragments == 0 {
            return fail("initial_fragments must be at least 1");
        }
        if self.max_fragments < self.initial_fragments {
            return fail("max_fragments must be at least initial_fragments");
        }
        if self.max_fragments > 99_999 {
            return fail("max_fragments must be at most 99999 (fragment ids have 5 digits)");
        }
        if self.period_ms == 0 || self.autogrow_window_ms == 0 {
            return fail("period_ms and autogrow_window_ms must be positive");
        }
        Ok(())
    }

    fn autogrow(&self) -> AutogrowConfig {
        AutogrowConfig {
            threshold: self.autogrow_threshold,
            window_ms: self.autogrow_window_ms,
            min_samples: self.autogrow_min_samples,
        }
    }

    fn period(&self) -> Duration {
        Duration::from_millis(self.period_ms.max(1))
    }
}

/// Why and when a fragment was created, under `fragments/<f>/meta`. A fragment exists once
/// its meta key does; the key is never deleted, so fragment ids are never reused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FragmentMeta {
    /// When (ms since the Unix epoch).
    pub created_ms: i64,
    /// The scheduler's node.
    pub created_by: String,
    /// `initial`, or `autogrow: fragment <f> overloaded (...)`.
    pub reason: String,
}

/// A running scheduler (see the module docs). Dropping it stops it in the background;
/// [`Scheduler::stop`] also waits.
#[derive(Debug)]
pub struct Scheduler {
    node_id: String,
    leader: Arc<AtomicBool>,
    stop: watch::Sender<bool>,
    done: crossbeam_channel::Receiver<()>,
}

impl Scheduler {
    /// Starts campaigning (and, once elected, scheduling) in the background on `etcd`'s
    /// runtime, as `node_id`, with the node's `lease`. Out-of-range settings are clamped;
    /// check them with [`SchedulerConfig::validate`] first.
    pub fn start(
        etcd: Etcd,
        node_id: String,
        lease: NodeLease,
        config: SchedulerConfig,
    ) -> Scheduler {
        let leader = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = watch::channel(false);
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let task = Task {
            keys: etcd.keys().clone(),
            client: etcd.client(),
            limit: crate::etcd::request_limit(&etcd),
            node_id: node_id.clone(),
            lease,
            config,
            leader: leader.clone(),
            stopped,
        };
        etcd.spawn(async move {
            task.run().await;
            let _ = done_tx.send(());
        });
        Scheduler {
            node_id,
            leader,
            stop,
            done,
        }
    }

    /// Whether this node is the elected scheduler now.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Acquire)
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Stops: when elected, resigns (deletes the `scheduler` key, so another node takes over
    /// without waiting for the lease) and waits (at most 5 s) until the task has ended. Must
    /// not be called from the etcd runtime's threads. Idempotent.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
        let _ = self.done.recv_timeout(Duration::from_secs(5));
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Why a term ended.
enum TermEnd {
    Stopped,
    LeaseLost,
    Deposed,
}

struct Task {
    keys: Keys,
    client: Client,
    /// One request's time limit.
    limit: std::time::Duration,
    node_id: String,
    lease: NodeLease,
    config: SchedulerConfig,
    leader: Arc<AtomicBool>,
    stopped: watch::Receiver<bool>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Task {
    async fn run(mut self) {
        let mut lost = self.lease.lost();
        loop {
            if *self.stopped.borrow() {
                break;
            }
            if !self.lease.is_alive() || *lost.borrow() {
                tracing::warn!(node = %self.node_id, "scheduler: the node lease is lost; not campaigning any more");
                break;
            }
            match self.campaign().await {
                Ok(Some(term)) => {
                    self.leader.store(true, Ordering::Release);
                    tracing::info!(node = %self.node_id, term, "scheduler: elected");
                    let end = self.lead(term, &mut lost).await;
                    self.leader.store(false, Ordering::Release);
                    match end {
                        TermEnd::Stopped => {
                            self.resign(term).await;
                            break;
                        }
                        TermEnd::LeaseLost => {
                            tracing::warn!(node = %self.node_id, term, "scheduler: the node lease is lost; stepped down");
                            break;
                        }
                        TermEnd::Deposed => {
                            tracing::warn!(node = %self.node_id, term, "scheduler: the scheduler key is no longer ours; stepped down");
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(node = %self.node_id, error = %e, "scheduler: campaigning");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.period()) => {}
                _ = self.stopped.changed() => {}
                _ = lost.changed() => {}
            }
        }
        self.leader.store(false, Ordering::Release);
    }

    /// One attempt: the term (the key's create revision) when this node holds the key.
    async fn campaign(&mut self) -> Result<Option<i64>, ClusterError> {
        let key = self.keys.scheduler();
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key.clone(),
                self.node_id.clone(),
                Some(PutOptions::new().with_lease(self.lease.id())),
            )])
            .or_else([TxnOp::get(key.clone(), None)]);
        let response = self.client.txn(txn).await?;
        if response.succeeded() {
            // The put is the transaction's only write: its revision is the key's create
            // revision.
            return match response.header() {
                Some(h) => Ok(Some(h.revision())),
                None => Err(ClusterError::Corrupt {
                    key,
                    reason: "a transaction response without a header".into(),
                }),
            };
        }
        // Held: by this node with this lease (a term whose end went unnoticed, e.g. after a
        // failed read) it is ours again.
        for r in response.op_responses() {
            if let etcd_client::TxnOpResponse::Get(g) = r {
                if let Some(kv) = g.kvs().first() {
                    if kv.value() == self.node_id.as_bytes() && kv.lease() == self.lease.id() {
                        return Ok(Some(kv.create_revision()));
                    }
                }
            }
        }
        Ok(None)
    }

    async fn resign(&mut self, term: i64) {
        let key = self.keys.scheduler();
        let txn = Txn::new()
            .when([Compare::create_revision(
                key.clone(),
                CompareOp::Equal,
                term,
            )])
            .and_then([TxnOp::delete(key, None)]);
        match self.client.txn(txn).await {
            Ok(_) => tracing::info!(node = %self.node_id, term, "scheduler: resigned"),
            Err(e) => {
                tracing::warn!(node = %self.node_id, term, error = %e, "scheduler: resigning")
            }
        }
    }

    fn guard(&self, term: i64) -> Compare {
        Compare::create_revision(self.keys.scheduler(), CompareOp::Equal, term)
    }

    async fn lead(&mut self, term: i64, lost: &mut watch::Receiver<bool>) -> TermEnd {
        let mut round = Round {
            term,
            ids: Vec::new(),
            autogrow: Autogrow::new(self.config.autogrow()),
            leaderless_since: BTreeMap::new(),
        };
        loop {
            if *self.stopped.borrow() {
                return TermEnd::Stopped;
            }
            if !self.lease.is_alive() || *lost.borrow() {
                return TermEnd::LeaseLost;
            }
            let again = match self.round(&mut round).await {
                Ok(Some(again)) => again,
                Ok(None) => return TermEnd::Deposed,
                Err(e) => {
                    tracing::warn!(node = %self.node_id, error = %e, "scheduler: round failed; retrying");
                    false
                }
            };
            if again {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.period()) => {}
                _ = self.stopped.changed() => {}
                _ = lost.changed() => {}
            }
        }
    }

    /// One round. `Ok(None)`: deposed. `Ok(Some(true))`: something was created; run the next
    /// round at once.
    async fn round(&mut self, r: &mut Round) -> Result<Option<bool>, ClusterError> {
        let Some(snapshot) =
            state::read(&self.client, &self.keys, self.limit, Some(r.term)).await?
        else {
            return Ok(None);
        };
        r.ids = snapshot.fragments.iter().map(|f| f.id).collect();
        let existing: Vec<u32> = snapshot
            .fragments
            .iter()
            .filter(|f| f.meta.is_some())
            .map(|f| f.id)
            .collect();
        if existing.is_empty() {
            let first = r.next_id();
            let ids: Vec<u32> = (0..self.config.initial_fragments.max(1))
                .filter_map(|i| first.checked_add(i))
                .collect();
            return match self.create(r.term, &ids, "initial").await? {
                true => {
                    tracing::info!(node = %self.node_id, fragments = ?ids, "scheduler: created the initial fragments");
                    Ok(Some(true))
                }
                false => Ok(Some(false)),
            };
        }
        if !self.place(r, &snapshot).await? {
            return Ok(None);
        }
        self.grow(r, &snapshot, existing.len()).await
    }

    /// Writes the fragments' meta keys (and nothing else) if none of them exists. Whether
    /// they were written; `false` also when this scheduler was deposed (the next read tells).
    async fn create(&mut self, term: i64, ids: &[u32], reason: &str) -> Result<bool, ClusterError> {
        let meta = FragmentMeta {
            created_ms: now_ms(),
            created_by: self.node_id.clone(),
            reason: reason.to_owned(),
        };
        let value = serde_json::to_vec(&meta).map_err(|e| ClusterError::Corrupt {
            key: self.keys.fragments(),
            reason: e.to_string(),
        })?;
        let mut compares = vec![self.guard(term)];
        let mut puts = Vec::new();
        for &f in ids {
            // Neither its meta nor its epoch ever existed: the id was never used.
            compares.push(Compare::create_revision(
                self.keys.fragment_meta(f),
                CompareOp::Equal,
                0,
            ));
            compares.push(Compare::create_revision(
                self.keys.epoch(f),
                CompareOp::Equal,
                0,
            ));
            puts.push(TxnOp::put(self.keys.fragment_meta(f), value.clone(), None));
        }
        let response = self
            .client
            .txn(Txn::new().when(compares).and_then(puts))
            .await?;
        Ok(response.succeeded())
    }

    /// Runs placement and writes what changed. `false`: deposed.
    async fn place(&mut self, r: &mut Round, s: &Snapshot) -> Result<bool, ClusterError> {
        let nodes: Vec<String> = s.nodes.iter().map(|n| n.node_id.clone()).collect();
        if nodes.is_empty() {
            return Ok(true);
        }
        let live = |n: &str| nodes.binary_search_by(|x| x.as_str().cmp(n)).is_ok();
        let fragments: Vec<FragmentPlacement> = s
            .fragments
            .iter()
            .filter(|f| f.meta.is_some())
            .map(|f| FragmentPlacement {
                id: f.id,
                assignment: f.assignment.clone(),
                actual_leader: f.leader.as_ref().map(|l| l.node_id.clone()),
            })
            .collect();
        let placed = placement::place(&nodes, &fragments, self.config.replicas.max(1));
        let now = Instant::now();
        let grace = Duration::from_millis(self.config.failover_grace_ms);
        let mut writes: Vec<(u32, &Assignment, Option<&Assignment>)> = Vec::new();
        for f in &fragments {
            let Some(new) = placed.get(&f.id) else {
                continue;
            };
            let old = f.assignment.as_ref();
            if old == Some(new) {
                r.leaderless_since.remove(&f.id);
                continue;
            }
            // The assigned leader died and no one leads yet, but a standby lives: its
            // standbys are campaigning; give them the grace period.
            let waiting = old.is_some_and(|a| {
                !live(&a.leader) && f.actual_leader.is_none() && a.standbys.iter().any(|s| live(s))
            });
            if waiting {
                let since = *r.leaderless_since.entry(f.id).or_insert(now);
                if now.duration_since(since) < grace {
                    tracing::debug!(
                        fragment = f.id,
                        "scheduler: leaving the failover to the standbys"
                    );
                    continue;
                }
            } else {
                r.leaderless_since.remove(&f.id);
            }
            writes.push((f.id, new, old));
        }
        for chunk in writes.chunks(WRITES_PER_TXN) {
            let mut puts = Vec::new();
            for (f, new, _) in chunk {
                let value = serde_json::to_vec(new).map_err(|e| ClusterError::Corrupt {
                    key: self.keys.assignment(*f),
                    reason: e.to_string(),
                })?;
                puts.push(TxnOp::put(self.keys.assignment(*f), value, None));
            }
            let response = self
                .client
                .txn(Txn::new().when([self.guard(r.term)]).and_then(puts))
                .await?;
            if !response.succeeded() {
                return Ok(false);
            }
            for (f, new, old) in chunk {
                r.leaderless_since.remove(f);
                tracing::info!(
                    fragment = f,
                    leader = %new.leader,
                    standbys = ?new.standbys,
                    was_leader = old.map(|a| a.leader.as_str()).unwrap_or("-"),
                    was_standbys = ?old.map(|a| &a.standbys),
                    "scheduler: assigned"
                );
            }
        }
        Ok(true)
    }

    /// Feeds the load samples to auto-grow and grows one fragment when one stays overloaded.
    async fn grow(
        &mut self,
        r: &mut Round,
        s: &Snapshot,
        existing: usize,
    ) -> Result<Option<bool>, ClusterError> {
        let now = now_ms();
        for f in &s.fragments {
            if let (Some(_), Some(load)) = (&f.meta, &f.load) {
                r.autogrow.record(f.id, load, now);
            }
        }
        let exists = |id: u32| s.fragments.iter().any(|f| f.id == id && f.meta.is_some());
        r.autogrow.retain(exists);
        if existing >= usize::try_from(self.config.max_fragments).unwrap_or(usize::MAX) {
            return Ok(Some(false));
        }
        let Some(&hot) = r.autogrow.overloaded(now).first() else {
            return Ok(Some(false));
        };
        let Some(id) = Some(r.next_id()).filter(|&id| id <= 99_999) else {
            return Ok(Some(false));
        };
        let (over, total) = r
            .autogrow
            .sampler(hot)
            .map(|x| (x.over(self.config.autogrow_threshold), x.len()))
            .unwrap_or_default();
        let reason = format!(
            "autogrow: fragment {hot} overloaded ({over} of {total} samples above {} active transactions)",
            self.config.autogrow_threshold
        );
        if self.create(r.term, &[id], &reason).await? {
            tracing::info!(node = %self.node_id, fragment = id, overloaded = hot, over, total, "scheduler: grew a fragment");
            r.autogrow.reset(hot);
            r.ids.push(id);
            return Ok(Some(true));
        }
        Ok(Some(false))
    }
}

/// A term's state between rounds.
struct Round {
    term: i64,
    /// Every fragment id with any key (not only those with meta), as last read.
    ids: Vec<u32>,
    autogrow: Autogrow,
    leaderless_since: BTreeMap<u32, Instant>,
}

impl Round {
    /// The next fragment id: above every id that has any key.
    fn next_id(&self) -> u32 {
        self.ids.iter().max().map_or(0, |&m| m.saturating_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_validate_and_reject_unknown_fields() {
        let c: SchedulerConfig = serde_json::from_str(r#"{"replicas": 2}"#).unwrap();
        assert_eq!(c.replicas, 2);
        assert_eq!(c.initial_fragments, 6);
        assert_eq!(c.period_ms, 500);
        assert!(c.validate().is_ok());
        assert!(serde_json::from_str::<SchedulerConfig>(r#"{"replica": 2}"#).is_err());
        let bad = SchedulerConfig {
            max_fragments: 2,
            ..SchedulerConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
