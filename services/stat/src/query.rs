//! Reading rollups as series: per callee interface and reporting side, one point per minute;
//! per property and policy, one value per minute; and the catalog of what is known.
//!
//! The functions here take rows — of one node ([`crate::StatService`]) or of several nodes
//! concatenated (a cluster's fan-out) — and merge rows of the same series and minute.

use std::collections::{BTreeMap, BTreeSet};

use tars_protocols::tarsstat::{CallRow, PropRow};

use crate::rollup::{merge_calls, merge_props, numeric_value, quantile, Side};

/// Which calls a query returns. Empty names match every name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallQuery {
    /// First minute (minutes since the Unix epoch).
    pub from_minute: i64,
    /// Minute after the last.
    pub to_minute: i64,
    /// The callee (`slaveName`, e.g. `App.Server.Obj`); empty: every callee.
    pub slave_name: String,
    /// The function; empty: every function.
    pub interface_name: String,
    /// Only the reports of one side; `None`: both, as separate series.
    pub side: Option<Side>,
}

/// Calls of one minute of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct CallPoint {
    /// Minutes since the Unix epoch.
    pub minute: i64,
    /// Successful calls.
    pub successes: u64,
    /// Calls that timed out.
    pub timeouts: u64,
    /// Calls that failed (exceptions, error replies).
    pub exceptions: u64,
    /// Mean response time of the successful calls, ms (0 without any).
    pub avg_ms: f64,
    /// Largest response time reported, ms.
    pub max_ms: i32,
    /// Smallest response time reported, ms.
    pub min_ms: i32,
    /// Estimated median response time of the successful calls, ms ([`quantile`]).
    pub p50_ms: Option<f64>,
    /// Estimated 99th percentile response time of the successful calls, ms ([`quantile`]).
    pub p99_ms: Option<f64>,
    /// Successful calls per response-time bucket (upper bound in ms).
    pub histogram: BTreeMap<i32, i64>,
    /// Total response time of the successful calls, ms.
    pub total_ms: i64,
}

impl CallPoint {
    /// All calls: successes, timeouts and exceptions.
    pub fn calls(&self) -> u64 {
        self.successes + self.timeouts + self.exceptions
    }
}

/// The calls of one callee function as one side reported them, minute by minute.
#[derive(Debug, Clone, PartialEq)]
pub struct CallSeries {
    /// The callee (`slaveName`).
    pub slave_name: String,
    /// The function.
    pub interface_name: String,
    /// Who reported them.
    pub side: Side,
    /// One point per minute with calls, oldest first.
    pub points: Vec<CallPoint>,
}

fn point(row: &CallRow) -> CallPoint {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    CallPoint {
        minute: row.minute,
        successes: n(row.count),
        timeouts: n(row.timeout_count),
        exceptions: n(row.exec_count),
        avg_ms: if row.count > 0 {
            row.total_rsp_time as f64 / row.count as f64
        } else {
            0.0
        },
        max_ms: row.max_rsp_time,
        min_ms: row.min_rsp_time,
        p50_ms: quantile(&row.interval_count, 0.5, row.max_rsp_time),
        p99_ms: quantile(&row.interval_count, 0.99, row.max_rsp_time),
        histogram: row.interval_count.clone(),
        total_ms: row.total_rsp_time,
    }
}

/// Whether `row` is one `query` asks for.
pub fn call_matches(query: &CallQuery, row: &CallRow) -> bool {
    row.minute >= query.from_minute
        && row.minute < query.to_minute
        && (query.slave_name.is_empty() || query.slave_name == row.slave_name.as_str())
        && (query.interface_name.is_empty() || query.interface_name == row.interface_name.as_str())
        && query
            .side
            .is_none_or(|s| s == Side::from_client(row.from_client))
}

