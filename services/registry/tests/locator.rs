//! Our client resolving names through our registry (127.0.0.1): QueryF and Registry locators,
//! refreshes that move traffic, a failed lookup keeping the known endpoints, periodic refresh,
//! and registry metadata reaching the load-balancing policy.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tars::client::policy::{Environment, RoundRobin};
use tars::client::{CallError, CallOptions, Communicator, Policy, ServantProxy};
use tars::protocol::tarsrs::{Instance, StaticMeta};
use tars::server::Server;
use tars_registry::{QUERY_OBJ, REGISTRY_OBJ};
use tars_test_support::{instance, serve_one, wait_until, TestRegistry, Who};

const OBJ: &str = "Test.Locator.WhoObj";

fn who_server(name: &str) -> (Server, u16) {
    serve_one(OBJ, Arc::new(Who::new(name)))
}

/// Registers `OBJ` at 127.0.0.1:`port` with `environment`.
fn add(registry: &TestRegistry, port: u16, environment: &str) {
    let instance = Instance {
        meta: StaticMeta {
            environment: environment.into(),
            ..StaticMeta::default()
        },
        ..instance(OBJ, "127.0.0.1", i32::from(port))
    };
    let registered = registry.registry_proxy().register_instance(&instance);
    assert_eq!(registered.expect("register"), 0);
}

fn remove(registry: &TestRegistry, port: u16) {
    let deregistered = registry
        .registry_proxy()
        .deregister(OBJ, "127.0.0.1", i32::from(port));
    assert_eq!(deregistered.expect("deregister"), 0);
}

fn who(p: &ServantProxy) -> Result<String, CallError> {
    tars_test_support::servants::who(p, &CallOptions::new())
}

/// Who answered `n` calls.
fn answered(p: &ServantProxy, n: usize) -> BTreeSet<String> {
    (0..n).map(|_| who(p).expect("call")).collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn query_f_locator_resolves_refreshes_and_survives_registry_loss() {
    let mut registry = TestRegistry::start();
    let servers: Vec<(Server, u16)> = ["s0", "s1", "s2", "s3"]
        .iter()
        .map(|n| who_server(n))
        .collect();
    for (_, port) in &servers[..3] {
        add(&registry, *port, "prod");
    }
    let comm = Communicator::new()
        .with_locator(&registry.obj(QUERY_OBJ))
        .expect("locator");
    let p = comm.string_to_proxy(OBJ).expect("proxy by name");
    assert_eq!(answered(&p, 9), names(&["s0", "s1", "s2"]));

    // s1 leaves, s3 joins: after a refresh, traffic follows.
    remove(&registry, servers[1].1);
    add(&registry, servers[3].1, "prod");
    comm.refresh_endpoints().expect("refresh");
    assert_eq!(answered(&p, 9), names(&["s0", "s2", "s3"]));

    // The registry goes away: the lookup fails, the known endpoints stay.
    registry.stop();
    assert!(comm.refresh_endpoints().is_err());
    assert_eq!(answered(&p, 9), names(&["s0", "s2", "s3"]));

    // An object nobody registered: no endpoint.
    let registry = TestRegistry::start();
    let comm = Communicator::new()
        .with_locator(&registry.obj(QUERY_OBJ))
        .expect("locator");
    let nobody = comm.string_to_proxy("Nobody.Server.Obj").expect("proxy");
    assert!(matches!(who(&nobody), Err(CallError::NoEndpoint { .. })));
}

#[test]
fn refresh_runs_periodically() {
    let registry = TestRegistry::start();
    let (_a, port_a) = who_server("a");
    let (_b, port_b) = who_server("b");
    add(&registry, port_a, "prod");
    let comm = Communicator::new()
        .with_refresh_interval(Duration::from_millis(50))
        .with_locator(&registry.obj(QUERY_OBJ))
        .expect("locator");
    let p = comm.string_to_proxy(OBJ).expect("proxy");
    assert_eq!(answered(&p, 4), names(&["a"]));
    add(&registry, port_b, "prod");
    wait_until(
        "the new endpoint to get calls",
        Duration::from_secs(10),
        || answered(&p, 4) == names(&["a", "b"]),
    );
}

#[test]
fn registry_locator_metadata_reaches_the_policy() {
    let registry = TestRegistry::start();
    let servers: Vec<(Server, u16)> = ["prod-1", "staging-1", "prod-2"]
        .iter()
        .map(|n| who_server(n))
        .collect();
    add(&registry, servers[0].1, "prod");
    add(&registry, servers[1].1, "staging");
    add(&registry, servers[2].1, "prod");
    let comm = Communicator::new()
        .with_policy(Policy::new(RoundRobin::new()).filter(Environment::new("prod")))
        .with_registry_locator(&registry.obj(REGISTRY_OBJ))
        .expect("locator");
    let p = comm.string_to_proxy(OBJ).expect("proxy");
    assert_eq!(answered(&p, 10), names(&["prod-1", "prod-2"]));
    // The QueryF locator has no metadata: the same filter leaves nothing.
    let plain = Communicator::new()
        .with_policy(Policy::new(RoundRobin::new()).filter(Environment::new("prod")))
        .with_locator(&registry.obj(QUERY_OBJ))
        .expect("locator")
        .string_to_proxy(OBJ)
        .expect("proxy");
    assert!(matches!(who(&plain), Err(CallError::NoEndpoint { .. })));
}
