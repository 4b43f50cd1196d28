//! A fragment's sessions and AT row locks in etcd, written with **group commit** and fenced
//! by the leader's [`Fence`].
//!
//! The core hands every change over in order (it holds its session table while it does). A
//! writer thread takes everything queued, keeps only the last change of each session and
//! row, and writes the sessions' changes as one entry of the fragment's session log (see
//! [`super::log`]; more only past [`MAX_TXN_BYTES`]) and the rows as keys, in etcd
//! transactions of at most [`MAX_TXN_OPS`] operations and [`MAX_TXN_BYTES`] bytes (etcd's
//! defaults are 128 and 1.5 MiB), up to [`IN_FLIGHT`] at a time. Once the log is long enough
//! the writer checkpoints it between two batches. When busy (the last batch carried at least `LINGER_AFTER` changes) and fewer changes
//! are queued than it carried, the writer waits up to as long as the last batch took (at most
//! `MAX_LINGER`, 3 ms) for more to join: etcd's CPU per key write falls with the size of the
//! transaction (measured: 0.19 → 0.12 transactions per TCC transaction, ~25% less etcd and
//! node CPU per transaction). When a batch fits in one transaction, the rows it releases are
//! deleted in that same transaction. Every transaction compares the leader key's revision: once this node lost the
//! fragment, nothing it sends is applied. Acknowledgements run only after etcd committed
//! every change queued before them.
//!
//! Row locks are cluster-wide keys `locks/<row>` holding the XID. Taking them
//! ([`TxStore::acquire_rows`]) is a transaction of its own that compares each new row's
//! key as absent, so two fragments never hold one row; it runs after every change queued
//! before it (a row this fragment released a moment ago is free by then). The acquires
//! waiting together are taken in one transaction (up to `ROWS_PER_TXN` rows, no row twice);
//! only when that one is refused is each taken on its own, to tell which one conflicts. Released rows are
//! deleted only after the session changes of the same batch committed, so a row is never
//! free while a stored session still counts on it.
//!
//! Any failed write ends this store: its outcome may be unknown, so memory and etcd may
//! differ. Every waiting and later acknowledgement fails (`NotLeader` when the fence
//! compare failed, `Unavailable` when etcd did not answer), and the node gives the fragment
//! up; the next leader reads the fragment back from etcd. The failure hook
//! ([`FragmentStore::on_failure`]: the led fragment stops its phase-two driver) runs before
//! the failure becomes visible to anyone, so no decision whose write failed — still held in
//! memory — is ever driven to the participants.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use etcd_client::{Compare, CompareOp, GetOptions, Txn, TxnOp, TxnOpResponse};
use futures::stream::StreamExt;
use parking_lot::{Condvar, Mutex};
use tars::bytes::Bytes;
use tars::codec::Writer;
use tars_coordinator::core::Journal;
use tars_coordinator::session::GlobalSession;
use tars_coordinator::store::{
    decode_record, encode_record, Ack, AckQueue, RowsDone, RowsRefused, StoreError, StoreStats,
    TxStore,
};

use super::leadership::Fence;
use super::log;
use super::standby::{load, LoadStats, Snapshot};
use crate::etcd::{ClusterError, Etcd};

/// Operations per etcd transaction (etcd's `--max-txn-ops` default is 128; one is the fence).
pub const MAX_TXN_OPS: usize = 120;
/// Bytes of keys and values per etcd transaction (etcd's `--max-request-bytes` default is
/// 1.5 MiB; the rest is headroom for framing).
pub const MAX_TXN_BYTES: usize = 1024 * 1024;
/// Transactions of one batch in flight at once (more adds latency, not throughput).
pub const IN_FLIGHT: usize = 4;
/// Linger before a batch when the previous one carried at least this many changes.
const LINGER_AFTER: usize = 16;
/// Stop lingering once this many changes are queued.
const LINGER_TARGET: usize = 256;
/// The longest linger.
const MAX_LINGER: std::time::Duration = std::time::Duration::from_millis(3);
/// Acquires of at most this many rows are taken inside the batch's transaction. etcd allows a
/// nested transaction `--max-txn-ops` (128) minus the operations of the one around it (at most
/// [`MAX_TXN_OPS`]) in each branch: 8, and the refusal branch reads the fence and every row.
const INLINE_ROWS: usize = 7;
/// Rows taken per lock transaction (each is a compare and a put).
const ROWS_PER_TXN: usize = 100;

/// A change handed over by the core.
enum Change {
    /// A session's new record, by XID.
    Put(String, Bytes),
    /// A session ended, by XID.
    Remove(String),
    /// A row lock key to delete.
    FreeRow(String),
}

