//! Resolving object names through a registry, and keeping the endpoints fresh.
//!
//! A [`Locator`] turns an object name into its active instances. Built in:
//! [`QueryFLocator`] (any Tars registry: `tars.tarsregistry.QueryObj`, endpoints only; by
//! default `findObjectByIdInSameGroup`, `findObjectByIdInSameSet` for a client in a SET) and
//! [`RegistryLocator`] (the tars-rs registry's `tars.tarsregistry.RegistryObj`: endpoints
//! with their static and dynamic metadata, for metadata-aware policies, and changes pushed
//! to the client through `watch`).
//!
//! A [`Communicator`](super::Communicator) with a locator resolves proxies created from a bare
//! object name once when they are created, then keeps all of them fresh:
//!
//! - every `refresh_interval`, one background thread looks every object up again;
//! - when the locator can push changes ([`Locator::watch`], the tars-rs registry), a second
//!   thread keeps one long-poll call open for all the objects of the communicator and applies
//!   each change as soon as the registry reports it. A locator without it (QueryF, or a
//!   registry that does not know the operation) keeps the periodic refresh only.
//!
//! A failed lookup keeps the endpoints known before. So does an empty answer (TarsCpp's
//! `QueryEpBase`: one registry glitch must not take every call down); both are retried after
//! [`LOOKUP_RETRY`]. The failure is remembered by the proxy, so a call that finds no endpoint
//! says why ([`CallError::NoEndpoint`]'s `cause`).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::balance::{instance_of, Balancer};
use super::error::CallError;
use super::policy::set_matches;
use super::proxy::ServantProxy;
use crate::packet::RetCode;
use crate::protocol::tars::{EndpointF, QueryFProxy};
use crate::protocol::tarsrs::{Instance, InstanceFilter, RegistryProxy};
use crate::TarsString;

/// How soon a lookup that failed or found no active instance is tried again (TarsCpp's
/// `QueryEpBase` retries an empty answer after 2 s).
pub const LOOKUP_RETRY: Duration = Duration::from_secs(2);

/// How long a registry may hold one `watch` call before answering "no change".
pub const WATCH_WAIT: Duration = Duration::from_secs(20);

/// How much longer than [`WATCH_WAIT`] the client waits for the answer of a `watch` call.
const WATCH_MARGIN: Duration = Duration::from_secs(5);

/// The registry's `watch` answer when it holds as many watches as it allows.
pub const WATCH_BUSY: i32 = 1;

/// The instances of one object pushed by [`Locator::watch`].
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectUpdate {
    /// The object.
    pub object: String,
    /// Its version in the registry (given back to the next `watch`).
    pub version: i64,
    /// Its active instances, selected as [`Locator::locate`] selects them.
    pub instances: Vec<Instance>,
}

/// Why a [`Locator::watch`] gave no update.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WatchError {
    /// The locator (or the registry behind it) cannot push changes: refresh periodically.
    #[error("the locator cannot push changes")]
    Unsupported,
    /// The registry holds as many watches as it allows: try again later.
    #[error("the registry holds as many watches as it allows")]
    Busy,
    /// The call failed.
    #[error(transparent)]
    Call(#[from] CallError),
}

/// What [`Locator::watch`] returns: resolves with the objects that changed (none when the
/// wait ended without a change).
pub type WatchFuture = Pin<Box<dyn Future<Output = Result<Vec<ObjectUpdate>, WatchError>> + Send>>;

/// Resolves object names to their active instances.
pub trait Locator: Send + Sync + 'static {
    /// The active instances of `object` (blocking; called at proxy creation and from the
    /// refresh thread).
    fn locate(&self, object: &str) -> Result<Vec<Instance>, CallError>;

    /// Waits for a change of the objects in `known` (object → the version the caller holds,
    /// -1 for none): resolves at once with the objects whose version differs, else when one
    /// changes, else after about `wait` with no update. The default cannot push changes
    /// ([`WatchError::Unsupported`]): such locators are refreshed periodically only.
    fn watch(&self, known: &BTreeMap<String, i64>, wait: Duration) -> WatchFuture {
        let _ = (known, wait);
        Box::pin(std::future::ready(Err(WatchError::Unsupported)))
    }
}

