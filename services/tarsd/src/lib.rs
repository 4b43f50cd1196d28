//! `tarsd`, the tars-rs node: one process hosting the framework services with embedded,
//! crash-safe storage —
//!
//! - the **registry** (`tars.tarsregistry.QueryObj` + `RegistryObj`, default port 17890), and
//! - the **transaction coordinator** (`tars.tarscoordinator.CoordinatorObj`, default port
//!   17891), which resolves participants through the registry it sits next to, in process.
//!
//! The node registers its own objects in its registry ([`self_registration`]), so a client with
//! just a locator finds `tars.tarscoordinator.CoordinatorObj` by name.
//!
//! [`NodeConfig`] is the TOML configuration (`[registry]` and `[coordinator]` sections with the
//! fields of each service's configuration); [`Node::start`] opens both stores, recovers, and
//! serves both adapters from one server. [`Node`] is a [`Program`]: the `tarsd` binary runs it
//! with `tars_bootstrap::run` (logs, `--config`, READY line, SIGTERM / SIGINT).
#![deny(missing_docs)]

pub mod self_registration;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tars::server::{Server, ServerConfig};
use tars_bootstrap::{Hosted, Program};
use tars_coordinator::service::{CoordinatorConfig, CoordinatorError, CoordinatorService};
use tars_registry::{InProcessLocator, RegistryConfig, RegistryService};

/// The node's configuration (TOML; every field optional).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// When set, the data of both services goes below it (`<data_dir>/registry`,
    /// `<data_dir>/coordinator`), overriding their own `data_dir`.
    pub data_dir: Option<PathBuf>,
    /// When set, both services listen on this host, overriding their own `host`.
    pub host: Option<String>,
    /// Network threads of the node's server.
    pub net_threads: usize,
    /// The registry.
    pub registry: RegistryConfig,
    /// The coordinator.
    pub coordinator: CoordinatorConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            data_dir: Some(PathBuf::from("tars-data")),
            host: None,
            net_threads: 1,
            registry: RegistryConfig::default(),
            coordinator: CoordinatorConfig::default(),
        }
    }
}

impl NodeConfig {
    /// Parses a TOML configuration.
    pub fn from_toml(text: &str) -> Result<NodeConfig, NodeError> {
        tars_bootstrap::parse_config(text).map_err(|e| NodeError::Config(e.to_string()))
    }

    /// The two services' configurations with the node-wide settings applied.
    pub fn resolved(&self) -> (RegistryConfig, CoordinatorConfig) {
        let mut registry = self.registry.clone();
        let mut coordinator = self.coordinator.clone();
        if let Some(dir) = &self.data_dir {
            registry.data_dir = dir.join("registry");
            coordinator.data_dir = dir.join("coordinator");
        }
        if let Some(host) = &self.host {
            registry.host = host.clone();
            coordinator.host = host.clone();
        }
        (registry, coordinator)
    }
}

/// Why the node did not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The registry's store failed to open.
    #[error("registry: {0}")]
    Registry(#[from] tars_registry::StoreError),
    /// The coordinator failed to open.
    #[error("coordinator: {0}")]
    Coordinator(#[from] CoordinatorError),
    /// The server did not start (port in use, ...).
    #[error("server: {0}")]
    Server(#[from] tars::server::ServerError),
}

/// A running node.
pub struct Node {
    server: Option<Server>,
    registration: Option<self_registration::SelfRegistration>,
    registry: RegistryService,
    coordinator: CoordinatorService,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("registry", &self.registry_addr())
            .field("coordinator", &self.coordinator_addr())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Opens both services (recovering their state) and starts serving them.
    pub fn start(config: &NodeConfig) -> Result<Node, NodeError> {
        let (registry_config, coordinator_config) = config.resolved();
        let registry = RegistryService::open(registry_config)?;
        let locator = Arc::new(InProcessLocator::new(registry.registry().clone()));
        let coordinator = CoordinatorService::open_with_locator(coordinator_config, Some(locator))?;
        let server = Server::start(
            ServerConfig {
                net_threads: config.net_threads.max(1),
                ..ServerConfig::default()
            },
            vec![registry.adapter(), coordinator.adapter()],
        )?;
        let bound = |adapter: &str| {
            server
                .local_addr(adapter)
                .ok_or_else(|| NodeError::Config(format!("adapter {adapter} is not bound")))
        };
        let (registry_addr, coordinator_addr) = (
            bound(tars_registry::service::ADAPTER)?,
            bound(tars_coordinator::service::ADAPTER)?,
        );
        coordinator.set_address(coordinator_addr);
        let heartbeat = Duration::from_millis(
            (registry.registry().heartbeat_timeout().as_millis() as u64 / 3).max(10),
        );
        let registration = self_registration::SelfRegistration::start(
            registry.registry().clone(),
            coordinator.core().clone(),
            &[
                (tars_registry::QUERY_OBJ, registry_addr),
                (tars_registry::REGISTRY_OBJ, registry_addr),
                (tars_coordinator::service::COORDINATOR_OBJ, coordinator_addr),
            ],
            heartbeat,
        )?;
        Ok(Node {
            server: Some(server),
            registration: Some(registration),
            registry,
            coordinator,
        })
    }

    fn addr(&self, adapter: &str) -> Option<SocketAddr> {
        self.server.as_ref()?.local_addr(adapter)
    }

    /// Where the registry listens.
    pub fn registry_addr(&self) -> Option<SocketAddr> {
        self.addr(tars_registry::service::ADAPTER)
    }

    /// Where the coordinator listens.
    pub fn coordinator_addr(&self) -> Option<SocketAddr> {
        self.addr(tars_coordinator::service::ADAPTER)
    }

    /// The registry.
    pub fn registry(&self) -> &RegistryService {
        &self.registry
    }

    /// The coordinator.
    pub fn coordinator(&self) -> &CoordinatorService {
        &self.coordinator
    }

    /// Stops serving (connections close after their replies), then stops phase two and
    /// writes out the coordinator's store.
    pub fn shutdown(mut self) {
        if let Some(mut registration) = self.registration.take() {
            registration.stop();
        }
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
        self.coordinator.shutdown();
    }
}

impl Program for Node {
    const NAME: &'static str = "tarsd";
    type Config = NodeConfig;
    type Error = NodeError;

    fn start(config: NodeConfig) -> Result<Node, NodeError> {
        let node = Node::start(&config)?;
        tracing::info!(
            registry = ?node.registry_addr(),
            coordinator = ?node.coordinator_addr(),
            epoch = node.coordinator().epoch(),
            open_transactions = node.coordinator().core().len(),
            instances = node.registry().registry().len(),
            "tarsd listening"
        );
        Ok(node)
    }

    /// `READY registry=<port> coordinator=<port>`.
    fn ready_line(&self) -> String {
        let port = |a: Option<SocketAddr>| a.map(|a| a.port()).unwrap_or_default();
        format!(
            "READY registry={} coordinator={}",
            port(self.registry_addr()),
            port(self.coordinator_addr())
        )
    }

    fn shutdown(self) {
        Node::shutdown(self)
    }
}
