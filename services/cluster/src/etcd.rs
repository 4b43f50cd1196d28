//! The etcd connection: an [`etcd_client::Client`] driven by a small tokio runtime of its
//! own, so that synchronous callers (start-up, the CLI, tests) can [`Etcd::block_on`] and the
//! coordinator's writer threads can hand requests over without running an executor.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, ConnectOptions};
use serde::{Deserialize, Serialize};

use crate::keys::Keys;

/// How to reach etcd (the `[cluster]` TOML section and `--cluster etcd=...`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EtcdConfig {
    /// Client URLs of the etcd members (`http://127.0.0.1:2379`).
    pub endpoints: Vec<String>,
    /// The prefix of every key (default `/tars/`).
    pub prefix: String,
    /// Connecting, in milliseconds.
    pub connect_timeout_ms: u64,
    /// One request, in milliseconds (a request to a cluster without a majority fails then).
    pub request_timeout_ms: u64,
}

impl Default for EtcdConfig {
    fn default() -> Self {
        EtcdConfig {
            endpoints: vec!["http://127.0.0.1:2379".into()],
            prefix: crate::keys::DEFAULT_PREFIX.into(),
            connect_timeout_ms: 3000,
            request_timeout_ms: 3000,
        }
    }
}

/// A failure of cluster mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// The configuration is invalid.
    #[error("cluster configuration: {0}")]
    Config(String),
    /// etcd could not be reached, or refused the request (no majority, timeout, ...). Writes
    /// may be retried; nothing was half-written (every write is one etcd transaction).
    #[error("etcd unavailable: {0}")]
    Unavailable(String),
    /// This node does not (or no longer) lead the fragment: its leadership compare failed.
    #[error("not the leader of fragment {fragment}")]
    NotLeader {
        /// The fragment.
        fragment: u32,
    },
    /// A stored value did not decode.
    #[error("etcd key {key:?}: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

impl From<etcd_client::Error> for ClusterError {
    fn from(e: etcd_client::Error) -> ClusterError {
        ClusterError::Unavailable(e.to_string())
    }
}

/// A connected etcd (cheap to clone).
#[derive(Clone)]
pub struct Etcd {
    runtime: Arc<tokio::runtime::Runtime>,
    client: Client,
    keys: Keys,
    config: EtcdConfig,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("endpoints", &self.config.endpoints)
            .field("prefix", &self.keys.prefix())
            .finish_non_exhaustive()
    }
}

impl Etcd {
    /// Connects (bounded by the connect timeout). The client balances over every endpoint
    /// and requires a leader, so a member cut off from the majority does not answer reads.
    pub fn connect(config: &EtcdConfig) -> Result<Etcd, ClusterError> {
        if config.endpoints.is_empty() {
            return Err(ClusterError::Config("no etcd endpoint".into()));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("etcd-client")
            .enable_all()
            .build()
            .map_err(|e| ClusterError::Config(format!("etcd runtime: {e}")))?;
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_millis(config.connect_timeout_ms.max(1)))
            .with_timeout(Duration::from_millis(config.request_timeout_ms.max(1)))
            .with_keep_alive(Duration::from_millis(500), Duration::from_millis(1000))
            .with_require_leader(true);
        let endpoints: Vec<String> = config
            .endpoints
            .iter()
            .map(|e| e.trim_start_matches("http://").to_owned())
            .collect();
        let connect_limit = Duration::from_millis(config.connect_timeout_ms.max(1));
        let client = runtime.block_on(async {
            tokio::time::timeout(connect_limit, Client::connect(endpoints, Some(options)))
                .await
                .map_err(|_| {
                    ClusterError::Unavailable(format!(
                        "connecting to {:?} timed out",
                        config.endpoints
                    ))
                })?
                .map_err(ClusterError::from)
        })?;
        let etcd = Etcd {
            runtime: Arc::new(runtime),
            client,
            keys: Keys::new(&config.prefix),
            config: config.clone(),
        };
        // Connecting is lazy: make one request so a wrong address fails here, clearly.
        let mut c = etcd.client();
        etcd.block_on(async move { c.get("health-probe", None).await })?;
        Ok(etcd)
    }

    /// A client handle (cheap; each request is bounded by the request timeout).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The key layout.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The configuration it was connected with.
    pub fn config(&self) -> &EtcdConfig {
        &self.config
    }

    /// The runtime's handle (to spawn tasks on).
    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.handle()
    }

    /// Runs `f` to completion on the etcd runtime. Must not be called from inside it.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// Runs `f` on the etcd runtime in the background.
    pub fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.spawn(f)
    }
}

/// Whether `e` says the request never left this process: the connection to the member the
/// client picked could not be made (a member is down). Sending it again is safe.
pub fn not_sent(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::GRpcStatus(status) => status.message() == "tcp connect error",
        etcd_client::Error::TransportError(_) => true,
        _ => false,
    }
}

/// Runs `call` until it answers, bounded by `limit`. The client balances over every member,
/// also over a member that is down: a request it could not even send there is sent again (to
/// another member) while time is left, so one member down out of three fails no request.
/// Past `limit` the outcome of a write is unknown (etcd may still apply it): the error says so.
pub async fn sent<T, F, Fut>(limit: Duration, mut call: F) -> Result<T, ClusterError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, etcd_client::Error>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, call()).await {
            Ok(Ok(r)) => return Ok(r),
            Ok(Err(e)) if not_sent(&e) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Ok(Err(e)) => return Err(ClusterError::from(e)),
            Err(_) => {
                return Err(ClusterError::Unavailable(format!(
                    "etcd did not answer within {limit:?} (no majority?); a write's outcome \
                     is unknown: etcd may still apply it"
                )))
            }
        }
    }
}

/// The connection's request timeout.
pub fn request_limit(etcd: &Etcd) -> Duration {
    Duration::from_millis(etcd.config().request_timeout_ms.max(1))
}

impl Etcd {
    /// Runs one transaction, resent while it could not be sent (see [`sent`]).
    pub async fn txn(
        &self,
        txn: etcd_client::Txn,
    ) -> Result<etcd_client::TxnResponse, ClusterError> {
        let client = self.client();
        sent(request_limit(self), || {
            let (mut c, t) = (client.clone(), txn.clone());
            async move { c.txn(t).await }
        })
        .await
    }

    /// Reads `key` (with `options`), resent while it could not be sent (see [`sent`]).
    pub async fn get(
        &self,
        key: impl Into<Vec<u8>>,
        options: Option<etcd_client::GetOptions>,
    ) -> Result<etcd_client::GetResponse, ClusterError> {
        let client = self.client();
        let key = key.into();
        sent(request_limit(self), || {
            let (mut c, k, o) = (client.clone(), key.clone(), options.clone());
            async move { c.get(k, o).await }
        })
        .await
    }

    /// Writes `key` (with `options`), resent while it could not be sent (see [`sent`]).
    pub async fn put(
        &self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        options: Option<etcd_client::PutOptions>,
    ) -> Result<etcd_client::PutResponse, ClusterError> {
        let client = self.client();
        let (key, value) = (key.into(), value.into());
        sent(request_limit(self), || {
            let (mut c, k, v, o) = (client.clone(), key.clone(), value.clone(), options.clone());
            async move { c.put(k, v, o).await }
        })
        .await
    }
}
