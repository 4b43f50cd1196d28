//! Resolving object names through a registry, and keeping the endpoints fresh.
//!
//! A [`Locator`] turns an object name into its active instances. Built in:
//! [`QueryFLocator`] (any Tars registry: `tars.tarsregistry.QueryObj`, endpoints only) and
//! [`RegistryLocator`] (the tars-rs registry's `tars.tarsregistry.RegistryObj`: endpoints
//! with their static and dynamic metadata, for metadata-aware policies).
//!
//! A [`Communicator`](super::Communicator) with a locator resolves proxies created from a bare
//! object name once when they are created, then refreshes all of them every
//! `refresh_interval` on one background thread. A failed lookup keeps the endpoints known
//! before; an empty answer empties the list (calls fail with
//! [`CallError::NoEndpoint`]).

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use super::balance::{instance_of, Balancer};
use super::error::CallError;
use super::proxy::ServantProxy;
use crate::protocol::tars::QueryFProxy;
use crate::protocol::tarsrs::{Instance, InstanceFilter, RegistryProxy};

/// Resolves object names to their active instances.
pub trait Locator: Send + Sync + 'static {
    /// The active instances of `object` (blocking; called at proxy creation and from the
    /// refresh thread).
    fn locate(&self, object: &str) -> Result<Vec<Instance>, CallError>;
}

/// Resolution through the framework's QueryF (`findObjectById4Any`): endpoints with default
/// metadata (their weight from the registry's EndpointF).
#[derive(Debug, Clone)]
pub struct QueryFLocator {
    query: QueryFProxy,
}

impl QueryFLocator {
    /// A locator calling `query` (`tars.tarsregistry.QueryObj@...`).
    pub fn new(query: ServantProxy) -> QueryFLocator {
        QueryFLocator {
            query: QueryFProxy::new(query),
        }
    }
}

impl Locator for QueryFLocator {
    fn locate(&self, object: &str) -> Result<Vec<Instance>, CallError> {
        let (ret, active, _inactive) = self.query.find_object_by_id4_any(object)?;
        if ret != 0 {
            return Err(CallError::Server {
                code: ret,
                desc: format!("findObjectById4Any({object}) returned {ret}"),
            });
        }
        Ok(active
            .into_iter()
            .filter(|e| e.istcp != 0)
            .map(|e| {
                // A registry that publishes no weight (0) means the default.
                let weight = if e.weight > 0 { e.weight } else { 100 };
                instance_of(object, weight, e)
            })
            .collect())
    }
}

/// Resolution through the tars-rs registry (`list`): active instances with their metadata.
#[derive(Debug, Clone)]
pub struct RegistryLocator {
    registry: RegistryProxy,
}

impl RegistryLocator {
    /// A locator calling `registry` (`tars.tarsregistry.RegistryObj@...`).
    pub fn new(registry: ServantProxy) -> RegistryLocator {
        RegistryLocator {
            registry: RegistryProxy::new(registry),
        }
    }
}

impl Locator for RegistryLocator {
    fn locate(&self, object: &str) -> Result<Vec<Instance>, CallError> {
        let filter = InstanceFilter {
            obj_name: object.into(),
            ..InstanceFilter::default()
        };
        let (ret, instances) = self.registry.list(&filter)?;
        if ret != 0 {
            return Err(CallError::Server {
                code: ret,
                desc: format!("list({object}) returned {ret}"),
            });
        }
        Ok(instances)
    }
}

/// Looks `balancer`'s object up and replaces its endpoints; keeps them on failure.
pub(crate) fn refresh(locator: &dyn Locator, balancer: &Balancer) -> Result<(), CallError> {
    match locator.locate(balancer.object()) {
        Ok(instances) => {
            balancer.update(instances);
            Ok(())
        }
        Err(e) => {
            tracing::warn!(object = %balancer.object(), error = %e,
                "locator lookup failed; keeping the known endpoints");
            Err(e)
        }
    }
}

/// The proxies of one communicator that came from its locator, and the thread refreshing
/// them. The thread ends when the communicator (all its clones) is dropped.
pub(crate) struct Refresher {
    locator: Arc<dyn Locator>,
    interval: Duration,
    balancers: Arc<Mutex<Vec<Weak<Balancer>>>>,
    thread: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
}

impl Refresher {
    pub fn new(locator: Arc<dyn Locator>, interval: Duration) -> Refresher {
        Refresher {
            locator,
            interval,
            balancers: Arc::new(Mutex::new(Vec::new())),
            thread: Mutex::new(None),
        }
    }

    pub fn locator(&self) -> &Arc<dyn Locator> {
        &self.locator
    }

    /// Keeps `balancer` fresh from now on (starting the thread on first use).
    pub fn watch(&self, balancer: &Arc<Balancer>) {
        self.balancers.lock().push(Arc::downgrade(balancer));
        let mut thread = self.thread.lock();
        if thread.is_some() {
            return;
        }
        let (stop, stopped) = bounded(1);
        let locator = self.locator.clone();
        let balancers = self.balancers.clone();
        let interval = self.interval.max(Duration::from_millis(10));
        match std::thread::Builder::new()
            .name("tars-locator".into())
            .spawn(move || run(locator, balancers, interval, stopped))
        {
            Ok(handle) => *thread = Some((stop, handle)),
            Err(e) => tracing::error!(error = %e, "cannot start the locator refresh thread"),
        }
    }

    /// Refreshes every watched proxy now; the first error, if any.
    pub fn refresh_all(&self) -> Result<(), CallError> {
        let live = live(&self.balancers);
        let mut first = Ok(());
        for b in live {
            if let Err(e) = refresh(self.locator.as_ref(), &b) {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.thread.lock().take() {
            let _ = stop.try_send(());
            let _ = handle.join();
        }
    }
}

/// The watched balancers still alive (dropping the dead ones).
fn live(balancers: &Mutex<Vec<Weak<Balancer>>>) -> Vec<Arc<Balancer>> {
    let mut list = balancers.lock();
    list.retain(|w| w.strong_count() > 0);
    list.iter().filter_map(Weak::upgrade).collect()
}

fn run(
    locator: Arc<dyn Locator>,
    balancers: Arc<Mutex<Vec<Weak<Balancer>>>>,
    interval: Duration,
    stopped: Receiver<()>,
) {
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
        for b in live(&balancers) {
            let _ = refresh(locator.as_ref(), &b);
        }
    }
}
