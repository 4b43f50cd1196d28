//! [`Communicator`]: turns `Obj@endpoints` strings, or bare object names resolved through a
//! locator, into proxies over TCP.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use super::balance::{instance_of_endpoint, Balancer, Selection, ShieldConfig};
use super::callback::{AsyncThreads, DEFAULT_ASYNC_THREADS};
use super::error::CallError;
use super::local::{LocalInvoker, LocalTarget};
use super::locator::{Locator, QueryFLocator, QueryLookup, Refresher, RegistryLocator};
use super::net::{ClientNet, NetConfig};
use super::policy::Policy;
use super::proxy::ServantProxy;
use crate::dyeing::DyeingLog;
use crate::endpoint::Endpoint;
use crate::protocol::tars::{
    PropertyFProxy, StatFProxy, StatMicMsgBody, StatMicMsgHead, StatPropMsgBody, StatPropMsgHead,
};
use crate::stat::{StatConfig, StatReporter, StatSender};

/// Why a proxy string or a communicator setting was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// No `@endpoints` part and no locator configured.
    #[error("{0:?} has no endpoints and no locator is configured")]
    NoEndpoints(String),
    /// An endpoint did not parse.
    #[error(transparent)]
    Endpoint(#[from] crate::endpoint::EndpointError),
    /// A SET id that is not `app.area.group`.
    #[error("{0:?} is not a SET id of the form app.area.group")]
    InvalidSet(String),
    /// The client net threads could not be started.
    #[error("cannot start the client net threads: {0}")]
    Net(String),
    /// The statistics reporting thread could not be started.
    #[error("cannot start the stat reporter: {0}")]
    Stat(String),
}

/// How often locator-resolved proxies refresh their endpoints by default (as TarsCpp).
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// The locator as configured; built (with the SET id) when the first proxy needs it.
#[derive(Clone)]
enum LocatorSpec {
    QueryF(ServantProxy),
    Registry(ServantProxy),
    Custom(Arc<dyn Locator>),
}

impl std::fmt::Debug for LocatorSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LocatorSpec::QueryF(p) => f.debug_tuple("QueryF").field(p).finish(),
            LocatorSpec::Registry(p) => f.debug_tuple("Registry").field(p).finish(),
            LocatorSpec::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// Whether `set` is a SET id `app.area.group`: three non-empty parts without blanks (the
/// group may be `*`, the whole area).
fn valid_set(set: &str) -> bool {
    let parts: Vec<&str> = set.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| !c.is_whitespace() && !matches!(c, '@' | ':'))
        })
        && parts[..2].iter().all(|p| !p.contains('*'))
}

/// Creates proxies; one per process is typical. Clones share the client net threads and the
/// locator threads.
///
/// The net threads ([`NetConfig`], one by default) start with the first proxy and stop when
/// the communicator and every proxy it made are dropped.
///
/// The builder methods may be called in any order: the locator is set up with the settings
/// the communicator has when its first proxy is resolved by name.
#[derive(Debug, Clone, Default)]
pub struct Communicator {
    policy: Policy,
    shield: ShieldConfig,
    refresh_interval: Option<Duration>,
    set: Option<String>,
    locator: Option<LocatorSpec>,
    /// Created with the first located proxy; shared by the clones made from then on (a
    /// locator setting changed afterwards starts a new one).
    refresher: Arc<OnceLock<Arc<Refresher>>>,
    net_config: NetConfig,
    /// Started with the first proxy; shared by the clones made from then on.
    net: Arc<OnceLock<Arc<ClientNet>>>,
    /// Threads of the callbacks of `*_callback` calls (0: [`DEFAULT_ASYNC_THREADS`]).
    async_thread_count: usize,
    /// The key for endpoints with `-e 1` (TarsCpp's local authentication).
    auth_key: Option<Arc<crate::auth::ClientKey>>,
    /// What `ssl` endpoints are called with (CA, client certificate, server name).
    tls: Option<Arc<crate::tls::ClientTls>>,
    /// Objects served in this process, by object name and `host:port` (see
    /// [`Communicator::serve_locally`]); shared by every clone.
    local: Arc<RwLock<LocalObjects>>,
    /// Created with the first proxy (its threads start with the first callback).
    async_threads: Arc<OnceLock<AsyncThreads>>,
    /// Statistics reporting settings (off without).
    stat_config: Option<StatConfig>,
    /// Started with the first proxy when `stat_config` is set; shared by the clones made
    /// from then on.
    stats: Arc<OnceLock<Arc<StatReporter>>>,
    /// Where this communicator's proxies log the dyed calls they make.
    dyeing_log: Option<Arc<DyeingLog>>,
}

