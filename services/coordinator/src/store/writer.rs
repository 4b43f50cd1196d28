//! The group-commit writer of [`SessionStore`].

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tars::codec::Writer;

use super::{epoch_file, record, AckQueue, StoreError, TxStore};
use crate::core::Journal;
use crate::session::GlobalSession;

/// Key: the XID; value: the Tars-encoded session (`record::StoredSession`).
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
/// Key: a setting's name; value: its number (`epoch`).
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const EPOCH_KEY: &str = "epoch";

/// Called once the changes queued before it are durable (or could not be written).
pub type Ack = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// What [`SessionStore::open`] read back.
#[derive(Debug)]
pub struct Recovered {
    /// The new leader epoch (already stored): one more than at the last start.
    pub epoch: u64,
    /// The transactions that were open, in XID order.
    pub sessions: Vec<GlobalSession>,
}

/// Counters of the writer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Database commits (each one fsync).
    pub commits: u64,
    /// Session changes queued.
    pub changes: u64,
    /// Record writes and deletes done (changes of one transaction in one batch coalesce).
    pub writes: u64,
    /// Commits the writer held back to let more changes join ([`GroupCommit`]).
    pub lingered: u64,
}

/// How the writer groups changes into commits.
///
/// The writer commits whatever is queued as soon as the previous commit is done, so every
/// change that arrives during a commit (and its fsync) shares the next one. Under heavy load
/// that is still many commits per second, each with a fixed cost (the pages of the tree it
/// rewrites, the fsync) that dominates the store's CPU. So when on average (over the last few
/// commits) at least [`linger_after`](GroupCommit::linger_after) changes queued up during a
/// commit — the store is busy — the writer waits a little before the next one (as long as the
/// previous commit took, at most [`max_linger`](GroupCommit::max_linger)), and more changes
/// share it. Lightly loaded, it never waits. Nothing is acknowledged before it is durable
/// either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommit {
    /// Changes that must queue up during a commit, on average, for the writer to linger before
    /// the next; `usize::MAX` never lingers.
    pub linger_after: usize,
    /// The longest the writer lingers.
    pub max_linger: Duration,
}

impl GroupCommit {
    /// Commit at once, always.
    pub const NO_LINGER: GroupCommit = GroupCommit {
        linger_after: usize::MAX,
        max_linger: Duration::ZERO,
    };
}

impl Default for GroupCommit {
    /// Linger once 32 changes queue up during a commit on average, for at most 1 ms.
    fn default() -> Self {
        GroupCommit {
            linger_after: 32,
            max_linger: Duration::from_millis(1),
        }
    }
}

/// Where one queued change sits in its [`Batch`]'s buffer.
struct Packed {
    /// The XID.
    key: Range<usize>,
    /// The record; `None` removes the XID.
    value: Option<Range<usize>>,
}

/// Queued session changes, packed back to back in one buffer: queueing a change allocates
/// nothing (once the buffers have grown) and the writer frees nothing per change. The
/// producers encode straight into it; the writer swaps it with its own emptied one.
#[derive(Default)]
struct Batch {
    buf: Writer,
    changes: Vec<Packed>,
}

impl Batch {
    fn put(&mut self, session: &GlobalSession) {
        let start = self.buf.len();
        self.buf.write_raw(session.xid.as_bytes());
        let key_end = self.buf.len();
        record::write(session, &mut self.buf);
        self.changes.push(Packed {
            key: start..key_end,
            value: Some(key_end..self.buf.len()),
        });
    }

    fn remove(&mut self, xid: &str) {
        let start = self.buf.len();
        self.buf.write_raw(xid.as_bytes());
        self.changes.push(Packed {
            key: start..self.buf.len(),
            value: None,
        });
    }

    fn len(&self) -> usize {
        self.changes.len()
    }

    fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.changes.clear();
    }

    /// The changes in order: XID and record (`None`: removed).
    fn iter(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        let bytes = self.buf.as_slice();
        self.changes.iter().map(move |c| {
            // Keys are copied from `&str`s, so they are UTF-8.
            let key = std::str::from_utf8(&bytes[c.key.clone()]).unwrap_or_default();
            (key, c.value.clone().map(|v| &bytes[v]))
        })
    }
}

#[derive(Default)]
struct Queue {
    /// Changes waiting for the next commit.
    changes: Batch,
    /// The acknowledgements waiting for the changes queued before them.
    acks: AckQueue,
    stop: bool,
    stats: StoreStats,
    group: GroupCommit,
}

