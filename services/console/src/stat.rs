//! The statistics page's API: calls per minute, latency and properties of the one-minute
//! rollups of [`tars_stat`], read through a [`StatsSource`] the node provides (in cluster mode
//! a fan-out over every node, whose silent nodes are reported in [`Answered::failed`]).
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /api/stat?minutes=&from=&to=&servant=&interface=&side=` | [`CallsView`] |
//! | `GET /api/stat/properties?minutes=&from=&to=&module=&property=` | [`PropertiesView`] |
//!
//! The time range is `[from, to)` in minutes since the Unix epoch, or the last `minutes`
//! minutes up to the current one (default 15); at most [`MAX_MINUTES`]. Every minute of the
//! range has a point (zero calls, no latency, no property value when nothing was reported).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Query, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tars_stat::rollup::quantile;
use tars_stat::{
    now_minute, CallPoint, CallQuery, CallSeries, Catalog, PropertyQuery, PropertySeries, Side,
};

use crate::api::{error, State};

/// The longest range a query may ask for (7 days of minutes).
pub const MAX_MINUTES: i64 = 7 * 24 * 60;
/// The range when the query gives none.
pub const DEFAULT_MINUTES: i64 = 15;

/// An answer gathered from the nodes, with the nodes that did not answer.
#[derive(Debug, Clone, Default)]
pub struct Answered<T> {
    /// The merged answer of the nodes that answered.
    pub value: T,
    /// Nodes that did not answer (a name such as `host:port`, and why).
    pub failed: Vec<(String, String)>,
}

/// Where the console reads statistics (tarsd implements it over its `NodeStats`, which fans
/// out to every node in cluster mode). Calls block (they may wait for other nodes): the
/// console makes them on a blocking thread.
pub trait StatsSource: Send + Sync {
    /// Calls per callee function and side ([`tars_stat::StatService::calls`]).
    fn calls(&self, query: &CallQuery) -> Result<Answered<Vec<CallSeries>>, String>;
    /// Properties per module, name and policy ([`tars_stat::StatService::properties`]).
    fn properties(&self, query: &PropertyQuery) -> Result<Answered<Vec<PropertySeries>>, String>;
    /// What was reported in minutes `[from_minute, to_minute)`.
    fn catalog(&self, from_minute: i64, to_minute: i64) -> Result<Answered<Catalog>, String>;
}

/// Query of `GET /api/stat` and `GET /api/stat/properties`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatQueryParams {
    /// The last this many minutes (with the current one); ignored when `from` and `to` are
    /// given.
    pub minutes: Option<i64>,
    /// First minute (minutes since the Unix epoch).
    pub from: Option<i64>,
    /// Minute after the last.
    pub to: Option<i64>,
    /// The callee (`App.Server.Obj`; empty: every callee).
    pub servant: String,
    /// The function (empty: every function).
    pub interface: String,
    /// `server` or `client`; empty: `server` when the servers reported any of the selected
    /// calls, `client` otherwise.
    pub side: String,
    /// The reporting module of properties (empty: every module).
    pub module: String,
    /// The property (empty: every property).
    pub property: String,
}

/// The range `[from, to)` a query asks for, or why it is refused.
fn range(q: &StatQueryParams, now: i64) -> Result<(i64, i64), String> {
    let (from, to) = match (q.from, q.to) {
        (Some(from), Some(to)) => (from, to),
        (None, None) => {
            let minutes = q.minutes.unwrap_or(DEFAULT_MINUTES);
            if minutes < 1 {
                return Err("minutes must be at least 1".into());
            }
            let to = now.saturating_add(1);
            (to.saturating_sub(minutes.min(MAX_MINUTES)), to)
        }
        _ => return Err("give both from and to (minutes since the Unix epoch), or neither".into()),
    };
    if to <= from {
        return Err("to must be after from".into());
    }
    if to.saturating_sub(from) > MAX_MINUTES {
        return Err(format!("at most {MAX_MINUTES} minutes at a time"));
    }
    Ok((from, to))
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Client => "client",
        Side::Server => "server",
    }
}

/// A node that did not answer.
#[derive(Debug, Clone, Serialize)]
pub struct FailedNode {
    /// The node (`host:port` of its StatQueryObj; for transactions, the node id and its
    /// coordinator address).
    pub node: String,
    /// Why.
    pub error: String,
}

pub(crate) fn failed(list: impl IntoIterator<Item = (String, String)>) -> Vec<FailedNode> {
    let mut seen = BTreeSet::new();
    list.into_iter()
        .filter(|(node, _)| seen.insert(node.clone()))
        .map(|(node, error)| FailedNode { node, error })
        .collect()
}

/// `GET /api/stat`.
#[derive(Debug, Clone, Serialize)]
pub struct CallsView {
    /// First minute (minutes since the Unix epoch).
    pub from_minute: i64,
    /// Minute after the last.
    pub to_minute: i64,
    /// The selected callee (empty: all).
    pub servant: String,
    /// The selected function (empty: all).
    pub interface: String,
    /// The side shown: `server` or `client`.
    pub side: String,
    /// Every selected series (one callee function as one side reported it) merged, one point
    /// per minute of the range, oldest first.
    pub total: Vec<MinuteView>,
    /// The selected series, each with its totals over the range.
    pub series: Vec<SeriesView>,
    /// Callees and their functions reported in the range (either side).
    pub servants: BTreeMap<String, BTreeSet<String>>,
    /// Modules, their properties and policies reported in the range.
    pub properties: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// Nodes that did not answer (cluster mode).
    pub failed: Vec<FailedNode>,
    /// The current minute.
    pub now_minute: i64,
}

/// Calls of one minute.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MinuteView {
    /// Minutes since the Unix epoch.
    pub minute: i64,
    /// All calls (successes, timeouts and exceptions).
    pub calls: u64,
    /// Successful calls.
    pub successes: u64,
    /// Calls that timed out.
    pub timeouts: u64,
    /// Calls that failed.
    pub exceptions: u64,
    /// Mean response time of the successes, ms (`None` without any).
    pub avg_ms: Option<f64>,
    /// Estimated median response time of the successes, ms.
    pub p50_ms: Option<f64>,
    /// Estimated 99th percentile, ms.
    pub p99_ms: Option<f64>,
    /// Largest response time reported, ms (`None` without calls).
    pub max_ms: Option<i32>,
}

/// One selected series with its totals over the range.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesView {
    /// The callee.
    pub servant: String,
    /// The function.
    pub interface: String,
    /// `server` or `client`.
    pub side: String,
    /// Its minutes merged over the range.
    pub totals: MinuteView,
    /// Minutes with calls.
    pub active_minutes: usize,
}

/// A merge of call points: counts added, histograms added, largest maximum.
#[derive(Default)]
struct Sum {
    successes: u64,
    timeouts: u64,
    exceptions: u64,
    total_ms: i64,
    max_ms: i32,
    histogram: BTreeMap<i32, i64>,
    any: bool,
}

impl Sum {
    fn add(&mut self, p: &CallPoint) {
        self.any = true;
        self.successes += p.successes;
        self.timeouts += p.timeouts;
        self.exceptions += p.exceptions;
        self.total_ms = self.total_ms.saturating_add(p.total_ms);
        self.max_ms = self.max_ms.max(p.max_ms);
        for (bound, n) in &p.histogram {
            *self.histogram.entry(*bound).or_insert(0) += *n;
        }
    }

    fn view(&self, minute: i64) -> MinuteView {
        MinuteView {
            minute,
            calls: self.successes + self.timeouts + self.exceptions,
            successes: self.successes,
            timeouts: self.timeouts,
            exceptions: self.exceptions,
            avg_ms: (self.successes > 0).then(|| self.total_ms as f64 / self.successes as f64),
            p50_ms: quantile(&self.histogram, 0.5, self.max_ms),
            p99_ms: quantile(&self.histogram, 0.99, self.max_ms),
            max_ms: self.any.then_some(self.max_ms),
        }
    }
}

/// Every minute of `[from, to)`, the points of `series` of that minute merged.
pub fn per_minute(series: &[CallSeries], from: i64, to: i64) -> Vec<MinuteView> {
    let mut sums: BTreeMap<i64, Sum> = (from..to).map(|m| (m, Sum::default())).collect();
    for p in series.iter().flat_map(|s| &s.points) {
        if let Some(sum) = sums.get_mut(&p.minute) {
            sum.add(p);
        }
    }
    sums.iter().map(|(m, s)| s.view(*m)).collect()
}

fn series_view(s: &CallSeries) -> SeriesView {
    let mut sum = Sum::default();
    for p in &s.points {
        sum.add(p);
    }
    SeriesView {
        servant: s.slave_name.clone(),
        interface: s.interface_name.clone(),
        side: side_name(s.side).into(),
        totals: sum.view(0),
        active_minutes: s.points.iter().filter(|p| p.calls() > 0).count(),
    }
}

/// Runs `f` on the source on a blocking thread.
async fn blocking<T: Send + 'static>(
    state: &State,
    f: impl FnOnce(&dyn StatsSource) -> Result<T, String> + Send + 'static,
) -> Result<T, Response> {
    let Some(source) = state.stats() else {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "statistics are off on this node ([stat] enable = false)",
        ));
    };
    let source: Arc<dyn StatsSource> = source;
    match tokio::task::spawn_blocking(move || f(source.as_ref())).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e)),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

/// `GET /api/stat`.
pub(crate) async fn calls(
    Extract(state): Extract<State>,
    Query(q): Query<StatQueryParams>,
) -> Response {
    let now = now_minute();
    let (from, to) = match range(&q, now) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let side = match q.side.trim() {
        "" => None,
        "server" => Some(Side::Server),
        "client" => Some(Side::Client),
        _ => return error(StatusCode::BAD_REQUEST, "side is server or client"),
    };
    let servant = q.servant.trim().to_owned();
    let interface = q.interface.trim().to_owned();
    let query = CallQuery {
        from_minute: from,
        to_minute: to,
        slave_name: servant.clone(),
        interface_name: interface.clone(),
        side: None,
    };
    let answer = blocking(&state, move |source| {
        let calls = source.calls(&query)?;
        let catalog = source.catalog(from, to)?;
        Ok((calls, catalog))
    })
    .await;
    let (calls, catalog) = match answer {
        Ok(a) => a,
        Err(response) => return response,
    };
    // Both sides report the same calls: one side is shown at a time.
    let side = side.unwrap_or_else(|| {
        if calls.value.iter().any(|s| s.side == Side::Server) || calls.value.is_empty() {
            Side::Server
        } else {
            Side::Client
        }
    });
    let selected: Vec<CallSeries> = calls.value.into_iter().filter(|s| s.side == side).collect();
    Json(CallsView {
        from_minute: from,
        to_minute: to,
        servant,
        interface,
        side: side_name(side).into(),
        total: per_minute(&selected, from, to),
        series: selected.iter().map(series_view).collect(),
        servants: catalog.value.servants,
        properties: catalog.value.properties,
        failed: failed(calls.failed.into_iter().chain(catalog.failed)),
        now_minute: now,
    })
    .into_response()
}

/// `GET /api/stat/properties`.
#[derive(Debug, Clone, Serialize)]
pub struct PropertiesView {
    /// First minute (minutes since the Unix epoch).
    pub from_minute: i64,
    /// Minute after the last.
    pub to_minute: i64,
    /// The selected module (empty: all).
    pub module: String,
    /// The selected property (empty: all).
    pub property: String,
    /// One series per module, property and policy.
    pub series: Vec<PropertySeriesView>,
    /// Nodes that did not answer (cluster mode).
    pub failed: Vec<FailedNode>,
    /// The current minute.
    pub now_minute: i64,
}

/// One property of one module with one policy over the range.
#[derive(Debug, Clone, Serialize)]
pub struct PropertySeriesView {
    /// The reporting module.
    pub module: String,
    /// The property.
    pub property: String,
    /// The policy (`Sum`, `Avg`, `Max`, ...).
    pub policy: String,
    /// One point per minute of the range, oldest first.
    pub points: Vec<PropertyPointView>,
}

/// A property's value in one minute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PropertyPointView {
    /// Minutes since the Unix epoch.
    pub minute: i64,
    /// The value as a number (`None` when nothing was reported that minute).
    pub value: Option<f64>,
    /// The value as stored (TarsCpp's format: Avg `"sum=count"`, Distr `"bound|count,..."`).
    pub raw: Option<String>,
}

/// `series` with a point for every minute of `[from, to)`.
pub fn property_view(series: &PropertySeries, from: i64, to: i64) -> PropertySeriesView {
    let by_minute: BTreeMap<i64, _> = series.points.iter().map(|p| (p.minute, p)).collect();
    PropertySeriesView {
        module: series.module_name.clone(),
        property: series.property_name.clone(),
        policy: series.policy.clone(),
        points: (from..to)
            .map(|minute| PropertyPointView {
                minute,
                value: by_minute.get(&minute).map(|p| p.value),
                raw: by_minute.get(&minute).map(|p| p.raw.clone()),
            })
            .collect(),
    }
}

pub(crate) async fn properties(
    Extract(state): Extract<State>,
    Query(q): Query<StatQueryParams>,
) -> Response {
    let now = now_minute();
    let (from, to) = match range(&q, now) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let module = q.module.trim().to_owned();
    let property = q.property.trim().to_owned();
    let query = PropertyQuery {
        from_minute: from,
        to_minute: to,
        module_name: module.clone(),
        property_name: property.clone(),
    };
    let answer = match blocking(&state, move |source| source.properties(&query)).await {
        Ok(a) => a,
        Err(response) => return response,
    };
    Json(PropertiesView {
        from_minute: from,
        to_minute: to,
        module,
        property,
        series: answer
            .value
            .iter()
            .map(|s| property_view(s, from, to))
            .collect(),
        failed: failed(answer.failed),
        now_minute: now,
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tars_stat::PropertyPoint;

    fn point(minute: i64, successes: u64, timeouts: u64, histogram: &[(i32, i64)]) -> CallPoint {
        CallPoint {
            minute,
            successes,
            timeouts,
            exceptions: 1,
            avg_ms: 0.0,
            max_ms: histogram.iter().map(|(b, _)| *b).max().unwrap_or(0),
            min_ms: 0,
            p50_ms: None,
            p99_ms: None,
            histogram: histogram.iter().copied().collect(),
            total_ms: histogram.iter().map(|(b, n)| i64::from(*b) * n).sum(),
        }
    }

    fn series(interface: &str, points: Vec<CallPoint>) -> CallSeries {
        CallSeries {
            slave_name: "A.B.Obj".into(),
            interface_name: interface.into(),
            side: Side::Server,
            points,
        }
    }

    #[test]
    fn every_minute_has_a_point_and_series_of_a_minute_merge() {
        let s = [
            series(
                "a",
                vec![point(10, 4, 1, &[(5, 4)]), point(12, 2, 0, &[(50, 2)])],
            ),
            series(
                "b",
                vec![point(10, 6, 0, &[(100, 6)]), point(99, 1, 0, &[])],
            ),
        ];
        let minutes = per_minute(&s, 9, 13);
        assert_eq!(
            minutes.iter().map(|m| m.minute).collect::<Vec<_>>(),
            [9, 10, 11, 12]
        );
        let empty = &minutes[0];
        assert_eq!((empty.calls, empty.p50_ms, empty.max_ms), (0, None, None));
        let ten = &minutes[1];
        assert_eq!(
            (ten.calls, ten.successes, ten.timeouts, ten.exceptions),
            (13, 10, 1, 2)
        );
        assert_eq!(ten.avg_ms, Some((4.0 * 5.0 + 6.0 * 100.0) / 10.0));
        // 4 calls <= 5 ms, 6 in (50, 100]: the median in the second bucket, as one
        // histogram of the merged calls gives it.
        let merged: BTreeMap<i32, i64> = [(5, 4), (100, 6)].into_iter().collect();
        assert_eq!(ten.p50_ms, quantile(&merged, 0.5, 100));
        assert!(ten.p50_ms.is_some_and(|p| p > 5.0 && p <= 100.0));
        assert_eq!(ten.max_ms, Some(100));
        assert_eq!(minutes[3].calls, 3);
        // The series' totals cover its points in the range queried.
        let v = series_view(&s[0]);
        assert_eq!((v.totals.calls, v.active_minutes), (9, 2));
    }

    #[test]
    fn ranges_are_bounded_and_default_to_the_last_minutes() {
        let q = StatQueryParams::default();
        assert_eq!(range(&q, 1000), Ok((1001 - DEFAULT_MINUTES, 1001)));
        let q = StatQueryParams {
            minutes: Some(60),
            ..StatQueryParams::default()
        };
        assert_eq!(range(&q, 1000), Ok((941, 1001)));
        let q = StatQueryParams {
            from: Some(5),
            to: Some(9),
            ..StatQueryParams::default()
        };
        assert_eq!(range(&q, 1000), Ok((5, 9)));
        for bad in [
            StatQueryParams {
                from: Some(9),
                to: Some(9),
                ..StatQueryParams::default()
            },
            StatQueryParams {
                from: Some(0),
                to: Some(MAX_MINUTES + 1),
                ..StatQueryParams::default()
            },
            StatQueryParams {
                from: Some(0),
                ..StatQueryParams::default()
            },
            StatQueryParams {
                minutes: Some(0),
                ..StatQueryParams::default()
            },
        ] {
            assert!(range(&bad, 1000).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn property_points_cover_the_range() {
        let s = PropertySeries {
            module_name: "M".into(),
            property_name: "p".into(),
            policy: "Avg".into(),
            points: vec![PropertyPoint {
                minute: 3,
                value: 2.5,
                raw: "5=2".into(),
            }],
        };
        let v = property_view(&s, 2, 5);
        assert_eq!(v.points.len(), 3);
        assert_eq!(v.points[0].value, None);
        assert_eq!(v.points[1].value, Some(2.5));
        assert_eq!(v.points[1].raw.as_deref(), Some("5=2"));
    }
}
