//! The tars-rs registry service.
//!
//! - [`Registry`]: registrations with static metadata (durable in an embedded redb database,
//!   see [`store`]), heartbeats with dynamic metadata, active/inactive by heartbeat age, and
//!   filtered listing.
#![deny(missing_docs)]

pub mod registry;
pub mod store;

pub use registry::{matches, HeartbeatOutcome, Registry};
pub use store::{RegistrationStore, StoreError};