struct Shared {
    db: Database,
    /// The database file, for errors ("in memory" for a store in memory).
    file: String,
    queue: Mutex<Queue>,
    wake: Condvar,
}

/// The durable session store (see the module docs).
pub struct SessionStore {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(e.to_string())
}

impl SessionStore {
    /// Opens (or creates) the database file at `path`, bumps the epoch and reads back the open
    /// transactions. Refuses a missing or empty database in a data directory that ran before
    /// ([`StoreError::Missing`]; see [`SessionStore::open_with`]).
    pub fn open(path: &Path) -> Result<(SessionStore, Recovered), StoreError> {
        SessionStore::open_with(path, false)
    }

    /// [`SessionStore::open`]; with `init`, a missing or empty database is begun anew even
    /// though the epoch file beside it says this data directory ran before (its epochs, and
    /// so its XIDs, continue after the recorded one).
    pub fn open_with(path: &Path, init: bool) -> Result<(SessionStore, Recovered), StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Io(format!("{}: {e}", dir.display())))?;
        }
        let file = path.display().to_string();
        let epochs = epoch_file::path_of(path);
        let recorded = epoch_file::read(&epochs)?;
        let present = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
        let missing = |epoch| StoreError::Missing {
            file: file.clone(),
            epoch_file: epochs.display().to_string(),
            epoch,
        };
        if let (Some(epoch), false, false) = (recorded, present, init) {
            return Err(missing(epoch));
        }
        let db = engine(&file, "opening it", || {
            Database::create(path).map_err(|e| open_error(&file, e))
        })?;
        let start = Start {
            file: file.clone(),
            epoch_file: Some(epochs.clone()),
            recorded,
            init,
        };
        Self::start(db, start)
    }

    /// A store kept in memory only (tests, and nodes that choose no durability).
    pub fn in_memory() -> Result<(SessionStore, Recovered), StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(db_err)?;
        let start = Start {
            file: "in memory".into(),
            epoch_file: None,
            recorded: None,
            init: true,
        };
        Self::start(db, start)
    }

    fn start(db: Database, start: Start) -> Result<(SessionStore, Recovered), StoreError> {
        let file = start.file.clone();
        let epoch = engine(&file, "bumping the epoch", || bump_epoch(&db, &start))?;
        let sessions = engine(&file, "reading the sessions", || read_sessions(&db))?;
        let shared = Arc::new(Shared {
            db,
            file,
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
        });
        let writer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("tx-store-writer".into())
                .spawn(move || write_loop(&shared))
                .map_err(|e| StoreError::Io(format!("starting the writer thread: {e}")))?
        };
        Ok((
            SessionStore {
                shared,
                writer: Mutex::new(Some(writer)),
            },
            Recovered { epoch, sessions },
        ))
    }

    fn push(&self, change: impl FnOnce(&mut Batch)) {
        let mut q = self.shared.queue.lock();
        change(&mut q.changes);
        q.acks.push();
        q.stats.changes += 1;
        if q.changes.len() == 1 {
            self.shared.wake.notify_one();
        }
    }

    /// Runs `ack` once every change queued so far is durable — on the writer thread, so it
    /// must be quick (send a response, hand work to another thread). Runs it at once when
    /// there is nothing to wait for.
    pub fn after_durable(&self, ack: Ack) {
        let mut q = self.shared.queue.lock();
        let stop = q.stop;
        if let Some((ack, outcome)) = q.acks.wait(ack, stop) {
            drop(q);
            ack(outcome);
        }
    }

    /// Blocks until every change queued so far is durable.
    pub fn sync(&self) -> Result<(), StoreError> {
        TxStore::sync(self)
    }

    /// How the writer groups changes into commits from now on (default:
    /// [`GroupCommit::default`]).
    pub fn set_group_commit(&self, group: GroupCommit) {
        self.shared.queue.lock().group = group;
    }

    /// How the writer groups changes into commits.
    pub fn group_commit(&self) -> GroupCommit {
        self.shared.queue.lock().group
    }

    /// The writer's counters.
    pub fn stats(&self) -> StoreStats {
        self.shared.queue.lock().stats
    }

    /// Writes what is queued and stops the writer (also done on drop).
    pub fn close(&self) {
        self.shared.queue.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(writer) = self.writer.lock().take() {
            let _ = writer.join();
        }
    }
}