impl std::fmt::Debug for ClientNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientNet")
            .field("threads", &self.threads())
            .finish_non_exhaustive()
    }
}

/// Objects served in process, by (object name, `host:port`).
type LocalObjects = HashMap<(String, String), Weak<dyn LocalTarget>>;

/// A [`LocalTarget`] served while it lives (see [`Communicator::serve_locally`]).
#[derive(Debug)]
struct WeakTarget(Weak<dyn LocalTarget>);

impl LocalTarget for WeakTarget {
    fn deliver(&self, request: crate::packet::RequestPacket, reply: Option<super::LocalReply>) {
        // Gone: the reply is dropped unanswered and the call ends with its timeout.
        if let Some(target) = self.0.upgrade() {
            target.deliver(request, reply);
        }
    }
}

impl Communicator {
    /// A communicator with default settings (round-robin, shield after 3 failures for 30 s,
    /// no locator).
    pub fn new() -> Communicator {
        Communicator::default()
    }

    /// One of the classic selection policies for proxies created from now on.
    pub fn with_selection(self, selection: Selection) -> Communicator {
        self.with_policy(selection.into())
    }

    /// The load-balancing policy of proxies created from now on.
    pub fn with_policy(mut self, policy: Policy) -> Communicator {
        self.policy = policy;
        self
    }

    /// The shielding thresholds of proxies created from now on.
    pub fn with_shielding(mut self, shield: ShieldConfig) -> Communicator {
        self.shield = shield;
        self
    }

    /// The client net threads' settings (thread count, send-queue and frame limits). Takes
    /// effect when set before the first proxy is created; the threads are shared by clones
    /// made afterwards.
    pub fn with_net_config(mut self, config: NetConfig) -> Communicator {
        self.net_config = config;
        self.net = Arc::default();
        self
    }

    /// The number of client net threads (default 1); see [`with_net_config`](Self::with_net_config).
    pub fn with_net_threads(self, threads: usize) -> Communicator {
        let config = NetConfig {
            threads: threads.max(1),
            ..self.net_config
        };
        self.with_net_config(config)
    }