/// The writer's view of the session log: the sessions as etcd holds them (what the next
/// checkpoint writes) and how long the log has grown since the last one.
struct LogState {
    /// XID → record, as of the last log entry written.
    image: HashMap<String, Bytes>,
    /// The next sequence number (log entries and image generations).
    next_seq: u64,
    /// Log entries since the checkpoint.
    entries: u64,
    /// The bytes of the records and XIDs they hold.
    bytes: usize,
    /// The bytes of the records in `image`.
    image_bytes: usize,
}

impl LogState {
    fn due(&self) -> bool {
        log::checkpoint_due(self.entries, self.bytes, self.image_bytes)
    }
}

struct Acquire {
    xid: String,
    rows: Vec<String>,
    done: RowsDone,
}

#[derive(Default)]
struct Queue {
    changes: Vec<Change>,
    acquires: Vec<Acquire>,
    acks: AckQueue,
    stop: bool,
    stats: StoreStats,
}

/// What runs before a failure of the store becomes visible.
type FailureHook = Arc<dyn Fn() + Send + Sync>;

struct Shared {
    etcd: Etcd,
    fence: Fence,
    queue: Mutex<Queue>,
    wake: Condvar,
    on_failure: Mutex<Option<FailureHook>>,
}

impl Shared {
    /// Runs the failure hook (without holding the queue). Call it before `failed` is set and
    /// before any acknowledgement fails: until then nobody can act on the failure.
    fn before_failing(&self) {
        let hook = self.on_failure.lock().clone();
        if let Some(hook) = hook {
            hook();
        }
    }
}

/// The store of one led fragment (see the module docs).
pub struct FragmentStore {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for FragmentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FragmentStore")
            .field("fragment", &self.shared.fence.fragment)
            .field("epoch", &self.shared.fence.epoch)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn unavailable(e: ClusterError) -> StoreError {
    match e {
        ClusterError::NotLeader { fragment } => StoreError::NotLeader { fragment },
        other => StoreError::Unavailable(other.to_string()),
    }
}

impl FragmentStore {
    /// Reads the fragment's open transactions back (a consistent read), deletes the row
    /// locks of this fragment that no stored session holds (left by a leader that died
    /// between taking rows and storing the branch), and starts the writer. Call right after
    /// winning the fragment with `fence`.
    pub fn open(
        etcd: &Etcd,
        fence: Fence,
    ) -> Result<(FragmentStore, Vec<GlobalSession>), ClusterError> {
        Self::open_warm(etcd, fence, None).map(|(store, sessions, _)| (store, sessions))
    }

    /// [`FragmentStore::open`] from a standby's warm copy: only the keys and the sessions
    /// changed since the copy's revision are read.
    pub fn open_warm(
        etcd: &Etcd,
        fence: Fence,
        warm: Option<Snapshot>,
    ) -> Result<(FragmentStore, Vec<GlobalSession>, LoadStats), ClusterError> {
        let (sessions, replayed, loaded) =
            etcd.block_on(read_sessions(etcd, fence.fragment, warm))?;
        let log = LogState {
            image_bytes: replayed.records.values().map(Bytes::len).sum(),
            image: replayed.records,
            next_seq: replayed.next_seq,
            entries: replayed.entries,
            bytes: replayed.bytes,
        };
        etcd.block_on(free_orphan_rows(etcd, &fence, &sessions))?;
        let shared = Arc::new(Shared {
            etcd: etcd.clone(),
            fence,
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            on_failure: Mutex::new(None),
        });
        let writer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("tx-etcd-writer-{}", shared.fence.fragment))
                .spawn(move || write_loop(&shared, log))
                .map_err(|e| ClusterError::Config(format!("starting the writer thread: {e}")))?
        };
        Ok((
            FragmentStore {
                shared,
                writer: Mutex::new(Some(writer)),
            },
            sessions,
            loaded,
        ))
    }

    /// The leadership it writes under.
    pub fn fence(&self) -> &Fence {
        &self.shared.fence
    }

    /// Why it stopped accepting writes, if it did.
    pub fn failure(&self) -> Option<StoreError> {
        self.shared.queue.lock().acks.failed().cloned()
    }

    fn push(&self, change: Change) {
        let mut q = self.shared.queue.lock();
        q.changes.push(change);
        q.acks.push();
        q.stats.changes += 1;
        if q.changes.len() == 1 || q.changes.len() == LINGER_TARGET {
            self.shared.wake.notify_one();
        }
    }

    /// Runs `hook` when the store fails, before the failure is visible to anyone (before
    /// any acknowledgement fails); at once if it already failed. A write that failed may
    /// leave a decision in memory that etcd does not have: the hook stops whatever would act
    /// on it (the led fragment stops its phase-two driver).
    pub fn on_failure(&self, hook: impl Fn() + Send + Sync + 'static) {
        let hook: FailureHook = Arc::new(hook);
        *self.shared.on_failure.lock() = Some(hook.clone());
        if self.failure().is_some() {
            hook();
        }
    }

    /// Fails every waiting and later acknowledgement with `error` (the node gave the
    /// fragment up) and stops the writer.
    pub fn fail(&self, error: StoreError) {
        self.shared.before_failing();
        let (waiters, error, acquires) = {
            let mut q = self.shared.queue.lock();
            q.stop = true;
            q.changes.clear();
            let (waiters, error) = q.acks.fail(error);
            (waiters, error, std::mem::take(&mut q.acquires))
        };
        self.shared.wake.notify_one();
        for ack in waiters {
            ack(Err(error.clone()));
        }
        for a in acquires {
            (a.done)(Err(RowsRefused::Store(error.clone())));
        }
    }
}

