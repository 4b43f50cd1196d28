//! The node's web console ([`tars_console`]): started after the node's services when
//! `[console] port` is set, reading the node's registry, coordinator (embedded), cluster
//! status (cluster mode), server counters and statistics ([`NodeStats`], a fan-out over the
//! cluster's nodes in cluster mode).

use std::sync::Arc;

use tars_console::{
    Answered, Console, ConsoleConfig, CoordinatorHandle, NodeInfo, Sources, StatsSource,
};
use tars_stat::{CallQuery, CallSeries, Catalog, PropertyQuery, PropertySeries};

use crate::stats::{Fanout, NodeStats};
use crate::{Node, NodeConfig, NodeError};

fn answered<T>(f: Fanout<T>) -> Answered<T> {
    Answered {
        value: f.value,
        failed: f.failed,
    }
}

/// The console's statistics: this node's rollups and, in cluster mode, the other nodes'.
impl StatsSource for NodeStats {
    fn calls(&self, query: &CallQuery) -> Result<Answered<Vec<CallSeries>>, String> {
        NodeStats::calls(self, query)
            .map(answered)
            .map_err(|e| e.to_string())
    }

    fn properties(&self, query: &PropertyQuery) -> Result<Answered<Vec<PropertySeries>>, String> {
        NodeStats::properties(self, query)
            .map(answered)
            .map_err(|e| e.to_string())
    }

    fn catalog(&self, from_minute: i64, to_minute: i64) -> Result<Answered<Catalog>, String> {
        NodeStats::catalog(self, from_minute, to_minute)
            .map(answered)
            .map_err(|e| e.to_string())
    }
}

/// What the console reads, from the running `node`.
fn sources(config: &NodeConfig, node: &Node) -> Sources {
    let coordinator = node.coordinator().map(|c| CoordinatorHandle {
        core: c.core().clone(),
        driver: c.driver().clone(),
        servant: c.servant(),
    });
    #[allow(unused_mut)]
    let mut cluster: Option<tars_console::ClusterStatusFn> = None;
    #[cfg(feature = "cluster")]
    if let Some(parts) = node.cluster() {
        let etcd = parts.etcd().clone();
        cluster = Some(Arc::new(move || {
            let status =
                tars_cluster::status::ClusterStatus::read(&etcd).map_err(|e| e.to_string())?;
            serde_json::to_value(&status).map_err(|e| e.to_string())
        }));
    }
    Sources {
        node: NodeInfo {
            mode: if config.cluster.is_some() {
                "cluster"
            } else {
                "embedded"
            }
            .into(),
            node_id: config
                .cluster
                .as_ref()
                .map(|c| c.node_id.clone())
                .unwrap_or_default(),
            registry: node.registry_addr().map(|a| a.to_string()),
            coordinator: node.coordinator_addr().map(|a| a.to_string()),
            seata: node.seata_addr().map(|a| a.to_string()),
            started_ms: tars_coordinator::session::wall_clock_ms(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        registry: Arc::clone(node.registry().registry()),
        coordinator,
        cluster,
        io_stats: node.server.lock().as_ref().map(|s| s.io_stats_source()),
        stats: node
            .stats()
            .map(|s| Arc::new(s.clone()) as Arc<dyn StatsSource>),
    }
}

/// Starts the console when `[console] port` is set (`None` otherwise).
pub(crate) fn start(config: &NodeConfig, node: &Node) -> Result<Option<Console>, NodeError> {
    let section: &ConsoleConfig = &config.console;
    if section.port.is_none() {
        return Ok(None);
    }
    Ok(Some(Console::start(section, sources(config, node))?))
}
