//! The HTTP side: `GET /metrics` on a one-thread tokio runtime of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::collector::Collector;
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;

/// The `Content-Type` of the answers: what `prometheus-client` encodes (OpenMetrics text
/// 1.0.0).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why the metrics server could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The listening address could not be bound.
    #[error("metrics: cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The bind error.
        source: std::io::Error,
    },
    /// The runtime or its thread could not be created.
    #[error("metrics: cannot start the HTTP thread: {0}")]
    Runtime(std::io::Error),
    /// A source failed to encode its metrics.
    #[error("metrics: encoding failed")]
    Encode,
}

/// The OpenMetrics text of `sources`' metrics at this moment.
pub fn encode(registry: &Registry) -> Result<String, MetricsError> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry)
        .map_err(|_| MetricsError::Encode)?;
    Ok(text)
}

/// A running `/metrics` endpoint; stops when shut down or dropped.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Listens on `addr` (port 0 picks a free one) and serves `GET /metrics` with the metrics
    /// of `sources`, asked on every scrape (on a blocking thread: sources may read stores).
    /// Other paths answer 404.
    pub fn start(
        addr: SocketAddr,
        sources: Vec<Box<dyn Collector>>,
    ) -> Result<MetricsServer, MetricsError> {
        let mut registry = Registry::default();
        for source in sources {
            registry.register_collector(source);
        }
        let registry = Arc::new(registry);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .max_blocking_threads(2)
            .thread_name("tars-metrics")
            .build()
            .map_err(MetricsError::Runtime)?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|source| MetricsError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| MetricsError::Bind { addr, source })?;
        let app = Router::new().route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
                async move { scrape(registry).await }
            }),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tars-metrics".into())
            .spawn(move || {
                let served = runtime.block_on(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stopped.await;
                        })
                        .await
                });
                if let Err(e) = served {
                    tracing::warn!(error = %e, "metrics server ended");
                }
            })
            .map_err(MetricsError::Runtime)?;
        tracing::info!(addr = %local, "serving /metrics");
        Ok(MetricsServer {
            addr: local,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops listening and waits for the server thread (scrapes in progress finish first).
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

async fn scrape(registry: Arc<Registry>) -> Response {
    match tokio::task::spawn_blocking(move || encode(&registry)).await {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "scrape");
            (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "scrape task");
            (StatusCode::INTERNAL_SERVER_ERROR, "scrape failed").into_response()
        }
    }
}