impl Drop for FragmentStore {
    fn drop(&mut self) {
        TxStore::close(self);
    }
}

impl Journal for FragmentStore {
    fn put(&self, session: &GlobalSession) {
        let mut w = Writer::new();
        encode_record(session, &mut w);
        self.push(Change::Put(session.xid.clone(), w.into_bytes()));
    }

    fn remove(&self, xid: &str) {
        self.push(Change::Remove(xid.to_owned()));
    }

    fn rows_released(&self, rows: &[String]) {
        for row in rows {
            self.push(Change::FreeRow(self.shared.etcd.keys().lock(row)));
        }
    }
}

impl TxStore for FragmentStore {
    fn after_durable(&self, ack: Ack) {
        let mut q = self.shared.queue.lock();
        let stop = q.stop;
        if let Some((ack, outcome)) = q.acks.wait(ack, stop) {
            drop(q);
            ack(outcome);
        }
    }

    fn acquire_rows(&self, xid: &str, rows: Vec<String>, done: RowsDone) {
        if rows.is_empty() {
            return done(Ok(()));
        }
        let mut q = self.shared.queue.lock();
        if let Some(e) = q.acks.failed().cloned() {
            drop(q);
            return done(Err(RowsRefused::Store(e)));
        }
        q.acquires.push(Acquire {
            xid: xid.to_owned(),
            rows,
            done,
        });
        self.shared.wake.notify_one();
    }

    fn shares_locks(&self) -> bool {
        true
    }

    fn close(&self) {
        self.shared.queue.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(writer) = self.writer.lock().take() {
            if writer.thread().id() != std::thread::current().id() {
                let _ = writer.join();
            }
        }
    }

    fn stats(&self) -> StoreStats {
        self.shared.queue.lock().stats
    }
}