    /// Authenticates with `access_key` / `secret_key` to every endpoint whose string says
    /// `-e 1` (TarsCpp's local authentication, [`crate::auth`]): the first frame on each such
    /// connection is the signed package. Applies to proxies made from now on.
    pub fn with_auth_key(
        mut self,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Communicator {
        self.auth_key = Some(Arc::new(crate::auth::ClientKey {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
        }));
        self.net = Arc::default();
        self
    }

    /// Calls `ssl` endpoints over TLS with `tls`: the CA it trusts, the client certificate it
    /// presents to servers that require one (mutual TLS), and the name server certificates
    /// are verified against (by default each endpoint's `-h` host). Without it, calls to
    /// `ssl` endpoints fail. Applies to proxies made from now on.
    pub fn with_tls(mut self, tls: crate::tls::ClientTls) -> Communicator {
        self.tls = Some(Arc::new(tls));
        self.net = Arc::default();
        self
    }

    /// How many threads run the callbacks of this communicator's `*_callback` calls (TarsCpp's
    /// AsyncThreads; default [`DEFAULT_ASYNC_THREADS`]). They start with the first callback and
    /// end, after the callbacks in flight, when the communicator and its proxies are dropped.
    pub fn with_async_threads(mut self, threads: usize) -> Communicator {
        self.async_thread_count = threads.max(1);
        self.async_threads = Arc::default();
        self
    }

    /// A proxy of this communicator over `invoker`: its callbacks run on the communicator's
    /// async threads.
    fn proxy(&self, obj: &str, invoker: Arc<dyn super::Invoker>) -> ServantProxy {
        let threads = self.async_threads.get_or_init(|| {
            let n = match self.async_thread_count {
                0 => DEFAULT_ASYNC_THREADS,
                n => n,
            };
            AsyncThreads::lazy(n)
        });
        let proxy = ServantProxy::new(obj, invoker).with_async_threads(threads.clone());
        match &self.dyeing_log {
            Some(log) => proxy.with_dyeing_log(log.clone()),
            None => proxy,
        }
    }

    /// Reports call statistics and properties as configured by `config` (TarsCpp's `stat`,
    /// `property`, `report-interval` and `modulename` settings): every call of the proxies
    /// made from now on is counted per endpoint and function, and sent every period to
    /// `config.stat_obj` with `StatF.reportMicMsg(msg, true)` (see [`crate::stat`]).
    /// `stat_obj` and `property_obj` are resolved like any proxy string, through the locator
    /// when bare names. The reporter starts with the first proxy (or
    /// [`stat_reporter`](Self::stat_reporter)); a server given the same reporter
    /// (`ServerConfig::stats`) reports its served requests with it.
    pub fn with_stat_report(mut self, config: StatConfig) -> Communicator {
        self.stat_config = Some(config);
        self.stats = Arc::default();
        self
    }

    /// The statistics reporter (started on first use), `None` when reporting is not
    /// configured. Share it with the server (`ServerConfig::stats`) and use it for
    /// properties ([`StatReporter::property`]).
    pub fn stat_reporter(&self) -> Result<Option<Arc<StatReporter>>, ProxyError> {
        let Some(config) = &self.stat_config else {
            return Ok(None);
        };
        if let Some(r) = self.stats.get() {
            return Ok(Some(r.clone()));
        }
        // The reporter's own calls go through a copy without statistics (and without this
        // reporter: the copy must not keep it alive).
        let quiet = Communicator {
            stat_config: None,
            stats: Arc::default(),
            ..self.clone()
        };
        let sender = ProxySender {
            communicator: quiet,
            config: config.clone(),
            stat: None,
            property: None,
        };
        let started = Arc::new(
            StatReporter::start(config.clone(), sender)
                .map_err(|e| ProxyError::Stat(e.to_string()))?,
        );
        Ok(Some(self.stats.get_or_init(|| started).clone()))
    }

    /// Logs the dyed calls made by this communicator's proxies (made from now on) to `log`
    /// (see [`crate::dyeing`]).
    pub fn with_dyeing_log(mut self, log: Arc<DyeingLog>) -> Communicator {
        self.dyeing_log = Some(log);
        self
    }

    /// The net threads, started on first use.
    fn net(&self) -> Result<Arc<ClientNet>, ProxyError> {
        if let Some(net) = self.net.get() {
            return Ok(net.clone());
        }
        let started = Arc::new(
            ClientNet::start(self.net_config, self.auth_key.clone(), self.tls.clone())
                .map_err(|e| ProxyError::Net(e.to_string()))?,
        );
        // Another clone may have started its threads first: use whichever won (the loser's
        // threads exit as soon as `started` is dropped).
        Ok(self.net.get_or_init(|| started).clone())
    }

    /// How often locator-resolved proxies refresh (default 60 s), before or after the
    /// locator is set.
    pub fn with_refresh_interval(mut self, interval: Duration) -> Communicator {
        self.refresh_interval = Some(interval);
        self.refresher = Arc::default();
        self
    }

    /// The client's SET (`app.area.group`; TarsCpp's `enableset` + `setdivision`): QueryF
    /// lookups use `findObjectByIdInSameSet`, and the registry locator keeps the instances of
    /// that SET (or those in no SET when the SET has none). A group of `*` takes the whole
    /// area. Before or after the locator is set.
    pub fn with_set(mut self, set_id: &str) -> Result<Communicator, ProxyError> {
        let set_id = set_id.trim();
        if !valid_set(set_id) {
            return Err(ProxyError::InvalidSet(set_id.to_owned()));
        }
        self.set = Some(set_id.to_owned());
        self.refresher = Arc::default();
        Ok(self)
    }

    /// The client's SET, if one is set.
    pub fn set_id(&self) -> Option<&str> {
        self.set.as_deref()
    }

    /// The refresh interval of locator-resolved proxies.
    pub fn refresh_interval(&self) -> Duration {
        self.refresh_interval.unwrap_or(DEFAULT_REFRESH_INTERVAL)
    }

    /// Resolves bare object names through a Tars registry's QueryF object (TarsCpp's
    /// `locator` property), e.g. `tars.tarsregistry.QueryObj@tcp -h 127.0.0.1 -p 17890`,
    /// with `findObjectByIdInSameGroup` (`findObjectByIdInSameSet` with [`with_set`]).
    ///
    /// [`with_set`]: Communicator::with_set
    pub fn with_locator(self, query_obj: &str) -> Result<Communicator, ProxyError> {
        let query = self.direct_proxy(query_obj)?;
        Ok(self.with_spec(LocatorSpec::QueryF(query)))
    }

    /// Resolves bare object names through the tars-rs registry
    /// (`tars.tarsregistry.RegistryObj@...`), which also gives each instance's metadata for
    /// metadata-aware policies and pushes changes as they happen (a registry without the
    /// `watch` operation is refreshed periodically).
    pub fn with_registry_locator(self, registry_obj: &str) -> Result<Communicator, ProxyError> {
        let registry = self.direct_proxy(registry_obj)?;
        Ok(self.with_spec(LocatorSpec::Registry(registry)))
    }

    /// Resolves bare object names with `locator` (the SET id is not passed to it).
    pub fn with_locator_impl(self, locator: Arc<dyn Locator>) -> Communicator {
        self.with_spec(LocatorSpec::Custom(locator))
    }

    fn with_spec(mut self, spec: LocatorSpec) -> Communicator {
        self.locator = Some(spec);
        self.refresher = Arc::default();
        self
    }

    /// The locator threads with the current settings (created on first use).
    fn refresher(&self) -> Option<&Arc<Refresher>> {
        let spec = self.locator.as_ref()?;
        Some(self.refresher.get_or_init(|| {
            let locator: Arc<dyn Locator> = match spec {
                LocatorSpec::QueryF(query) => {
                    let lookup = match &self.set {
                        Some(set) => QueryLookup::SameSet(set.clone()),
                        None => QueryLookup::SameGroup,
                    };
                    Arc::new(QueryFLocator::new(query.clone()).with_lookup(lookup))
                }
                LocatorSpec::Registry(registry) => {
                    let locator = RegistryLocator::new(registry.clone());
                    Arc::new(match &self.set {
                        Some(set) => locator.with_set(set.clone()),
                        None => locator,
                    })
                }
                LocatorSpec::Custom(locator) => locator.clone(),
            };
            Arc::new(Refresher::new(locator, self.refresh_interval()))
        }))
    }

    /// Refreshes every locator-resolved proxy of this communicator now (normally done every
    /// refresh interval); the first lookup error, if any. Without a locator, nothing to do.
    pub fn refresh_endpoints(&self) -> Result<(), CallError> {
        match self.refresher.get() {
            Some(r) => r.refresh_all(),
            None => Ok(()),
        }
    }
    /// A proxy for `Obj@tcp -h host -p port -t timeout[:tcp ...]`, or for a bare `Obj`
    /// resolved through the locator. Calls are spread over the endpoints by the policy,
    /// skipping shielded or unreachable ones.
    ///
    /// A bare name is looked up once here (blocking for at most the locator's call timeout);
    /// if that fails, the proxy starts without endpoints and the next refresh retries.
    ///
    /// A direct proxy whose only endpoint is an object this process serves itself
    /// ([`serve_locally`](Self::serve_locally)) calls it in process.
    pub fn string_to_proxy(&self, text: &str) -> Result<ServantProxy, ProxyError> {
        let Some((obj, endpoints)) = text.split_once('@') else {
            return self.located_proxy(text.trim());
        };
        let obj = obj.trim();
        let endpoints = endpoints
            .split(':')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.parse::<Endpoint>())
            .collect::<Result<Vec<_>, _>>()?;
        if let [only] = endpoints.as_slice() {
            let key = (obj.to_owned(), format!("{}:{}", only.host, only.port));
            let local = self
                .local
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
                .cloned();
            if let Some(target) = local {
                let invoker = LocalInvoker::new(Arc::new(WeakTarget(target)));
                return Ok(self.proxy(obj, Arc::new(invoker)));
            }
        }
        let instances: Vec<_> = endpoints
            .iter()
            .map(|e| instance_of_endpoint(obj, e))
            .collect();
        if instances.is_empty() {
            return Err(ProxyError::NoEndpoints(text.to_owned()));
        }
        let balancer = Arc::new(Balancer::new(
            obj,
            instances,
            self.policy.clone(),
            self.shield,
            self.net()?,
            self.stat_reporter()?,
        ));
        Ok(self.proxy(obj, Arc::new(balancer)))
    }

