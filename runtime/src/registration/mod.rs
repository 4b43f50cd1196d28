//! Self-registration: a server whose [`ServerConfig::announcer`] is a [`RegistrationConfig`]
//! registers every servant of every adapter (except `AdminObj`) as an instance of the tars-rs
//! registry (`tars.tarsregistry.RegistryObj`, interface [`tarsrs::Registry`]) when it starts,
//! sends a heartbeat with its dynamic metadata every `heartbeat_interval`, registers again when
//! the registry answers that it does not know the instance (it lost it, or expired it), and
//! deregisters when the server shuts down gracefully.
//!
//! ```no_run
//! use tars::registration::RegistrationConfig;
//! use tars::server::ServerConfig;
//!
//! let registry = "tars.tarsregistry.RegistryObj@tcp -h 127.0.0.1 -p 17890";
//! let config = ServerConfig {
//!     announcer: Some(RegistrationConfig::new(registry).into()),
//!     ..ServerConfig::default()
//! };
//! # let _ = config;
//! ```
//!
//! Registrations and heartbeats carry the same [`DynamicMeta`]: the process's CPU and memory
//! share (Linux `/proc`) and health `HEALTHY`, then whatever a [`LoadReporter`] changes
//! (active transactions, average transaction time, health). So an instance is listed with its
//! reported load from its first registration on, not only after its first heartbeat.
//!
//! An unreachable registry never stops the server: failures are logged and retried on the next
//! heartbeat tick.
//!
//! This module sits above both the client (it calls the registry through a proxy) and the
//! server (it implements the server's [`Announcer`]); neither imports it.
//!
//! The metadata types are re-exported here from [`crate::protocol::tarsrs`], so one import
//! brings everything a registering server needs:
//! `use tars::registration::{DynamicMeta, HealthStatus, RegistrationConfig, StaticMeta};`
//!
//! [`ServerConfig::announcer`]: crate::server::ServerConfig::announcer
//!
//! [`tarsrs::Registry`]: crate::protocol::tarsrs::Registry

mod process_load;

#[doc(no_inline)]
pub use crate::protocol::tarsrs::{DynamicMeta, HealthStatus, StaticMeta};

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use self::process_load::ProcessLoad;
use crate::client::{CallError, Communicator};
use crate::protocol::tars::EndpointF;
use crate::protocol::tarsrs::{Instance, RegistryProxy};
use crate::server::{AnnounceError, AnnouncedServant, Announcement, Announcer};

/// Adjusts the dynamic metadata of a registration or a heartbeat.
pub trait LoadReporter: Send + Sync + 'static {
    /// Called before each registration and each heartbeat of `object`; `load` already holds
    /// the process's CPU and memory share and health `HEALTHY`.
    fn report(&self, object: &str, load: &mut DynamicMeta);
}

impl<F> LoadReporter for F
where
    F: Fn(&str, &mut DynamicMeta) + Send + Sync + 'static,
{
    fn report(&self, object: &str, load: &mut DynamicMeta) {
        self(object, load)
    }
}

/// Where and how a server registers itself.
#[derive(Clone)]
pub struct RegistrationConfig {
    /// The registry object, e.g.
    /// `tars.tarsregistry.RegistryObj@tcp -h 127.0.0.1 -p 17890`.
    pub registry: String,
    /// Static metadata of every instance this server registers. A zero `start_time` is set to
    /// the time the server starts.
    pub meta: StaticMeta,
    /// Time between heartbeats (keep it well below the registry's heartbeat timeout).
    pub heartbeat_interval: Duration,
    /// Host published in the endpoints; needed when an adapter listens on `0.0.0.0` or `::`.
    pub advertise_host: Option<String>,
    /// SET id (`name.area.group`) published in the endpoints; empty when not in a SET.
    pub set_id: String,
    /// Timeout of each call to the registry.
    pub call_timeout: Duration,
    /// Adjusts the dynamic metadata of each registration and heartbeat.
    pub reporter: Option<Arc<dyn LoadReporter>>,
}

