//! The registry's state: registrations (durable, in [`RegistrationStore`]) plus the soft state
//! heartbeats bring (dynamic metadata, last-seen time). An instance is active while its last
//! heartbeat (or its registration) is younger than the heartbeat timeout; one that misses
//! heartbeats is listed as inactive and becomes active again with its next heartbeat.
//!
//! Every object has a version, bumped by every change of its instances: registration,
//! deregistration, a heartbeat carrying different load, an instance turning inactive (seen
//! by [`Registry::sweep`]) or active again. [`ChangeListener`]s hear of each bump; the
//! `watch` long poll ([`crate::watch`]) is built on them.
//!
//! The durable part is a [`RegistrationBackend`]: the embedded redb [`RegistrationStore`] by
//! default ([`Registry::open`]), or one shared by several nodes ([`Registry::open_with`]), which
//! feeds the changes made elsewhere in through [`Registry::apply`] and [`Registry::reset`].
//! Those carry the backend's revisions: an instance remembers the revision of its
//! registration, and a deregistration leaves a tombstone until the backend's feed has passed
//! it, so that a change arriving late never undoes a newer one (a write acknowledged here is
//! listed at once, before the feed brings it back — or not applied again when the feed has
//! delivered it already).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tars::TarsString;

use parking_lot::{Mutex, RwLock};
use tars_protocols::tars::EndpointF;
use tars_protocols::tarsrs::{DynamicMeta, HealthStatus, Instance, InstanceFilter};

use crate::store::{HeartbeatRecord, RegistrationBackend, RegistrationStore, StoreError};

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
    /// The backend's revision of the registration (0 for a backend without revisions).
    revision: i64,
}

/// A change of the registrations made elsewhere (by another node sharing the backend), as
/// the backend's feed reports it ([`Registry::apply`], [`Registry::reset`]).
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteChange {
    /// Registered or re-registered at `revision` (its metadata and load replace the previous
    /// registration's).
    Registered {
        /// The instance (boxed: it is much larger than the other changes).
        instance: Box<Instance>,
        /// The backend's revision of the registration.
        revision: i64,
        /// When this node learned of it, which counts as a heartbeat; `None` when that time is
        /// unknown (a snapshot): the instance is then inactive until other evidence comes.
        seen: Option<Instant>,
    },
    /// Deregistered at `revision`.
    Deregistered {
        /// The object.
        obj: TarsString,
        /// The host.
        host: TarsString,
        /// The port.
        port: i32,
        /// The backend's revision of the deregistration.
        revision: i64,
    },
    /// Evidence of heartbeats received elsewhere: the instance was alive at `seen` with
    /// `load`. Ignored for an instance that is not registered.
    Alive {
        /// The object.
        obj: TarsString,
        /// The host.
        host: TarsString,
        /// The port.
        port: i32,
        /// The load of the heartbeat.
        load: DynamicMeta,
        /// The heartbeat's wall-clock time (ms since the epoch; 0 for the load given at
        /// registration). A load older than the one listed is not taken.
        last_heartbeat_ms: i64,
        /// When the instance was last known alive (it counts as a heartbeat then).
        seen: Instant,
    },
}

impl RemoteChange {
    /// The backend revision of a registration or deregistration (0 for liveness).
    fn revision(&self) -> i64 {
        match self {
            RemoteChange::Registered { revision, .. }
            | RemoteChange::Deregistered { revision, .. } => *revision,
            RemoteChange::Alive { .. } => 0,
        }
    }
}

/// How far the backend's feed ([`Registry::apply`], [`Registry::reset`]) got.
#[derive(Default)]
struct FeedState {
    /// The highest revision it delivered: a local write at or below it is already listed
    /// (with whatever followed it).
    delivered: i64,
    /// Deregistrations (with their revisions) the feed may not have passed yet: an older
    /// registration arriving late must not bring the instance back.
    tombstones: HashMap<Key, i64>,
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

/// How many instances the registry takes, so that no client can fill it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationLimits {
    /// Instances of one object name at most.
    pub max_per_object: usize,
    /// Instances on one host (of all objects) at most.
    pub max_per_host: usize,
}

