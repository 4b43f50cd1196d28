//! Hosting the registry: [`RegistryConfig`] (TOML) and [`RegistryService`], which opens the
//! store and is [`Hosted`] on the adapter serving `tars.tarsregistry.QueryObj` and
//! `tars.tarsregistry.RegistryObj` — alone ([`RegistryService::start`]) or next to other
//! services in one server (`tarsd`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tars::server::{Servants, Server, ServerError};
use tars_bootstrap::{Hosted, Hosting};
use tars_protocols::tars::QueryFServant;
use tars_protocols::tarsrs::RegistryServant;

use crate::access::RegistryAccess;
use crate::query::{GroupRule, QueryService};
use crate::registry::{RegistrationLimits, Registry};
use crate::servant::RegistryServantImpl;
use crate::store::{RegistrationBackend, StoreError};
use crate::watch::{WatchConfig, WatchHub};

/// Object name of the naming interface (QueryF).
pub const QUERY_OBJ: &str = "tars.tarsregistry.QueryObj";
/// Object name of the tars-rs registry interface.
pub const REGISTRY_OBJ: &str = "tars.tarsregistry.RegistryObj";
/// The Tars registry's usual port.
pub const DEFAULT_PORT: u16 = 17890;
/// Adapter name of the registry's objects.
pub const ADAPTER: &str = "tars.tarsregistry.RegistryAdapter";

/// Registry settings (TOML; every field optional).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryConfig {
    /// Directory of the registration database (`registry.redb`).
    pub data_dir: PathBuf,
    /// Listening host.
    pub host: String,
    /// Listening port (0 picks a free one).
    pub port: u16,
    /// An instance without a heartbeat for this long is listed as inactive.
    pub heartbeat_timeout_ms: u64,
    /// Business threads (registrations wait for the disk, so they do not run on the network
    /// thread).
    pub threads: usize,
    /// Network threads of the server [`RegistryService::start`] starts (a node hosting the
    /// registry next to other services uses its own server configuration instead).
    pub net_threads: usize,
    /// IDC groups of callers by IP prefix, for `findObjectByIdInSameGroup`.
    pub groups: Vec<GroupRule>,
    /// `watch` calls held at most at once (more are answered "busy" and poll later).
    pub watch_max_held: usize,
    /// The longest a `watch` call is held, in milliseconds (keep it below the clients'
    /// connection idle timeout).
    pub watch_max_wait_ms: u64,
    /// Instances of one object name at most (more registrations are refused with -4).
    pub max_instances_per_object: usize,
    /// Instances on one host at most (more registrations are refused with -4).
    pub max_instances_per_host: usize,
    /// Who may change which registrations (`[registry.access]`; open when not enforced).
    pub access: RegistryAccess,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            data_dir: PathBuf::from("tars-data/registry"),
            host: "127.0.0.1".into(),
            port: DEFAULT_PORT,
            heartbeat_timeout_ms: 30_000,
            threads: 2,
            net_threads: 1,
            groups: Vec::new(),
            watch_max_held: WatchConfig::default().max_held,
            watch_max_wait_ms: WatchConfig::default().max_wait.as_millis() as u64,
            max_instances_per_object: RegistrationLimits::default().max_per_object,
            max_instances_per_host: RegistrationLimits::default().max_per_host,
            access: RegistryAccess::default(),
        }
    }
}

/// An opened registry, ready to be served.
#[derive(Debug, Clone)]
pub struct RegistryService {
    registry: Arc<Registry>,
    watch: Arc<WatchHub>,
    config: RegistryConfig,
}

impl RegistryService {
    /// Opens (or creates) the registration database under `config.data_dir`.
    pub fn open(config: RegistryConfig) -> Result<RegistryService, StoreError> {
        std::fs::create_dir_all(&config.data_dir).map_err(StoreError::Io)?;
        let registry = Registry::open(
            &config.data_dir.join("registry.redb"),
            Duration::from_millis(config.heartbeat_timeout_ms),
        )?;
        Ok(RegistryService::serve(Arc::new(registry), config))
    }

    /// Opens the registry over `backend` instead of the embedded database (cluster mode:
    /// registrations in etcd); `config.data_dir` is not used. Fails when the backend cannot
    /// be attached (e.g. etcd unreachable at start).
    pub fn open_with(
        config: RegistryConfig,
        backend: Arc<dyn RegistrationBackend>,
    ) -> Result<RegistryService, StoreError> {
        let registry =
            Registry::open_with(backend, Duration::from_millis(config.heartbeat_timeout_ms))?;
        Ok(RegistryService::serve(registry, config))
    }

    fn serve(registry: Arc<Registry>, config: RegistryConfig) -> RegistryService {
        registry.set_limits(RegistrationLimits {
            max_per_object: config.max_instances_per_object,
            max_per_host: config.max_instances_per_host,
        });
        let watch = WatchHub::start(
            registry.clone(),
            WatchConfig {
                max_held: config.watch_max_held,
                max_wait: Duration::from_millis(config.watch_max_wait_ms),
            },
        );
        RegistryService {
            registry,
            watch,
            config,
        }
    }

    /// The registry state.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The held `watch` calls.
    pub fn watch_hub(&self) -> &Arc<WatchHub> {
        &self.watch
    }

    /// Starts a server with just the registry; [`Server::local_addr`] of [`ADAPTER`] gives
    /// its address. The same as [`Hosted::start`], without importing the trait.
    pub fn start(&self) -> Result<Server, ServerError> {
        Hosted::start(self)
    }
}

impl Hosted for RegistryService {
    /// [`ADAPTER`] on the configured host, port and threads.
    fn hosting(&self) -> Hosting {
        Hosting::new(ADAPTER, self.config.host.clone(), self.config.port)
            .with_threads(self.config.threads)
            .with_net_threads(self.config.net_threads)
    }

    /// The two servants, under their object names.
    fn add_servants(&self, servants: &mut Servants) {
        servants.add(
            QUERY_OBJ,
            Arc::new(QueryFServant::new(
                QueryService::new(self.registry.clone(), self.config.groups.clone())
                    .with_access(self.config.access.clone()),
            )),
        );
        servants.add(
            REGISTRY_OBJ,
            Arc::new(RegistryServant::new(
                RegistryServantImpl::with_watch(self.registry.clone(), self.watch.clone())
                    .with_access(self.config.access.clone()),
            )),
        );
    }
}