impl Drop for SessionStore {
    fn drop(&mut self) {
        self.close();
    }
}

impl TxStore for SessionStore {
    fn after_durable(&self, ack: Ack) {
        SessionStore::after_durable(self, ack)
    }

    fn close(&self) {
        SessionStore::close(self)
    }

    fn stats(&self) -> StoreStats {
        SessionStore::stats(self)
    }
}

impl Journal for SessionStore {
    fn put(&self, session: &GlobalSession) {
        self.push(|b| b.put(session));
    }

    fn remove(&self, xid: &str) {
        self.push(|b| b.remove(xid));
    }
}

/// How a database is being started.
struct Start {
    /// The database file (for errors).
    file: String,
    /// Where the epoch is kept beside it (none in memory).
    epoch_file: Option<std::path::PathBuf>,
    /// The epoch that file recorded.
    recorded: Option<u64>,
    /// Whether a database without an epoch may begin anew although one was recorded.
    init: bool,
}

/// Stores the next epoch: one more than both the database's and the epoch file's, in the
/// epoch file first (see [`epoch_file`]), then in the database.
fn bump_epoch(db: &Database, start: &Start) -> Result<u64, StoreError> {
    let tx = db.begin_write().map_err(db_err)?;
    let epoch = {
        let mut meta = tx.open_table(META).map_err(db_err)?;
        let stored = meta.get(EPOCH_KEY).map_err(db_err)?.map(|v| v.value());
        if let (None, Some(recorded), false) = (stored, start.recorded, start.init) {
            // A database that holds no epoch where one ran: replaced or emptied.
            return Err(StoreError::Missing {
                file: start.file.clone(),
                epoch_file: start
                    .epoch_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                epoch: recorded,
            });
        }
        let epoch = stored.unwrap_or(0).max(start.recorded.unwrap_or(0)) + 1;
        if let Some(file) = &start.epoch_file {
            epoch_file::write(file, epoch)?;
        }
        meta.insert(EPOCH_KEY, epoch).map_err(db_err)?;
        epoch
    };
    tx.open_table(SESSIONS).map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    Ok(epoch)
}

/// An error of opening the database: a damaged file, or another failure, naming the file.
fn open_error(file: &str, e: redb::DatabaseError) -> StoreError {
    match e {
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(what)) => StoreError::Damaged {
            file: file.to_owned(),
            what,
        },
        other => StoreError::Db(format!("{file}: {other}")),
    }
}

/// Runs `f`, which calls the storage engine; a panic in it (redb panics on some damaged
/// pages) becomes [`StoreError::Damaged`] naming `file` and what was being done.
fn engine<T>(
    file: &str,
    doing: &str,
    f: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    tars::panic::catch(f).unwrap_or_else(|message| {
        Err(StoreError::Damaged {
            file: file.to_owned(),
            what: format!("the storage engine failed {doing}: {message}"),
        })
    })
}

fn read_sessions(db: &Database) -> Result<Vec<GlobalSession>, StoreError> {
    let now = Instant::now();
    let tx = db.begin_read().map_err(db_err)?;
    let table = tx.open_table(SESSIONS).map_err(db_err)?;
    let mut sessions = Vec::new();
    for entry in table.iter().map_err(db_err)? {
        let (key, value) = entry.map_err(db_err)?;
        let session = record::decode(value.value(), now).map_err(|e| StoreError::Corrupt {
            key: key.value().to_owned(),
            reason: e.to_string(),
        })?;
        if session.xid != key.value() {
            return Err(StoreError::Corrupt {
                key: key.value().to_owned(),
                reason: format!("holds transaction {}", session.xid),
            });
        }
        sessions.push(session);
    }
    Ok(sessions)
}

/// Writes one batch in one transaction; the last change of each XID wins.
fn write_batch(db: &Database, changes: &Batch) -> Result<u64, StoreError> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(changes.len());
    for (i, (key, _)) in changes.iter().enumerate() {
        last.insert(key, i);
    }
    let tx = db.begin_write().map_err(db_err)?;
    let mut writes = 0;
    {
        let mut table = tx.open_table(SESSIONS).map_err(db_err)?;
        for (i, (key, value)) in changes.iter().enumerate() {
            if last.get(key) != Some(&i) {
                continue;
            }
            writes += 1;
            match value {
                Some(v) => {
                    table.insert(key, v).map_err(db_err)?;
                }
                None => {
                    table.remove(key).map_err(db_err)?;
                }
            }
        }
    }
    tx.commit().map_err(db_err)?;
    Ok(writes)
}

