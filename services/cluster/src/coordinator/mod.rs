//! The coordinator in cluster mode: fragments led through etcd leases.
//!
//! - [`leadership`]: campaigning for a fragment, the epoch it takes, and the fence every
//!   write of the leader carries.
//! - [`log`]: how a fragment's sessions are laid out in etcd (a log with checkpoints).
//! - [`store`]: a led fragment's sessions and the cluster-wide AT row locks in etcd, with
//!   group commit.
//! - [`standby`]: a standby's warm copy of a fragment's sessions, kept by an etcd watch.
//! - [`fragment`]: a fragment this node leads (core, store, phase-two driver, servant).
//! - [`manager`]: which fragments this node leads, kept in line with etcd.
//! - [`wake`]: the watches that wake the manager when placement changes.
//! - [`router`]: the Coordinator servant every node serves, routing by XID.

pub mod fragment;
pub mod leadership;
pub mod log;
pub mod manager;
pub mod router;
pub mod standby;
pub mod store;
pub mod wake;