    /// Declares that `obj` at `host:port` is served in this process by `target` (e.g. the
    /// `Servants` of one of its own adapters): direct proxies to exactly that object and
    /// endpoint, made from now on by this communicator or any clone of it, call `target` in
    /// process as packets ([`LocalInvoker`]) instead of over a connection to
    /// the process itself. `host` must be written as the proxy strings write it.
    ///
    /// Neither the communicator nor those proxies keep `target` alive (servants commonly
    /// hold proxies of this communicator: a strong reference would be a cycle); once it is
    /// dropped, their calls get no answer and end with their timeout.
    pub fn serve_locally(&self, obj: &str, host: &str, port: u16, target: Arc<dyn LocalTarget>) {
        self.local
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                (obj.to_owned(), format!("{host}:{port}")),
                Arc::downgrade(&target),
            );
    }

    /// A proxy with the default policy, for registry objects themselves.
    fn direct_proxy(&self, text: &str) -> Result<ServantProxy, ProxyError> {
        if !text.contains('@') {
            return Err(ProxyError::NoEndpoints(text.to_owned()));
        }
        // The registry's own proxy: default policy and no locator, on this communicator's net
        // threads.
        Communicator {
            policy: Policy::default(),
            locator: None,
            refresher: Arc::default(),
            ..self.clone()
        }
        .string_to_proxy(text)
    }

    fn located_proxy(&self, obj: &str) -> Result<ServantProxy, ProxyError> {
        let refresher = self
            .refresher()
            .ok_or_else(|| ProxyError::NoEndpoints(obj.to_owned()))?;
        let balancer = Arc::new(Balancer::new(
            obj,
            Vec::new(),
            self.policy.clone(),
            self.shield,
            self.net()?,
            self.stat_reporter()?,
        ));
        refresher.add(&balancer);
        Ok(self.proxy(obj, Arc::new(balancer)))
    }
}

