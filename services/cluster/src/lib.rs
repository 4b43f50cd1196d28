//! # tars-cluster
//!
//! Cluster mode on etcd (docs/cluster.md): everything that must outlive a node is kept in etcd,
//! an existing strongly consistent store; there is no home-made consensus here.
//!
//! - [`etcd`]: the connection (its own small tokio runtime, so the mio net threads and the
//!   coordinator's threads call it synchronously or hand it callbacks).
//! - [`coordinator`]: the coordinator's fragments — leadership, fenced group commit to etcd,
//!   cluster-wide AT row locks.
//! - [`keys`]: the key layout every part shares.
//! - [`lease`]: a node's lease, kept alive, and the signal when it is lost.
//! - [`autogrow`]: when a fragment stays overloaded (TaaS's rule; pure).
//! - [`placement`]: where fragment leaders and standbys go (pure).
//! - [`scheduler`]: the elected scheduler: placement, handover by reassignment, auto-grow.
//! - [`status`]: `cluster status`: nodes, scheduler and fragments as a table or JSON.
//! - `state` (private): reads the nodes, the scheduler key and the fragments' small keys.
//! - [`registry`]: the registry in cluster mode (instances in etcd, a watch-fed cache per node).
#![deny(missing_docs)]

pub mod autogrow;
pub mod coordinator;
pub mod etcd;
pub mod keys;
pub mod lease;
pub mod placement;
pub mod registry;
pub mod scheduler;
mod state;
pub mod status;
