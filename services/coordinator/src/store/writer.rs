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

    /// Adds the changes of `other` after these, in order.
    fn append(&mut self, other: &Batch) {
        let base = self.buf.len();
        self.buf.write_raw(other.buf.as_slice());
        let shift = |r: &Range<usize>| r.start + base..r.end + base;
        self.changes.extend(other.changes.iter().map(|c| Packed {
            key: shift(&c.key),
            value: c.value.as_ref().map(shift),
        }));
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

/// Opens the database again (after a failed write redb refuses further ones until reopened).
type Reopen = Box<dyn Fn() -> Result<Database, StoreError> + Send + Sync>;

struct Shared {
    /// `None` only between a failed write and a successful reopen.
    db: Mutex<Option<Database>>,
    reopen: Option<Reopen>,
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
        let (path, name) = (path.to_owned(), file.clone());
        let reopen: Reopen = Box::new(move || {
            engine(&name, "reopening it", || {
                Database::create(&path).map_err(|e| open_error(&name, e))
            })
        });
        Self::start(db, start, Some(reopen))
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
        Self::start(db, start, None)
    }

    fn start(
        db: Database,
        start: Start,
        reopen: Option<Reopen>,
    ) -> Result<(SessionStore, Recovered), StoreError> {
        let file = start.file.clone();
        let epoch = engine(&file, "bumping the epoch", || bump_epoch(&db, &start))?;
        let sessions = engine(&file, "reading the sessions", || read_sessions(&db))?;
        let shared = Arc::new(Shared {
            db: Mutex::new(Some(db)),
            reopen,
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

    fn is_failed(&self) -> bool {
        self.shared.queue.lock().acks.failed().is_some()
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

/// How long the writer waits before trying again to store what a failed commit could not
/// (doubling from [`RETRY_FIRST`] up to [`RETRY_MAX`]).
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

fn write_loop(shared: &Shared) {
    // Swapped with the queue's and emptied after each commit: its buffers are reused.
    let mut batch = Batch::default();
    // Changes a failed commit could not store, with every change queued since, in order:
    // written again (with backoff) until they are stored.
    let mut unstored: Option<Batch> = None;
    let mut retry_wait = RETRY_FIRST;
    let mut retry_at = Instant::now();
    // How long the last commit took.
    let mut last_commit = Duration::ZERO;
    // Average of how many changes queued up during a commit (1/4 weight to the newest), in
    // sixteenths: one busy moment alone does not make the writer linger.
    let mut busy_x16: usize = 0;
    loop {
        let upto = {
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
            if unstored.is_some() {
                // Failed: try again after the backoff (new changes join the retry), or as
                // soon as the store stops.
                while !q.stop {
                    let now = Instant::now();
                    if now >= retry_at {
                        break;
                    }
                    shared.wake.wait_for(&mut q, retry_at - now);
                }
            } else {
                while q.changes.is_empty() && !q.stop {
                    shared.wake.wait(&mut q);
                }
            }
            if q.changes.is_empty() && unstored.is_none() {
                // Stopping with nothing left: whoever still waits will not be served.
                let waiters = q.acks.take_all();
                drop(q);
                for ack in waiters {
                    ack(Err(StoreError::Closed));
                }
                return;
            }
            std::mem::swap(&mut q.changes, &mut batch);
            q.acks.queued()
        };
        if let Some(pending) = unstored.as_mut() {
            pending.append(&batch);
            batch.clear();
        }
        let started = Instant::now();
        let result = {
            let changes = unstored.as_ref().unwrap_or(&batch);
            let mut db = shared.db.lock();
            if unstored.is_some() {
                // After a failed write redb accepts no other until the database is reopened.
                if let Some(reopen) = &shared.reopen {
                    *db = None;
                    match reopen() {
                        Ok(again) => *db = Some(again),
                        Err(e) => tracing::warn!(error = %e, "reopening the coordinator store"),
                    }
                }
            }
            match db.as_ref() {
                Some(db) => engine(&shared.file, "writing", || write_batch(db, changes)),
                None => Err(StoreError::Failed(
                    "the database could not be reopened".into(),
                )),
            }
        };
        last_commit = started.elapsed();
        let ready = {
            let mut q = shared.queue.lock();
            match &result {
                Ok(writes) => {
                    q.stats.commits += 1;
                    q.stats.writes += writes;
                    if unstored.take().is_some() {
                        tracing::warn!(
                            file = %shared.file,
                            "coordinator store writes again: what failed is stored now"
                        );
                        retry_wait = RETRY_FIRST;
                        q.acks.recover();
                    }
                    q.acks.durable(upto)
                }
                Err(e) => {
                    let stopping = q.stop;
                    if unstored.is_none() {
                        tracing::error!(
                            error = %e,
                            "coordinator store write failed; refusing writes until it is stored"
                        );
                        let mut pending = Batch::default();
                        pending.append(&batch);
                        unstored = Some(pending);
                    } else {
                        retry_wait = (retry_wait * 2).min(RETRY_MAX);
                    }
                    retry_at = Instant::now() + retry_wait;
                    let (waiting, _) = q.acks.fail(StoreError::Failed(e.to_string()));
                    if stopping {
                        // Closing: what could not be stored is given up.
                        unstored = None;
                        q.changes.clear();
                    }
                    waiting
                }
            }
        };
        batch.clear();
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
            owner: String::new(),
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

    /// A disk that can fill up: writes and growth fail with ENOSPC while `full`.
    #[derive(Debug, Clone, Default)]
    struct Disk {
        data: Arc<Mutex<Vec<u8>>>,
        full: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Disk {
        fn is_full(&self) -> bool {
            self.full.load(std::sync::atomic::Ordering::SeqCst)
        }

        fn no_space() -> std::io::Error {
            std::io::Error::from_raw_os_error(28) // ENOSPC
        }
    }

    impl redb::StorageBackend for Disk {
        fn len(&self) -> Result<u64, std::io::Error> {
            Ok(self.data.lock().len() as u64)
        }

        fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
            let data = self.data.lock();
            let start = offset as usize;
            let end = start + out.len();
            if end > data.len() {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            out.copy_from_slice(&data[start..end]);
            Ok(())
        }

        fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
            let mut data = self.data.lock();
            if self.is_full() && len as usize > data.len() {
                return Err(Disk::no_space());
            }
            data.resize(len as usize, 0);
            Ok(())
        }

        fn sync_data(&self) -> Result<(), std::io::Error> {
            if self.is_full() {
                return Err(Disk::no_space());
            }
            Ok(())
        }

        fn write(&self, offset: u64, bytes: &[u8]) -> Result<(), std::io::Error> {
            if self.is_full() {
                return Err(Disk::no_space());
            }
            let mut data = self.data.lock();
            let start = offset as usize;
            if data.len() < start + bytes.len() {
                data.resize(start + bytes.len(), 0);
            }
            data[start..start + bytes.len()].copy_from_slice(bytes);
            Ok(())
        }
    }

    fn store_on(disk: &Disk) -> (SessionStore, Recovered) {
        let open = |disk: &Disk| {
            Database::builder()
                .create_with_backend(disk.clone())
                .map_err(db_err)
        };
        let db = open(disk).expect("database");
        let again = disk.clone();
        let reopen: Reopen = Box::new(move || open(&again));
        let start = Start {
            file: "disk".into(),
            epoch_file: None,
            recorded: None,
            init: true,
        };
        SessionStore::start(db, start, Some(reopen)).expect("store")
    }

    #[test]
    fn after_a_full_disk_writes_resume_on_their_own_and_nothing_is_lost() {
        let disk = Disk::default();
        let (store, _) = store_on(&disk);
        store.put(&session(1));
        store.sync().expect("stored");
        assert!(!store.is_failed());

        disk.full.store(true, std::sync::atomic::Ordering::SeqCst);
        store.put(&session(2));
        // The write's own error, or (asked after it failed) the store's refusal.
        let err = store.sync().expect_err("the disk is full");
        assert!(
            matches!(err, StoreError::Failed(_)) || err.to_string().contains("No space"),
            "{err}"
        );
        assert!(store.is_failed());
        // While it is full, changes are refused at once, and stay queued for the retry.
        store.put(&session(3));
        store.remove("1:1:1");
        assert!(store.sync().is_err());

        disk.full.store(false, std::sync::atomic::Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.is_failed() {
            assert!(Instant::now() < deadline, "writes did not resume");
            std::thread::sleep(Duration::from_millis(20));
        }
        store.put(&session(4));
        store.sync().expect("writes again");
        store.close();
        drop(store);

        // Everything queued, during the failure too, is on the disk, in order.
        let (_, recovered) = store_on(&disk);
        let mut xids: Vec<String> = recovered.sessions.iter().map(|s| s.xid.clone()).collect();
        xids.sort();
        assert_eq!(xids, ["1:1:2", "1:1:3", "1:1:4"]);
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
