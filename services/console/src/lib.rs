//! The tars-rs web console: what a `tarsd` node knows, over HTTP on a port of its own.
//!
//! - **Pages** (plain HTML, a small script and a style sheet, all embedded in the binary —
//!   nothing is fetched from elsewhere): the overview (the node, the cluster's nodes and
//!   fragments in cluster mode, open transactions by status, calls per second), the registry
//!   (objects and their instances with every metadata field) and the transactions (a filtered
//!   list; a page per transaction with its branches, retries and row locks, and the operator's
//!   actions), and the statistics (calls per minute, p50 / p99 latency, timeouts and
//!   exceptions per servant and function, properties over time; SVG charts drawn by the
//!   page's script).
//! - A **JSON API** the pages read ([`api`] describes the routes).
//! - **Authentication** ([`ConsoleConfig::tokens`]): bearer tokens (`Authorization: Bearer`)
//!   or the login form's cookie; `read` tokens see everything, `admin` tokens also act. Without
//!   tokens the console is open, which it allows on loopback only.
//!
//! The console acts on transactions as the principal `console:<token name>` (`console:open`
//! when it is open): with `[coordinator.access] enforce`, list that principal in
//! `[coordinator.access] admins` for the actions to be accepted. Every action is logged
//! (target `tars_console::audit`): who, what, which transaction, and the outcome.
//!
//! It runs on a small tokio runtime of its own ([`Console::start`]), reading the node's
//! state through [`Sources`].
#![deny(missing_docs)]

pub mod api;
mod assets;
mod auth;
mod rate;
pub mod stat;
pub mod transactions;

use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tars_coordinator::core::TransactionCore;
use tars_coordinator::driver::PhaseTwoDriver;
use tars_coordinator::servant::CoordinatorServantImpl;
use tars_registry::registry::Registry;

pub use auth::{Role, TokenConfig};
pub use stat::{Answered, StatsSource};
pub use transactions::{Listed, TransactionSource, TxAction};

/// The `[console]` section of tarsd's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// The HTTP port (0 picks a free one). The console is off when unset.
    pub port: Option<u16>,
    /// The listening host (default `127.0.0.1`). Anything but loopback needs tokens.
    pub host: String,
    /// Who may use the console (`[[console.tokens]]`: `name`, `token`, `role`). Without any,
    /// the console is open to whoever reaches it, which is allowed on loopback only.
    pub tokens: Vec<TokenConfig>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            port: None,
            host: "127.0.0.1".into(),
            tokens: Vec::new(),
        }
    }
}

/// Why the console did not start.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The configuration is refused (no tokens on a non-loopback host, a bad token, ...).
    #[error("console configuration: {0}")]
    Config(String),
    /// The runtime or the listening socket could not be set up.
    #[error("console: {0}")]
    Io(#[from] std::io::Error),
}

/// What the node is, as the overview shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    /// `embedded` or `cluster`.
    pub mode: String,
    /// The node's id in cluster mode (empty when embedded).
    pub node_id: String,
    /// Where the registry listens.
    pub registry: Option<String>,
    /// Where the coordinator listens.
    pub coordinator: Option<String>,
    /// Where the Seata front end listens, when it runs.
    pub seata: Option<String>,
    /// When the node started (ms since the Unix epoch).
    pub started_ms: i64,
    /// The tarsd version.
    pub version: String,
}

/// The embedded coordinator, as the console reads and drives it.
#[derive(Debug, Clone)]
pub struct CoordinatorHandle {
    /// Sessions and row locks.
    pub core: Arc<TransactionCore>,
    /// Phase two and its retries.
    pub driver: Arc<PhaseTwoDriver>,
    /// The servant whose operator operations the actions call (with its access rules).
    pub servant: CoordinatorServantImpl,
}

/// Reads the cluster's status (blocking; called on a blocking thread), as JSON.
pub type ClusterStatusFn = Arc<dyn Fn() -> Result<serde_json::Value, String> + Send + Sync>;

/// Where the console reads the node's state.
#[derive(Clone)]
pub struct Sources {
    /// What the node is.
    pub node: NodeInfo,
    /// The registry (in process).
    pub registry: Arc<Registry>,
    /// The coordinator, when it runs embedded (`None` in cluster mode: transactions live in
    /// the fragments' leaders, read through `transactions`).
    pub coordinator: Option<CoordinatorHandle>,
    /// The cluster's transactions, over the nodes' coordinators (cluster mode).
    pub transactions: Option<Arc<dyn TransactionSource>>,
    /// The cluster's status, in cluster mode.
    pub cluster: Option<ClusterStatusFn>,
    /// The node server's request counters (for calls per second).
    pub io_stats: Option<tars::server::IoStatsSource>,
    /// The node's call statistics and properties (`None` when `[stat]` is off).
    pub stats: Option<Arc<dyn StatsSource>>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("node", &self.node)
            .field("coordinator", &self.coordinator.is_some())
            .field("cluster", &self.cluster.is_some())
            .field("transactions", &self.transactions.is_some())
            .field("stats", &self.stats.is_some())
            .finish_non_exhaustive()
    }
}

/// A running console.
#[derive(Debug)]
pub struct Console {
    addr: SocketAddr,
    /// Kept until the runtime is gone, so the last references to the node's parts (whose
    /// drops may stop runtimes of their own) are never dropped on the console's threads.
    sources: Arc<Sources>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Console {
    /// Starts serving `config` (whose `port` must be set) from `sources`, on a runtime of its
    /// own. Refuses a host other than loopback without tokens.
    pub fn start(config: &ConsoleConfig, sources: Sources) -> Result<Console, ConsoleError> {
        let port = config
            .port
            .ok_or_else(|| ConsoleError::Config("no port configured".into()))?;
        let auth = auth::Auth::new(&config.host, &config.tokens)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .thread_name("tars-console")
            .enable_io()
            .enable_time()
            .build()?;
        let bind = format!("{}:{port}", config.host);
        let listener = runtime.block_on(tokio::net::TcpListener::bind(&bind))?;
        let addr = listener.local_addr()?;
        let rate = rate::Rate::new(sources.io_stats.clone());
        runtime.spawn(rate.clone().sample_every(rate::PERIOD));
        let sources = Arc::new(sources);
        let state = api::State::new(sources.clone(), auth, rate);
        let app = api::router(state);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "console stopped serving");
            }
        });
        tracing::info!(%addr, open = config.tokens.is_empty(), "console listening");
        Ok(Console {
            addr,
            sources,
            stop: Some(stop_tx),
            runtime: Some(runtime),
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it reads.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// Stops serving (connections in flight get a second to finish).
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.stop();
    }
}
