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
//! With a `[cluster]` section (or `--cluster etcd=...`) the node runs in **cluster mode**
//! (cargo feature `cluster`, see [`cluster`] and docs/cluster.md): registry and coordinator
//! state live in etcd, fragments are led through etcd leases, and any node serves any call.
//!
//! With a Seata port (`[seata] port`, `--seata-port`) the node also runs the **Seata v1
//! front end** ([`tars_seata_front`]): Seata TM/RM clients (Java, python, go) talk to it as to
//! a Seata TC, and their requests become calls on the node's own CoordinatorObj.
//!
//! [`NodeConfig`] is the TOML configuration (`[registry]`, `[coordinator]`, `[seata]` and
//! `[cluster]` sections); [`Node::start`] opens both stores, recovers, and
//! serves both adapters from one server. [`Node`] is a [`Program`]: the `tarsd` binary runs it
//! with `tars_bootstrap::run` (logs, `--config`, READY line, SIGTERM / SIGINT).
#![deny(missing_docs)]

#[cfg(feature = "cluster")]
pub mod cluster;
pub mod console;
pub mod metrics;
pub mod self_registration;
pub mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tars::client::Communicator;
use tars::server::{AdapterConfig, Server, ServerConfig};
use tars_bootstrap::{Hosted, Program};
use tars_coordinator::service::{CoordinatorConfig, CoordinatorError, CoordinatorService};
use tars_protocols::seata_route::SEATA_RM_OBJ;
use tars_protocols::tarstx::CoordinatorProxy;
use tars_registry::{InProcessLocator, RegistryConfig, RegistryService};
use tars_seata_front::{SeataBridge, SeataConfig, SeataFrontEnd, UndoLogSchedule};

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
    /// The Seata v1 front end (off unless a port is set).
    pub seata: SeataSection,
    /// Cluster mode on etcd; embedded single-node mode when absent.
    pub cluster: Option<ClusterSection>,
    /// Serve callers without authentication on addresses other than loopback
    /// (`--allow-anonymous`). Without it a node listening on such an address refuses to
    /// start: anyone who reaches it could register instances and end transactions.
    pub allow_anonymous: bool,
    /// Authentication of the node's callers (`[security]`).
    pub security: SecuritySection,
    /// Connection and memory limits of the node's server (`[limits]`).
    pub limits: LimitsSection,
    /// The statistics services on the registry adapter (`[stat]`, see [`stats`]).
    pub stat: tars_stat::StatConfig,
    /// The web console (`[console]`; off unless a port is set).
    pub console: tars_console::ConsoleConfig,
    /// Prometheus `/metrics` on its own port (`[metrics]`, see [`metrics`]; off unless a port
    /// is set).
    pub metrics: metrics::MetricsSection,
}

/// The `[limits]` section: what connections may cost the node. Unset fields keep the
/// runtime's defaults ([`ServerConfig`], [`AdapterConfig`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSection {
    /// Bytes all connections together may hold in partial request frames and unsent replies
    /// (default 1 GiB); past it the connections holding the most are closed.
    pub max_buffered_bytes: Option<u64>,
    /// Milliseconds a request frame may take to arrive once its first byte did (default
    /// 10,000).
    pub frame_timeout_ms: Option<u64>,
    /// Largest request frame in bytes (default 10,000,000).
    pub max_packet: Option<usize>,
    /// Connections per adapter (default 10,000).
    pub max_connections: Option<usize>,
    /// Connections one client address may hold per adapter (default 1,000).
    pub max_connections_per_ip: Option<usize>,
}

impl LimitsSection {
    /// The node's server configuration with `net_threads` network threads.
    pub fn server_config(&self, net_threads: usize) -> ServerConfig {
        let d = ServerConfig::default();
        ServerConfig {
            net_threads: net_threads.max(1),
            max_buffered_bytes: self.max_buffered_bytes.unwrap_or(d.max_buffered_bytes),
            frame_timeout: self
                .frame_timeout_ms
                .map_or(d.frame_timeout, Duration::from_millis),
            max_packet: self.max_packet.unwrap_or(d.max_packet),
            ..d
        }
    }

    /// `adapter` with these connection limits.
    pub fn apply(&self, mut adapter: AdapterConfig) -> AdapterConfig {
        if let Some(n) = self.max_connections {
            adapter.max_connections = n.max(1);
        }
        if let Some(n) = self.max_connections_per_ip {
            adapter.max_connections_per_ip = n.max(1);
        }
        adapter
    }
}

