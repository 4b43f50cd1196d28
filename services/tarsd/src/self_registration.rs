//! The node lists its own objects in the registry it hosts — QueryObj, RegistryObj and
//! CoordinatorObj at their bound addresses — so clients with only a locator find the
//! coordinator by name, and keeps them active with in-process heartbeats. The coordinator's
//! carry its number of open transactions, and its registration its capacity (in cluster mode:
//! the fragments it leads times what a fragment carries; re-registered when that changes), so
//! clients balancing `CapacityRelative` send `begin` where fragments have room. They are
//! deregistered on shutdown.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Sender};
use tars::client::instance_of_endpoint;
use tars::server::Endpoint;
use tars_protocols::tarsrs::Instance;
use tars_registry::Registry;

/// The coordinator's load as published: open transactions (with every heartbeat) and
/// capacity (in the registration; 0 = unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CoordinatorLoad {
    /// Open transactions.
    pub active: usize,
    /// Open transactions it has room for.
    pub capacity: usize,
}

/// Reads the coordinator's load.
pub type LoadSource = Arc<dyn Fn() -> CoordinatorLoad + Send + Sync>;

/// How often the capacity is compared with what is registered.
const CAPACITY_CHECK: Duration = Duration::from_millis(500);

fn clamp(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn is_coordinator(i: &Instance) -> bool {
    i.obj_name == tars_coordinator::service::COORDINATOR_OBJ
}

/// `i` carrying the coordinator's `load` (capacity and open transactions); other objects as
/// they are.
fn with_load(mut i: Instance, load: CoordinatorLoad) -> Instance {
    if is_coordinator(&i) {
        i.meta.capacity = clamp(load.capacity);
        i.load.active_transactions = clamp(load.active);
    }
    i
}

/// The node's own registrations and their heartbeat thread.
#[derive(Debug)]
pub struct SelfRegistration {
    registry: Arc<Registry>,
    instances: Vec<Instance>,
    stop: Option<Sender<()>>,
    heartbeat: Option<JoinHandle<()>>,
}

impl SelfRegistration {
    /// Registers `objects` (name, endpoint: address, transport and authentication as
    /// clients must use them) and heartbeats them every `interval`.
    pub fn start(
        registry: Arc<Registry>,
        load: LoadSource,
        objects: &[(&str, Endpoint)],
        interval: Duration,
    ) -> Result<SelfRegistration, tars_registry::StoreError> {
        let first = load();
        let mut capacity = first.capacity;
        let instances: Vec<Instance> = objects
            .iter()
            .map(|(obj, endpoint)| with_load(instance_of_endpoint(obj, endpoint), first))
            .collect();
        registry.register_all(instances.clone())?;
        let (stop, stopped) = bounded::<()>(1);
        let heartbeat = {
            let (registry, instances) = (registry.clone(), instances.clone());
            std::thread::Builder::new()
                .name("tarsd-heartbeat".into())
                .spawn(move || {
                    // The capacity is checked every CAPACITY_CHECK (a handover changes it),
                    // the heartbeats go out every `interval`.
                    let mut last_beat: Option<std::time::Instant> = None;
                    loop {
                        let now = load();
                        if now.capacity != capacity {
                            let changed = instances
                                .iter()
                                .filter(|i| is_coordinator(i))
                                .map(|i| with_load(i.clone(), now));
                            match registry.register_all(changed.collect()) {
                                Ok(()) => capacity = now.capacity,
                                Err(e) => tracing::warn!(error = %e, "re-registering the coordinator with its capacity"),
                            }
                        }
                        if last_beat.is_none_or(|t| t.elapsed() >= interval) {
                            last_beat = Some(std::time::Instant::now());
                            for i in &instances {
                                registry.heartbeat(
                                    &i.obj_name,
                                    &i.endpoint.host,
                                    i.endpoint.port,
                                    with_load(i.clone(), now).load,
                                );
                            }
                        }
                        if stopped.recv_timeout(interval.min(CAPACITY_CHECK)).is_ok() {
                            return;
                        }
                    }
                })
                .ok()
        };
        Ok(SelfRegistration {
            registry,
            instances,
            stop: Some(stop),
            heartbeat,
        })
    }

    /// The registered instances.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// Stops the heartbeats and deregisters.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(h) = self.heartbeat.take() {
            let _ = h.join();
        }
        for i in self.instances.drain(..) {
            if let Err(e) = self
                .registry
                .deregister(&i.obj_name, &i.endpoint.host, i.endpoint.port)
            {
                tracing::warn!(obj = %i.obj_name, error = %e, "deregistering the node's object");
            }
        }
    }
}

impl Drop for SelfRegistration {
    fn drop(&mut self) {
        self.stop();
    }
}
