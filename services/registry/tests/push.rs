//! Registry changes reaching clients (127.0.0.1): the `watch` long poll pushes a heartbeat's
//! change to a registry-locator client within one heartbeat interval plus 1 s although its
//! refresh interval is 60 s; a registry without `watch` keeps the periodic refresh; the
//! registry bounds the calls it holds; versions move with every change.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tars::client::policy::{HealthAtLeast, RoundRobin};
use tars::client::{CallError, CallOptions, Communicator, Policy, ServantProxy};
use tars::packet::{ParamReader, ParamWriter};
use tars::protocol::tarsrs::{DynamicMeta, HealthStatus, Instance, RegistryServant};
use tars::registration::RegistrationConfig;
use tars::server::{Current, Dispatch, DispatchError, Server, ServerConfig};
use tars::TarsString;
use tars_registry::{RegistryServantImpl, WATCH_BUSY};
use tars_test_support::{
    instance, one_servant, serve_adapter, serve_one, wait_until, TestRegistry, Who,
};

const OBJ: &str = "Test.Push.WhoObj";
const HEARTBEAT: Duration = Duration::from_millis(500);

fn who(p: &ServantProxy) -> Result<String, CallError> {
    tars_test_support::servants::who(p, &CallOptions::new())
}

fn answered(p: &ServantProxy, n: usize) -> BTreeSet<String> {
    (0..n).map(|_| who(p).expect("call")).collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A `Who` server named `name` registering itself with `registry`, heartbeating every
/// [`HEARTBEAT`] with the health in `health` (a `HealthStatus` value).
fn registered_server(registry: &TestRegistry, name: &str, health: Arc<AtomicI32>) -> Server {
    let registration = RegistrationConfig::new(registry.registry_obj())
        .with_heartbeat_interval(HEARTBEAT)
        .with_reporter(move |_obj: &str, load: &mut DynamicMeta| {
            load.health = HealthStatus::from(health.load(Ordering::SeqCst));
        });
    let config = ServerConfig {
        announcer: Some(registration.into()),
        ..ServerConfig::default()
    };
    serve_adapter(
        0,
        one_servant(OBJ, Arc::new(Who::new(name))),
        config,
        |_| {},
    )
    .0
}

/// Waits until `n` calls all land in `want`; how long it took from `since`.
fn steered(p: &ServantProxy, want: &[&str], since: Instant) -> Duration {
    wait_until(
        &format!("calls to reach only {want:?}"),
        Duration::from_secs(10),
        || answered(p, 6) == names(want),
    );
    since.elapsed()
}

#[test]
fn a_heartbeat_change_steers_calls_within_a_heartbeat_and_a_second() {
    let registry = TestRegistry::start();
    let health_a = Arc::new(AtomicI32::new(i32::from(HealthStatus::HEALTHY)));
    let health_b = Arc::new(AtomicI32::new(i32::from(HealthStatus::HEALTHY)));
    let _a = registered_server(&registry, "a", health_a.clone());
    let _b = registered_server(&registry, "b", health_b);
    wait_until("both servers registered", Duration::from_secs(10), || {
        registry
            .service()
            .registry()
            .list(&Default::default())
            .len()
            == 2
    });

    // The default refresh interval (60 s): only a push can be this fast.
    let comm = Communicator::new()
        .with_policy(Policy::new(RoundRobin::new()).filter(HealthAtLeast(HealthStatus::DEGRADED)))
        .with_registry_locator(&registry.registry_obj())
        .expect("locator");
    assert_eq!(comm.refresh_interval(), Duration::from_secs(60));
    let p = comm.string_to_proxy(OBJ).expect("proxy");
    assert_eq!(answered(&p, 6), names(&["a", "b"]));
    // Let the client's watch call be held by the registry before the change.
    wait_until("the client to watch", Duration::from_secs(10), || {
        registry.service().watch_hub().held() == 1
    });

    let limit = HEARTBEAT + Duration::from_secs(1);
    let t0 = Instant::now();
    health_a.store(i32::from(HealthStatus::UNHEALTHY), Ordering::SeqCst);
    let took = steered(&p, &["b"], t0);
    assert!(
        took <= limit,
        "a became UNHEALTHY; calls moved after {took:?}"
    );

    let t1 = Instant::now();
    health_a.store(i32::from(HealthStatus::HEALTHY), Ordering::SeqCst);
    let took = steered(&p, &["a", "b"], t1);
    assert!(
        took <= limit,
        "a became HEALTHY again; calls moved after {took:?}"
    );
}

/// The Registry servant of a registry from before `watch`: the function is unknown.
struct OldRegistry(RegistryServant<RegistryServantImpl>);

impl Dispatch for OldRegistry {
    fn functions(&self) -> &'static [&'static str] {
        &["deregister", "heartbeat", "list", "registerInstance"]
    }

    fn dispatch(
        &self,
        current: &mut Current,
        params: &mut ParamReader<'_>,
        out: &mut ParamWriter,
    ) -> Result<(), DispatchError> {
        if current.func_name() == "watch" {
            return Err(DispatchError::NoFunc("watch".into()));
        }
        self.0.dispatch(current, params, out)
    }
}