/// The `[security]` section: how callers of the node's registry and coordinator prove who
/// they are. Which principal may do what is `[registry.access]` and `[coordinator.access]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySection {
    /// Access key → secret key of TarsCpp local authentication. When any is set, both
    /// adapters' endpoints say `-e 1`: every connection's first request must be a package
    /// signed with one of these keys, and the access key is the caller's principal. Clients
    /// then use endpoints with `-e 1` and `Communicator::with_auth_key`.
    pub auth_keys: std::collections::BTreeMap<String, String>,
    /// TLS for both adapters (`[security.tls]`: `cert`, `key` and optional `client_ca`, PEM
    /// files): their endpoints become `ssl`. With `client_ca`, every client must present a
    /// certificate issued by it, and the certificate's name (first DNS name, else common
    /// name) is the caller's principal.
    pub tls: Option<tars::tls::TlsSettings>,
    /// The node's own access key for the calls it makes to endpoints with `-e 1`
    /// (`[security.client_key]`): phase two to participants that require local
    /// authentication.
    pub client_key: Option<ClientKeySection>,
    /// The node's own TLS settings for the calls it makes to `ssl` endpoints
    /// (`[security.client_tls]`: `ca`, and `cert` / `key` where participants ask for a client
    /// certificate).
    pub client_tls: Option<tars::tls::ClientTlsSettings>,
}

/// An access key and its secret (`[security.client_key]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientKeySection {
    /// The access key (the principal the other side sees).
    pub access_key: String,
    /// Its secret key.
    pub secret_key: String,
}

impl SecuritySection {
    /// `base` with the node's own credentials for the calls it makes.
    pub fn client(&self, mut base: Communicator) -> Result<Communicator, NodeError> {
        if let Some(key) = &self.client_key {
            base = base.with_auth_key(&key.access_key, &key.secret_key);
        }
        if let Some(tls) = &self.client_tls {
            let tls = tars::tls::ClientTls::from_settings(tls)
                .map_err(|e| NodeError::Config(format!("[security.client_tls]: {e}")))?;
            base = base.with_tls(tls);
        }
        Ok(base)
    }

    /// Whether callers must prove who they are (local authentication or mutual TLS).
    pub fn authenticates(&self) -> bool {
        !self.auth_keys.is_empty() || self.tls.as_ref().is_some_and(|t| t.client_ca.is_some())
    }

    /// Loads the TLS files (`None` without `[security.tls]`).
    pub fn server_tls(&self) -> Result<Option<Arc<tars::tls::ServerTls>>, NodeError> {
        self.tls
            .as_ref()
            .map(|t| tars::tls::ServerTls::from_settings(t).map(Arc::new))
            .transpose()
            .map_err(|e| NodeError::Config(format!("[security.tls]: {e}")))
    }

    /// How the node's adapters are reached: `ssl` with TLS, `-e 1` with auth keys.
    pub fn transport(&self) -> tars::endpoint::Transport {
        tars::endpoint::Transport {
            protocol: if self.tls.is_some() { "ssl" } else { "tcp" }.into(),
            auth_type: i32::from(!self.auth_keys.is_empty()),
        }
    }

    /// `endpoint` as clients must reach it: `ssl` with TLS, `-e 1` with auth keys.
    pub fn endpoint(&self, mut endpoint: tars::endpoint::Endpoint) -> tars::endpoint::Endpoint {
        if self.tls.is_some() {
            endpoint.protocol = "ssl".into();
        }
        if !self.auth_keys.is_empty() {
            endpoint.auth_type = 1;
        }
        endpoint
    }

    /// `adapter` with this section's transport and authentication (`tls` from
    /// [`SecuritySection::server_tls`]).
    pub fn apply(
        &self,
        mut adapter: AdapterConfig,
        tls: Option<&Arc<tars::tls::ServerTls>>,
    ) -> AdapterConfig {
        adapter.endpoint = self.endpoint(adapter.endpoint);
        adapter.auth_keys = self.auth_keys.clone();
        adapter.tls = tls.cloned();
        adapter
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            data_dir: Some(PathBuf::from("tars-data")),
            host: None,
            net_threads: 1,
            registry: RegistryConfig::default(),
            coordinator: CoordinatorConfig::default(),
            seata: SeataSection::default(),
            cluster: None,
            allow_anonymous: false,
            security: SecuritySection::default(),
            limits: LimitsSection::default(),
            stat: tars_stat::StatConfig::default(),
            console: tars_console::ConsoleConfig::default(),
            metrics: metrics::MetricsSection::default(),
        }
    }
}

/// The `[seata]` section: the Seata v1 front end, for Seata TM/RM clients.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeataSection {
    /// The port Seata clients connect to (`--seata-port`; 0 picks a free one). The front end
    /// is off when unset.
    pub port: Option<u16>,
    /// The listening host; defaults to the node's `host`, else the coordinator's.
    pub host: Option<String>,
    /// The host XIDs carry with the Seata port (`<advertise>:<port>:<id>`): Java clients
    /// connect to the XID's `ip:port`. Defaults to the cluster's `advertise` in cluster mode,
    /// else to the listening host.
    pub advertise: Option<String>,
    /// Milliseconds after start before the first UndoLogDelete round (Java: 3 minutes).
    pub undo_log_delete_delay_ms: Option<u64>,
    /// Milliseconds between UndoLogDelete rounds (Java's `server.undo.logDeletePeriod`: one
    /// day).
    pub undo_log_delete_period_ms: Option<u64>,
    /// Days of undo log the RMs are asked to keep (Java's `server.undo.logSaveDays`: 7).
    pub undo_log_save_days: Option<i16>,
    /// Answer merged requests of clients >= 1.5 with BatchResultMessages (Java's
    /// `transport.enableTcServerBatchSendResponse`; off by default, as in Java).
    pub batch_responses: bool,
}