/// Which QueryF operation a [`QueryFLocator`] looks objects up with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum QueryLookup {
    /// `findObjectByIdInSameGroup`: the instances of the caller's IDC group, or all of them
    /// when the group has none (TarsCpp's default).
    #[default]
    SameGroup,
    /// `findObjectByIdInSameSet(id, set)`: the instances of the SET `app.area.group` (a
    /// group of `*` matches the whole area), or those in no SET when the SET has none.
    SameSet(String),
    /// `findObjectById4Any`: every instance.
    Any,
}

/// Resolution through the framework's QueryF: endpoints with default metadata (their weight
/// from the registry's EndpointF).
#[derive(Debug, Clone)]
pub struct QueryFLocator {
    query: QueryFProxy,
    lookup: QueryLookup,
}

impl QueryFLocator {
    /// A locator calling `query` (`tars.tarsregistry.QueryObj@...`) with
    /// `findObjectByIdInSameGroup`.
    pub fn new(query: ServantProxy) -> QueryFLocator {
        QueryFLocator {
            query: QueryFProxy::new(query),
            lookup: QueryLookup::default(),
        }
    }

    /// The same locator looking objects up with `lookup`.
    pub fn with_lookup(mut self, lookup: QueryLookup) -> QueryFLocator {
        self.lookup = lookup;
        self
    }

    /// The operation lookups use.
    pub fn lookup(&self) -> &QueryLookup {
        &self.lookup
    }
}

impl Locator for QueryFLocator {
    fn locate(&self, object: &str) -> Result<Vec<Instance>, CallError> {
        let (op, answer) = match &self.lookup {
            QueryLookup::SameGroup => (
                "findObjectByIdInSameGroup",
                self.query.find_object_by_id_in_same_group(object),
            ),
            QueryLookup::SameSet(set) => (
                "findObjectByIdInSameSet",
                self.query.find_object_by_id_in_same_set(object, set),
            ),
            QueryLookup::Any => (
                "findObjectById4Any",
                self.query.find_object_by_id4_any(object),
            ),
        };
        let (ret, active, _inactive) = answer?;
        if ret != 0 {
            return Err(CallError::Server {
                code: ret,
                desc: format!("{op}({object}) returned {ret}"),
            });
        }
        // UDP endpoints (istcp = 0) are called over UDP.
        Ok(active
            .into_iter()
            .map(|e: EndpointF| {
                // A registry that publishes no weight (0) means the default.
                let weight = if e.weight > 0 { e.weight } else { 100 };
                instance_of(object, weight, e)
            })
            .collect())
    }
}

/// Resolution through the tars-rs registry (`list`): active instances with their metadata;
/// changes are pushed through `watch` when the registry has it.
#[derive(Debug, Clone)]
pub struct RegistryLocator {
    registry: RegistryProxy,
    set: Option<String>,
}

impl RegistryLocator {
    /// A locator calling `registry` (`tars.tarsregistry.RegistryObj@...`).
    pub fn new(registry: ServantProxy) -> RegistryLocator {
        RegistryLocator {
            registry: RegistryProxy::new(registry),
            set: None,
        }
    }

    /// The same locator for a client in SET `set` (`app.area.group`, group `*` for the whole
    /// area): only the instances of that SET, or those in no SET when the SET has none (the
    /// registry's `findObjectByIdInSameSet` rule).
    pub fn with_set(mut self, set: impl Into<String>) -> RegistryLocator {
        self.set = Some(set.into());
        self
    }

    /// The client's SET, if any.
    pub fn set(&self) -> Option<&str> {
        self.set.as_deref()
    }
}

/// The active instances a client in `set` calls, among `instances` (active and inactive):
/// with a SET, those whose SET matches, or those in no SET when none (active or not) matches.
pub fn select_instances(set: Option<&str>, instances: Vec<Instance>) -> Vec<Instance> {
    let in_set = |i: &Instance, set: &str| set_matches(set, &i.endpoint.set_id);
    let keep: Box<dyn Fn(&Instance) -> bool> = match set {
        Some(set) if instances.iter().any(|i| in_set(i, set)) => Box::new(move |i| in_set(i, set)),
        Some(_) => Box::new(|i| i.endpoint.set_id.is_empty()),
        None => Box::new(|_| true),
    };
    instances
        .into_iter()
        .filter(|i| i.active && keep(i))
        .collect()
}