/// The series of `rows` that `query` selects: rows of the same callee, function, side and
/// minute merged (whoever called, from whichever address, with whichever return value).
/// Sorted by callee, function, side; points oldest first.
pub fn call_series(query: &CallQuery, rows: &[CallRow]) -> Vec<CallSeries> {
    let mut merged: BTreeMap<(String, String, Side), BTreeMap<i64, CallRow>> = BTreeMap::new();
    for row in rows.iter().filter(|r| call_matches(query, r)) {
        let key = (
            row.slave_name.to_string(),
            row.interface_name.to_string(),
            Side::from_client(row.from_client),
        );
        let minutes = merged.entry(key).or_default();
        match minutes.get_mut(&row.minute) {
            Some(into) => merge_calls(into, row),
            None => {
                minutes.insert(row.minute, row.clone());
            }
        }
    }
    merged
        .into_iter()
        .map(|((slave_name, interface_name, side), minutes)| CallSeries {
            slave_name,
            interface_name,
            side,
            points: minutes.values().map(point).collect(),
        })
        .collect()
}

/// Which properties a query returns. Empty names match every name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropertyQuery {
    /// First minute (minutes since the Unix epoch).
    pub from_minute: i64,
    /// Minute after the last.
    pub to_minute: i64,
    /// The reporting module; empty: every module.
    pub module_name: String,
    /// The property; empty: every property.
    pub property_name: String,
}

/// One property value of one minute.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyPoint {
    /// Minutes since the Unix epoch.
    pub minute: i64,
    /// The value as a number ([`crate::rollup::numeric_value`]: Avg is sum / count, Distr the
    /// total count).
    pub value: f64,
    /// The merged value in TarsCpp's format (Avg `"sum=count"`, Distr `"bound|count,..."`).
    pub raw: String,
}

/// One property of one module with one policy, minute by minute (all reporting addresses
/// merged).
#[derive(Debug, Clone, PartialEq)]
pub struct PropertySeries {
    /// The reporting module.
    pub module_name: String,
    /// The property.
    pub property_name: String,
    /// The policy (`Sum`, `Max`, `Min`, `Count`, `Avg`, `Distr`, ...).
    pub policy: String,
    /// One point per minute, oldest first.
    pub points: Vec<PropertyPoint>,
}

/// Whether `row` is one `query` asks for.
pub fn prop_matches(query: &PropertyQuery, row: &PropRow) -> bool {
    row.minute >= query.from_minute
        && row.minute < query.to_minute
        && (query.module_name.is_empty() || query.module_name == row.module_name.as_str())
        && (query.property_name.is_empty() || query.property_name == row.property_name.as_str())
}

/// The property series of `rows` that `query` selects, rows of the same module, property,
/// policy and minute merged by the policy. Sorted by module, property, policy.
pub fn property_series(query: &PropertyQuery, rows: &[PropRow]) -> Vec<PropertySeries> {
    let mut merged: BTreeMap<(String, String, String), BTreeMap<i64, PropRow>> = BTreeMap::new();
    for row in rows.iter().filter(|r| prop_matches(query, r)) {
        let key = (
            row.module_name.to_string(),
            row.property_name.to_string(),
            row.policy.to_string(),
        );
        let minutes = merged.entry(key).or_default();
        match minutes.get_mut(&row.minute) {
            Some(into) => merge_props(into, row),
            None => {
                minutes.insert(row.minute, row.clone());
            }
        }
    }
    merged
        .into_iter()
        .map(
            |((module_name, property_name, policy), minutes)| PropertySeries {
                points: minutes
                    .values()
                    .map(|r| PropertyPoint {
                        minute: r.minute,
                        value: numeric_value(&policy, r.value.as_str()),
                        raw: r.value.to_string(),
                    })
                    .collect(),
                module_name,
                property_name,
                policy,
            },
        )
        .collect()
}

/// What has been reported in a time range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Callee → its functions that were called.
    pub servants: BTreeMap<String, BTreeSet<String>>,
    /// Module → property → the policies reported.
    pub properties: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

impl Catalog {
    /// The catalog of `calls` and `props`.
    pub fn of(calls: &[CallRow], props: &[PropRow]) -> Catalog {
        let mut catalog = Catalog::default();
        for row in calls {
            catalog
                .servants
                .entry(row.slave_name.to_string())
                .or_default()
                .insert(row.interface_name.to_string());
        }
        for row in props {
            catalog
                .properties
                .entry(row.module_name.to_string())
                .or_default()
                .entry(row.property_name.to_string())
                .or_default()
                .insert(row.policy.to_string());
        }
        catalog
    }
}