impl SeataSection {
    /// The UndoLogDelete schedule, Java's defaults where unset.
    pub fn undo_log(&self) -> UndoLogSchedule {
        let java = UndoLogSchedule::default();
        UndoLogSchedule {
            delay: self
                .undo_log_delete_delay_ms
                .map_or(java.delay, Duration::from_millis),
            period: self
                .undo_log_delete_period_ms
                .map_or(java.period, |ms| Duration::from_millis(ms.max(1))),
            save_days: self
                .undo_log_save_days
                .filter(|d| *d > 0)
                .unwrap_or(java.save_days),
        }
    }
}

/// The `[cluster]` section: how the node joins a cluster kept in etcd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSection {
    /// Client URLs of the etcd members.
    pub etcd: Vec<String>,
    /// The prefix of every key in etcd.
    pub prefix: String,
    /// This node's id, unique in the cluster (`--node-id`).
    pub node_id: String,
    /// The host other nodes and clients reach this node on (`--advertise`); it is carried in
    /// the XIDs this node issues and in its registrations.
    pub advertise: String,
    /// The node's lease: how long after its death its fragments are taken over, in
    /// milliseconds (etcd grants whole seconds, at least 1.5 × its election timeout: 1 s
    /// needs `--election-timeout` of at most 666 ms, else it is raised to 2 s).
    pub lease_ttl_ms: u64,
    /// One etcd request, in milliseconds.
    pub request_timeout_ms: u64,
    /// The fragment manager's timings.
    #[cfg(feature = "cluster")]
    pub manager: tars_cluster::coordinator::manager::ManagerConfig,
    /// The scheduler (elected among the nodes).
    #[cfg(feature = "cluster")]
    pub scheduler: tars_cluster::scheduler::SchedulerConfig,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            etcd: vec!["http://127.0.0.1:2379".into()],
            prefix: "/tars/".into(),
            node_id: String::new(),
            advertise: "127.0.0.1".into(),
            lease_ttl_ms: 1000,
            request_timeout_ms: 2000,
            #[cfg(feature = "cluster")]
            manager: Default::default(),
            #[cfg(feature = "cluster")]
            scheduler: Default::default(),
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
        coordinator.peer_transport = self.security.transport();
        // Nodes forward calls to each other's fragment leaders as their client key.
        if let Some(key) = &self.security.client_key {
            if !coordinator.access.forwarders.contains(&key.access_key) {
                coordinator.access.forwarders.push(key.access_key.clone());
            }
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
    /// The Seata front end did not start.
    #[error("seata: {0}")]
    Seata(#[from] tars_seata_front::Error),
    /// Cluster mode failed (etcd unreachable, ...), or this build has no cluster mode.
    #[error("cluster: {0}")]
    Cluster(String),
    /// The statistics store failed to open.
    #[error("stat: {0}")]
    Stat(#[from] tars_stat::StatError),
    /// The web console did not start.
    #[error("{0}")]
    Console(#[from] tars_console::ConsoleError),
    /// The `/metrics` endpoint did not start.
    #[error("{0}")]
    Metrics(#[from] tars_metrics::MetricsError),
}

/// The coordinator side of a node.
enum CoordinatorPart {
    /// One node, embedded store.
    Embedded(Box<CoordinatorService>),
    /// Fragments led through etcd.
    #[cfg(feature = "cluster")]
    Cluster(Box<cluster::ClusterParts>),
}

/// A running node.
pub struct Node {
    server: metrics::SharedServer,
    metrics: Option<tars_metrics::MetricsServer>,
    registration: Option<self_registration::SelfRegistration>,
    registry: RegistryService,
    coordinator: CoordinatorPart,
    seata: Option<SeataFrontEnd>,
    stats: Option<stats::NodeStats>,
    console: Option<tars_console::Console>,
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
    /// Opens both services (recovering their state) and starts serving them — embedded, or
    /// in cluster mode when the configuration has a `[cluster]` section — and the Seata front
    /// end when a Seata port is configured.
    ///
    /// Embedded, the XIDs then carry the Seata address (`<advertise>:<seata port>`), as Java
    /// clients route by the XID's `ip:port`. In cluster mode the XIDs keep the node's
    /// coordinator address (the cluster also uses it to find fragment leaders), which is fine
    /// for python and go clients; Java clients routing by XID need that changed later.
    pub fn start(config: &NodeConfig) -> Result<Node, NodeError> {
        refuse_open_anonymous(config)?;
        let mut node = Self::start_services(config)?;
        match console::start(config, &node) {
            Ok(c) => node.console = c,
            Err(e) => {
                node.shutdown();
                return Err(e);
            }
        }
        Ok(node)
    }

    fn start_services(config: &NodeConfig) -> Result<Node, NodeError> {
        match &config.cluster {
            None => Self::start_embedded(config),
            #[cfg(feature = "cluster")]
            Some(section) => Self::start_cluster(config, section),
            #[cfg(not(feature = "cluster"))]
            Some(_) => Err(NodeError::Cluster(
                "this tarsd was built without cluster mode: build it with \
                 `cargo build --release -p tarsd --features cluster` (needs protoc, Debian \
                 protobuf-compiler)"
                    .into(),
            )),
        }
    }

    fn start_embedded(config: &NodeConfig) -> Result<Node, NodeError> {
        let tls = config.security.server_tls()?;
        let (registry_config, coordinator_config) = config.resolved();
        let registry = RegistryService::open(registry_config)?;
        let stat = stats::open(&config.stat, config.data_dir.as_deref())?;
        let locator = Arc::new(InProcessLocator::new(registry.registry().clone()));
        let coordinator = CoordinatorService::open_with(
            coordinator_config,
            Some(locator),
            config.security.client(Communicator::new())?,
        )?;
        let bridge = config.seata.port.map(|_| SeataBridge::new());
        let coordinator_adapter = with_bridge(coordinator.adapter(), bridge.as_ref());
        let coordinator_servants = coordinator_adapter.servants.clone();
        let server = Server::start(
            config.limits.server_config(config.net_threads),
            vec![
                config.limits.apply(config.security.apply(
                    stats::host_on(registry.adapter(), stat.as_ref()),
                    tls.as_ref(),
                )),
                config
                    .limits
                    .apply(config.security.apply(coordinator_adapter, tls.as_ref())),
            ],
        )?;
        let (registry_addr, coordinator_addr) = bound_addrs(&server)?;
        coordinator.set_address(coordinator_addr);
        // The coordinator calls its own bridge (in process).
        let bridge_addr = SocketAddr::new(
            loopback_if_unspecified(coordinator_addr.ip()),
            coordinator_addr.port(),
        );
        if bridge.is_some() {
            serve_bridge_locally(
                coordinator.communicator(),
                bridge_addr,
                &coordinator_servants,
            );
        }
        let seata = match start_seata(
            config,
            Some(coordinator.servant()),
            &coordinator_servants,
            coordinator_addr,
            bridge.as_ref(),
            bridge_addr,
            None,
        ) {
            Ok(seata) => seata,
            Err(e) => {
                server.shutdown();
                coordinator.shutdown();
                return Err(e);
            }
        };
        if let Some((front, advertise)) = &seata {
            coordinator
                .core()
                .xids()
                .set_address(&format!("{advertise}:{}", front.local_addr().port()));
        }
        let core = coordinator.core().clone();
        let registration = Self::register_self(
            &config.security,
            &registry,
            registry_addr,
            coordinator_addr,
            seata.is_some(),
            stat.is_some(),
            Arc::new(move || self_registration::CoordinatorLoad {
                active: core.len(),
                capacity: 0,
            }),
        )?;
        let stats = Self::node_stats(config, &registry, stat, registry_addr)?;
        let server = Arc::new(parking_lot::Mutex::new(Some(server)));
        let core = coordinator.core().clone();
        let metrics = metrics::start(
            &config.metrics,
            config.host.as_deref(),
            metrics::MetricsParts {
                server: server.clone(),
                registry: registry.registry().clone(),
                stat: stats.as_ref().map(|s| s.service().clone()),
                open_transactions: Arc::new({
                    let core = core.clone();
                    move || core.len()
                }),
                core: Some(core),
            },
        )?;
        Ok(Node {
            server,
            metrics,
            registration: Some(registration),
            registry,
            coordinator: CoordinatorPart::Embedded(Box::new(coordinator)),
            seata: seata.map(|(front, _)| front),
            stats,
            console: None,
        })
    }

    #[cfg(feature = "cluster")]
    fn start_cluster(config: &NodeConfig, section: &ClusterSection) -> Result<Node, NodeError> {
        let (registry_config, coordinator_config) = config.resolved();
        let tls = config.security.server_tls()?;
        let (registry, coordinator_adapter, joining) = cluster::join(
            section,
            &config.security,
            registry_config,
            &coordinator_config,
        )?;
        let stat = stats::open(&config.stat, config.data_dir.as_deref())?;
        let bridge = config.seata.port.map(|_| SeataBridge::new());
        let coordinator_adapter = with_bridge(coordinator_adapter, bridge.as_ref());
        let coordinator_servants = coordinator_adapter.servants.clone();
        let server = Server::start(
            config.limits.server_config(config.net_threads),
            vec![
                config.limits.apply(config.security.apply(
                    stats::host_on(registry.adapter(), stat.as_ref()),
                    tls.as_ref(),
                )),
                config
                    .limits
                    .apply(config.security.apply(coordinator_adapter, tls.as_ref())),
            ],
        )?;
        let (registry_addr, coordinator_addr) = bound_addrs(&server)?;
        // Other nodes' fragment leaders call this node's bridge at its advertised address.
        let bridge_addr: SocketAddr = format!("{}:{}", section.advertise, coordinator_addr.port())
            .parse()
            .map_err(|e| NodeError::Config(format!("advertise {:?}: {e}", section.advertise)))?;
        // Fragment leaders here reach this node's bridge in process.
        if bridge.is_some() {
            serve_bridge_locally(joining.communicator(), bridge_addr, &coordinator_servants);
        }
        // Before attaching: a Seata port in use stops the node before it leads anything.
        let seata = match start_seata(
            config,
            None,
            &coordinator_servants,
            coordinator_addr,
            bridge.as_ref(),
            bridge_addr,
            Some(&section.advertise),
        ) {
            Ok(seata) => seata,
            Err(e) => {
                server.shutdown();
                return Err(e);
            }
        };
        // The XIDs of fragments led here carry the Seata address when there is one.
        let xid_address = seata
            .as_ref()
            .map(|(front, advertise)| format!("{advertise}:{}", front.local_addr().port()));
        let seata = seata.map(|(front, _)| front);
        let parts = cluster::attach(
            joining,
            section,
            &coordinator_config,
            registry_addr,
            coordinator_addr,
            xid_address,
        )?;
        let manager = parts.manager().clone();
        let metrics_manager = manager.clone();
        // A fragment carries up to the auto-grow threshold of open transactions.
        let fragment_capacity =
            usize::try_from(section.scheduler.autogrow_threshold).unwrap_or(usize::MAX);
        // Registered under the advertised host, so clients on other machines reach it.
        let advertised = |a: SocketAddr| -> Result<SocketAddr, NodeError> {
            format!("{}:{}", section.advertise, a.port())
                .parse()
                .map_err(|e| NodeError::Config(format!("advertise {:?}: {e}", section.advertise)))
        };
        let registration = Self::register_self(
            &config.security,
            &registry,
            advertised(registry_addr)?,
            advertised(coordinator_addr)?,
            seata.is_some(),
            stat.is_some(),
            Arc::new(move || self_registration::CoordinatorLoad {
                active: manager.active_transactions(),
                capacity: manager.led_ids().len().saturating_mul(fragment_capacity),
            }),
        )?;
        let stats = Self::node_stats(config, &registry, stat, advertised(registry_addr)?)?;
        let server = Arc::new(parking_lot::Mutex::new(Some(server)));
        let metrics = metrics::start(
            &config.metrics,
            config.host.as_deref(),
            metrics::MetricsParts {
                server: server.clone(),
                registry: registry.registry().clone(),
                stat: stats.as_ref().map(|s| s.service().clone()),
                open_transactions: Arc::new(move || metrics_manager.active_transactions()),
                core: None,
            },
        )?;
        Ok(Node {
            server,
            metrics,
            registration: Some(registration),
            registry,
            coordinator: CoordinatorPart::Cluster(Box::new(parts)),
            seata,
            stats,
            console: None,
        })
    }

    /// The node's statistics with cluster-wide queries (`None` when `[stat]` is off).
    fn node_stats(
        config: &NodeConfig,
        registry: &RegistryService,
        stat: Option<tars_stat::StatService>,
        registered_at: SocketAddr,
    ) -> Result<Option<stats::NodeStats>, NodeError> {
        let Some(service) = stat else {
            return Ok(None);
        };
        let stats = stats::NodeStats::new(
            service,
            registry.registry().clone(),
            config.security.client(Communicator::new())?,
        );
        stats.set_own_address(registered_at);
        Ok(Some(stats))
    }

    /// Registers the node's objects in its registry (with the Seata bridge, which the
    /// coordinator adapter hosts, when `seata`; the statistics objects, which the registry
    /// adapter hosts, when `stat`).
    #[allow(clippy::too_many_arguments)]
    fn register_self(
        security: &SecuritySection,
        registry: &RegistryService,
        registry_addr: SocketAddr,
        coordinator_addr: SocketAddr,
        seata: bool,
        stat: bool,
        load: self_registration::LoadSource,
    ) -> Result<self_registration::SelfRegistration, NodeError> {
        let heartbeat = Duration::from_millis(
            (registry.registry().heartbeat_timeout().as_millis() as u64 / 3).max(10),
        );
        let at = |a: SocketAddr| {
            security.endpoint(tars::endpoint::Endpoint::tcp(a.ip().to_string(), a.port()))
        };
        let mut objects = vec![
            (tars_registry::QUERY_OBJ, at(registry_addr)),
            (tars_registry::REGISTRY_OBJ, at(registry_addr)),
            (
                tars_coordinator::service::COORDINATOR_OBJ,
                at(coordinator_addr),
            ),
        ];
        if seata {
            objects.push((SEATA_RM_OBJ, at(coordinator_addr)));
        }
        if stat {
            objects.extend(stats::objects().map(|obj| (obj, at(registry_addr))));
        }
        Ok(self_registration::SelfRegistration::start(
            registry.registry().clone(),
            load,
            &objects,
            heartbeat,
        )?)
    }

    fn addr(&self, adapter: &str) -> Option<SocketAddr> {
        self.server.lock().as_ref()?.local_addr(adapter)
    }

    /// Where `/metrics` is served (`None` when `[metrics]` has no port).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .map(tars_metrics::MetricsServer::local_addr)
    }

    /// Where the registry listens.
    pub fn registry_addr(&self) -> Option<SocketAddr> {
        self.addr(tars_registry::service::ADAPTER)
    }

    /// Where the coordinator listens.
    pub fn coordinator_addr(&self) -> Option<SocketAddr> {
        self.addr(tars_coordinator::service::ADAPTER)
    }

    /// Where the Seata front end listens (`None` when it is off).
    pub fn seata_addr(&self) -> Option<SocketAddr> {
        self.seata.as_ref().map(SeataFrontEnd::local_addr)
    }

    /// Where the web console listens (`None` when it is off).
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.console.as_ref().map(tars_console::Console::local_addr)
    }

    /// The registry.
    pub fn registry(&self) -> &RegistryService {
        &self.registry
    }

    /// The statistics services and their cluster-wide queries (`None` when `[stat]` is off).
    pub fn stats(&self) -> Option<&stats::NodeStats> {
        self.stats.as_ref()
    }

    /// The embedded coordinator (`None` in cluster mode).
    pub fn coordinator(&self) -> Option<&CoordinatorService> {
        match &self.coordinator {
            CoordinatorPart::Embedded(c) => Some(c),
            #[cfg(feature = "cluster")]
            CoordinatorPart::Cluster(_) => None,
        }
    }

    /// The cluster side (`None` in embedded mode).
    #[cfg(feature = "cluster")]
    pub fn cluster(&self) -> Option<&cluster::ClusterParts> {
        match &self.coordinator {
            CoordinatorPart::Cluster(c) => Some(c),
            CoordinatorPart::Embedded(_) => None,
        }
    }

    /// Open transactions this node serves.
    pub fn open_transactions(&self) -> usize {
        match &self.coordinator {
            CoordinatorPart::Embedded(c) => c.core().len(),
            #[cfg(feature = "cluster")]
            CoordinatorPart::Cluster(c) => c.active_transactions(),
        }
    }

    /// Stops serving (connections close after their replies), then stops phase two and
    /// writes out the coordinator's store.
    pub fn shutdown(mut self) {
        if let Some(mut console) = self.console.take() {
            console.stop();
        }
        if let Some(mut seata) = self.seata.take() {
            seata.stop();
        }
        if let Some(mut registration) = self.registration.take() {
            registration.stop();
        }
        #[cfg(feature = "cluster")]
        if let CoordinatorPart::Cluster(parts) = &self.coordinator {
            // Hand the fragments over while still serving: calls in flight are answered or
            // refused as retryable, then forwarded by the others.
            parts.leave();
        }
        if let Some(metrics) = self.metrics.take() {
            metrics.shutdown();
        }
        let server = self.server.lock().take();
        if let Some(server) = server {
            server.shutdown();
        }
        if let Some(stats) = &self.stats {
            stats.service().shutdown();
        }
        #[allow(irrefutable_let_patterns)] // without the `cluster` feature there is one part
        if let CoordinatorPart::Embedded(c) = &self.coordinator {
            c.shutdown();
        }
    }
}

/// The coordinator's adapter, hosting the Seata phase-two bridge too when there is one.
fn with_bridge(adapter: AdapterConfig, bridge: Option<&SeataBridge>) -> AdapterConfig {
    match bridge {
        Some(bridge) => bridge.host_on(adapter),
        None => adapter,
    }
}

/// Phase two of the branches registered through this node's front end calls the bridge at
/// `bridge_addr`, which this process serves: in process, not over a connection to itself.
fn serve_bridge_locally(
    communicator: &Communicator,
    bridge_addr: SocketAddr,
    servants: &Arc<tars::server::Servants>,
) {
    communicator.serve_locally(
        SEATA_RM_OBJ,
        &bridge_addr.ip().to_string(),
        bridge_addr.port(),
        servants.clone(),
    );
}

/// Whether `host` is a loopback address (or `localhost`).
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Anonymous callers are safe only where nobody else can reach the node: listening on an
/// address other than loopback needs authentication with enforced access rules on the Tars
/// adapters (`[security] auth_keys`, `[registry.access] enforce`, `[coordinator.access]
/// enforce`), and — as Seata v1 carries no credentials — a Seata port there is anonymous by
/// nature. Either needs `allow_anonymous` to go ahead regardless.
fn refuse_open_anonymous(config: &NodeConfig) -> Result<(), NodeError> {
    if config.cluster.is_some() {
        refuse_unauthenticated_peers(config)?;
    }
    if config.allow_anonymous {
        return Ok(());
    }
    let (registry, coordinator) = config.resolved();
    let mut missing = Vec::new();
    if !config.security.authenticates() {
        missing.push("[security] auth_keys");
    }
    if !registry.access.enforce {
        missing.push("[registry.access] enforce = true");
    }
    if !coordinator.access.enforce {
        missing.push("[coordinator.access] enforce = true");
    }
    let open = [registry.host, coordinator.host]
        .into_iter()
        .find(|h| !is_loopback(h) && !missing.is_empty());
    if let Some(host) = open {
        return Err(NodeError::Config(format!(
            "tarsd would listen on {host}, which is not loopback, without authentication: \
             anyone who reaches it could register instances and end transactions; configure \
             {} (or pass --allow-anonymous, allow_anonymous = true, to run it so anyway)",
            missing.join(", ")
        )));
    }
    let seata_host = config
        .seata
        .port
        .and(config.seata.host.clone().or_else(|| config.host.clone()));
    match seata_host.filter(|h| !is_loopback(h)) {
        None => Ok(()),
        Some(host) => Err(NodeError::Config(format!(
            "the Seata front end would listen on {host}, which is not loopback: Seata v1 \
             clients carry no credentials, so anyone who reaches it could end transactions; \
             pass --allow-anonymous (allow_anonymous = true) to run it so anyway"
        ))),
    }
}

/// The nodes of a cluster call each other (forwarded calls, Seata bridges): where their
/// adapters require authentication, each needs credentials of its own that the others accept,
/// and leaders enforcing access rules must trust some node principal to name its callers.
fn refuse_unauthenticated_peers(config: &NodeConfig) -> Result<(), NodeError> {
    let s = &config.security;
    if !s.auth_keys.is_empty() {
        match &s.client_key {
            Some(k) if s.auth_keys.get(&k.access_key) == Some(&k.secret_key) => {}
            Some(k) => {
                return Err(NodeError::Config(format!(
                    "[security.client_key] {:?} is not one of [security] auth_keys: the other \
                     nodes would refuse this node's calls",
                    k.access_key
                )))
            }
            None => {
                return Err(NodeError::Config(
                    "cluster mode with [security] auth_keys needs [security.client_key] (one of \
                     the auth keys): the nodes call each other"
                        .into(),
                ))
            }
        }
    }
    if let Some(tls) = &s.tls {
        let client = s.client_tls.as_ref();
        if client.is_none() || (tls.client_ca.is_some() && client.is_some_and(|c| c.cert.is_none()))
        {
            return Err(NodeError::Config(
                "cluster mode with [security.tls] needs [security.client_tls] (the CA, and a \
                 client certificate when client_ca is set): the nodes call each other"
                    .into(),
            ));
        }
    }
    let (_, coordinator) = config.resolved();
    if coordinator.access.enforce && s.authenticates() && coordinator.access.forwarders.is_empty() {
        return Err(NodeError::Config(
            "cluster mode with [coordinator.access] enforce needs the nodes' principals in \
             [coordinator.access] forwarders (a client_key's access key is added by itself)"
                .into(),
        ));
    }
    Ok(())
}

fn loopback_if_unspecified(ip: std::net::IpAddr) -> std::net::IpAddr {
    if ip.is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        ip
    }
}

/// Starts the Seata front end when `config.seata.port` is set, calling the coordinator in
/// process: its servant directly when given (`direct`: an embedded coordinator), else the
/// `servants` (bound at `coordinator_addr`; a cluster node's router) through a proxy served
/// locally. The branches registered through it are reached in phase two through `bridge`,
/// served at `bridge_addr`.
/// Returns it with the host its XIDs should carry (`[seata] advertise`, else
/// `default_advertise`, else the listening host).
#[allow(clippy::too_many_arguments)]
fn start_seata(
    config: &NodeConfig,
    direct: Option<tars_coordinator::servant::CoordinatorServantImpl>,
    servants: &Arc<tars::server::Servants>,
    coordinator_addr: SocketAddr,
    bridge: Option<&SeataBridge>,
    bridge_addr: SocketAddr,
    default_advertise: Option<&str>,
) -> Result<Option<(SeataFrontEnd, String)>, NodeError> {
    let (Some(port), Some(bridge)) = (config.seata.port, bridge) else {
        return Ok(None);
    };
    let host = config
        .seata
        .host
        .clone()
        .or_else(|| config.host.clone())
        .unwrap_or_else(|| config.coordinator.host.clone());
    let advertise = config
        .seata
        .advertise
        .clone()
        .or_else(|| default_advertise.map(str::to_owned))
        .unwrap_or_else(|| host.clone());
    let coordinator: Arc<dyn tars_seata_front::Backend> = match direct {
        Some(servant) => Arc::new(servant),
        None => Arc::new(local_coordinator_proxy(servants, coordinator_addr)?),
    };
    let front = SeataFrontEnd::start(
        SeataConfig {
            host,
            port,
            bridge: Some(bridge_addr.to_string()),
            undo_log: config.seata.undo_log(),
            batch_responses: config.seata.batch_responses,
            ..SeataConfig::default()
        },
        coordinator,
    )?;
    bridge.bind(front.rm_registry().clone());
    Ok(Some((front, advertise)))
}

/// A proxy to the coordinator object of this process, called in process (no loopback
/// connection).
fn local_coordinator_proxy(
    servants: &Arc<tars::server::Servants>,
    coordinator_addr: SocketAddr,
) -> Result<CoordinatorProxy, NodeError> {
    let coordinator_host = loopback_if_unspecified(coordinator_addr.ip()).to_string();
    let communicator = Communicator::new();
    communicator.serve_locally(
        tars_coordinator::service::COORDINATOR_OBJ,
        &coordinator_host,
        coordinator_addr.port(),
        servants.clone(),
    );
    let proxy_string = format!(
        "{}@tcp -h {coordinator_host} -p {}",
        tars_coordinator::service::COORDINATOR_OBJ,
        coordinator_addr.port()
    );
    let proxy = communicator
        .string_to_proxy(&proxy_string)
        .map_err(|e| NodeError::Config(format!("seata coordinator proxy {proxy_string:?}: {e}")))?
        // In process, the front end names the principal its callers act as.
        .with_context(
            tars_coordinator::servant::PRINCIPAL_CONTEXT_KEY,
            tars_coordinator::access::SEATA_PRINCIPAL,
        );
    Ok(CoordinatorProxy::new(proxy))
}

fn bound_addrs(server: &Server) -> Result<(SocketAddr, SocketAddr), NodeError> {
    let bound = |adapter: &str| {
        server
            .local_addr(adapter)
            .ok_or_else(|| NodeError::Config(format!("adapter {adapter} is not bound")))
    };
    Ok((
        bound(tars_registry::service::ADAPTER)?,
        bound(tars_coordinator::service::ADAPTER)?,
    ))
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
            seata = ?node.seata_addr(),
            epoch = node.coordinator().map(|c| c.epoch()),
            cluster = config.cluster.is_some(),
            open_transactions = node.open_transactions(),
            instances = node.registry().registry().len(),
            "tarsd listening"
        );
        Ok(node)
    }

    /// `READY registry=<port> coordinator=<port>`, then ` seata=<port>` when the Seata front
    /// end runs and ` console=<port>` when the web console does.
    fn ready_line(&self) -> String {
        let port = |a: Option<SocketAddr>| a.map(|a| a.port()).unwrap_or_default();
        let mut line = format!(
            "READY registry={} coordinator={}",
            port(self.registry_addr()),
            port(self.coordinator_addr())
        );
        if let Some(seata) = self.seata_addr() {
            line.push_str(&format!(" seata={}", seata.port()));
        }
        if let Some(console) = self.console_addr() {
            line.push_str(&format!(" console={}", console.port()));
        }
        line
    }

    fn shutdown(self) {
        Node::shutdown(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anonymous_node_listens_only_on_loopback_unless_allowed() {
        let mut config = NodeConfig::default();
        assert!(
            refuse_open_anonymous(&config).is_ok(),
            "127.0.0.1 by default"
        );
        config.host = Some("localhost".into());
        assert!(refuse_open_anonymous(&config).is_ok());
        config.host = Some("::1".into());
        assert!(refuse_open_anonymous(&config).is_ok());
        for open in ["0.0.0.0", "10.1.2.3", "node1.example.com"] {
            config.host = Some(open.into());
            let err = refuse_open_anonymous(&config).expect_err(open).to_string();
            assert!(
                err.contains(open) && err.contains("--allow-anonymous"),
                "{err}"
            );
        }
        // The Seata front end's own host counts too.
        config.host = None;
        config.seata.port = Some(0);
        config.seata.host = Some("0.0.0.0".into());
        assert!(refuse_open_anonymous(&config).is_err());
        config.allow_anonymous = true;
        assert!(refuse_open_anonymous(&config).is_ok());
        // It reaches Node::start before anything binds.
        config.allow_anonymous = false;
        assert!(matches!(Node::start(&config), Err(NodeError::Config(_))));
    }

    #[test]
    fn a_node_with_authentication_and_enforced_rules_may_listen_anywhere() {
        let mut config = NodeConfig {
            host: Some("0.0.0.0".into()),
            ..NodeConfig::default()
        };
        config
            .security
            .auth_keys
            .insert("ops".into(), "s3cret".into());
        let err = refuse_open_anonymous(&config).expect_err("rules not enforced");
        assert!(
            err.to_string().contains("[registry.access] enforce"),
            "{err}"
        );
        config.registry.access.enforce = true;
        config.coordinator.access.enforce = true;
        assert!(refuse_open_anonymous(&config).is_ok());
        config.security.auth_keys.clear();
        let err = refuse_open_anonymous(&config).expect_err("no keys");
        assert!(err.to_string().contains("auth_keys"), "{err}");
    }

    #[test]
    fn cluster_nodes_with_authentication_need_credentials_the_others_accept() {
        let mut config = NodeConfig {
            cluster: Some(ClusterSection::default()),
            ..NodeConfig::default()
        };
        config.security.auth_keys.insert("node".into(), "s".into());
        let err = refuse_open_anonymous(&config).expect_err("no client key");
        assert!(err.to_string().contains("[security.client_key]"), "{err}");
        config.security.client_key = Some(ClientKeySection {
            access_key: "node".into(),
            secret_key: "wrong".into(),
        });
        assert!(
            refuse_open_anonymous(&config).is_err(),
            "a key the others refuse"
        );
        config.security.client_key = Some(ClientKeySection {
            access_key: "node".into(),
            secret_key: "s".into(),
        });
        config.coordinator.access.enforce = true;
        assert!(refuse_open_anonymous(&config).is_ok());
        let (_, coordinator) = config.resolved();
        assert_eq!(coordinator.access.forwarders, ["node"]);
        assert_eq!(coordinator.peer_transport.auth_type, 1);
    }
}
