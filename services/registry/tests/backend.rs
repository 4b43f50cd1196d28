//! A [`Registry`] over a backend with revisions (what cluster mode uses): writes acknowledged
//! here are listed at once, changes from elsewhere come in through `apply` and `reset`, and a
//! change that arrives late never undoes a newer one.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tars::TarsString;
use tars_protocols::tarsrs::{DynamicMeta, HealthStatus, Instance, InstanceFilter};
use tars_registry::{
    ChangeListener, HeartbeatRecord, RegistrationBackend, Registry, RemoteChange, StoreError,
};
use tars_test_support::instance;

const OBJ: &str = "App.Backend.Obj";

/// Hands out the revisions it is told to, and remembers the heartbeats it heard of.
#[derive(Default)]
struct Fake {
    next: AtomicI64,
    beats: Mutex<Vec<(String, bool)>>,
    refuse: Mutex<bool>,
}

impl Fake {
    fn revision(&self) -> Result<i64, StoreError> {
        if *self.refuse.lock() {
            return Err(StoreError::Unavailable("no majority".into()));
        }
        Ok(self.next.fetch_add(1, Ordering::SeqCst))
    }
}

impl RegistrationBackend for Fake {
    fn load_all(&self) -> Result<Vec<Instance>, StoreError> {
        Ok(Vec::new())
    }
    fn put_all(&self, _: &[Instance]) -> Result<i64, StoreError> {
        self.revision()
    }
    fn remove(&self, _: &str, _: &str, _: i32) -> Result<(bool, i64), StoreError> {
        Ok((true, self.revision()?))
    }
    fn heartbeat(&self, beat: &HeartbeatRecord<'_>) {
        self.beats
            .lock()
            .push((format!("{}:{}", beat.host, beat.port), beat.revived));
    }
}

#[derive(Default)]
struct Count(AtomicUsize);

