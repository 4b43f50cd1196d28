//! The tars-rs transaction coordinator (a Seata-style TC), built up in parts:
//!
//! - [`xid`]: global transaction ids that carry their fragment (for scale-out) and are unique
//!   across restarts.
//! - [`lock`]: AT row locks (`resourceId^^^table^^^pk`), all-or-nothing and re-entrant per
//!   transaction, with conflict detection.
//! - [`session`]: global and branch sessions.
//! - [`core`]: the Seata rules (state machines, error codes, phase-two steps) without I/O.
//! - [`store`]: durable sessions in an embedded database with group commit, and recovery.
#![deny(missing_docs)]

pub mod access;
pub mod client;
pub mod core;
pub mod driver;
pub mod lock;
pub mod participants;
pub mod servant;
pub mod service;
pub mod session;
pub mod store;
pub mod xid;
