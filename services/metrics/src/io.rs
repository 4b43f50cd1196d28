//! The I/O counters of a tars-rs server as metrics.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use tars::server::{IoStats, Server};

/// What a server's metrics are read from: its I/O totals and its open connections per
/// adapter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerSnapshot {
    /// Totals since the server started (and the bytes buffered now).
    pub io: IoStats,
    /// `(adapter, open connections)`.
    pub connections: Vec<(String, usize)>,
}

impl ServerSnapshot {
    /// `server`'s counters now.
    pub fn of(server: &Server) -> ServerSnapshot {
        ServerSnapshot {
            io: server.io_stats(),
            connections: server.connection_stats().snapshot(),
        }
    }
}

type Read = dyn Fn() -> Option<ServerSnapshot> + Send + Sync;

/// A source of a server's metrics (`tars_server_*`), read on every scrape from a function
/// that returns the server's [`ServerSnapshot`] (`None`: the server is gone; nothing is
/// exposed).
///
/// - `tars_server_connections{adapter}` (gauge): open connections;
/// - `tars_server_requests_total`, `tars_server_responses_total` (counters): request frames
///   received, response frames queued;
/// - `tars_server_socket_reads_total`, `tars_server_socket_writes_total` (counters);
/// - `tars_server_buffered_bytes` (gauge): partial requests and unsent replies held now;
/// - `tars_server_queued_requests` (gauge): requests waiting in the adapters' queues plus
///   inline requests in flight, now;
/// - `tars_server_shed_total{reason="overload"|"queue_timeout"}` (counter): requests refused
///   with -9, and answered -6;
/// - `tars_server_udp_bad_datagrams_total`, `tars_server_udp_oversized_replies_total`,
///   `tars_server_udp_unsent_replies_total` (counters).
#[derive(Clone)]
pub struct ServerIoSource {
    read: Arc<Read>,
}

impl std::fmt::Debug for ServerIoSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIoSource").finish_non_exhaustive()
    }
}

impl ServerIoSource {
    /// The metrics of the server `read` describes.
    pub fn new(read: impl Fn() -> Option<ServerSnapshot> + Send + Sync + 'static) -> Self {
        ServerIoSource {
            read: Arc::new(read),
        }
    }
}

/// Encodes one unlabelled counter.
fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

impl Collector for ServerIoSource {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(snapshot) = (self.read)() else {
            return Ok(());
        };
        let io = snapshot.io;
        {
            let mut metric = encoder.encode_descriptor(
                "tars_server_connections",
                "Open connections per adapter",
                None,
                MetricType::Gauge,
            )?;
            for (adapter, n) in &snapshot.connections {
                let labels = [("adapter", adapter.as_str())];
                let family = metric.encode_family(&labels)?;
                ConstGauge::new(i64::try_from(*n).unwrap_or(i64::MAX)).encode(family)?;
            }
        }
        counter(
            &mut encoder,
            "tars_server_requests",
            "Request frames received",
            io.requests,
        )?;
        counter(
            &mut encoder,
            "tars_server_responses",
            "Response frames queued for sending",
            io.responses,
        )?;
        counter(
            &mut encoder,
            "tars_server_socket_reads",
            "Socket reads that returned data",
            io.socket_reads,
        )?;
        counter(
            &mut encoder,
            "tars_server_socket_writes",
            "Socket writes that sent data",
            io.socket_writes,
        )?;
        {
            let metric = encoder.encode_descriptor(
                "tars_server_buffered_bytes",
                "Bytes the connections hold now: partial request frames and unsent replies",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(i64::try_from(io.buffered_bytes).unwrap_or(i64::MAX)).encode(metric)?;
        }
        {
            let metric = encoder.encode_descriptor(
                "tars_server_queued_requests",
                "Requests waiting in the adapters' queues plus inline requests in flight",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(i64::try_from(io.queued_requests).unwrap_or(i64::MAX))
                .encode(metric)?;
        }
        {
            let mut metric = encoder.encode_descriptor(
                "tars_server_shed",
                "Requests shed: refused with -9 (overload) or answered -6 (queue timeout)",
                None,
                MetricType::Counter,
            )?;
            for (reason, n) in [
                ("overload", io.shed_overload),
                ("queue_timeout", io.shed_queue_timeout),
            ] {
                let labels = [("reason", reason)];
                ConstCounter::new(n).encode(metric.encode_family(&labels)?)?;
            }
        }
        counter(
            &mut encoder,
            "tars_server_udp_bad_datagrams",
            "Request datagrams dropped on UDP adapters",
            io.udp_bad_datagrams,
        )?;
        counter(
            &mut encoder,
            "tars_server_udp_oversized_replies",
            "UDP replies too large for one datagram",
            io.udp_oversized_replies,
        )?;
        counter(
            &mut encoder,
            "tars_server_udp_unsent_replies",
            "UDP replies not sent",
            io.udp_unsent_replies,
        )
    }
}
