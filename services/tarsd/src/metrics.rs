//! The node's Prometheus endpoint (`[metrics]`, [`tars_metrics`]): `GET /metrics` on its own
//! port, off unless `port` is set. Every scrape reads the node's state at that moment:
//!
//! - the node's server ([`tars_metrics::ServerIoSource`]): `tars_server_connections{adapter}`,
//!   `tars_server_requests_total`, `tars_server_responses_total`,
//!   `tars_server_buffered_bytes`, socket and UDP counters;
//! - the calls reported to this node's StatObj ([`StatSource`]), over the last complete
//!   minute(s) (`window_minutes`, default 1): `tars_stat_calls{servant,interface,side,result}`
//!   with `result` = `success`, `timeout` or `exception`, and the response times of the
//!   successful calls as the histogram `tars_stat_call_duration_seconds{servant,interface,
//!   side}`; the properties as `tars_stat_property{module,property,policy}`; and
//!   `tars_stat_window_start_seconds`, the start of the window. These are **window values**,
//!   not running totals: graph them as they are, not through `rate()`.
//! - the coordinator ([`CoordinatorSource`]): `tars_coordinator_open_transactions`, and per
//!   status `tars_coordinator_open_transactions_by_status{status}` (embedded mode);
//! - the registry ([`RegistrySource`]): `tars_registry_objects`,
//!   `tars_registry_instances{state="active"|"inactive"}`.
//!
//! In cluster mode each node exposes what it holds itself (its own server, the reports it
//! received, the transactions it leads): Prometheus scrapes every node and sums.

use std::collections::BTreeMap;
use std::net::ToSocketAddrs;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tars::server::Server;
use tars_coordinator::core::TransactionCore;
use tars_metrics::prometheus_client::collector::Collector;
use tars_metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use tars_metrics::prometheus_client::metrics::gauge::ConstGauge;
use tars_metrics::prometheus_client::metrics::MetricType;
use tars_metrics::{MetricsServer, ServerIoSource, ServerSnapshot};
use tars_protocols::tarsrs::InstanceFilter;
use tars_registry::Registry;
use tars_stat::{now_minute, CallPoint, CallQuery, PropertyQuery, Side, StatService};

use crate::NodeError;

/// The `[metrics]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// Port of the `/metrics` endpoint (0 picks a free one); off when unset.
    pub port: Option<u16>,
    /// Listening host (default: the node's `host`, else 127.0.0.1).
    pub host: Option<String>,
    /// Complete minutes of call statistics and properties exposed (default 1: the last
    /// complete minute).
    pub window_minutes: Option<u32>,
}

/// The node's server, shared with the metrics source reading its counters (`None` once the
/// node shut it down).
pub type SharedServer = Arc<Mutex<Option<Server>>>;

/// What the node's metrics are read from.
#[derive(Clone)]
pub struct MetricsParts {
    /// The node's server.
    pub server: SharedServer,
    /// The registry.
    pub registry: Arc<Registry>,
    /// The statistics services, when `[stat]` is on.
    pub stat: Option<StatService>,
    /// Open transactions this node serves.
    pub open_transactions: Arc<dyn Fn() -> usize + Send + Sync>,
    /// The embedded coordinator's core (per-status counts), `None` in cluster mode.
    pub core: Option<Arc<TransactionCore>>,
}

/// Starts the `/metrics` endpoint when `section.port` is set, listening on `section.host`,
/// else `node_host`, else 127.0.0.1.
pub fn start(
    section: &MetricsSection,
    node_host: Option<&str>,
    parts: MetricsParts,
) -> Result<Option<MetricsServer>, NodeError> {
    let Some(port) = section.port else {
        return Ok(None);
    };
    let host = section.host.as_deref().or(node_host).unwrap_or("127.0.0.1");
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| NodeError::Config(format!("[metrics] host {host:?}: {e}")))?
        .next()
        .ok_or_else(|| NodeError::Config(format!("[metrics] host {host:?}: no address")))?;
    let window = i64::from(section.window_minutes.unwrap_or(1).max(1));
    let server = parts.server.clone();
    let mut sources: Vec<Box<dyn Collector>> = vec![
        Box::new(ServerIoSource::new(move || {
            server.lock().as_ref().map(ServerSnapshot::of)
        })),
        Box::new(RegistrySource {
            registry: parts.registry,
        }),
        Box::new(CoordinatorSource {
            open: parts.open_transactions,
            core: parts.core,
        }),
    ];
    if let Some(service) = parts.stat {
        sources.push(Box::new(StatSource { service, window }));
    }
    Ok(Some(MetricsServer::start(addr, sources)?))
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The registry's objects and instances.
#[derive(Debug)]
pub struct RegistrySource {
    registry: Arc<Registry>,
}