impl Locator for RegistryLocator {
    fn locate(&self, object: &str) -> Result<Vec<Instance>, CallError> {
        // Inactive instances too: the SET fallback looks at every registered instance.
        let filter = InstanceFilter {
            obj_name: object.into(),
            include_inactive: true,
            ..InstanceFilter::default()
        };
        let (ret, instances) = self.registry.list(&filter)?;
        if ret != 0 {
            return Err(CallError::Server {
                code: ret,
                desc: format!("list({object}) returned {ret}"),
            });
        }
        Ok(select_instances(self.set.as_deref(), instances))
    }

    fn watch(&self, known: &BTreeMap<String, i64>, wait: Duration) -> WatchFuture {
        let known: BTreeMap<TarsString, i64> = known
            .iter()
            .map(|(o, v)| (TarsString::from(o.as_str()), *v))
            .collect();
        let wait_ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
        let call = self
            .registry
            .with_timeout(wait + WATCH_MARGIN)
            .watch_async(&known, wait_ms);
        let set = self.set.clone();
        Box::pin(async move {
            let (ret, changes) = match call.await {
                Ok(answer) => answer,
                Err(CallError::Server { code, .. }) if code == RetCode::NoFunc.code() => {
                    return Err(WatchError::Unsupported)
                }
                Err(e) => return Err(WatchError::Call(e)),
            };
            match ret {
                0 => Ok(changes
                    .into_iter()
                    .map(|c| ObjectUpdate {
                        object: c.obj_name.to_string(),
                        version: c.version,
                        instances: select_instances(set.as_deref(), c.instances),
                    })
                    .collect()),
                WATCH_BUSY => Err(WatchError::Busy),
                other => Err(WatchError::Call(CallError::Server {
                    code: other,
                    desc: format!("watch returned {other}"),
                })),
            }
        })
    }
}

/// Whether a lookup must be tried again soon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    Updated,
    RetrySoon,
}

/// Applies the answer of a lookup of `balancer`'s object: a non-empty list replaces the
/// endpoints; an empty list or a failure keeps them and is recorded as the lookup error.
fn apply(balancer: &Balancer, answer: Result<Vec<Instance>, CallError>) -> Applied {
    match answer {
        Ok(instances) if !instances.is_empty() => {
            balancer.update(instances);
            balancer.set_lookup_error(None);
            Applied::Updated
        }
        Ok(_) => {
            tracing::warn!(object = %balancer.object(),
                "the registry lists no active instance; keeping the known endpoints");
            balancer.set_lookup_error(Some(format!(
                "the registry lists no active instance of {}",
                balancer.object()
            )));
            Applied::RetrySoon
        }
        Err(e) => {
            tracing::warn!(object = %balancer.object(), error = %e,
                "locator lookup failed; keeping the known endpoints");
            balancer.set_lookup_error(Some(e.to_string()));
            Applied::RetrySoon
        }
    }
}

/// One proxy kept fresh.
struct Entry {
    balancer: Weak<Balancer>,
    /// When its object must be looked up again (after a failure or an empty answer).
    retry_at: Option<Instant>,
}

struct State {
    entries: Vec<Entry>,
    stop: bool,
    /// Bumped when an object is added: the watch call in flight does not cover it.
    generation: u64,
    /// Wakes the watch thread's call when `stop` or `generation` change.
    waker: Option<Waker>,
}

impl State {
    /// The live proxies, grouped by object (dropping the dead ones).
    fn live(&mut self) -> BTreeMap<String, Vec<Arc<Balancer>>> {
        self.entries.retain(|e| e.balancer.strong_count() > 0);
        let mut by_object: BTreeMap<String, Vec<Arc<Balancer>>> = BTreeMap::new();
        for b in self.entries.iter().filter_map(|e| e.balancer.upgrade()) {
            by_object.entry(b.object().to_owned()).or_default().push(b);
        }
        by_object
    }