fn write_loop(shared: &Shared, mut log: LogState) {
    let mut last_batch = 0usize;
    let mut last_took = std::time::Duration::ZERO;
    loop {
        let (changes, acquires, upto) = {
            let mut q = shared.queue.lock();
            while q.acks.failed().is_none()
                && q.changes.is_empty()
                && q.acquires.is_empty()
                && !q.stop
            {
                shared.wake.wait(&mut q);
            }
            // Busy (the last batch was big) and fewer changes queued than it carried: wait up
            // to as long as the last batch took (at most MAX_LINGER) for more to join.
            if last_batch >= LINGER_AFTER
                && q.changes.len() < last_batch
                && q.acks.failed().is_none()
                && !q.stop
            {
                let wait = last_took.min(MAX_LINGER);
                let deadline = Instant::now() + wait;
                while q.acks.failed().is_none() && !q.stop && q.changes.len() < LINGER_TARGET {
                    if shared.wake.wait_until(&mut q, deadline).timed_out() {
                        break;
                    }
                }
                q.stats.lingered += 1;
            }
            last_batch = q.changes.len();
            if q.acks.failed().is_some()
                || (q.stop && q.changes.is_empty() && q.acquires.is_empty())
            {
                let waiters = q.acks.take_all();
                let acquires = std::mem::take(&mut q.acquires);
                let e = q.acks.failed().cloned().unwrap_or(StoreError::Closed);
                drop(q);
                for ack in waiters {
                    ack(Err(e.clone()));
                }
                for a in acquires {
                    (a.done)(Err(RowsRefused::Store(e.clone())));
                }
                return;
            }
            (
                std::mem::take(&mut q.changes),
                std::mem::take(&mut q.acquires),
                q.acks.queued(),
            )
        };
        let mut acquires = acquires;
        if !changes.is_empty() || !acquires.is_empty() {
            let started = Instant::now();
            let result = shared
                .etcd
                .block_on(write_batch(shared, &mut log, changes, &acquires));
            last_took = started.elapsed();
            let mut q = shared.queue.lock();
            match result {
                Ok((txns, writes, inline)) => {
                    q.stats.commits += txns;
                    q.stats.writes += writes;
                    let ready = q.acks.durable(upto);
                    drop(q);
                    for ack in ready {
                        ack(Ok(()));
                    }
                    // The acquires taken in the batch's transaction hear now; the rest are
                    // taken below.
                    let mut rest = Vec::new();
                    for (a, r) in acquires.into_iter().zip(inline) {
                        match r {
                            Some(Ok(())) => (a.done)(Ok(())),
                            Some(Err(TakeError::Refused(r))) => (a.done)(Err(r)),
                            Some(Err(TakeError::Etcd(e))) => {
                                (a.done)(Err(RowsRefused::Store(unavailable(e))))
                            }
                            None => rest.push(a),
                        }
                    }
                    acquires = rest;
                }
                Err(e) => {
                    drop(q);
                    fail_writes(shared, e, acquires);
                    continue; // the top of the loop fails the rest
                }
            }
        }
        // Between two batches, once the log is long enough (the batch's acknowledgements
        // went out first: they do not wait for it).
        if log.due() {
            match shared.etcd.block_on(checkpoint(shared, &mut log)) {
                Ok((txns, writes)) => {
                    let mut q = shared.queue.lock();
                    q.stats.commits += txns;
                    q.stats.writes += writes;
                }
                Err(e) => {
                    fail_writes(shared, e, acquires);
                    continue;
                }
            }
        }
        if !acquires.is_empty() {
            let groups = group_acquires(&acquires);
            let results = shared.etcd.block_on(async {
                futures::stream::iter(groups.iter().map(|g| take_group(shared, &acquires, g)))
                    .buffered(IN_FLIGHT)
                    .collect::<Vec<_>>()
                    .await
            });
            // Back in the order of `acquires` (the groups are runs of consecutive ones).
            let results = results.into_iter().flatten();
            let mut fatal = None;
            let results: Vec<Result<(), RowsRefused>> = results
                .into_iter()
                .map(|r| {
                    r.map_err(|e| match e {
                        TakeError::Refused(r) => r,
                        TakeError::Etcd(e) => {
                            let e = unavailable(e);
                            fatal = Some(e.clone());
                            RowsRefused::Store(e)
                        }
                    })
                })
                .collect();
            if let Some(e) = fatal {
                fail_acks(shared, e, "taking row locks failed");
            }
            for (a, r) in acquires.into_iter().zip(results) {
                (a.done)(r);
            }
        }
    }
}

/// Fails the store after a write to etcd failed (its outcome is unknown): the failure hook
/// first, then every waiting acknowledgement and `acquires`.
fn fail_writes(shared: &Shared, e: ClusterError, acquires: Vec<Acquire>) {
    let e = fail_acks(shared, unavailable(e), "fragment store write failed");
    for a in acquires {
        (a.done)(Err(RowsRefused::Store(e.clone())));
    }
}

/// Fails the store with `e` (`what` failed): the failure hook first, then every waiting
/// acknowledgement. Returns the error the store now answers with.
fn fail_acks(shared: &Shared, e: StoreError, what: &str) -> StoreError {
    tracing::error!(fragment = shared.fence.fragment, error = %e, "{what}; giving the fragment up");
    shared.before_failing();
    let (waiters, e) = shared.queue.lock().acks.fail(e);
    for ack in waiters {
        ack(Err(e.clone()));
    }
    e
}