impl Collector for RegistrySource {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let instances = self.registry.list(&InstanceFilter {
            include_inactive: true,
            ..InstanceFilter::default()
        });
        let objects: std::collections::BTreeSet<&str> =
            instances.iter().map(|i| i.obj_name.as_str()).collect();
        let active = instances.iter().filter(|i| i.active).count();
        gauge(
            &mut encoder,
            "tars_registry_objects",
            "Objects with at least one registered instance",
            count(objects.len()),
        )?;
        let mut metric = encoder.encode_descriptor(
            "tars_registry_instances",
            "Registered instances by state",
            None,
            MetricType::Gauge,
        )?;
        for (state, n) in [("active", active), ("inactive", instances.len() - active)] {
            let labels = [("state", state)];
            ConstGauge::new(count(n)).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// The coordinator's open transactions.
pub struct CoordinatorSource {
    open: Arc<dyn Fn() -> usize + Send + Sync>,
    core: Option<Arc<TransactionCore>>,
}

impl std::fmt::Debug for CoordinatorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorSource").finish_non_exhaustive()
    }
}

impl Collector for CoordinatorSource {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        gauge(
            &mut encoder,
            "tars_coordinator_open_transactions",
            "Open global transactions this node serves",
            count((self.open)()),
        )?;
        if let Some(core) = &self.core {
            let mut metric = encoder.encode_descriptor(
                "tars_coordinator_open_transactions_by_status",
                "Open global transactions by status",
                None,
                MetricType::Gauge,
            )?;
            for (status, n) in core.open_by_status() {
                let status = format!("{status:?}");
                let labels = [("status", status.as_str())];
                ConstGauge::new(count(n)).encode(metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// The bucket bounds (ms) TarsCpp, @tars/monitor and tars-rs reporters use for response times;
/// the histogram's buckets (in seconds).
pub const TARS_BOUNDS_MS: [i32; 9] = [5, 10, 50, 100, 200, 500, 1000, 2000, 3000];

/// A Tars response-time histogram (successful calls per upper bound in ms) as Prometheus
/// buckets over [`TARS_BOUNDS_MS`]: `(upper bound in s, calls)` per bucket, non-cumulative,
/// the last `(f64::MAX, n)` being `+Inf`. A Tars bucket goes to the first standard bound at
/// or above its own; its last bucket, which reporters also fill with slower calls, goes to
/// `+Inf` when the largest response time is above its bound.
pub fn buckets(histogram: &BTreeMap<i32, i64>, max_ms: i32) -> Vec<(f64, u64)> {
    let mut out: Vec<(f64, u64)> = TARS_BOUNDS_MS
        .iter()
        .map(|b| (f64::from(*b) / 1000.0, 0))
        .chain(std::iter::once((f64::MAX, 0)))
        .collect();
    let last = histogram.keys().next_back().copied();
    for (bound, n) in histogram {
        let n = u64::try_from(*n).unwrap_or(0);
        let slot = if Some(*bound) == last && max_ms > *bound {
            TARS_BOUNDS_MS.len()
        } else {
            TARS_BOUNDS_MS
                .iter()
                .position(|b| b >= bound)
                .unwrap_or(TARS_BOUNDS_MS.len())
        };
        out[slot].1 += n;
    }
    out
}

/// Calls and properties reported to this node over the last complete minute(s).
#[derive(Debug)]
pub struct StatSource {
    service: StatService,
    window: i64,
}

/// One series summed over the window.
#[derive(Default)]
struct Window {
    successes: u64,
    timeouts: u64,
    exceptions: u64,
    total_ms: i64,
    max_ms: i32,
    histogram: BTreeMap<i32, i64>,
}

impl Window {
    fn add(&mut self, p: &CallPoint) {
        self.successes += p.successes;
        self.timeouts += p.timeouts;
        self.exceptions += p.exceptions;
        self.total_ms += p.total_ms;
        self.max_ms = self.max_ms.max(p.max_ms);
        for (b, n) in &p.histogram {
            *self.histogram.entry(*b).or_insert(0) += n;
        }
    }
}

impl Collector for StatSource {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let to = now_minute();
        let from = to - self.window;
        let calls = match self.service.calls(&CallQuery {
            from_minute: from,
            to_minute: to,
            ..CallQuery::default()
        }) {
            Ok(calls) => calls,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: reading the call rollups");
                Vec::new()
            }
        };
        let props = match self.service.properties(&PropertyQuery {
            from_minute: from,
            to_minute: to,
            ..PropertyQuery::default()
        }) {
            Ok(props) => props,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: reading the property rollups");
                Vec::new()
            }
        };
        gauge(
            &mut encoder,
            "tars_stat_window_start_seconds",
            "Start of the window of the tars_stat_* metrics (Unix time)",
            from.saturating_mul(60),
        )?;
        let windows: Vec<(&str, &str, &str, Window)> = calls
            .iter()
            .map(|s| {
                let mut w = Window::default();
                s.points.iter().for_each(|p| w.add(p));
                let side = match s.side {
                    Side::Client => "client",
                    Side::Server => "server",
                };
                (s.slave_name.as_str(), s.interface_name.as_str(), side, w)
            })
            .collect();
        {
            let mut metric = encoder.encode_descriptor(
                "tars_stat_calls",
                "Calls reported in the window, by callee, function, reporting side and result",
                None,
                MetricType::Gauge,
            )?;
            for (servant, interface, side, w) in &windows {
                for (result, n) in [
                    ("success", w.successes),
                    ("timeout", w.timeouts),
                    ("exception", w.exceptions),
                ] {
                    let labels = [
                        ("servant", *servant),
                        ("interface", *interface),
                        ("side", *side),
                        ("result", result),
                    ];
                    ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX))
                        .encode(metric.encode_family(&labels)?)?;
                }
            }
        }
        {
            let mut metric = encoder.encode_descriptor(
                "tars_stat_call_duration_seconds",
                "Response times of the successful calls reported in the window",
                None,
                MetricType::Histogram,
            )?;
            for (servant, interface, side, w) in &windows {
                let labels = [
                    ("servant", *servant),
                    ("interface", *interface),
                    ("side", *side),
                ];
                let buckets = buckets(&w.histogram, w.max_ms);
                let count = buckets.iter().map(|(_, n)| n).sum();
                metric
                    .encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(
                        w.total_ms as f64 / 1000.0,
                        count,
                        &buckets,
                        None,
                    )?;
            }
        }
        let mut metric = encoder.encode_descriptor(
            "tars_stat_property",
            "Properties reported in the window, merged by policy (Avg: the mean; Distr: the count)",
            None,
            MetricType::Gauge,
        )?;
        for s in &props {
            let Some(value) = property_value(s) else {
                continue;
            };
            let labels = [
                ("module", s.module_name.as_str()),
                ("property", s.property_name.as_str()),
                ("policy", s.policy.as_str()),
            ];
            ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// A property's value over the window: Sum and Count added up, Max and Min the extreme, Avg
/// the mean of every value reported (from the `sum=count` of each minute), otherwise the last
/// minute's value.
pub fn property_value(series: &tars_stat::PropertySeries) -> Option<f64> {
    let points = &series.points;
    let last = points.last()?;
    Some(match series.policy.as_str() {
        "Sum" | "Count" => points.iter().map(|p| p.value).sum(),
        "Max" => points.iter().map(|p| p.value).fold(f64::MIN, f64::max),
        "Min" => points.iter().map(|p| p.value).fold(f64::MAX, f64::min),
        "Avg" => {
            let (sum, n) = points.iter().fold((0.0, 0.0), |(sum, n), p| {
                match p.raw.split_once('=').and_then(|(s, c)| {
                    Some((s.trim().parse::<f64>().ok()?, c.trim().parse::<f64>().ok()?))
                }) {
                    Some((s, c)) => (sum + s, n + c),
                    None => (sum + p.value, n + 1.0),
                }
            });
            if n > 0.0 {
                sum / n
            } else {
                0.0
            }
        }
        _ => last.value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tars_buckets_map_to_the_standard_bounds_and_slow_calls_to_inf() {
        let h: BTreeMap<i32, i64> = [(5, 3), (7, 1), (100, 2), (3000, 4)].into_iter().collect();
        let b = buckets(&h, 2500);
        assert_eq!(b.len(), TARS_BOUNDS_MS.len() + 1);
        assert_eq!(b[0], (0.005, 3));
        assert_eq!(b[1], (0.01, 1), "a 7 ms bound counts under 10 ms");
        assert_eq!(b[3], (0.1, 2));
        assert_eq!(b[8], (3.0, 4), "max 2500 ms: the last bucket is exact");
        assert_eq!(b[9], (f64::MAX, 0));
        let b = buckets(&h, 4500);
        assert_eq!(
            (b[8].1, b[9].1),
            (0, 4),
            "max 4500 ms: the last bucket may be slower"
        );
        let odd: BTreeMap<i32, i64> = [(9000, 1), (10000, 1)].into_iter().collect();
        assert_eq!(buckets(&odd, 10000)[9].1, 2, "beyond 3 s: +Inf");
    }

    #[test]
    fn the_section_parses() {
        let config = crate::NodeConfig::from_toml("[metrics]\nport = 9464\nhost = \"0.0.0.0\"\n")
            .expect("valid");
        assert_eq!(config.metrics.port, Some(9464));
        assert_eq!(config.metrics.host.as_deref(), Some("0.0.0.0"));
        assert!(crate::NodeConfig::from_toml("[metrics]\nprot = 1\n").is_err());
    }
}
