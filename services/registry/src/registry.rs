//! The registry's state: registrations (durable, in [`RegistrationStore`]) plus the soft state
//! heartbeats bring (dynamic metadata, last-seen time). An instance is active while its last
//! heartbeat (or its registration) is younger than the heartbeat timeout; one that misses
//! heartbeats is listed as inactive and becomes active again with its next heartbeat.
//!
//! Every object has a version, bumped by every change of its instances: registration,
//! deregistration, a heartbeat carrying different load, an instance turning inactive (seen
//! by [`Registry::sweep`]) or active again. [`ChangeListener`]s hear of each bump; the
//! `watch` long poll ([`crate::watch`]) is built on them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Weak;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tars::TarsString;

use parking_lot::{Mutex, RwLock};
use tars_protocols::tars::EndpointF;
use tars_protocols::tarsrs::{DynamicMeta, HealthStatus, Instance, InstanceFilter};

use crate::store::{RegistrationStore, StoreError};

/// `(object, host, port)`: one instance.
type Key = (TarsString, TarsString, i32);

struct Entry {
    instance: Instance,
    /// Registration or last heartbeat.
    last_seen: Instant,
    /// Wall-clock time of the last heartbeat (ms since the epoch), 0 before the first one.
    last_heartbeat_ms: i64,
    /// Whether the object's current version counts the instance as active.
    listed_active: bool,
}

/// Hears of the objects whose version changed (called after the change, with no registry
/// lock held).
pub trait ChangeListener: Send + Sync + 'static {
    /// `objects` changed.
    fn changed(&self, objects: &[TarsString]);
}

/// The result of a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatOutcome {
    /// Recorded.
    Recorded,
    /// The instance is not registered: it should register again.
    Unknown,
}

/// Registrations and their liveness.
pub struct Registry {
    store: RegistrationStore,
    entries: RwLock<BTreeMap<Key, Entry>>,
    /// Held while a write goes to disk and then to `entries`.
    write_order: Mutex<()>,
    heartbeat_timeout: Duration,
    /// The version of every object that has had instances. Written with `entries` held.
    versions: Mutex<HashMap<TarsString, i64>>,
    /// The next version (starts at the opening time in µs, so versions grow across restarts).
    next_version: AtomicI64,
    listeners: RwLock<Vec<Weak<dyn ChangeListener>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("instances", &self.entries.read().len())
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .finish()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn key_of(instance: &Instance) -> Key {
    (
        instance.obj_name.clone(),
        instance.endpoint.host.clone(),
        instance.endpoint.port,
    )
}

impl Registry {
    /// Opens the registry stored at `path`. Stored registrations come back inactive: they
    /// turn active with their first heartbeat.
    pub fn open(path: &Path, heartbeat_timeout: Duration) -> Result<Registry, StoreError> {
        let store = RegistrationStore::open(path)?;
        let stale = Instant::now()
            .checked_sub(heartbeat_timeout + Duration::from_millis(1))
            .unwrap_or_else(Instant::now);
        let entries = store
            .load_all()?
            .into_iter()
            .map(|instance| {
                let entry = Entry {
                    instance,
                    last_seen: stale,
                    last_heartbeat_ms: 0,
                    listed_active: false,
                };
                (key_of(&entry.instance), entry)
            })
            .collect();
        Ok(Registry {
            store,
            entries: RwLock::new(entries),
            write_order: Mutex::new(()),
            heartbeat_timeout,
            versions: Mutex::new(HashMap::new()),
            next_version: AtomicI64::new(now_ms().saturating_mul(1000).max(1)),
            listeners: RwLock::new(Vec::new()),
        })
    }

    /// Tells `listener` of every change from now on (until it is dropped).
    pub fn add_listener(&self, listener: Weak<dyn ChangeListener>) {
        let mut listeners = self.listeners.write();
        listeners.retain(|l| l.strong_count() > 0);
        listeners.push(listener);
    }

