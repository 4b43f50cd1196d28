//! `tars-stat`: the Tars statistics services of tars-rs.
//!
//! - `tars.tarsstat.StatObj` ([`STAT_OBJ`], StatF): `reportMicMsg(map<StatMicMsgHead,
//!   StatMicMsgBody>, bool bFromClient)` — call counts, timeouts, exceptions, a response-time
//!   histogram and total / max / min time per caller → callee function, as TarsCpp, @tars/rpc
//!   (through @tars/monitor) and tars-rs reporters send every report interval;
//!   `reportSampleMsg` is acknowledged and not kept.
//! - `tars.tarsproperty.PropertyObj` ([`PROPERTY_OBJ`], PropertyF): `reportPropMsg` — custom
//!   properties with their policies (Sum, Count, Max, Min, Avg, Distr).
//! - `tars.tarsstat.StatQueryObj` ([`STAT_QUERY_OBJ`], `tarsstat.StatQuery` of
//!   `protocols/idl/StatQuery.tars`): this node's rollups, for a cluster's fan-out.
//!
//! Reports are merged into **one-minute rollups** ([`rollup`]) — calls keyed by (minute of
//! arrival, reporting side, head), properties by (minute, head, policy) — and kept in an
//! embedded redb database, `stat.redb` in the data directory ([`store`]), durable across
//! restarts, trimmed in the background to `retention_minutes` and `max_rows` ([`StatConfig`]).
//! Client-side (`bFromClient = true`) and server-side reports stay apart ([`Side`]).
//!
//! The query API ([`StatService::calls`], [`StatService::properties`],
//! [`StatService::catalog`], and over rows of several nodes [`query::call_series`],
//! [`query::property_series`], [`Catalog::of`]) gives per callee function and side the calls,
//! timeouts and exceptions per minute with estimated p50 / p99 ([`rollup::quantile`]), the
//! properties over time, and the list of what was reported.
#![deny(missing_docs)]

pub mod query;
pub mod rollup;
mod service;
pub mod store;

pub use query::{
    CallPoint, CallQuery, CallSeries, Catalog, PropertyPoint, PropertyQuery, PropertySeries,
};
pub use rollup::Side;
pub use service::{
    now_minute, StatConfig, StatService, ADAPTER, DEFAULT_PORT, PROPERTY_OBJ, STAT_OBJ,
    STAT_QUERY_OBJ,
};
pub use store::{StatError, StatStore, Trimmed};
pub use tars_protocols::tarsstat::{CallRow, PropRow};
