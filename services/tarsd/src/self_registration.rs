//! The node lists its own objects in the registry it hosts — QueryObj, RegistryObj and
//! CoordinatorObj at their bound addresses — so clients with only a locator find the
//! coordinator by name, and keeps them active with in-process heartbeats (the coordinator's
//! carry its number of open transactions, for load balancing). They are deregistered on
//! shutdown.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Sender};
use tars::client::instance_of_endpoint;
use tars::server::Endpoint;
use tars_protocols::tarsrs::{DynamicMeta, Instance};
use tars_registry::Registry;

/// Counts the node's open transactions (published with the coordinator's heartbeats).
pub type ActiveTransactions = Arc<dyn Fn() -> usize + Send + Sync>;

/// The node's own registrations and their heartbeat thread.
#[derive(Debug)]
pub struct SelfRegistration {
    registry: Arc<Registry>,
    instances: Vec<Instance>,
    stop: Option<Sender<()>>,
    heartbeat: Option<JoinHandle<()>>,
}

impl SelfRegistration {
    /// Registers `objects` (name, address) and heartbeats them every `interval`.
    pub fn start(
        registry: Arc<Registry>,
        active: ActiveTransactions,
        objects: &[(&str, std::net::SocketAddr)],
        interval: Duration,
    ) -> Result<SelfRegistration, tars_registry::StoreError> {
        let instances: Vec<Instance> = objects
            .iter()
            .map(|(obj, addr)| {
                instance_of_endpoint(obj, &Endpoint::tcp(addr.ip().to_string(), addr.port()))
            })
            .collect();
        registry.register_all(instances.clone())?;
        let (stop, stopped) = bounded::<()>(1);
        let heartbeat = {
            let (registry, instances) = (registry.clone(), instances.clone());
            std::thread::Builder::new()
                .name("tarsd-heartbeat".into())
                .spawn(move || {
                    let beat = || {
                        for i in &instances {
                            let load = DynamicMeta {
                                active_transactions: if i.obj_name
                                    == tars_coordinator::service::COORDINATOR_OBJ
                                {
                                    i32::try_from(active()).unwrap_or(i32::MAX)
                                } else {
                                    0
                                },
                                ..DynamicMeta::default()
                            };
                            registry.heartbeat(
                                &i.obj_name,
                                &i.endpoint.host,
                                i.endpoint.port,
                                load,
                            );
                        }
                    };
                    beat();
                    while stopped.recv_timeout(interval).is_err() {
                        beat();
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
