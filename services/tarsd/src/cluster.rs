//! `tarsd` in cluster mode (feature `cluster`; see docs/cluster.md): the node joins the
//! cluster kept in etcd.
//!
//! - It publishes itself under `nodes/<id>` with its lease.
//! - Its registry keeps instances in etcd and answers from a watch-fed cache
//!   ([`tars_cluster::registry`]).
//! - Its coordinator adapter serves the routing servant
//!   ([`tars_cluster::coordinator::router`]): transactions of the fragments it leads are
//!   served here, the others forwarded to their leaders.
//! - It leads the fragments etcd gives it ([`tars_cluster::coordinator::manager`]) and takes
//!   part in the scheduler election ([`tars_cluster::scheduler`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use tars::client::Communicator;
use tars::server::{AdapterConfig, Endpoint, Servants};
use tars_cluster::coordinator::manager::{publish_node, FragmentManager, NodeIdentity};
use tars_cluster::coordinator::router::ClusterCoordinator;
use tars_cluster::etcd::{Etcd, EtcdConfig};
use tars_cluster::keys::NodeInfo;
use tars_cluster::lease::NodeLease;
use tars_cluster::scheduler::Scheduler;
use tars_cluster::status::ClusterStatus;
use tars_coordinator::service::{CoordinatorConfig, ADAPTER, COORDINATOR_OBJ};
use tars_protocols::tarstx::CoordinatorServant;
use tars_registry::{RegistryConfig, RegistryService};

use crate::{ClusterSection, NodeError};

/// The cluster crate, for tools and tests that read the cluster's state from etcd
/// (`tars_cluster::status::ClusterStatus`, `tars_cluster::etcd::Etcd`).
pub use tars_cluster;

fn cluster_err(e: impl std::fmt::Display) -> NodeError {
    NodeError::Cluster(e.to_string())
}

/// The etcd connection settings of a `[cluster]` section.
pub fn etcd_config(section: &ClusterSection) -> EtcdConfig {
    EtcdConfig {
        endpoints: section.etcd.clone(),
        prefix: section.prefix.clone(),
        request_timeout_ms: section.request_timeout_ms,
        ..EtcdConfig::default()
    }
}

/// The cluster half of a running node, before its coordinator is attached.
pub struct Joining {
    etcd: Etcd,
    lease: NodeLease,
    router: Arc<ClusterCoordinator>,
    communicator: Communicator,
    transport: tars::endpoint::Transport,
}

impl Joining {
    /// The communicator the node forwards calls and reaches participants through (clones
    /// share what it serves in process).
    pub fn communicator(&self) -> &Communicator {
        &self.communicator
    }
}

/// The cluster half of a running node.
pub struct ClusterParts {
    etcd: Etcd,
    manager: Arc<FragmentManager>,
    router: Arc<ClusterCoordinator>,
    communicator: Communicator,
    transport: tars::endpoint::Transport,
    scheduler: Arc<Mutex<Scheduler>>,
    stop: crossbeam_channel::Sender<()>,
    watcher: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for ClusterParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterParts")
            .field("node", &self.manager.node_id())
            .field("led", &self.manager.led_ids())
            .finish_non_exhaustive()
    }
}

/// Connects to etcd, takes the node's lease and opens the registry over etcd. Returns the
/// registry, the coordinator adapter (the routing servant) and what [`attach`] completes
/// once the server is bound.
pub fn join(
    section: &ClusterSection,
    security: &crate::SecuritySection,
    registry_config: RegistryConfig,
    coordinator: &CoordinatorConfig,
) -> Result<(RegistryService, AdapterConfig, Joining), NodeError> {
    if section.node_id.is_empty() {
        return Err(NodeError::Config(
            "cluster mode needs a node id (--node-id or [cluster] node_id)".into(),
        ));
    }
    let etcd = Etcd::connect(&etcd_config(section)).map_err(cluster_err)?;
    let lease = NodeLease::grant(&etcd, Duration::from_millis(section.lease_ttl_ms))
        .map_err(cluster_err)?;
    let registry = tars_cluster::registry::open_registry(&etcd, &section.node_id, registry_config)?;
    let locator = Arc::new(tars_registry::InProcessLocator::new(
        registry.registry().clone(),
    ));
    // The node's own credentials: other nodes' adapters may require them.
    let communicator = security
        .client(Communicator::new())?
        .with_locator_impl(locator);
    let router = Arc::new(
        ClusterCoordinator::new(
            communicator.clone(),
            coordinator.phase_two_timeout_ms.max(1000),
        )
        .with_transport(security.transport()),
    );
    let mut servants = Servants::new();
    servants.add(
        COORDINATOR_OBJ,
        Arc::new(CoordinatorServant(router.clone())),
    );
    let mut adapter = AdapterConfig::new(
        ADAPTER,
        Endpoint::tcp(&coordinator.host, coordinator.port),
        Arc::new(servants),
    );
    adapter.threads = coordinator.threads;
    Ok((
        registry,
        adapter,
        Joining {
            etcd,
            lease,
            router,
            communicator,
            transport: security.transport(),
        },
    ))
}

