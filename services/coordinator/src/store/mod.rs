//! Durable sessions: an embedded redb database (no server to install; copy-on-write B-trees,
//! crash-safe commits) written with **group commit**.
//!
//! The core hands every session change to the store's [`Journal`] implementation while it holds
//! its session table, so changes are queued in the order they happened. One writer thread takes
//! everything queued, writes it in one database transaction (later changes of the same
//! transaction replace earlier ones), commits with one fsync, and then runs the
//! acknowledgements waiting for that point ([`SessionStore::after_durable`]). Callers are
//! answered only then, so every acknowledged begin, branch registration and decision survives
//! `kill -9`; while one batch is being synced the next one fills up, so throughput does not
//! collapse under fsync.
//!
//! [`SessionStore::open`] also bumps the stored leader **epoch** (durably, before anything else)
//! and reads back the open transactions, for XIDs that stay unique across restarts and for
//! recovery. The epoch is also kept beside the database ([`epoch_file`]), so a database that
//! went missing or was truncated is refused instead of starting over. Panics of the storage
//! engine (a damaged file) are caught where the store calls it and become
//! [`StoreError::Damaged`].

mod acks;
pub mod epoch_file;
mod record;
mod writer;

pub use acks::AckQueue;

pub use writer::{Ack, GroupCommit, Recovered, SessionStore, StoreStats};

pub use record::{decode as decode_record, write as encode_record};

use crate::core::Journal;

/// Where a coordinator keeps its sessions durably: the embedded [`SessionStore`] on one node,
/// or a fragment's store in etcd in cluster mode (crate `tars-cluster`). The core writes
/// every change through [`Journal`] in order; callers are answered from
/// [`TxStore::after_durable`].
pub trait TxStore: Journal {
    /// Runs `ack` once every change queued so far is durable (or could not be written) —
    /// possibly on the writer's thread, so it must be quick. Runs it at once when there is
    /// nothing to wait for.
    fn after_durable(&self, ack: Ack);

    /// Takes AT row locks cluster-wide before a branch holding them is registered: `rows`
    /// (row keys, see [`crate::lock::row_keys`]) are free or already `xid`'s. `done` hears
    /// the outcome. On one node the core's lock table is the only one, so the default grants
    /// at once.
    fn acquire_rows(&self, xid: &str, rows: Vec<String>, done: RowsDone) {
        let _ = (xid, rows);
        done(Ok(()));
    }

    /// Whether row locks are shared with other coordinators (cluster mode): then AT branches
    /// take their rows through [`TxStore::acquire_rows`] before they register.
    fn shares_locks(&self) -> bool {
        false
    }

    /// Blocks until every change queued so far is durable.
    fn sync(&self) -> Result<(), StoreError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.after_durable(Box::new(move |r| {
            let _ = tx.send(r);
        }));
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    /// Writes what is queued and stops.
    fn close(&self);

    /// The writer's counters.
    fn stats(&self) -> StoreStats;

    /// Whether a write failed and is not stored yet (the disk is full, say): changes are
    /// refused, and phase two is not driven, since a decision in memory may not be on disk.
    /// The embedded store keeps trying and writes again once it can.
    fn is_failed(&self) -> bool {
        false
    }
}

/// Hears whether cluster-wide row locks were granted.
pub type RowsDone = Box<dyn FnOnce(Result<(), RowsRefused>) + Send>;

/// Why row locks were not granted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowsRefused {
    /// Another transaction holds `row`.
    #[error("row {row} is locked by {holder}")]
    Conflict {
        /// The row.
        row: String,
        /// The XID holding it.
        holder: String,
    },
    /// The store could not decide (not the leader any more, etcd unavailable, ...).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A failure of the session store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened, read or written.
    #[error("coordinator store: {0}")]
    Db(String),
    /// The data directory could not be created.
    #[error("coordinator store directory: {0}")]
    Io(String),
    /// A stored record did not decode (the file was damaged or written by something else).
    #[error("coordinator store: record {key:?} is corrupt: {reason}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// Why it did not decode.
        reason: String,
    },
    /// A file of the store is damaged: the storage engine could not read it (or failed on
    /// it), or it holds something else.
    #[error("coordinator store: {file} is damaged: {what}")]
    Damaged {
        /// The file.
        file: String,
        /// What failed.
        what: String,
    },
    /// The database is missing or empty although this data directory has run a coordinator
    /// before (its epoch file says so): starting over would hand out XIDs again. Start with
    /// `init` (tarsd `--init`) to begin a new database anyway; its epochs continue after the
    /// recorded one.
    #[error(
        "coordinator store: {file} is missing or empty, but this data directory ran epoch \
         {epoch} (see {epoch_file}); restore the file, or start with --init to begin a new \
         store whose XIDs continue after that epoch"
    )]
    Missing {
        /// The database file.
        file: String,
        /// The epoch file.
        epoch_file: String,
        /// The epoch it records.
        epoch: u64,
    },
    /// An earlier write failed; the store refuses further writes (memory and disk may differ).
    #[error("coordinator store failed earlier and accepts no writes: {0}")]
    Failed(String),
    /// The store was closed.
    #[error("coordinator store is closed")]
    Closed,
    /// This node no longer leads the fragment (cluster mode): nothing was written; the
    /// client retries on the fragment's current leader.
    #[error("not the leader of fragment {fragment} (any more)")]
    NotLeader {
        /// The fragment.
        fragment: u32,
    },
    /// The shared store (etcd) is unreachable or has no majority: the write was refused or
    /// its outcome is unknown; nothing was acknowledged.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}