/// Writes one batch: the last change of each session (one log entry, more only past
/// [`MAX_TXN_BYTES`]) and of each row. When the whole batch fits in one etcd
/// transaction, the released rows are deleted in the same transaction as the session changes
/// (atomically, so a row is still never free while a stored session counts on it, and the
/// batch costs one round trip), and the waiting `acquires` that fit are taken in it too, each
/// as a nested transaction of its own (its rows compared as absent, then put; all or none per
/// acquire, as on their own); otherwise the sessions go first, then the released rows.
/// Returns (transactions, key writes, the outcome of each acquire taken here or `None`).
async fn write_batch(
    shared: &Shared,
    log: &mut LogState,
    changes: Vec<Change>,
    acquires: &[Acquire],
) -> Result<(u64, u64, Vec<Option<Result<(), TakeError>>>), ClusterError> {
    let mut inline: Vec<Option<Result<(), TakeError>>> = acquires.iter().map(|_| None).collect();
    // XIDs and row lock keys never look alike (a lock key starts with the prefix).
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(changes.len());
    for (i, c) in changes.iter().enumerate() {
        let key = match c {
            Change::Put(k, _) | Change::Remove(k) | Change::FreeRow(k) => k.as_str(),
        };
        last.insert(key, i);
    }
    let mut puts: Vec<(&str, &Bytes)> = Vec::new();
    let mut removed: Vec<&str> = Vec::new();
    let mut rows = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        match c {
            Change::Put(k, _) | Change::Remove(k) | Change::FreeRow(k)
                if last.get(k.as_str()) != Some(&i) => {}
            Change::Put(xid, record) => puts.push((xid, record)),
            Change::Remove(xid) => removed.push(xid),
            Change::FreeRow(k) => rows.push((TxnOp::delete(k.clone(), None), k.len())),
        }
    }
    let sessions = log_entries(shared, log, &puts, &removed);
    let entries = sessions.len();
    let writes = (sessions.len() + rows.len()) as u64;
    let mut bytes: usize = sessions.iter().chain(&rows).map(|(_, n)| n).sum();
    if sessions.len() + rows.len() <= MAX_TXN_OPS && bytes <= MAX_TXN_BYTES {
        // Rows freed in this batch cannot be taken in it (a transaction may not delete and
        // put one key, and its compares see the rows as they were before it): those acquires
        // run after it. No row is put twice either.
        let freed: HashSet<&str> = changes
            .iter()
            .filter_map(|c| match c {
                Change::FreeRow(k) => Some(k.as_str()),
                _ => None,
            })
            .collect();
        let keys = shared.etcd.keys();
        let mut put: HashSet<String> = HashSet::new();
        let base = sessions.len() + rows.len();
        let mut ops: Vec<TxnOp> = sessions.into_iter().chain(rows).map(|(op, _)| op).collect();
        let mut nested = Vec::new();
        for (i, a) in acquires.iter().enumerate() {
            if ops.len() >= MAX_TXN_OPS {
                break;
            }
            if a.rows.is_empty() || a.rows.len() > INLINE_ROWS {
                continue;
            }
            let lock_keys: Vec<String> = a.rows.iter().map(|r| keys.lock(r)).collect();
            let size: usize = lock_keys.iter().map(|k| k.len() + a.xid.len()).sum();
            if bytes + size > MAX_TXN_BYTES
                || lock_keys
                    .iter()
                    .any(|k| freed.contains(k.as_str()) || put.contains(k))
            {
                continue;
            }
            bytes += size;
            let txn = take_txn(shared, &a.xid, &lock_keys, false);
            put.extend(lock_keys);
            ops.push(TxnOp::txn(txn));
            nested.push(i);
        }
        if ops.is_empty() {
            return Ok((0, 0, inline));
        }
        let txn = Txn::new().when([shared.fence.compare()]).and_then(ops);
        let resp = shared.etcd.txn(txn).await?;
        if !resp.succeeded() {
            return Err(ClusterError::NotLeader {
                fragment: shared.fence.fragment,
            });
        }
        let responses = resp.op_responses().into_iter().skip(base);
        for (i, r) in nested.into_iter().zip(responses) {
            let a = &acquires[i];
            inline[i] = Some(match r {
                TxnOpResponse::Txn(t) if t.succeeded() => Ok(()),
                TxnOpResponse::Txn(t) => Err(refusal(shared, &a.rows, &a.xid, t.op_responses())),
                _ => Err(TakeError::Etcd(ClusterError::Corrupt {
                    key: keys.lock(a.rows.first().map(String::as_str).unwrap_or_default()),
                    reason: "etcd answered a nested transaction with another response".into(),
                })),
            });
        }
        log.written(&puts, &removed, entries);
        return Ok((1, writes, inline));
    }
    let mut txns = run_chunked(shared, sessions).await?;
    log.written(&puts, &removed, entries);
    txns += run_chunked(shared, rows).await?;
    Ok((txns, writes, inline))
}

/// The log entries holding `puts` and `removed` (each at most about [`MAX_TXN_BYTES`]), with
/// their sizes; none when there is nothing to write.
fn log_entries(
    shared: &Shared,
    log: &mut LogState,
    puts: &[(&str, &Bytes)],
    removed: &[&str],
) -> Vec<(TxnOp, usize)> {
    let keys = shared.etcd.keys();
    let values = log::packed_chunks(
        puts.iter().map(|(_, record)| *record),
        removed.iter().copied(),
        MAX_TXN_BYTES - 4096,
    );
    values
        .into_iter()
        .map(|value| {
            let key = keys.log_entry(shared.fence.fragment, log.next_seq);
            log.next_seq += 1;
            let size = key.len() + value.len();
            (TxnOp::put(key, value, None), size)
        })
        .collect()
}