fn write_loop(shared: &Shared) {
    // Swapped with the queue's and emptied after each commit: its buffers are reused.
    let mut batch = Batch::default();
    // How long the last commit took.
    let mut last_commit = Duration::ZERO;
    // Average of how many changes queued up during a commit (1/4 weight to the newest), in
    // sixteenths: one busy moment alone does not make the writer linger.
    let mut busy_x16: usize = 0;
    loop {
        let (upto, failed) = {
            let mut q = shared.queue.lock();
            // What queued up while the last commit ran: enough, on average, means the store
            // is busy.
            let group = q.group;
            busy_x16 = busy_x16 - busy_x16 / 4 + q.changes.len().saturating_mul(4);
            if busy_x16 / 16 >= group.linger_after && !q.stop && !q.changes.is_empty() {
                let linger = last_commit.min(group.max_linger);
                if !linger.is_zero() {
                    drop(q);
                    std::thread::sleep(linger);
                    q = shared.queue.lock();
                    q.stats.lingered += 1;
                }
            }
            while q.changes.is_empty() && !q.stop {
                shared.wake.wait(&mut q);
            }
            if q.changes.is_empty() {
                // Stopping with nothing left: whoever still waits will not be served.
                let waiters = q.acks.take_all();
                drop(q);
                for ack in waiters {
                    ack(Err(StoreError::Closed));
                }
                return;
            }
            std::mem::swap(&mut q.changes, &mut batch);
            (q.acks.queued(), q.acks.failed().is_some())
        };
        let started = Instant::now();
        let result = if failed {
            Err(StoreError::Failed("an earlier commit failed".into()))
        } else {
            engine(&shared.file, "writing", || write_batch(&shared.db, &batch))
        };
        last_commit = started.elapsed();
        batch.clear();
        let ready = {
            let mut q = shared.queue.lock();
            match &result {
                Ok(writes) => {
                    q.stats.commits += 1;
                    q.stats.writes += writes;
                    q.acks.durable(upto)
                }
                Err(e) => {
                    tracing::error!(error = %e, "coordinator store write failed; refusing writes");
                    q.acks.fail(StoreError::Failed(e.to_string())).0
                }
            }
        };
        let outcome = result.map(|_| ());
        for ack in ready {
            ack(outcome.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tars_protocols::tarstx::GlobalStatus;

    fn session(n: usize) -> GlobalSession {
        GlobalSession {
            xid: format!("1:1:{n}"),
            application_id: "app".into(),
            transaction_name: "tx".into(),
            status: GlobalStatus::Begin,
            active: true,
            began: Instant::now(),
            begin_time_ms: 0,
            timeout: Duration::from_secs(60),
            branches: Vec::new(),
        }
    }

    #[test]
    fn a_busy_writer_lingers_and_still_acknowledges_only_durable_changes() {
        let dir = tempfile::tempdir().expect("dir");
        let (store, _) = SessionStore::open(&dir.path().join("s.redb")).expect("open");
        assert_eq!(store.group_commit(), GroupCommit::default());
        store.set_group_commit(GroupCommit {
            linger_after: 1,
            max_linger: Duration::from_millis(1),
        });
        let store = Arc::new(store);
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        store.put(&session(t * 1000 + i));
                        if i % 10 == 9 {
                            store.sync().expect("durable");
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        store.sync().expect("durable");
        let stats = store.stats();
        assert_eq!(stats.changes, 400);
        assert!(stats.lingered > 0, "{stats:?}");
        assert!(stats.commits < 400, "{stats:?}");
        // The writer threads are gone: this is the last reference, and the file is released.
        drop(store);
        let (_, recovered) = SessionStore::open(&dir.path().join("s.redb")).expect("reopen");
        assert_eq!(recovered.sessions.len(), 400);
    }

    #[test]
    fn no_linger_never_waits() {
        let (store, _) = SessionStore::in_memory().expect("store");
        store.set_group_commit(GroupCommit::NO_LINGER);
        for i in 0..50 {
            store.put(&session(i));
        }
        store.sync().expect("durable");
        assert_eq!(store.stats().lingered, 0);
    }
}