impl Default for RegistrationLimits {
    /// 1,000 instances per object, 10,000 per host.
    fn default() -> Self {
        RegistrationLimits {
            max_per_object: 1_000,
            max_per_host: 10_000,
        }
    }
}

/// Registrations and their liveness.
pub struct Registry {
    store: Arc<dyn RegistrationBackend>,
    limits: RwLock<RegistrationLimits>,
    entries: RwLock<BTreeMap<Key, Entry>>,
    /// How far the backend's feed got. Written with `entries` held.
    feed: Mutex<FeedState>,
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

/// A last-seen time old enough to count as inactive.
fn stale_since(heartbeat_timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_sub(heartbeat_timeout + Duration::from_millis(1))
        .unwrap_or(now)
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
        Registry::with_backend(Arc::new(store), heartbeat_timeout)
    }

    /// Opens a registry over `backend` and [attaches](RegistrationBackend::attach) it (a
    /// shared backend fills the registry and starts feeding it changes).
    pub fn open_with(
        backend: Arc<dyn RegistrationBackend>,
        heartbeat_timeout: Duration,
    ) -> Result<Arc<Registry>, StoreError> {
        let registry = Arc::new(Registry::with_backend(backend.clone(), heartbeat_timeout)?);
        backend.attach(&registry)?;
        Ok(registry)
    }

    /// A registry over `backend` with the registrations it loads (inactive until their
    /// first heartbeat), not yet attached: [`Registry::open_with`] does both.
    pub fn with_backend(
        backend: Arc<dyn RegistrationBackend>,
        heartbeat_timeout: Duration,
    ) -> Result<Registry, StoreError> {
        let stale = stale_since(heartbeat_timeout);
        let entries = backend
            .load_all()?
            .into_iter()
            .map(|instance| {
                let entry = Entry {
                    instance,
                    last_seen: stale,
                    last_heartbeat_ms: 0,
                    listed_active: false,
                    revision: 0,
                };
                (key_of(&entry.instance), entry)
            })
            .collect();
        Ok(Registry {
            store: backend,
            limits: RwLock::new(RegistrationLimits::default()),
            entries: RwLock::new(entries),
            feed: Mutex::new(FeedState::default()),
            write_order: Mutex::new(()),
            heartbeat_timeout,
            versions: Mutex::new(HashMap::new()),
            next_version: AtomicI64::new(now_ms().saturating_mul(1000).max(1)),
            listeners: RwLock::new(Vec::new()),
        })
    }

    /// The limits new registrations are held to from now on (default
    /// [`RegistrationLimits::default`]).
    pub fn set_limits(&self, limits: RegistrationLimits) {
        *self.limits.write() = limits;
    }

    /// Refuses `instances` when the new ones among them would pass the limits.
    fn check_limits(&self, instances: &[Instance]) -> Result<(), StoreError> {
        let limits = *self.limits.read();
        let entries = self.entries.read();
        let mut per_object: HashMap<&str, usize> = HashMap::new();
        let mut per_host: HashMap<&str, usize> = HashMap::new();
        for i in instances {
            if entries.contains_key(&key_of(i)) {
                continue; // a re-registration adds nothing
            }
            let obj = per_object.entry(i.obj_name.as_str()).or_insert_with(|| {
                let from = (i.obj_name.clone(), TarsString::new(), i32::MIN);
                entries
                    .range(from..)
                    .take_while(|((o, _, _), _)| *o == i.obj_name)
                    .count()
            });
            *obj += 1;
            if *obj > limits.max_per_object {
                return Err(StoreError::LimitReached(format!(
                    "{} has {} instances (at most {})",
                    i.obj_name,
                    *obj - 1,
                    limits.max_per_object
                )));
            }
            let host = per_host.entry(i.endpoint.host.as_str()).or_insert_with(|| {
                entries
                    .values()
                    .filter(|e| e.instance.endpoint.host == i.endpoint.host)
                    .count()
            });
            *host += 1;
            if *host > limits.max_per_host {
                return Err(StoreError::LimitReached(format!(
                    "host {} has {} instances (at most {})",
                    i.endpoint.host,
                    *host - 1,
                    limits.max_per_host
                )));
            }
        }
        Ok(())
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
        now.saturating_duration_since(e.last_seen) <= self.heartbeat_timeout
    }