#[test]
fn a_registry_without_watch_keeps_the_periodic_refresh() {
    let registry = TestRegistry::start();
    // The same registry state, served by a servant without `watch`.
    let old = OldRegistry(RegistryServant::new(RegistryServantImpl::new(
        registry.service().registry().clone(),
    )));
    let (_old_server, old_port) = serve_one(tars_registry::REGISTRY_OBJ, Arc::new(old));
    let (_a, port_a) = serve_one(OBJ, Arc::new(Who::new("a")));
    let (_b, port_b) = serve_one(OBJ, Arc::new(Who::new("b")));
    let proxy = registry.registry_proxy();
    let add = |port: u16| {
        let instance = instance(OBJ, "127.0.0.1", i32::from(port));
        assert_eq!(proxy.register_instance(&instance).expect("register"), 0);
    };
    add(port_a);

    let comm = Communicator::new()
        .with_registry_locator(&format!(
            "{}@tcp -h 127.0.0.1 -p {old_port}",
            tars_registry::REGISTRY_OBJ
        ))
        .expect("locator")
        .with_refresh_interval(Duration::from_millis(200));
    let p = comm.string_to_proxy(OBJ).expect("proxy");
    assert_eq!(answered(&p, 4), names(&["a"]));
    add(port_b);
    wait_until(
        "the periodic refresh to bring b",
        Duration::from_secs(10),
        || answered(&p, 4) == names(&["a", "b"]),
    );
    assert_eq!(registry.service().watch_hub().held(), 0);
}

#[test]
fn the_registry_bounds_held_watches_and_answers_them() {
    let registry = TestRegistry::start_with(|c| c.watch_max_held = 1);
    let proxy = registry.registry_proxy();
    let hub = registry.service().watch_hub().clone();
    let version = registry.service().registry().version(OBJ);
    let known: BTreeMap<TarsString, i64> = [(TarsString::from(OBJ), version)].into();

    // An unknown version is answered at once, with the current one.
    let stale: BTreeMap<TarsString, i64> = [(TarsString::from(OBJ), -1)].into();
    let (ret, changes) = proxy.watch(&stale, 10_000).expect("watch");
    assert_eq!(ret, 0);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].version, version);
    assert!(changes[0].instances.is_empty());

    // The current version is held; a second call finds the registry full.
    let held = proxy
        .with_timeout(Duration::from_secs(15))
        .watch_async(&known, 10_000);
    wait_until("the watch to be held", Duration::from_secs(5), || {
        hub.held() == 1
    });
    let (ret, changes) = proxy.watch(&known, 10_000).expect("second watch");
    assert_eq!((ret, changes.len()), (WATCH_BUSY, 0));

    // A registration answers the held call with the object's new instances.
    let added = instance(OBJ, "127.0.0.1", 18_001);
    assert_eq!(proxy.register_instance(&added).expect("register"), 0);
    let (ret, changes) = tars::client::block_on(held).expect("held watch answered");
    assert_eq!(ret, 0);
    assert_eq!(changes.len(), 1);
    assert_ne!(changes[0].version, version);
    assert_eq!(
        changes[0].version,
        registry.service().registry().version(OBJ)
    );
    assert_eq!(changes[0].instances.len(), 1);
    assert_eq!(hub.held(), 0);

    // Without a change the call ends after its wait, empty.
    let known: BTreeMap<TarsString, i64> = [(TarsString::from(OBJ), changes[0].version)].into();
    let (ret, changes) = proxy.watch(&known, 300).expect("short watch");
    assert_eq!((ret, changes.len()), (0, 0));
}

#[test]
fn versions_move_with_every_change_and_only_then() {
    let registry = TestRegistry::start_with(|c| c.heartbeat_timeout_ms = 1000);
    let r = registry.service().registry();
    assert_eq!(r.version(OBJ), 0);
    r.register(Instance {
        ..instance(OBJ, "127.0.0.1", 18_002)
    })
    .expect("register");
    let v1 = r.version(OBJ);
    assert_ne!(v1, 0);

    let load = DynamicMeta {
        active_transactions: 3,
        ..DynamicMeta::default()
    };
    r.heartbeat(OBJ, "127.0.0.1", 18_002, load.clone());
    let v2 = r.version(OBJ);
    assert!(v2 > v1, "a heartbeat with new load bumps the version");
    r.heartbeat(OBJ, "127.0.0.1", 18_002, load.clone());
    assert_eq!(r.version(OBJ), v2, "the same load again does not");
    let unhealthy = DynamicMeta {
        health: HealthStatus::UNHEALTHY,
        ..load.clone()
    };
    r.heartbeat(OBJ, "127.0.0.1", 18_002, unhealthy.clone());
    let v3 = r.version(OBJ);
    assert!(v3 > v2, "a health change bumps the version");

    // Missed heartbeats: the sweep of the watch hub notices the instance went inactive.
    wait_until(
        "the instance to turn inactive",
        Duration::from_secs(5),
        || r.version(OBJ) > v3,
    );
    let v4 = r.version(OBJ);
    r.heartbeat(OBJ, "127.0.0.1", 18_002, unhealthy);
    let v5 = r.version(OBJ);
    assert!(v5 > v4, "back to active bumps the version");

    assert!(r.deregister(OBJ, "127.0.0.1", 18_002).expect("deregister"));
    assert!(r.version(OBJ) > v5, "deregistration bumps the version");
}