/// Publishes the node, starts leading fragments and takes part in the scheduler election,
/// now that the registry and coordinator listen on `registry_addr` and `coordinator_addr`.
/// The XIDs it issues carry `xid_address` (the Seata front end's), else its coordinator's.
pub fn attach(
    joining: Joining,
    section: &ClusterSection,
    coordinator: &CoordinatorConfig,
    registry_addr: SocketAddr,
    coordinator_addr: SocketAddr,
    xid_address: Option<String>,
) -> Result<ClusterParts, NodeError> {
    let Joining {
        etcd,
        lease,
        router,
        communicator,
        transport,
    } = joining;
    let info = NodeInfo {
        node_id: section.node_id.clone(),
        advertise: section.advertise.clone(),
        registry_port: registry_addr.port(),
        coordinator_port: coordinator_addr.port(),
        started_ms: tars_coordinator::session::wall_clock_ms(),
    };
    publish_node(&etcd, &lease, &info).map_err(cluster_err)?;
    let manager = FragmentManager::start(
        etcd.clone(),
        lease.clone(),
        NodeIdentity {
            node_id: section.node_id.clone(),
            coordinator: format!("{}:{}", section.advertise, coordinator_addr.port()),
            xid_address: xid_address
                .unwrap_or_else(|| format!("{}:{}", section.advertise, coordinator_addr.port())),
            info,
        },
        communicator.clone(),
        coordinator.clone(),
        section.manager.clone(),
    )
    .map_err(cluster_err)?;
    router.attach(manager.clone());
    let scheduler = Arc::new(Mutex::new(Scheduler::start(
        etcd.clone(),
        section.node_id.clone(),
        lease.clone(),
        section.scheduler.clone(),
    )));
    // A scheduler ends with its lease; when the manager re-joined with a new lease (after a
    // partition from etcd, say), the node takes part in the election again with it.
    let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
    let watcher = {
        let (etcd, manager, scheduler) = (etcd.clone(), manager.clone(), scheduler.clone());
        let (node_id, config) = (section.node_id.clone(), section.scheduler.clone());
        let mut lease_id = lease.id();
        std::thread::Builder::new()
            .name("scheduler-rejoin".into())
            .spawn(move || {
                while stopped.recv_timeout(Duration::from_millis(500)).is_err() {
                    let lease = manager.lease();
                    if lease.id() != lease_id && lease.is_alive() {
                        lease_id = lease.id();
                        let next =
                            Scheduler::start(etcd.clone(), node_id.clone(), lease, config.clone());
                        let old = std::mem::replace(&mut *scheduler.lock(), next);
                        old.stop();
                    }
                }
            })
            .map_err(|e| NodeError::Config(format!("scheduler thread: {e}")))?
    };
    Ok(ClusterParts {
        etcd,
        manager,
        router,
        communicator,
        transport,
        scheduler,
        stop,
        watcher: Mutex::new(Some(watcher)),
    })
}

impl ClusterParts {
    /// The fragments this node leads.
    pub fn manager(&self) -> &Arc<FragmentManager> {
        &self.manager
    }

    /// The etcd connection (for reading the cluster's status, as the console does).
    pub fn etcd(&self) -> &Etcd {
        &self.etcd
    }

    /// The node's routing coordinator servant (`tars.tarscoordinator.CoordinatorObj`).
    pub fn router(&self) -> &Arc<ClusterCoordinator> {
        &self.router
    }

    /// The communicator the node calls other nodes through, with its own credentials
    /// (`[security] client_key`, its client certificate).
    pub fn communicator(&self) -> &Communicator {
        &self.communicator
    }

    /// How other nodes' adapters are reached (`tcp`, `ssl`, `-e 1`).
    pub fn transport(&self) -> &tars::endpoint::Transport {
        &self.transport
    }

    /// Open transactions of the fragments led here.
    pub fn active_transactions(&self) -> usize {
        self.manager.active_transactions()
    }

    /// Leaves the cluster gracefully: hands every led fragment over (flushed, resigned),
    /// stops scheduling, and revokes the lease (the node's keys vanish at once).
    pub fn leave(&self) {
        let _ = self.stop.send(());
        if let Some(w) = self.watcher.lock().take() {
            let _ = w.join();
        }
        self.scheduler.lock().stop();
        self.manager.shutdown();
        // The manager may have re-joined with a new lease; revoke the current one.
        let lease = self.manager.lease();
        if lease.is_alive() {
            lease.revoke(&self.etcd);
        }
    }
}

/// `tarsd cluster status`: the cluster as read from etcd, as a table (or JSON).
pub fn status(section: &ClusterSection, json: bool) -> Result<String, NodeError> {
    let etcd = Etcd::connect(&etcd_config(section)).map_err(cluster_err)?;
    let status = ClusterStatus::read(&etcd).map_err(cluster_err)?;
    Ok(if json {
        status.to_json()
    } else {
        status.to_string()
    })
}