impl std::fmt::Debug for RegistrationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationConfig")
            .field("registry", &self.registry)
            .field("meta", &self.meta)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("advertise_host", &self.advertise_host)
            .field("set_id", &self.set_id)
            .field("call_timeout", &self.call_timeout)
            .field("reporter", &self.reporter.is_some())
            .finish()
    }
}

impl RegistrationConfig {
    /// Registration at `registry` with default metadata (weight 100), a heartbeat every 10 s
    /// and 3 s call timeouts.
    pub fn new(registry: impl Into<String>) -> RegistrationConfig {
        RegistrationConfig {
            registry: registry.into(),
            meta: StaticMeta::default(),
            heartbeat_interval: Duration::from_secs(10),
            advertise_host: None,
            set_id: String::new(),
            call_timeout: Duration::from_secs(3),
            reporter: None,
        }
    }

    /// Sets the static metadata.
    pub fn with_meta(mut self, meta: StaticMeta) -> RegistrationConfig {
        self.meta = meta;
        self
    }

    /// Sets the heartbeat interval.
    pub fn with_heartbeat_interval(mut self, interval: Duration) -> RegistrationConfig {
        self.heartbeat_interval = interval;
        self
    }

    /// Publishes `host` instead of the adapters' listening host.
    pub fn with_advertise_host(mut self, host: impl Into<String>) -> RegistrationConfig {
        self.advertise_host = Some(host.into());
        self
    }

    /// Publishes the endpoints in SET `set_id` (`name.area.group`).
    pub fn with_set_id(mut self, set_id: impl Into<String>) -> RegistrationConfig {
        self.set_id = set_id.into();
        self
    }

    /// Lets `reporter` fill in the dynamic metadata of registrations and heartbeats.
    pub fn with_reporter(mut self, reporter: impl LoadReporter) -> RegistrationConfig {
        self.reporter = Some(Arc::new(reporter));
        self
    }
}

/// Why registration could not be set up (the registry being down is not one of them).
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// The registry object string does not parse.
    #[error("registry {registry:?}: {source}")]
    Registry {
        /// The configured registry.
        registry: String,
        /// Why it was rejected.
        source: crate::client::ProxyError,
    },
    /// An adapter listens on an unspecified address and no advertise host is set.
    #[error("adapter {0} listens on an unspecified address: set an advertise host to register it")]
    NoAdvertiseHost(String),
    /// The heartbeat thread could not be started.
    #[error("cannot start the registration thread: {0}")]
    Thread(#[from] std::io::Error),
}

impl Announcer for RegistrationConfig {
    /// Registers `servants` (one attempt each, before returning; an unreachable registry is
    /// retried on the heartbeat ticks) and starts heartbeating. Withdrawing the announcement
    /// stops the heartbeats and deregisters.
    fn announce(
        &self,
        servants: &[AnnouncedServant],
    ) -> Result<Box<dyn Announcement>, AnnounceError> {
        Ok(Box::new(Registrar::start(self.clone(), servants)?))
    }
}

