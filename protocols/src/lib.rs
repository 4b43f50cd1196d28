//! The Tars framework protocols implemented by tars-rs. Their IDL lives in `idl/`.
//!
//! - `tars::EndpointF`, `tars::ObjectItem`: endpoint descriptions.
//! - `tars::QueryF`: the registry's naming interface (`tars.tarsregistry.QueryObj`), with
//!   `QueryFServant` / `QueryFProxy`.
//! - `tars::AdminF`: the administration interface every server hosts as `AdminObj`.
//! - `tarsrs::Registry`: the tars-rs registry interface (register with static metadata,
//!   heartbeat dynamic metadata, deregister, list with filters) and its structs.
//! - `tarstx::Coordinator`, `tarstx::Participant`: the transaction coordinator (a Seata-style
//!   TC: begin/commit/rollback, branch register/report, lock query) and the phase-two
//!   interface resource managers host, with Seata's status values and error codes.
//!
//! The runtime speaks these itself (its locator, self-registration and admin servant), so
//! they are generated once into [`tars::protocol`](::tars::protocol) and re-exported here;
//! `tests/runtime_protocols.rs` keeps that generated file in step with `idl/`.
#![deny(missing_docs)]

pub use ::tars::protocol::{tars, tarsrs};

include!(concat!(env!("OUT_DIR"), "/tars_generated.rs"));