impl ChangeListener for Count {
    fn changed(&self, _: &[TarsString]) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn open(first_revision: i64, timeout: Duration) -> (Arc<Fake>, Arc<Registry>, Arc<Count>) {
    let fake = Arc::new(Fake::default());
    fake.next.store(first_revision, Ordering::SeqCst);
    let registry = Registry::open_with(fake.clone(), timeout).expect("opens");
    let count = Arc::new(Count::default());
    registry.add_listener(Arc::downgrade(&count) as Weak<dyn ChangeListener>);
    (fake, registry, count)
}

fn listed(r: &Registry) -> Vec<(String, bool)> {
    r.list(&InstanceFilter {
        include_inactive: true,
        ..InstanceFilter::default()
    })
    .into_iter()
    .map(|i| (i.endpoint.host.to_string(), i.active))
    .collect()
}

fn registered(host: &str, revision: i64, seen: Option<Instant>) -> RemoteChange {
    RemoteChange::Registered {
        instance: Box::new(instance(OBJ, host, 1)),
        revision,
        seen,
    }
}

fn deregistered(host: &str, revision: i64) -> RemoteChange {
    RemoteChange::Deregistered {
        obj: OBJ.into(),
        host: host.into(),
        port: 1,
        revision,
    }
}

#[test]
fn a_local_write_is_listed_at_once_and_its_echo_changes_nothing() {
    let (_, r, count) = open(7, Duration::from_secs(30));
    r.register(instance(OBJ, "a", 1)).expect("register");
    assert_eq!(listed(&r), [("a".to_owned(), true)]);
    let version = r.version(OBJ);
    let heard = count.0.load(Ordering::SeqCst);
    r.apply(vec![registered("a", 7, Some(Instant::now()))]);
    assert_eq!(
        r.version(OBJ),
        version,
        "the echo of revision 7 is not a change"
    );
    assert_eq!(count.0.load(Ordering::SeqCst), heard);
}

#[test]
fn a_late_older_change_never_undoes_a_newer_one() {
    let (_, r, _) = open(1, Duration::from_secs(30));
    r.register(instance(OBJ, "a", 1)).expect("register"); // revision 1
    assert!(r.deregister(OBJ, "a", 1).expect("deregister")); // revision 2
                                                             // The feed brings revision 1 after the local deregistration: the instance stays gone.
    r.apply(vec![registered("a", 1, Some(Instant::now()))]);
    assert!(listed(&r).is_empty());
    // The feed reaches revision 2: the tombstone goes; a newer registration is taken.
    r.apply(vec![deregistered("a", 2)]);
    r.apply(vec![registered("a", 3, Some(Instant::now()))]);
    assert_eq!(listed(&r), [("a".to_owned(), true)]);
    // A deregistration older than the listed registration is ignored.
    r.apply(vec![deregistered("a", 2)]);
    assert_eq!(listed(&r).len(), 1);
}

#[test]
fn a_local_write_the_feed_delivered_already_is_not_applied_again() {
    let (_, r, _) = open(9, Duration::from_secs(30));
    // The feed delivered this node's registration (revision 9) and another node's
    // deregistration (revision 10) before the registration's acknowledgement was applied
    // here: the instance is gone in etcd, so it is not listed.
    r.apply(vec![
        registered("a", 9, Some(Instant::now())),
        deregistered("a", 10),
    ]);
    r.register(instance(OBJ, "a", 1)).expect("register");
    assert!(listed(&r).is_empty());
    // Likewise a deregistration the feed passed: a newer registration stays listed.
    r.apply(vec![registered("a", 12, Some(Instant::now()))]);
    assert!(r.deregister(OBJ, "a", 1).expect("deregister")); // revision 10 < 12
    assert_eq!(listed(&r), [("a".to_owned(), true)]);
}

#[test]
fn reset_replaces_the_view_but_keeps_newer_local_writes() {
    let (_, r, count) = open(12, Duration::from_secs(30));
    r.apply(vec![registered("x", 3, Some(Instant::now()))]);
    r.register(instance(OBJ, "y", 1)).expect("register"); // revision 12
    let heard = count.0.load(Ordering::SeqCst);
    // A snapshot at revision 10: x is gone, z is there (liveness unknown: inactive).
    r.reset(vec![registered("z", 5, None)], 10);
    assert_eq!(
        listed(&r),
        [("y".to_owned(), true), ("z".to_owned(), false)]
    );
    assert!(count.0.load(Ordering::SeqCst) > heard);
    // Evidence of heartbeats elsewhere: z is active, with that load.
    let load = DynamicMeta {
        health: HealthStatus::DEGRADED,
        ..DynamicMeta::default()
    };
    r.apply(vec![RemoteChange::Alive {
        obj: OBJ.into(),
        host: "z".into(),
        port: 1,
        load: load.clone(),
        last_heartbeat_ms: 5,
        seen: Instant::now(),
    }]);
    let z = r
        .list(&InstanceFilter {
            obj_name: OBJ.into(),
            ..InstanceFilter::default()
        })
        .into_iter()
        .find(|i| i.endpoint.host == "z")
        .expect("z active");
    assert_eq!((z.load, z.last_heartbeat_ms), (load, 5));
}

#[test]
fn heartbeats_reach_the_backend_and_a_refused_write_changes_nothing() {
    let (fake, r, _) = open(1, Duration::from_millis(40));
    r.register(instance(OBJ, "a", 1)).expect("register");
    r.heartbeat(OBJ, "a", 1, DynamicMeta::default());
    std::thread::sleep(Duration::from_millis(80));
    r.sweep();
    assert_eq!(listed(&r), [("a".to_owned(), false)]);
    r.heartbeat(OBJ, "a", 1, DynamicMeta::default());
    assert_eq!(
        *fake.beats.lock(),
        [("a:1".to_owned(), false), ("a:1".to_owned(), true)]
    );
    *fake.refuse.lock() = true;
    assert!(matches!(
        r.register(instance(OBJ, "b", 1)),
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        r.deregister(OBJ, "a", 1),
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(listed(&r), [("a".to_owned(), true)]);
}
