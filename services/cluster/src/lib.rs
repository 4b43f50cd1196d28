//! # tars-cluster
//!
//! Cluster mode on etcd (docs/cluster.md): everything that must outlive a node is kept in etcd,
//! an existing strongly consistent store; there is no home-made consensus here.
//!
//! - [`etcd`]: the connection (its own small tokio runtime, so the mio net threads and the
//!   coordinator's threads call it synchronously or hand it callbacks).
//! - [`keys`]: the key layout every part shares.
//! - [`lease`]: a node's lease, kept alive, and the signal when it is lost.
//! - [`registry`]: the registry in cluster mode (instances in etcd, a watch-fed cache per node).
#![deny(missing_docs)]

pub mod etcd;
pub mod keys;
pub mod lease;
pub mod registry;
