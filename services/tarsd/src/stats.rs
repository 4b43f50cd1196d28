//! The node's statistics services ([`tars_stat`], `[stat]`): `tars.tarsstat.StatObj`,
//! `tars.tarsproperty.PropertyObj` and `tars.tarsstat.StatQueryObj` are served on the
//! **registry adapter** (same port and transport as QueryObj: a server's `locator` and `stat`
//! then point at one address, and no extra port needs opening), stored in
//! `<data_dir>/stat/stat.redb`, and registered in the node's registry with the node's other
//! objects.
//!
//! In cluster mode every node keeps the reports it received (metrics never go to etcd); a
//! query ([`NodeStats::calls`], [`NodeStats::properties`], [`NodeStats::catalog`]) fans out to
//! every active `tars.tarsstat.StatQueryObj` the registry lists — this node answered in
//! process, the others over `tarsstat.StatQuery` — and merges the rows. A node that does not
//! answer is named in [`Fanout::failed`]; the answer holds the others' rows.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tars::client::Communicator;
use tars::server::AdapterConfig;
use tars_protocols::tars::EndpointF;
use tars_protocols::tarsrs::InstanceFilter;
use tars_protocols::tarsstat::{CallRow, PropRow, StatQueryProxy};
use tars_registry::Registry;
use tars_stat::{
    query, CallQuery, CallSeries, Catalog, PropertyQuery, PropertySeries, StatConfig, StatError,
    StatService, PROPERTY_OBJ, STAT_OBJ, STAT_QUERY_OBJ,
};