    /// The version of `obj`'s instances: 0 for an object that never had any.
    pub fn version(&self, obj: &str) -> i64 {
        self.versions.lock().get(obj).copied().unwrap_or(0)
    }

    /// Gives `obj` a new version (called with `entries` write-locked).
    fn bump(&self, obj: &TarsString) {
        let v = self.next_version.fetch_add(1, Ordering::Relaxed);
        self.versions.lock().insert(obj.clone(), v);
    }

    /// Tells the listeners (no lock held).
    fn notify(&self, objects: &[TarsString]) {
        if objects.is_empty() {
            return;
        }
        let listeners: Vec<_> = self
            .listeners
            .read()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for l in listeners {
            l.changed(objects);
        }
    }

    /// Notices the instances whose liveness changed with time (missed heartbeats) and
    /// gives their objects a new version; called periodically by the watch hub.
    pub fn sweep(&self) {
        let now = Instant::now();
        let stale: Vec<Key> = self
            .entries
            .read()
            .iter()
            .filter(|(_, e)| self.is_active(e, now) != e.listed_active)
            .map(|(k, _)| k.clone())
            .collect();
        if stale.is_empty() {
            return;
        }
        let mut changed = BTreeSet::new();
        {
            let mut entries = self.entries.write();
            for key in stale {
                if let Some(e) = entries.get_mut(&key) {
                    let active = self.is_active(e, now);
                    if active != e.listed_active {
                        e.listed_active = active;
                        self.bump(&key.0);
                        changed.insert(key.0);
                    }
                }
            }
        }
        self.notify(&changed.into_iter().collect::<Vec<_>>());
    }

    fn is_active(&self, e: &Entry, now: Instant) -> bool {
        now.duration_since(e.last_seen) <= self.heartbeat_timeout
    }

    /// How long an instance stays active without a heartbeat.
    pub fn heartbeat_timeout(&self) -> Duration {
        self.heartbeat_timeout
    }

    /// Registers (or re-registers) an instance; it is active from now on. Durable when this
    /// returns `Ok`. The instance is listed with the load it carries (the registrant's current
    /// values) until its next heartbeat; a re-registration replaces the metadata and the load
    /// of the previous one.
    pub fn register(&self, instance: Instance) -> Result<(), StoreError> {
        self.register_all(vec![instance])
    }

    /// Registers several instances with one durable commit.
    pub fn register_all(&self, mut instances: Vec<Instance>) -> Result<(), StoreError> {
        for i in &mut instances {
            i.active = false;
            i.last_heartbeat_ms = 0;
        }
        // Writers go to disk in turn, so disk and memory see them in the same order; readers
        // and heartbeats are not held up by the disk.
        let order = self.write_order.lock();
        self.store.put_all(&instances)?;
        let now = Instant::now();
        let mut changed = BTreeSet::new();
        {
            let mut entries = self.entries.write();
            for instance in instances {
                // A (re-)registration carries the instance's current load: it replaces the
                // previous one.
                let key = key_of(&instance);
                self.bump(&key.0);
                changed.insert(key.0.clone());
                entries.insert(
                    key,
                    Entry {
                        instance,
                        last_seen: now,
                        last_heartbeat_ms: 0,
                        listed_active: true,
                    },
                );
            }
        }
        drop(order);
        self.notify(&changed.into_iter().collect::<Vec<_>>());
        Ok(())
    }

    /// Records a heartbeat with the instance's current load.
    pub fn heartbeat(
        &self,
        obj: &str,
        host: &str,
        port: i32,
        load: DynamicMeta,
    ) -> HeartbeatOutcome {
        let obj = TarsString::from(obj);
        let changed = {
            let mut entries = self.entries.write();
            let Some(e) = entries.get_mut(&(obj.clone(), TarsString::from(host), port)) else {
                return HeartbeatOutcome::Unknown;
            };
            let changed = e.instance.load != load || !e.listed_active;
            e.instance.load = load;
            e.last_seen = Instant::now();
            e.last_heartbeat_ms = now_ms();
            e.listed_active = true;
            if changed {
                self.bump(&obj);
            }
            changed
        };
        if changed {
            self.notify(std::slice::from_ref(&obj));
        }
        HeartbeatOutcome::Recorded
    }

