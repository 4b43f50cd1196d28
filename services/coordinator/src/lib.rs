//! The tars-rs transaction coordinator (a Seata-style TC), built up in parts:
//!
//! - [`xid`]: global transaction ids that carry their fragment (for scale-out) and are unique
//!   across restarts.
//! - [`lock`]: AT row locks (`resourceId^^^table^^^pk`), all-or-nothing and re-entrant per
//!   transaction, with conflict detection.
#![deny(missing_docs)]

pub mod lock;
pub mod xid;