impl LogState {
    /// Records a batch's `entries` log entries, holding `puts` and `removed`, as written.
    fn written(&mut self, puts: &[(&str, &Bytes)], removed: &[&str], entries: usize) {
        for (xid, record) in puts {
            self.bytes += record.len();
            self.image_bytes += record.len();
            if let Some(old) = self.image.insert((*xid).to_owned(), (*record).clone()) {
                self.image_bytes -= old.len();
            }
        }
        for xid in removed {
            self.bytes += xid.len();
            if let Some(old) = self.image.remove(*xid) {
                self.image_bytes -= old.len();
            }
        }
        self.entries += entries as u64;
    }
}

/// Checkpoints the session log: writes the image of every open session (in the transaction
/// that names it when it fits in one), then makes it the checkpoint and deletes the log it
/// covers and every older image. Returns (transactions, key writes).
async fn checkpoint(shared: &Shared, log: &mut LogState) -> Result<(u64, u64), ClusterError> {
    let keys = shared.etcd.keys();
    let f = shared.fence.fragment;
    let covers = log.next_seq - 1;
    let generation = log.next_seq;
    log.next_seq += 1;
    let chunks = log::packed_chunks(log.image.values(), std::iter::empty(), MAX_TXN_BYTES - 4096);
    let n = chunks.len();
    let mut ops = Vec::new();
    let mut txns = 0;
    let mut puts: Vec<(TxnOp, usize)> = chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let key = keys.image_chunk(f, generation, i as u32);
            let size = key.len() + chunk.len();
            (TxnOp::put(key, chunk, None), size)
        })
        .collect();
    if n == 1 {
        ops.extend(puts.pop().map(|(op, _)| op));
    } else if n > 1 {
        txns += run_chunked(shared, puts).await?;
    }
    ops.extend(log::checkpoint_ops(keys, f, generation, covers, n));
    let resp = shared
        .etcd
        .txn(Txn::new().when([shared.fence.compare()]).and_then(ops))
        .await?;
    if !resp.succeeded() {
        return Err(ClusterError::NotLeader { fragment: f });
    }
    tracing::debug!(
        fragment = f,
        generation,
        covers,
        sessions = log.image.len(),
        chunks = n,
        entries = log.entries,
        "session log checkpointed"
    );
    log.entries = 0;
    log.bytes = 0;
    Ok((txns + 1, n as u64 + 3))
}