    /// Removes an instance durably; whether it was registered.
    pub fn deregister(&self, obj: &str, host: &str, port: i32) -> Result<bool, StoreError> {
        let order = self.write_order.lock();
        let existed = self.store.remove(obj, host, port)?;
        let obj = TarsString::from(obj);
        let removed = {
            let mut entries = self.entries.write();
            let removed = entries
                .remove(&(obj.clone(), TarsString::from(host), port))
                .is_some();
            if removed {
                self.bump(&obj);
            }
            removed
        };
        drop(order);
        if removed {
            self.notify(std::slice::from_ref(&obj));
        }
        Ok(existed || removed)
    }

    fn snapshot(&self, e: &Entry, now: Instant) -> Instance {
        let mut i = e.instance.clone();
        i.active = self.is_active(e, now);
        i.last_heartbeat_ms = e.last_heartbeat_ms;
        i
    }

    /// Instances matching `filter`, ordered by object, host and port.
    pub fn list(&self, filter: &InstanceFilter) -> Vec<Instance> {
        let now = Instant::now();
        let entries = self.entries.read();
        if filter.obj_name.is_empty() {
            return entries
                .values()
                .map(|e| self.snapshot(e, now))
                .filter(|i| matches(filter, i))
                .collect();
        }
        // One object: only its key range.
        let from = (filter.obj_name.clone(), TarsString::new(), i32::MIN);
        entries
            .range(from..)
            .take_while(|((o, _, _), _)| *o == filter.obj_name)
            .map(|(_, e)| self.snapshot(e, now))
            .filter(|i| matches(filter, i))
            .collect()
    }

    /// The region of some instance registered on `host` (any object), if it has one.
    pub fn region_of_host(&self, host: &str) -> Option<TarsString> {
        self.entries
            .read()
            .values()
            .find(|e| e.instance.endpoint.host == host && !e.instance.meta.region.is_empty())
            .map(|e| e.instance.meta.region.clone())
    }

    /// Number of registered instances.
    pub fn len(&self) -> usize {
        self.entries.read().len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.read().is_empty()
    }

    /// The active and inactive endpoints of `obj` that satisfy `keep`.
    pub fn endpoints(
        &self,
        obj: &str,
        keep: impl Fn(&Instance) -> bool,
    ) -> (Vec<EndpointF>, Vec<EndpointF>) {
        let now = Instant::now();
        let entries = self.entries.read();
        let (mut active, mut inactive) = (Vec::new(), Vec::new());
        let from = (TarsString::from(obj), TarsString::new(), i32::MIN);
        for ((o, _, _), e) in entries.range(from..) {
            if o != obj {
                break;
            }
            let i = self.snapshot(e, now);
            if !keep(&i) {
                continue;
            }
            if i.active {
                active.push(i.endpoint);
            } else {
                inactive.push(i.endpoint);
            }
        }
        (active, inactive)
    }
}

fn health_rank(h: HealthStatus) -> i32 {
    i32::from(h)
}

/// Whether `i` passes `filter` (empty filter fields do not filter).
pub fn matches(filter: &InstanceFilter, i: &Instance) -> bool {
    let eq = |want: &str, have: &str| want.is_empty() || want == have;
    (filter.include_inactive || i.active)
        && eq(&filter.obj_name, &i.obj_name)
        && eq(&filter.region, &i.meta.region)
        && eq(&filter.environment, &i.meta.environment)
        && eq(&filter.business_type, &i.meta.business_type)
        && filter
            .required_features
            .iter()
            .all(|f| i.meta.features.get(f).copied().unwrap_or(false))
        && health_rank(i.load.health) <= health_rank(filter.worst_health)
}
