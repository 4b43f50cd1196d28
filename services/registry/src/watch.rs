//! The `watch` long poll of `tars.tarsregistry.RegistryObj`: clients send the version they
//! hold of each object; the registry answers at once with the objects whose version differs,
//! else holds the call (a deferred reply, no thread per call) until one of them changes or
//! the wait ends.
//!
//! [`WatchHub`] keeps the held calls (at most [`WatchConfig::max_held`]; past that, `watch`
//! answers [`WATCH_BUSY`] at once and the client polls later) and runs one thread that
//! notices instances turning inactive ([`Registry::sweep`]) and ends the waits that are due.

use std::collections::BTreeMap;
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tars::server::{Current, Responder};
use tars::TarsString;
use tars_protocols::tarsrs::{InstanceFilter, ObjectInstances, RegistryResponder};

use crate::registry::{ChangeListener, Registry};

/// `watch` answer: the registry holds as many watches as it allows; poll later.
pub const WATCH_BUSY: i32 = 1;

/// Limits of the long poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchConfig {
    /// Calls held at most at once.
    pub max_held: usize,
    /// The longest a call is held (a longer `waitMs` is cut to this).
    pub max_wait: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            max_held: 10_000,
            max_wait: Duration::from_secs(20),
        }
    }
}

/// One held `watch` call.
struct Held {
    known: BTreeMap<TarsString, i64>,
    deadline: Instant,
    responder: Responder,
}

/// The held `watch` calls of one registry.
pub struct WatchHub {
    registry: Arc<Registry>,
    config: WatchConfig,
    held: Mutex<Vec<Held>>,
    /// Dropped with the hub: ends its thread.
    _alive: Sender<()>,
}

impl std::fmt::Debug for WatchHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchHub")
            .field("config", &self.config)
            .field("held", &self.held.lock().len())
            .finish()
    }
}

impl WatchHub {
    /// A hub over `registry`, with its thread (sweeping liveness and ending due waits, a few
    /// times per heartbeat timeout); the thread ends when the hub is dropped.
    pub fn start(registry: Arc<Registry>, config: WatchConfig) -> Arc<WatchHub> {
        let (alive, dropped) = channel::<()>();
        let hub = Arc::new(WatchHub {
            registry: registry.clone(),
            config,
            held: Mutex::new(Vec::new()),
            _alive: alive,
        });
        let listener: Weak<dyn ChangeListener> = Arc::downgrade(&hub) as Weak<dyn ChangeListener>;
        registry.add_listener(listener);
        let tick = (registry.heartbeat_timeout() / 4)
            .clamp(Duration::from_millis(10), Duration::from_millis(250));
        let weak = Arc::downgrade(&hub);
        let started = std::thread::Builder::new()
            .name("tars-registry-watch".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = dropped.recv_timeout(tick) {
                    let Some(hub) = weak.upgrade() else { return };
                    hub.tick();
                }
            });
        if let Err(e) = started {
            tracing::error!(error = %e, "cannot start the registry watch thread");
        }
        hub
    }

    /// The limits.
    pub fn config(&self) -> WatchConfig {
        self.config
    }

    /// How many calls are held now.
    pub fn held(&self) -> usize {
        self.held.lock().len()
    }

    /// The objects of `known` whose version differs, with their instances (active and
    /// inactive). The version is read before the instances, so an answer is never older than
    /// the version it carries.
    pub fn changes(&self, known: &BTreeMap<TarsString, i64>) -> Vec<ObjectInstances> {
        known
            .iter()
            .filter_map(|(obj, have)| {
                let version = self.registry.version(obj);
                (version != *have).then(|| ObjectInstances {
                    obj_name: obj.clone(),
                    version,
                    instances: self.registry.list(&InstanceFilter {
                        obj_name: obj.clone(),
                        include_inactive: true,
                        ..InstanceFilter::default()
                    }),
                })
            })
            .collect()
    }

    /// Serves a `watch` call: `(0, changes)` at once when something changed (or the caller
    /// cannot wait), [`WATCH_BUSY`] when too many calls are held, else defers the call and
    /// answers later (the returned value is then ignored).
    pub fn watch(
        &self,
        current: &mut Current,
        known: BTreeMap<TarsString, i64>,
        wait_ms: i32,
    ) -> (i32, Vec<ObjectInstances>) {
        let changes = self.changes(&known);
        if !changes.is_empty() || wait_ms <= 0 || known.is_empty() {
            return (0, changes);
        }
        let wait =
            Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0)).min(self.config.max_wait);
        let mut held = self.held.lock();
        if held.len() >= self.config.max_held {
            tracing::debug!(held = held.len(), "watch refused: too many held calls");
            return (WATCH_BUSY, Vec::new());
        }
        // A change may have landed since the first look; changes notify under `held`.
        let changes = self.changes(&known);
        if !changes.is_empty() {
            return (0, changes);
        }
        let Some(responder) = current.defer() else {
            return (0, Vec::new()); // one-way: nobody waits
        };
        held.push(Held {
            known,
            deadline: Instant::now() + wait,
            responder,
        });
        (0, Vec::new())
    }

    /// Removes and returns the held calls `which` selects (they are answered outside the lock).
    fn take_held(&self, which: impl Fn(&Held) -> bool) -> Vec<Held> {
        let mut held = self.held.lock();
        let (taken, keep) = std::mem::take(&mut *held).into_iter().partition(which);
        *held = keep;
        taken
    }

    /// Ends the waits that are due, after noticing liveness changes.
    fn tick(&self) {
        self.registry.sweep();
        let now = Instant::now();
        for h in self.take_held(|h| h.deadline <= now) {
            RegistryResponder::watch(h.responder, &0, &Vec::new());
        }
    }
}

impl ChangeListener for WatchHub {
    fn changed(&self, objects: &[TarsString]) {
        for h in self.take_held(|h| objects.iter().any(|o| h.known.contains_key(o))) {
            let changes = self.changes(&h.known);
            RegistryResponder::watch(h.responder, &0, &changes);
        }
    }
}