/// How long one node may take to answer a fanned-out query.
pub const FANOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the statistics services when `[stat] enable` (data below `data_dir/stat` when the
/// node has a data directory).
pub fn open(
    config: &StatConfig,
    data_dir: Option<&std::path::Path>,
) -> Result<Option<StatService>, StatError> {
    if !config.enable {
        return Ok(None);
    }
    let mut config = config.clone();
    if let Some(dir) = data_dir {
        config.data_dir = dir.join("stat");
    }
    StatService::open(config).map(Some)
}

/// `adapter` (the registry's) also serving the statistics objects of `stats`.
pub fn host_on(mut adapter: AdapterConfig, stats: Option<&StatService>) -> AdapterConfig {
    if let Some(stats) = stats {
        let mut servants = (*adapter.servants).clone();
        stats.add_to(&mut servants);
        adapter.servants = Arc::new(servants);
    }
    adapter
}

/// The statistics objects to register, all at the registry adapter's endpoint.
pub fn objects() -> [&'static str; 3] {
    [STAT_OBJ, PROPERTY_OBJ, STAT_QUERY_OBJ]
}

/// Rows gathered from the nodes, with the nodes that did not answer.
#[derive(Debug, Clone, Default)]
pub struct Fanout<T> {
    /// The merged answer.
    pub value: T,
    /// Nodes (`host:port` of their StatQueryObj) that did not answer, and why.
    pub failed: Vec<(String, String)>,
}

/// The node's statistics with cluster-wide queries.
#[derive(Debug, Clone)]
pub struct NodeStats {
    service: StatService,
    registry: Arc<Registry>,
    communicator: Communicator,
    /// Where this node's StatQueryObj is registered (answered in process).
    own: Arc<parking_lot::Mutex<Option<SocketAddr>>>,
}

impl NodeStats {
    /// `service` queried together with the other nodes `registry` lists, called through
    /// `communicator` (with the node's own credentials).
    pub fn new(service: StatService, registry: Arc<Registry>, communicator: Communicator) -> Self {
        NodeStats {
            service,
            registry,
            communicator,
            own: Arc::new(parking_lot::Mutex::new(None)),
        }
    }

    /// This node's address as registered (its own rows are read in process).
    pub fn set_own_address(&self, addr: SocketAddr) {
        *self.own.lock() = Some(addr);
    }

    /// This node's statistics services.
    pub fn service(&self) -> &StatService {
        &self.service
    }

    fn is_own(&self, e: &EndpointF) -> bool {
        self.own.lock().is_some_and(|own| {
            i32::from(own.port()) == e.port
                && (e.host == own.ip().to_string().as_str()
                    || (own.ip().is_unspecified() && e.host == "127.0.0.1"))
        })
    }

    /// Active StatQueryObj endpoints in the registry other than this node's.
    fn peers(&self) -> Vec<EndpointF> {
        self.registry
            .list(&InstanceFilter {
                obj_name: STAT_QUERY_OBJ.into(),
                ..InstanceFilter::default()
            })
            .into_iter()
            .filter(|i| i.active && !self.is_own(&i.endpoint))
            .map(|i| i.endpoint)
            .collect()
    }

    fn proxy(&self, e: &EndpointF) -> Result<StatQueryProxy, String> {
        let protocol = if e.istcp == 2 { "ssl" } else { "tcp" };
        let mut s = format!("{STAT_QUERY_OBJ}@{protocol} -h {} -p {}", e.host, e.port);
        if e.auth_type != 0 {
            s.push_str(&format!(" -e {}", e.auth_type));
        }
        let proxy = self
            .communicator
            .string_to_proxy(&s)
            .map_err(|e| e.to_string())?;
        Ok(StatQueryProxy::new(proxy).with_timeout(FANOUT_TIMEOUT))
    }

    /// Rows of every node: this one's in process, the others' over StatQuery, called in
    /// parallel.
    fn gather<T: Send + 'static>(
        &self,
        local: impl FnOnce() -> Result<Vec<T>, StatError>,
        remote: impl Fn(&StatQueryProxy) -> Result<(i32, Vec<T>), tars::client::CallError> + Send + Sync,
    ) -> Result<Fanout<Vec<T>>, StatError> {
        let peers = self.peers();
        let answers: Vec<(String, Result<Vec<T>, String>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = peers
                .iter()
                .map(|e| {
                    let remote = &remote;
                    let name = format!("{}:{}", e.host, e.port);
                    let proxy = self.proxy(e);
                    scope.spawn(move || {
                        let rows = proxy.and_then(|p| match remote(&p) {
                            Ok((0, rows)) => Ok(rows),
                            Ok((code, _)) => Err(format!("returned {code}")),
                            Err(e) => Err(e.to_string()),
                        });
                        (name, rows)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| (String::new(), Err("the query panicked".into())))
                })
                .collect()
        });
        let mut out = Fanout {
            value: local()?,
            failed: Vec::new(),
        };
        for (node, rows) in answers {
            match rows {
                Ok(rows) => out.value.extend(rows),
                Err(e) => {
                    tracing::warn!(%node, error = %e, "statistics query of a node");
                    out.failed.push((node, e));
                }
            }
        }
        Ok(out)
    }

    /// Call rows of every node for minutes `[from_minute, to_minute)`.
    pub fn call_rows(
        &self,
        from_minute: i64,
        to_minute: i64,
        slave_name: &str,
        interface_name: &str,
    ) -> Result<Fanout<Vec<CallRow>>, StatError> {
        self.gather(
            || {
                self.service
                    .call_rows(from_minute, to_minute, slave_name, interface_name)
            },
            |p| p.query_calls(from_minute, to_minute, slave_name, interface_name),
        )
    }

    /// Property rows of every node for minutes `[from_minute, to_minute)`.
    pub fn prop_rows(
        &self,
        from_minute: i64,
        to_minute: i64,
        module_name: &str,
        property_name: &str,
    ) -> Result<Fanout<Vec<PropRow>>, StatError> {
        self.gather(
            || {
                self.service
                    .prop_rows(from_minute, to_minute, module_name, property_name)
            },
            |p| p.query_properties(from_minute, to_minute, module_name, property_name),
        )
    }

    /// [`StatService::calls`] over every node.
    pub fn calls(&self, q: &CallQuery) -> Result<Fanout<Vec<CallSeries>>, StatError> {
        let rows = self.call_rows(q.from_minute, q.to_minute, &q.slave_name, &q.interface_name)?;
        Ok(Fanout {
            value: query::call_series(q, &rows.value),
            failed: rows.failed,
        })
    }

    /// [`StatService::properties`] over every node.
    pub fn properties(&self, q: &PropertyQuery) -> Result<Fanout<Vec<PropertySeries>>, StatError> {
        let rows = self.prop_rows(q.from_minute, q.to_minute, &q.module_name, &q.property_name)?;
        Ok(Fanout {
            value: query::property_series(q, &rows.value),
            failed: rows.failed,
        })
    }

    /// [`StatService::catalog`] over every node.
    pub fn catalog(&self, from_minute: i64, to_minute: i64) -> Result<Fanout<Catalog>, StatError> {
        let calls = self.call_rows(from_minute, to_minute, "", "")?;
        let props = self.prop_rows(from_minute, to_minute, "", "")?;
        let mut failed = calls.failed;
        failed.extend(props.failed);
        Ok(Fanout {
            value: Catalog::of(&calls.value, &props.value),
            failed,
        })
    }
}
