//! [`Communicator`]: turns `Obj@endpoints` strings, or bare object names resolved through a
//! locator, into proxies over TCP.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::balance::{instance_of_endpoint, Balancer, Selection, ShieldConfig};
use super::error::CallError;
use super::locator::{self, Locator, QueryFLocator, Refresher, RegistryLocator};
use super::net::{ClientNet, NetConfig};
use super::policy::Policy;
use super::proxy::ServantProxy;
use crate::endpoint::Endpoint;

/// Why a proxy string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// No `@endpoints` part and no locator configured.
    #[error("{0:?} has no endpoints and no locator is configured")]
    NoEndpoints(String),
    /// An endpoint did not parse.
    #[error(transparent)]
    Endpoint(#[from] crate::endpoint::EndpointError),
    /// The client net threads could not be started.
    #[error("cannot start the client net threads: {0}")]
    Net(String),
}

/// How often locator-resolved proxies refresh their endpoints by default (as TarsCpp).
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// Creates proxies; one per process is typical. Clones share the client net threads and the
/// locator refresh thread.
///
/// The net threads ([`NetConfig`], one by default) start with the first proxy and stop when
/// the communicator and every proxy it made are dropped.
#[derive(Debug, Clone, Default)]
pub struct Communicator {
    policy: Policy,
    shield: ShieldConfig,
    refresh_interval: Option<Duration>,
    refresher: Option<Arc<Refresher>>,
    net_config: NetConfig,
    net: Arc<OnceLock<Arc<ClientNet>>>,
}

impl std::fmt::Debug for ClientNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientNet")
            .field("threads", &self.threads())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Refresher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refresher").finish_non_exhaustive()
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

    /// The net threads, started on first use.
    fn net(&self) -> Result<Arc<ClientNet>, ProxyError> {
        if let Some(net) = self.net.get() {
            return Ok(net.clone());
        }
        let started = Arc::new(
            ClientNet::start(self.net_config).map_err(|e| ProxyError::Net(e.to_string()))?,
        );
        // Another clone may have started its threads first: use whichever won (the loser's
        // threads exit as soon as `started` is dropped).
        Ok(self.net.get_or_init(|| started).clone())
    }

    /// How often locator-resolved proxies refresh (default 60 s). Set before the locator.
    pub fn with_refresh_interval(mut self, interval: Duration) -> Communicator {
        self.refresh_interval = Some(interval);
        self
    }

    /// Resolves bare object names through a Tars registry's QueryF object (TarsCpp's
    /// `locator` property), e.g. `tars.tarsregistry.QueryObj@tcp -h 127.0.0.1 -p 17890`.
    pub fn with_locator(self, query_obj: &str) -> Result<Communicator, ProxyError> {
        let query = self.direct_proxy(query_obj)?;
        Ok(self.with_locator_impl(Arc::new(QueryFLocator::new(query))))
    }

    /// Resolves bare object names through the tars-rs registry
    /// (`tars.tarsregistry.RegistryObj@...`), which also gives each instance's metadata for
    /// metadata-aware policies.
    pub fn with_registry_locator(self, registry_obj: &str) -> Result<Communicator, ProxyError> {
        let registry = self.direct_proxy(registry_obj)?;
        Ok(self.with_locator_impl(Arc::new(RegistryLocator::new(registry))))
    }

    /// Resolves bare object names with `locator`.
    pub fn with_locator_impl(mut self, locator: Arc<dyn Locator>) -> Communicator {
        let interval = self.refresh_interval.unwrap_or(DEFAULT_REFRESH_INTERVAL);
        self.refresher = Some(Arc::new(Refresher::new(locator, interval)));
        self
    }

    /// Refreshes every locator-resolved proxy of this communicator now (normally done every
    /// refresh interval); the first lookup error, if any. Without a locator, nothing to do.
    pub fn refresh_endpoints(&self) -> Result<(), CallError> {
        match &self.refresher {
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
    pub fn string_to_proxy(&self, text: &str) -> Result<ServantProxy, ProxyError> {
        let Some((obj, endpoints)) = text.split_once('@') else {
            return self.located_proxy(text.trim());
        };
        let obj = obj.trim();
        let instances = endpoints
            .split(':')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.parse::<Endpoint>().map(|e| instance_of_endpoint(obj, &e)))
            .collect::<Result<Vec<_>, _>>()?;
        if instances.is_empty() {
            return Err(ProxyError::NoEndpoints(text.to_owned()));
        }
        let balancer = Arc::new(Balancer::new(
            obj,
            instances,
            self.policy.clone(),
            self.shield,
            self.net()?,
        ));
        Ok(ServantProxy::new(obj, Arc::new(balancer)))
    }

    /// A proxy with the default policy, for registry objects themselves.
    fn direct_proxy(&self, text: &str) -> Result<ServantProxy, ProxyError> {
        if !text.contains('@') {
            return Err(ProxyError::NoEndpoints(text.to_owned()));
        }
        // The registry's own proxy: default policy, this communicator's net threads.
        Communicator {
            policy: Policy::default(),
            refresher: None,
            ..self.clone()
        }
        .string_to_proxy(text)
    }

    fn located_proxy(&self, obj: &str) -> Result<ServantProxy, ProxyError> {
        let refresher = self
            .refresher
            .as_ref()
            .ok_or_else(|| ProxyError::NoEndpoints(obj.to_owned()))?;
        let balancer = Arc::new(Balancer::new(
            obj,
            Vec::new(),
            self.policy.clone(),
            self.shield,
            self.net()?,
        ));
        let _ = locator::refresh(refresher.locator().as_ref(), &balancer);
        refresher.watch(&balancer);
        Ok(ServantProxy::new(obj, Arc::new(balancer)))
    }
}