impl From<RegistrationConfig> for Arc<dyn Announcer> {
    fn from(config: RegistrationConfig) -> Arc<dyn Announcer> {
        Arc::new(config)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The instances `announced` becomes under `config`.
fn instances(
    config: &RegistrationConfig,
    announced: &[AnnouncedServant],
) -> Result<Vec<Instance>, RegistrationError> {
    let mut meta = config.meta.clone();
    if meta.start_time == 0 {
        meta.start_time = now_ms();
    }
    announced
        .iter()
        .map(|a| {
            let host = match &config.advertise_host {
                Some(h) => h.clone(),
                None if a.addr.ip().is_unspecified() => {
                    return Err(RegistrationError::NoAdvertiseHost(a.adapter.clone()))
                }
                None => a.addr.ip().to_string(),
            };
            let endpoint = EndpointF {
                host: host.into(),
                port: i32::from(a.addr.port()),
                timeout: i32::try_from(a.timeout_ms).unwrap_or(i32::MAX),
                istcp: 1,
                set_id: config.set_id.as_str().into(),
                weight: meta.weight,
                // 1 = static weights, as TarsCpp publishes for weighted endpoints.
                weight_type: 1,
                ..EndpointF::default()
            };
            Ok(Instance {
                obj_name: a.object.as_str().into(),
                endpoint,
                meta: meta.clone(),
                ..Instance::default()
            })
        })
        .collect()
}

/// The running registration of one server: its heartbeat thread.
struct Registrar {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Registrar {
    /// Registers `announced` (one attempt, before returning) and starts heartbeating.
    fn start(
        config: RegistrationConfig,
        announced: &[AnnouncedServant],
    ) -> Result<Registrar, RegistrationError> {
        let instances = instances(&config, announced)?;
        let proxy = Communicator::new()
            .string_to_proxy(&config.registry)
            .map_err(|source| RegistrationError::Registry {
                registry: config.registry.clone(),
                source,
            })?;
        let proxy = RegistryProxy::new(proxy).with_timeout(config.call_timeout);
        let mut worker = Worker {
            proxy,
            registered: vec![false; instances.len()],
            instances,
            reporter: config.reporter.clone(),
            load: ProcessLoad::new(),
        };
        worker.register_missing();
        let (stop, stopped) = bounded(1);
        let interval = config.heartbeat_interval.max(Duration::from_millis(10));
        let thread = std::thread::Builder::new()
            .name("tars-registration".into())
            .spawn(move || worker.run(interval, stopped))?;
        Ok(Registrar {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops heartbeating and deregisters (waits for the deregistration calls).
    fn stop(&mut self) {
        // Dropping the sender wakes the thread too; sending makes the intent explicit.
        if let Some(stop) = self.stop.take() {
            let _ = stop.try_send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Announcement for Registrar {
    fn withdraw(mut self: Box<Self>) {
        self.stop();
    }
}

impl Drop for Registrar {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    proxy: RegistryProxy,
    instances: Vec<Instance>,
    registered: Vec<bool>,
    reporter: Option<Arc<dyn LoadReporter>>,
    load: ProcessLoad,
}

impl Worker {
    fn run(mut self, interval: Duration, stopped: Receiver<()>) {
        // A stop message, or the registrar being dropped, ends the loop.
        while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
            self.heartbeat_all();
            self.register_missing();
        }
        self.deregister_all();
    }

    /// The dynamic metadata `object` reports now: the sampled process load, health
    /// `HEALTHY`, then the reporter's changes.
    fn load_of(&self, object: &str, cpu: f64, mem: f64) -> DynamicMeta {
        let mut load = DynamicMeta {
            cpu_load: cpu,
            mem_load: mem,
            health: HealthStatus::HEALTHY,
            ..DynamicMeta::default()
        };
        if let Some(r) = &self.reporter {
            r.report(object, &mut load);
        }
        load
    }

    /// One registration attempt for every instance not registered yet, each with its current
    /// load. A transport failure ends the round (the registry is down; the next tick
    /// retries).
    fn register_missing(&mut self) {
        if self.registered.iter().all(|r| *r) {
            return;
        }
        let cpu = self.load.cpu();
        let mem = self.load.memory();
        for i in 0..self.instances.len() {
            if self.registered[i] {
                continue;
            }
            let load = self.load_of(&self.instances[i].obj_name, cpu, mem);
            self.instances[i].load = load;
            let instance = &self.instances[i];
            match self.proxy.register_instance(instance) {
                Ok(0) => {
                    tracing::info!(object = %instance.obj_name, host = %instance.endpoint.host,
                        port = instance.endpoint.port, "registered with the registry");
                    self.registered[i] = true;
                }
                Ok(code) => {
                    tracing::warn!(object = %instance.obj_name, code, "registry refused the registration");
                }
                Err(e) => {
                    tracing::warn!(object = %instance.obj_name, error = %e, "cannot register; retrying on the next heartbeat");
                    if is_unreachable(&e) {
                        return;
                    }
                }
            }
        }
    }

    fn heartbeat_all(&mut self) {
        let cpu = self.load.cpu();
        let mem = self.load.memory();
        for (i, instance) in self.instances.iter().enumerate() {
            if !self.registered[i] {
                continue;
            }
            let load = self.load_of(&instance.obj_name, cpu, mem);
            let ep = &instance.endpoint;
            match self
                .proxy
                .heartbeat(&instance.obj_name, &ep.host, ep.port, &load)
            {
                Ok(0) => {}
                Ok(_) => {
                    // The registry does not know this instance (any more): register again.
                    tracing::info!(object = %instance.obj_name, "registry lost the instance; registering again");
                    self.registered[i] = false;
                }
                Err(e) => {
                    tracing::warn!(object = %instance.obj_name, error = %e, "heartbeat failed");
                    if is_unreachable(&e) {
                        return;
                    }
                }
            }
        }
    }

    fn deregister_all(&mut self) {
        for (i, instance) in self.instances.iter().enumerate() {
            if !self.registered[i] {
                continue;
            }
            let ep = &instance.endpoint;
            match self.proxy.deregister(&instance.obj_name, &ep.host, ep.port) {
                Ok(_) => tracing::info!(object = %instance.obj_name, "deregistered"),
                Err(e) => {
                    tracing::warn!(object = %instance.obj_name, error = %e, "cannot deregister");
                    if is_unreachable(&e) {
                        return;
                    }
                }
            }
            self.registered[i] = false;
        }
    }
}

/// Whether an error means the registry cannot be reached at all (so further calls in this
/// round would fail the same way).
fn is_unreachable(e: &CallError) -> bool {
    matches!(
        e,
        CallError::Transport(_) | CallError::Timeout(_) | CallError::NoEndpoint { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announced(addr: &str) -> AnnouncedServant {
        AnnouncedServant {
            adapter: "A".into(),
            object: "App.Server.Obj".into(),
            addr: addr.parse().expect("addr"),
            timeout_ms: 60_000,
        }
    }

    #[test]
    fn instances_carry_endpoint_and_metadata() {
        let config = RegistrationConfig::new("R@tcp -h 127.0.0.1 -p 1")
            .with_set_id("app.sz.1")
            .with_meta(StaticMeta {
                weight: 7,
                region: "sz".into(),
                ..StaticMeta::default()
            });
        let list = instances(&config, &[announced("127.0.0.1:4000")]).expect("instances");
        let i = &list[0];
        assert_eq!(i.obj_name, "App.Server.Obj");
        assert_eq!(
            (i.endpoint.host.as_str(), i.endpoint.port),
            ("127.0.0.1", 4000)
        );
        assert_eq!((i.endpoint.timeout, i.endpoint.istcp), (60_000, 1));
        assert_eq!(
            (i.endpoint.set_id.as_str(), i.endpoint.weight),
            ("app.sz.1", 7)
        );
        assert_eq!(i.meta.region, "sz");
        assert!(i.meta.start_time > 0, "start time is filled in");
    }

    #[test]
    fn unspecified_listen_address_needs_an_advertise_host() {
        let config = RegistrationConfig::new("R@tcp -h 127.0.0.1 -p 1");
        assert!(matches!(
            instances(&config, &[announced("0.0.0.0:4000")]),
            Err(RegistrationError::NoAdvertiseHost(a)) if a == "A"
        ));
        let config = config.with_advertise_host("10.0.0.5");
        let list = instances(&config, &[announced("0.0.0.0:4000")]).expect("instances");
        assert_eq!(list[0].endpoint.host, "10.0.0.5");
    }
}