/// Sends reports with proxies of the stat and property objects, made on first use.
struct ProxySender {
    communicator: Communicator,
    config: StatConfig,
    stat: Option<StatFProxy>,
    property: Option<PropertyFProxy>,
}

impl ProxySender {
    fn proxy(&self, obj: &str) -> Result<ServantProxy, String> {
        self.communicator
            .string_to_proxy(obj)
            .map(|p| p.with_sync_timeout(self.config.timeout()))
            .map_err(|e| e.to_string())
    }
}

impl StatSender for ProxySender {
    fn report_mic_msg(
        &mut self,
        msg: &std::collections::BTreeMap<StatMicMsgHead, StatMicMsgBody>,
        from_client: bool,
    ) -> Result<(), String> {
        if self.stat.is_none() {
            self.stat = Some(StatFProxy::new(self.proxy(&self.config.stat_obj)?));
        }
        let Some(stat) = &self.stat else {
            return Err("no stat proxy".into());
        };
        stat.report_mic_msg(msg, from_client)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn report_prop_msg(
        &mut self,
        msg: &std::collections::BTreeMap<StatPropMsgHead, StatPropMsgBody>,
    ) -> Result<(), String> {
        if self.property.is_none() {
            self.property = Some(PropertyFProxy::new(self.proxy(&self.config.property_obj)?));
        }
        let Some(property) = &self.property else {
            return Err("no property proxy".into());
        };
        property
            .report_prop_msg(msg)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}
