//! The node's web console ([`tars_console`]): started after the node's services when
//! `[console] port` is set, reading the node's registry, coordinator (embedded), cluster
//! status (cluster mode), server counters and statistics ([`NodeStats`], a fan-out over the
//! cluster's nodes in cluster mode).
//!
//! In cluster mode the console's transactions are the fragments' leaders'
//! (`cluster_tx::ClusterTransactions`): the list asks every live node's `CoordinatorObj`
//! (`listTransactions`: the fragments it leads), the detail page and the actions go through
//! this node's routing coordinator, called in process, which forwards them to the leader of
//! the transaction's fragment with the node's own credentials.

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
    #[allow(unused_mut)]
    let mut transactions: Option<Arc<dyn tars_console::TransactionSource>> = None;
    #[cfg(feature = "cluster")]
    if let Some(parts) = node.cluster() {
        transactions = Some(Arc::new(cluster_tx::ClusterTransactions::new(parts)));
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
        transactions,
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

#[cfg(feature = "cluster")]
pub(crate) mod cluster_tx {
    //! The cluster's transactions, as the console reads and drives them.

    use std::sync::Arc;
    use std::time::Duration;

    use tars::client::{Communicator, LocalInvoker, ServantProxy};
    use tars::endpoint::Transport;
    use tars::server::Servants;
    use tars_cluster::etcd::Etcd;
    use tars_cluster::status::{ClusterStatus, NodeStatus};
    use tars_console::{Answered, Listed, TransactionSource, TxAction};
    use tars_coordinator::servant::PRINCIPAL_CONTEXT_KEY;
    use tars_coordinator::service::COORDINATOR_OBJ;
    use tars_protocols::tarstx::{
        CoordinatorProxy, CoordinatorServant, GlobalStatus, ResultCode, TxDetail, TxFilter,
        TxResult, TxSummary,
    };

    use crate::cluster::ClusterParts;

    /// How long one node may take to list its transactions.
    pub const LIST_TIMEOUT: Duration = Duration::from_secs(5);

    /// How long a detail or an action may take (forwarding and phase two included); within
    /// the console's own bound on actions.
    pub const CALL_TIMEOUT: Duration = Duration::from_secs(14);

    /// Transactions over the cluster's coordinators (see the module docs of
    /// [`crate::console`]).
    pub struct ClusterTransactions {
        etcd: Etcd,
        node_id: String,
        communicator: Communicator,
        transport: Transport,
        /// This node's routing coordinator, called in process: it trusts the principal the
        /// console names, and forwards it to the leaders.
        local: CoordinatorProxy,
    }

    impl ClusterTransactions {
        /// Over the cluster side of a running node.
        pub fn new(parts: &ClusterParts) -> ClusterTransactions {
            let mut servants = Servants::new();
            servants.add(
                COORDINATOR_OBJ,
                Arc::new(CoordinatorServant(parts.router().clone())),
            );
            let invoker = Arc::new(LocalInvoker::new(Arc::new(servants)));
            let local = CoordinatorProxy::new(ServantProxy::new(COORDINATOR_OBJ, invoker))
                .with_timeout(CALL_TIMEOUT);
            ClusterTransactions {
                etcd: parts.etcd().clone(),
                node_id: parts.manager().node_id().to_owned(),
                communicator: parts.communicator().clone(),
                transport: parts.transport().clone(),
                local,
            }
        }

        /// `listTransactions` on `node`: in process for this node, else over the network
        /// with the node's credentials, naming `principal`.
        fn list_on(
            &self,
            node: &NodeStatus,
            principal: &str,
            filter: &TxFilter,
        ) -> Result<Vec<TxSummary>, String> {
            let proxy = if node.node_id == self.node_id {
                self.local.clone()
            } else {
                let endpoint = self.transport.endpoint(
                    &node.advertise,
                    node.coordinator_port,
                    LIST_TIMEOUT.as_millis() as u64,
                );
                let proxy = self
                    .communicator
                    .string_to_proxy(&format!("{COORDINATOR_OBJ}@{endpoint}"))
                    .map_err(|e| e.to_string())?;
                CoordinatorProxy::new(proxy)
            };
            let (r, listed) = proxy
                .with_timeout(LIST_TIMEOUT)
                .with_context(PRINCIPAL_CONTEXT_KEY, principal)
                .list_transactions(filter)
                .map_err(|e| e.to_string())?;
            if r.code != ResultCode::Success {
                return Err(format!("refused ({:?}): {}", r.error, r.message));
            }
            Ok(listed)
        }

        fn as_principal(&self, principal: &str) -> CoordinatorProxy {
            self.local.with_context(PRINCIPAL_CONTEXT_KEY, principal)
        }
    }

    impl TransactionSource for ClusterTransactions {
        fn list(
            &self,
            principal: &str,
            filter: &TxFilter,
        ) -> Result<Answered<Vec<Listed>>, String> {
            let status = ClusterStatus::read(&self.etcd)
                .map_err(|e| format!("the cluster's nodes could not be read: {e}"))?;
            let answers: Vec<(&NodeStatus, Result<Vec<TxSummary>, String>)> =
                std::thread::scope(|scope| {
                    let calls: Vec<_> = status
                        .nodes
                        .iter()
                        .map(|n| (n, scope.spawn(move || self.list_on(n, principal, filter))))
                        .collect();
                    calls
                        .into_iter()
                        .map(|(n, call)| {
                            let answer = call
                                .join()
                                .unwrap_or_else(|_| Err("the call panicked".to_owned()));
                            (n, answer)
                        })
                        .collect()
                });
            let mut answered = Answered::<Vec<Listed>>::default();
            for (node, answer) in answers {
                match answer {
                    Ok(listed) => answered
                        .value
                        .extend(listed.into_iter().map(|summary| Listed {
                            node: node.node_id.clone(),
                            summary,
                        })),
                    Err(e) => answered.failed.push((
                        format!(
                            "{} ({}:{})",
                            node.node_id, node.advertise, node.coordinator_port
                        ),
                        e,
                    )),
                }
            }
            answered.value.sort_by(|a, b| {
                (a.summary.begin_time_ms, &a.summary.xid)
                    .cmp(&(b.summary.begin_time_ms, &b.summary.xid))
            });
            if let Ok(limit) = usize::try_from(filter.limit) {
                if limit > 0 {
                    answered.value.truncate(limit);
                }
            }
            Ok(answered)
        }

        fn describe(&self, principal: &str, xid: &str) -> Result<(TxResult, TxDetail), String> {
            self.as_principal(principal)
                .describe_transaction(xid)
                .map_err(|e| e.to_string())
        }

        fn act(
            &self,
            principal: &str,
            xid: &str,
            action: TxAction,
        ) -> Result<(TxResult, GlobalStatus), String> {
            let proxy = self.as_principal(principal);
            match action {
                TxAction::Retry => proxy.retry(xid),
                TxAction::StopRetrying => proxy.stop_retrying(xid),
                TxAction::Rollback => proxy.rollback(xid),
            }
            .map_err(|e| e.to_string())
        }
    }
}
