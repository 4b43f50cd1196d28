//! The Tars framework protocols implemented by tars-rs, generated from `idl/` at build time by
//! the tars-idlc [`Builder`](https://docs.rs/tars-idlc):
//!
//! - `tars::EndpointF`, `tars::ObjectItem`: endpoint descriptions.
//! - `tars::QueryF`: the registry's naming interface (`tars.tarsregistry.QueryObj`), with
//!   `QueryFServant` / `QueryFProxy`.
//! - `tars::AdminF`: the administration interface every server hosts as `AdminObj`.
//! - `tarsrs::Registry`: the tars-rs registry interface (register with static metadata,
//!   heartbeat dynamic metadata, deregister, list with filters) and its structs.
#![deny(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/tars_generated.rs"));