    fn retry_soon(&mut self, balancer: &Arc<Balancer>, at: Instant) {
        let ptr = Arc::as_ptr(balancer);
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| std::ptr::eq(e.balancer.as_ptr(), ptr))
        {
            e.retry_at = Some(at);
        }
    }
}

/// What the communicator and its two threads share.
struct Shared {
    locator: Arc<dyn Locator>,
    interval: Duration,
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    /// Wakes both threads (after a change of `state`).
    fn notify(&self, state: &mut State) {
        if let Some(w) = state.waker.take() {
            w.wake();
        }
        self.changed.notify_all();
    }

    /// Sleeps up to `limit` or until stopped; whether stopped.
    fn sleep(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut state = self.state.lock();
        while !state.stop && Instant::now() < deadline {
            self.changed.wait_until(&mut state, deadline);
        }
        state.stop
    }

    /// Applies `answer` to the proxies of one object, scheduling a retry when needed.
    fn apply_all(&self, balancers: &[Arc<Balancer>], answer: Result<Vec<Instance>, CallError>) {
        let retry: Vec<&Arc<Balancer>> = balancers
            .iter()
            .filter(|b| apply(b, answer.clone()) == Applied::RetrySoon)
            .collect();
        if !retry.is_empty() {
            let at = Instant::now() + LOOKUP_RETRY;
            let mut state = self.state.lock();
            for b in retry {
                state.retry_soon(b, at);
            }
            self.notify(&mut state);
        }
    }
}

/// Resolves when the watch thread must stop or restart its call.
struct Interrupted<'a> {
    shared: &'a Shared,
    generation: u64,
}

impl Future for Interrupted<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.shared.state.lock();
        if state.stop || state.generation != self.generation {
            return Poll::Ready(());
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// The proxies of one communicator that came from its locator, and the threads keeping them
/// fresh (periodic refresh, and watch when the locator pushes changes). The threads end when
/// the communicator (all its clones) is dropped.
pub(crate) struct Refresher {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Refresher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refresher")
            .field("interval", &self.shared.interval)
            .finish_non_exhaustive()
    }
}

impl Refresher {
    pub fn new(locator: Arc<dyn Locator>, interval: Duration) -> Refresher {
        Refresher {
            shared: Arc::new(Shared {
                locator,
                interval: interval.max(Duration::from_millis(10)),
                state: Mutex::new(State {
                    entries: Vec::new(),
                    stop: false,
                    generation: 0,
                    waker: None,
                }),
                changed: Condvar::new(),
            }),
            threads: Mutex::new(Vec::new()),
        }
    }

    /// Resolves a new proxy's object now (keeping what [`apply`] keeps), then keeps it fresh
    /// (starting the threads on first use).
    pub fn add(&self, balancer: &Arc<Balancer>) {
        let answer = self.shared.locator.locate(balancer.object());
        let retry = apply(balancer, answer) == Applied::RetrySoon;
        {
            let mut state = self.shared.state.lock();
            let new_object = !state
                .entries
                .iter()
                .filter_map(|e| e.balancer.upgrade())
                .any(|b| b.object() == balancer.object());
            state.entries.push(Entry {
                balancer: Arc::downgrade(balancer),
                retry_at: retry.then(|| Instant::now() + LOOKUP_RETRY),
            });
            if new_object {
                state.generation += 1;
            }
            self.shared.notify(&mut state);
        }
        let mut threads = self.threads.lock();
        if !threads.is_empty() {
            return;
        }
        let refresh = self.shared.clone();
        let watch = self.shared.clone();
        for (name, body) in [
            (
                "tars-locator",
                Box::new(move || run_refresh(&refresh)) as Box<dyn FnOnce() + Send>,
            ),
            ("tars-locator-watch", Box::new(move || run_watch(&watch))),
        ] {
            match std::thread::Builder::new().name(name.into()).spawn(body) {
                Ok(handle) => threads.push(handle),
                Err(e) => {
                    tracing::error!(error = %e, thread = name, "cannot start a locator thread")
                }
            }
        }
    }