    /// Applies one change (with `entries` write-locked and `feed` locked); whether it
    /// changed anything. Objects whose version it bumped go to `changed`.
    fn apply_one(
        &self,
        entries: &mut BTreeMap<Key, Entry>,
        tombstones: &mut HashMap<Key, i64>,
        change: RemoteChange,
        now: Instant,
        changed: &mut BTreeSet<TarsString>,
    ) -> bool {
        match change {
            RemoteChange::Registered {
                instance,
                revision,
                seen,
            } => {
                let mut instance = *instance;
                let key = key_of(&instance);
                if revision != 0 {
                    let newer = entries.get(&key).is_some_and(|e| e.revision >= revision)
                        || tombstones.get(&key).is_some_and(|&t| t >= revision);
                    if newer {
                        return false;
                    }
                    tombstones.remove(&key);
                }
                instance.active = false;
                instance.last_heartbeat_ms = 0;
                let last_seen = seen.unwrap_or_else(|| stale_since(self.heartbeat_timeout));
                let mut entry = Entry {
                    instance,
                    last_seen,
                    last_heartbeat_ms: 0,
                    listed_active: false,
                    revision,
                };
                entry.listed_active = self.is_active(&entry, now);
                self.bump(&key.0);
                changed.insert(key.0.clone());
                entries.insert(key, entry);
                true
            }
            RemoteChange::Deregistered {
                obj,
                host,
                port,
                revision,
            } => {
                let key = (obj, host, port);
                if revision != 0 {
                    if entries.get(&key).is_some_and(|e| e.revision > revision) {
                        return false;
                    }
                    let t = tombstones.entry(key.clone()).or_insert(revision);
                    *t = (*t).max(revision);
                }
                let removed = entries.remove(&key).is_some();
                if removed {
                    self.bump(&key.0);
                    changed.insert(key.0);
                }
                removed
            }
            RemoteChange::Alive {
                obj,
                host,
                port,
                load,
                last_heartbeat_ms,
                seen,
            } => {
                let Some(e) = entries.get_mut(&(obj.clone(), host, port)) else {
                    return false;
                };
                let mut bumped = false;
                if last_heartbeat_ms >= e.last_heartbeat_ms {
                    bumped = e.instance.load != load;
                    e.instance.load = load;
                    e.last_heartbeat_ms = last_heartbeat_ms;
                }
                if seen > e.last_seen {
                    e.last_seen = seen;
                }
                let active = self.is_active(e, now);
                if active != e.listed_active {
                    e.listed_active = active;
                    bumped = true;
                }
                if bumped {
                    self.bump(&obj);
                    changed.insert(obj);
                }
                bumped
            }
        }
    }

    /// Applies changes made elsewhere, in the order the backend committed them (a change
    /// older than what is listed is ignored); the objects that changed get new versions and
    /// the listeners hear of them. Every revision up to the highest one in `changes` is
    /// taken as delivered: tombstones up to it are dropped.
    pub fn apply(&self, changes: Vec<RemoteChange>) {
        if changes.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut changed = BTreeSet::new();
        {
            let mut entries = self.entries.write();
            let mut feed = self.feed.lock();
            let mut delivered = feed.delivered;
            for change in changes {
                delivered = delivered.max(change.revision());
                self.apply_one(
                    &mut entries,
                    &mut feed.tombstones,
                    change,
                    now,
                    &mut changed,
                );
            }
            feed.delivered = delivered;
            feed.tombstones.retain(|_, t| *t > delivered);
        }
        self.notify(&changed.into_iter().collect::<Vec<_>>());
    }