/// Sends `ops` in fenced transactions within etcd's limits, [`IN_FLIGHT`] at a time.
async fn run_chunked(shared: &Shared, ops: Vec<(TxnOp, usize)>) -> Result<u64, ClusterError> {
    let mut chunks: Vec<Vec<TxnOp>> = Vec::new();
    let (mut current, mut bytes) = (Vec::new(), 0);
    for (op, size) in ops {
        if !current.is_empty() && (current.len() >= MAX_TXN_OPS || bytes + size > MAX_TXN_BYTES) {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(op);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    let n = chunks.len() as u64;
    let results: Vec<Result<(), ClusterError>> =
        futures::stream::iter(chunks.into_iter().map(|ops| async move {
            let txn = Txn::new().when([shared.fence.compare()]).and_then(ops);
            let resp = shared.etcd.txn(txn).await?;
            if resp.succeeded() {
                Ok(())
            } else {
                Err(ClusterError::NotLeader {
                    fragment: shared.fence.fragment,
                })
            }
        }))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    Ok(n)
}

/// Splits `acquires` into runs of consecutive ones taken in one etcd transaction each: at most
/// [`ROWS_PER_TXN`] rows together, and no row in two acquires of one run (a transaction may
/// not put a key twice; the later acquire starts the next run). An acquire with more rows
/// than that is a run of its own.
fn group_acquires(acquires: &[Acquire]) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let (mut start, mut rows) = (0, 0);
    let mut seen: HashSet<&str> = HashSet::new();
    for (i, a) in acquires.iter().enumerate() {
        let clash = a.rows.iter().any(|r| seen.contains(r.as_str()));
        if i > start && (clash || rows + a.rows.len() > ROWS_PER_TXN) {
            groups.push(start..i);
            start = i;
            rows = 0;
            seen.clear();
        }
        rows += a.rows.len();
        seen.extend(a.rows.iter().map(String::as_str));
    }
    if start < acquires.len() {
        groups.push(start..acquires.len());
    }
    groups
}

/// Takes the rows of `acquires[group]`: all of them in one transaction comparing every row
/// key as absent (the usual case under load: one etcd transaction for many registrations
/// instead of one each). When that is refused (a row is held, or the fence), each acquire is
/// taken on its own ([`take_rows`]), which finds out which ones are refused and why.
async fn take_group(
    shared: &Shared,
    acquires: &[Acquire],
    group: &std::ops::Range<usize>,
) -> Vec<Result<(), TakeError>> {
    let members = &acquires[group.clone()];
    if members.len() == 1 {
        return vec![take_rows(shared, &members[0]).await];
    }
    let keys = shared.etcd.keys();
    let mut compares = vec![shared.fence.compare()];
    let mut puts = Vec::new();
    for a in members {
        for row in &a.rows {
            let key = keys.lock(row);
            compares.push(Compare::create_revision(key.clone(), CompareOp::Equal, 0));
            puts.push(TxnOp::put(key, a.xid.clone(), None));
        }
    }
    let txn = Txn::new().when(compares).and_then(puts);
    match shared.etcd.txn(txn).await {
        Ok(resp) if resp.succeeded() => members.iter().map(|_| Ok(())).collect(),
        Ok(_) => {
            let mut out = Vec::with_capacity(members.len());
            for a in members {
                out.push(take_rows(shared, a).await);
            }
            out
        }
        Err(e) => members
            .iter()
            .map(|_| Err(TakeError::Etcd(e.clone())))
            .collect(),
    }
}

/// The transaction taking `lock_keys` for `xid`: every key compared as absent (and the fence
/// when `fenced`; a nested transaction runs inside a fenced one), then put; when refused, it
/// reads the fence and every key back, to tell why.
fn take_txn(shared: &Shared, xid: &str, lock_keys: &[String], fenced: bool) -> Txn {
    let mut compares = Vec::with_capacity(lock_keys.len() + 1);
    if fenced {
        compares.push(shared.fence.compare());
    }
    compares.extend(
        lock_keys
            .iter()
            .map(|k| Compare::create_revision(k.clone(), CompareOp::Equal, 0)),
    );
    let mut otherwise = vec![TxnOp::get(shared.fence.key.clone(), None)];
    otherwise.extend(lock_keys.iter().map(|k| TxnOp::get(k.clone(), None)));
    Txn::new()
        .when(compares)
        .and_then(
            lock_keys
                .iter()
                .map(|k| TxnOp::put(k.clone(), xid.to_owned(), None))
                .collect::<Vec<_>>(),
        )
        .or_else(otherwise)
}

enum TakeError {
    Refused(RowsRefused),
    Etcd(ClusterError),
}

/// Takes `a.rows` for `a.xid`, all or none: each chunk is one transaction comparing every
/// row key as absent; when a later chunk is refused, the earlier ones are released again.
async fn take_rows(shared: &Shared, a: &Acquire) -> Result<(), TakeError> {
    let keys = shared.etcd.keys();
    let mut taken: Vec<String> = Vec::new();
    for chunk in a.rows.chunks(ROWS_PER_TXN) {
        let lock_keys: Vec<String> = chunk.iter().map(|r| keys.lock(r)).collect();
        let txn = take_txn(shared, &a.xid, &lock_keys, true);
        let resp = shared.etcd.txn(txn).await.map_err(TakeError::Etcd)?;
        if resp.succeeded() {
            taken.extend(lock_keys);
            continue;
        }
        // Refused: find out why (the fence, or a row someone holds).
        let refusal = refusal(shared, chunk, &a.xid, resp.op_responses());
        release(shared, taken).await.map_err(TakeError::Etcd)?;
        return Err(refusal);
    }
    Ok(())
}

fn refusal(shared: &Shared, rows: &[String], xid: &str, got: Vec<TxnOpResponse>) -> TakeError {
    let mut got = got.into_iter().map(|r| match r {
        TxnOpResponse::Get(g) => g
            .kvs()
            .first()
            .map(|kv| (kv.create_revision(), kv.value().to_vec())),
        _ => None,
    });
    let leader = got.next().flatten();
    if leader.as_ref().map(|(rev, _)| *rev) != Some(shared.fence.revision) {
        return TakeError::Etcd(ClusterError::NotLeader {
            fragment: shared.fence.fragment,
        });
    }
    for (row, held) in rows.iter().zip(got) {
        if let Some((_, holder)) = held {
            let holder = String::from_utf8_lossy(&holder).into_owned();
            // A row already this XID's (taken by a registration whose answer was lost) is
            // reported as held by itself; the caller's retry registers it.
            return TakeError::Refused(RowsRefused::Conflict {
                row: row.clone(),
                holder: if holder == xid {
                    format!("{holder} (this transaction, in an earlier attempt)")
                } else {
                    holder
                },
            });
        }
    }
    // The rows were free when read back: taken and released in between. Report a conflict
    // so the client retries.
    TakeError::Refused(RowsRefused::Conflict {
        row: rows.first().cloned().unwrap_or_default(),
        holder: "another transaction (released since)".into(),
    })
}

async fn release(shared: &Shared, lock_keys: Vec<String>) -> Result<(), ClusterError> {
    let ops = lock_keys
        .into_iter()
        .map(|k| {
            let n = k.len();
            (TxnOp::delete(k, None), n)
        })
        .collect();
    run_chunked(shared, ops).await.map(|_| ())
}

/// Every stored session of `fragment` (from a warm copy when there is one), with the log
/// they were read from.
async fn read_sessions(
    etcd: &Etcd,
    fragment: u32,
    warm: Option<Snapshot>,
) -> Result<(Vec<GlobalSession>, log::Replayed, LoadStats), ClusterError> {
    let (records, mut loaded) = load(etcd, &etcd.keys().sessions(fragment), warm).await?;
    let replayed = log::replay(etcd.keys(), fragment, &records)?;
    let now = Instant::now();
    let mut sessions = Vec::with_capacity(replayed.records.len());
    for (xid, record) in &replayed.records {
        let session = decode_record(record, now).map_err(|e| ClusterError::Corrupt {
            key: etcd.keys().sessions(fragment),
            reason: format!("the record of {xid}: {e}"),
        })?;
        sessions.push(session);
    }
    sessions.sort_by(|a, b| a.xid.cmp(&b.xid));
    loaded.sessions = sessions.len();
    Ok((sessions, replayed, loaded))
}

/// The open transactions of fragment `fragment` as etcd holds them (its session log read
/// back at one revision), sorted by XID: what a new leader would take over.
pub fn stored_sessions(etcd: &Etcd, fragment: u32) -> Result<Vec<GlobalSession>, ClusterError> {
    etcd.block_on(read_sessions(etcd, fragment, None))
        .map(|(sessions, _, _)| sessions)
}

/// Deletes `locks/*` held by an XID of this fragment that no stored session holds.
async fn free_orphan_rows(
    etcd: &Etcd,
    fence: &Fence,
    sessions: &[GlobalSession],
) -> Result<(), ClusterError> {
    use tars_coordinator::xid::Xid;
    let keys = etcd.keys();
    let mut held = std::collections::HashSet::new();
    for s in sessions {
        for b in &s.branches {
            if let Ok(rows) = tars_coordinator::lock::row_keys(&b.resource_id, &b.lock_keys) {
                held.extend(rows.into_iter().map(|r| keys.lock(&r)));
            }
        }
    }
    let got = etcd
        .get(keys.locks(), Some(GetOptions::new().with_prefix()))
        .await?;
    let orphans: Vec<(TxnOp, usize)> = got
        .kvs()
        .iter()
        .filter(|kv| {
            let holder = std::str::from_utf8(kv.value()).unwrap_or_default();
            Xid::fragment_of(holder) == Some(fence.fragment)
        })
        .map(|kv| String::from_utf8_lossy(kv.key()).into_owned())
        .filter(|k| !held.contains(k))
        .map(|k| {
            let n = k.len();
            (TxnOp::delete(k, None), n)
        })
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    tracing::info!(
        fragment = fence.fragment,
        rows = orphans.len(),
        "releasing row locks no stored session holds"
    );
    let shared = Shared {
        etcd: etcd.clone(),
        fence: fence.clone(),
        queue: Mutex::new(Queue::default()),
        wake: Condvar::new(),
        on_failure: Mutex::new(None),
    };
    run_chunked(&shared, orphans).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acquire(xid: &str, rows: &[&str]) -> Acquire {
        Acquire {
            xid: xid.into(),
            rows: rows.iter().map(|r| r.to_string()).collect(),
            done: Box::new(|_| {}),
        }
    }

    #[test]
    fn acquires_group_into_runs_without_a_row_twice_and_within_the_row_limit() {
        let big: Vec<String> = (0..ROWS_PER_TXN + 1).map(|i| format!("b{i}")).collect();
        let big: Vec<&str> = big.iter().map(String::as_str).collect();
        let acquires = vec![
            acquire("x1", &["r1", "r2"]),
            acquire("x2", &["r3"]),
            acquire("x3", &["r2"]), // r2 again: a new run
            acquire("x4", &["r4"]),
            acquire("x5", &big), // too many rows to share: alone
            acquire("x6", &["r5"]),
        ];
        assert_eq!(group_acquires(&acquires), vec![0..2, 2..4, 4..5, 5..6]);
        assert!(group_acquires(&[]).is_empty());
        let many: Vec<Acquire> = (0..ROWS_PER_TXN + 5)
            .map(|i| acquire(&format!("x{i}"), &[&format!("row{i}")]))
            .collect();
        assert_eq!(
            group_acquires(&many),
            vec![0..ROWS_PER_TXN, ROWS_PER_TXN..ROWS_PER_TXN + 5]
        );
    }
}