    /// Looks every object up now; the first error, if any.
    pub fn refresh_all(&self) -> Result<(), CallError> {
        let objects = self.shared.state.lock().live();
        let mut first = Ok(());
        for (object, balancers) in objects {
            let answer = self.shared.locator.locate(&object);
            if let (Err(e), true) = (&answer, first.is_ok()) {
                first = Err(e.clone());
            }
            self.shared.apply_all(&balancers, answer);
        }
        first
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        {
            let mut state = self.shared.state.lock();
            state.stop = true;
            self.shared.notify(&mut state);
        }
        for handle in self.threads.lock().drain(..) {
            let _ = handle.join();
        }
    }
}

/// The periodic refresh of every object, and the quick retries of failed or empty lookups.
fn run_refresh(shared: &Shared) {
    let mut next_full = Instant::now() + shared.interval;
    loop {
        let now = Instant::now();
        let due = {
            let mut state = shared.state.lock();
            if state.stop {
                return;
            }
            let full = now >= next_full;
            let next_retry = state.entries.iter().filter_map(|e| e.retry_at).min();
            if !full && next_retry.is_none_or(|at| at > now) {
                let until = next_retry.map_or(next_full, |at| at.min(next_full));
                shared.changed.wait_until(&mut state, until);
                continue;
            }
            let mut due: BTreeSet<String> = BTreeSet::new();
            for e in &mut state.entries {
                if full || e.retry_at.is_some_and(|at| at <= now) {
                    e.retry_at = None;
                    if let Some(b) = e.balancer.upgrade() {
                        due.insert(b.object().to_owned());
                    }
                }
            }
            if full {
                next_full = now + shared.interval;
            }
            let mut live = state.live();
            live.retain(|object, _| due.contains(object));
            live
        };
        for (object, balancers) in due {
            shared.apply_all(&balancers, shared.locator.locate(&object));
        }
    }
}

/// The long poll: one `watch` call at a time covering every object, changes applied as they
/// come. Ends when stopped or when the locator cannot push changes.
fn run_watch(shared: &Shared) {
    let mut known: BTreeMap<String, i64> = BTreeMap::new();
    let mut failures: u32 = 0;
    loop {
        let (objects, generation) = {
            let mut state = shared.state.lock();
            if state.stop {
                return;
            }
            (state.live(), state.generation)
        };
        known.retain(|o, _| objects.contains_key(o));
        for o in objects.keys() {
            known.entry(o.clone()).or_insert(-1);
        }
        let call = shared.locator.watch(&known, WATCH_WAIT);
        let interrupted = Interrupted { shared, generation };
        let answer = match futures::executor::block_on(futures::future::select(call, interrupted)) {
            futures::future::Either::Left((answer, _)) => answer,
            futures::future::Either::Right(((), _)) => {
                // Stopped, or new objects: give proxies created together a moment, then
                // watch again with all of them.
                if shared.sleep(Duration::from_millis(20)) {
                    return;
                }
                continue;
            }
        };
        let pause = match answer {
            Ok(updates) => {
                failures = 0;
                if !updates.is_empty() {
                    // The proxies now (some may have been created during the call).
                    let live = shared.state.lock().live();
                    for update in updates {
                        known.insert(update.object.clone(), update.version);
                        if let Some(balancers) = live.get(&update.object) {
                            shared.apply_all(balancers, Ok(update.instances));
                        }
                    }
                }
                continue;
            }
            Err(WatchError::Unsupported) => {
                tracing::info!("the locator does not push changes; refreshing periodically");
                return;
            }
            Err(WatchError::Busy) => {
                tracing::debug!("the registry holds too many watches; watching again later");
                Duration::from_secs(5)
            }
            Err(WatchError::Call(e)) => {
                failures = failures.saturating_add(1);
                tracing::debug!(error = %e, "locator watch failed; watching again later");
                // 0.5 s, 1 s, 2 s, ... at most 10 s.
                Duration::from_millis(500u64 << failures.min(5).saturating_sub(1))
                    .min(Duration::from_secs(10))
            }
        };
        if shared.sleep(pause) {
            return;
        }
    }
}