    /// Replaces the registrations with a consistent snapshot of the backend taken at
    /// `revision` (`snapshot`: its registrations, then liveness evidence): instances missing
    /// from it are removed unless registered here after `revision`. Used at start and when
    /// the backend's feed had to start over.
    pub fn reset(&self, snapshot: Vec<RemoteChange>, revision: i64) {
        let now = Instant::now();
        let mut changed = BTreeSet::new();
        {
            let mut entries = self.entries.write();
            let mut feed = self.feed.lock();
            let present: BTreeSet<Key> = snapshot
                .iter()
                .filter_map(|c| match c {
                    RemoteChange::Registered { instance, .. } => Some(key_of(instance)),
                    _ => None,
                })
                .collect();
            let gone: Vec<Key> = entries
                .iter()
                .filter(|(k, e)| e.revision <= revision && !present.contains(*k))
                .map(|(k, _)| k.clone())
                .collect();
            for key in gone {
                entries.remove(&key);
                self.bump(&key.0);
                changed.insert(key.0);
            }
            feed.delivered = feed.delivered.max(revision);
            feed.tombstones.retain(|_, t| *t > revision);
            for change in snapshot {
                self.apply_one(
                    &mut entries,
                    &mut feed.tombstones,
                    change,
                    now,
                    &mut changed,
                );
            }
        }
        self.notify(&changed.into_iter().collect::<Vec<_>>());
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
        self.check_limits(&instances)?;
        let revision = self.store.put_all(&instances)?;
        let now = Instant::now();
        let mut changed = BTreeSet::new();
        {
            let mut entries = self.entries.write();
            let mut feed = self.feed.lock();
            // Listed at once (read your writes) — unless the feed has delivered the write
            // already, and maybe newer changes of the same instances.
            let delivered = revision != 0 && revision <= feed.delivered;
            for instance in instances.into_iter().filter(|_| !delivered) {
                // A (re-)registration carries the instance's current load: it replaces the
                // previous one.
                let change = RemoteChange::Registered {
                    instance: Box::new(instance),
                    revision,
                    seen: Some(now),
                };
                self.apply_one(
                    &mut entries,
                    &mut feed.tombstones,
                    change,
                    now,
                    &mut changed,
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
        let obj_name = TarsString::from(obj);
        let at_ms = now_ms();
        let (changed, revived) = {
            let mut entries = self.entries.write();
            let Some(e) = entries.get_mut(&(obj_name.clone(), TarsString::from(host), port)) else {
                return HeartbeatOutcome::Unknown;
            };
            let revived = !e.listed_active;
            let changed = e.instance.load != load || revived;
            e.instance.load = load.clone();
            e.last_seen = Instant::now();
            e.last_heartbeat_ms = at_ms;
            e.listed_active = true;
            if changed {
                self.bump(&obj_name);
            }
            (changed, revived)
        };
        if changed {
            self.notify(std::slice::from_ref(&obj_name));
        }
        self.store.heartbeat(&HeartbeatRecord {
            obj,
            host,
            port,
            load: &load,
            at_ms,
            revived,
        });
        HeartbeatOutcome::Recorded
    }

    /// Removes an instance durably; whether it was registered.
    pub fn deregister(&self, obj: &str, host: &str, port: i32) -> Result<bool, StoreError> {
        let order = self.write_order.lock();
        let (existed, revision) = self.store.remove(obj, host, port)?;
        let mut changed = BTreeSet::new();
        let removed = {
            let mut entries = self.entries.write();
            let mut feed = self.feed.lock();
            if revision != 0 && revision <= feed.delivered {
                false // the feed delivered it already
            } else {
                let change = RemoteChange::Deregistered {
                    obj: obj.into(),
                    host: host.into(),
                    port,
                    revision,
                };
                self.apply_one(
                    &mut entries,
                    &mut feed.tombstones,
                    change,
                    Instant::now(),
                    &mut changed,
                )
            }
        };
        drop(order);
        self.notify(&changed.into_iter().collect::<Vec<_>>());
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
