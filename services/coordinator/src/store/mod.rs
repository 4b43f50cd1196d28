//! Durable sessions: an embedded redb database (no server to install; copy-on-write B-trees,
//! crash-safe commits) written with **group commit**.
//!
//! The core hands every session change to the store's [`Journal`](crate::core::Journal) implementation while it holds
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
//! recovery.

mod record;
mod writer;

pub use writer::{Ack, GroupCommit, Recovered, SessionStore, StoreStats};

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
    /// An earlier write failed; the store refuses further writes (memory and disk may differ).
    #[error("coordinator store failed earlier and accepts no writes: {0}")]
    Failed(String),
    /// The store was closed.
    #[error("coordinator store is closed")]
    Closed,
}
