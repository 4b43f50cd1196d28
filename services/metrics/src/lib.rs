//! `tars-metrics`: Prometheus `/metrics` for tars-rs.
//!
//! [`MetricsServer::start`] serves `GET /metrics` on its own address (a small HTTP/1 server,
//! axum on a one-thread tokio runtime of its own), answering with what its sources hold at
//! the moment of the scrape, encoded by the `prometheus-client` crate in the OpenMetrics
//! text format ([`CONTENT_TYPE`]; Prometheus reads it, and so do parsers of the older
//! `text/plain; version=0.0.4` format, which it extends).
//!
//! A source is any [`prometheus_client::collector::Collector`] (re-exported as
//! [`prometheus_client`]): it is asked to encode its metrics on every scrape, so it reads
//! live state and keeps no copy. [`ServerIoSource`] is one for a tars-rs
//! [`tars::server::Server`]: open connections per adapter, requests and responses received
//! and queued, socket reads and writes, bytes held in connection buffers, and the UDP drop
//! counters ([`tars::server::IoStats`]).
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn demo(server: Arc<std::sync::Mutex<tars::server::Server>>) -> Result<(), tars_metrics::MetricsError> {
//! use tars_metrics::{MetricsServer, ServerIoSource, ServerSnapshot};
//! let io = ServerIoSource::new(move || server.lock().ok().map(|s| ServerSnapshot::of(&s)));
//! let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 9100));
//! let metrics = MetricsServer::start(addr, vec![Box::new(io)])?;
//! println!("scrape http://{}/metrics", metrics.local_addr());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod io;
pub mod scrape;
mod server;

pub use io::{ServerIoSource, ServerSnapshot};
pub use prometheus_client;
pub use server::{encode, MetricsError, MetricsServer, CONTENT_TYPE};
