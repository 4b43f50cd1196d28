//! Our client resolving names through our registry (127.0.0.1): QueryF and Registry locators,
//! refreshes that move traffic, a failed lookup keeping the known endpoints, periodic refresh
//! (whatever the builder order), registry metadata reaching the load-balancing policy, the
//! client SET, the caller's IDC group as the default QueryF lookup, empty answers kept and
//! retried, and lookup failures in the call's error.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tars::client::policy::{Environment, RoundRobin};
use tars::client::{CallError, CallOptions, Communicator, Policy, ServantProxy};
use tars::protocol::tarsrs::{Instance, StaticMeta};
use tars::server::Server;
use tars_registry::{GroupRule, QUERY_OBJ, REGISTRY_OBJ};
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

/// Registers `OBJ` at 127.0.0.1:`port` in SET `set` ("" for none) and region `region`.
fn add_in(registry: &TestRegistry, port: u16, set: &str, region: &str) {
    let mut instance = instance(OBJ, "127.0.0.1", i32::from(port));
    instance.endpoint.set_id = set.into();
    instance.meta.region = region.into();
    let registered = registry.registry_proxy().register_instance(&instance);
    assert_eq!(registered.expect("register"), 0);
}

#[test]
fn a_client_set_picks_the_instances_of_its_set_with_either_locator() {
    let registry = TestRegistry::start();
    let servers: Vec<(Server, u16)> = ["none", "sz1", "sz2"]
        .iter()
        .map(|n| who_server(n))
        .collect();
    add_in(&registry, servers[0].1, "", "");
    add_in(&registry, servers[1].1, "app.sz.1", "");
    add_in(&registry, servers[2].1, "app.sz.2", "");
    let query = registry.obj(QUERY_OBJ);
    let reg = registry.obj(REGISTRY_OBJ);
    // (set, QueryF?, expected), the SET given before or after the locator.
    let cases: [(&str, &[&str]); 4] = [
        ("app.sz.1", &["sz1"]),
        ("app.sz.2", &["sz2"]),
        ("app.sz.*", &["sz1", "sz2"]),
        ("app.sh.1", &["none"]), // no instance in that SET: those in no SET
    ];
    for (set, want) in cases {
        let before = Communicator::new()
            .with_set(set)
            .expect("set")
            .with_locator(&query)
            .expect("locator");
        let after = Communicator::new()
            .with_locator(&query)
            .expect("locator")
            .with_set(set)
            .expect("set");
        let registry_locator = Communicator::new()
            .with_registry_locator(&reg)
            .expect("locator")
            .with_set(set)
            .expect("set");
        for (how, comm) in [
            ("before", before),
            ("after", after),
            ("registry", registry_locator),
        ] {
            assert_eq!(comm.set_id(), Some(set));
            let p = comm.string_to_proxy(OBJ).expect("proxy");
            assert_eq!(answered(&p, 6), names(want), "set {set}, {how}");
        }
    }
    // Without a SET: every instance.
    let comm = Communicator::new().with_locator(&query).expect("locator");
    let p = comm.string_to_proxy(OBJ).expect("proxy");
    assert_eq!(answered(&p, 9), names(&["none", "sz1", "sz2"]));
}

#[test]
fn set_ids_must_have_three_parts() {
    for bad in [
        "app.sz",
        "app.sz.1.2",
        "app..1",
        ".sz.1",
        "app.sz.",
        "a pp.sz.1",
        "*.sz.1",
        "",
    ] {
        let refused = Communicator::new().with_set(bad);
        assert!(
            matches!(refused, Err(tars::client::ProxyError::InvalidSet(_))),
            "{bad:?} accepted"
        );
    }
    for good in ["app.sz.1", "app.sz.*", "Demo.sh.group2"] {
        assert!(
            Communicator::new().with_set(good).is_ok(),
            "{good:?} refused"
        );
    }
}

#[test]
fn the_query_f_locator_looks_up_the_callers_group_by_default() {
    // 127.0.0.1 is in group "sz".
    let registry = TestRegistry::start_with(|c| {
        c.groups = vec![GroupRule {
            group: "sz".into(),
            ip_prefixes: vec!["127.0.0.".into()],
        }]
    });
    let servers: Vec<(Server, u16)> = ["sz", "sh"].iter().map(|n| who_server(n)).collect();
    add_in(&registry, servers[0].1, "", "sz");
    add_in(&registry, servers[1].1, "", "sh");
    let comm = Communicator::new()
        .with_locator(&registry.obj(QUERY_OBJ))
        .expect("locator");
    let p = comm.string_to_proxy(OBJ).expect("proxy");
    assert_eq!(answered(&p, 6), names(&["sz"]));

    // A group with no instance: every instance (the registry's fallback).
    let registry = TestRegistry::start_with(|c| {
        c.groups = vec![GroupRule {
            group: "bj".into(),
            ip_prefixes: vec!["127.0.0.".into()],
        }]
    });
    add_in(&registry, servers[0].1, "", "sz");
    add_in(&registry, servers[1].1, "", "sh");
    let comm = Communicator::new()
        .with_locator(&registry.obj(QUERY_OBJ))
        .expect("locator");
    let p = comm.string_to_proxy(OBJ).expect("proxy");
    assert_eq!(answered(&p, 6), names(&["sz", "sh"]));
}

#[test]
fn an_empty_answer_keeps_the_endpoints_and_is_retried_in_two_seconds() {
    let registry = TestRegistry::start();
    let (_a, port_a) = who_server("a");
    let (_b, port_b) = who_server("b");
    add(&registry, port_a, "prod");
    // QueryF (no push), default 60 s refresh: only the 2 s retry can bring b.
    let comm = Communicator::new()
        .with_locator(&registry.obj(QUERY_OBJ))
        .expect("locator");
    let p = comm.string_to_proxy(OBJ).expect("proxy");
    assert_eq!(answered(&p, 4), names(&["a"]));

    remove(&registry, port_a);
    comm.refresh_endpoints()
        .expect("an empty answer is not an error");
    assert_eq!(answered(&p, 4), names(&["a"]), "the known endpoint stays");

    add(&registry, port_b, "prod");
    let t0 = std::time::Instant::now();
    wait_until("the retry to bring b", Duration::from_secs(10), || {
        answered(&p, 4) == names(&["b"])
    });
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "b came after {:?}, not from the 2 s retry",
        t0.elapsed()
    );
}

#[test]
fn a_failed_lookup_is_in_the_calls_error() {
    let registry = TestRegistry::start();
    let comm = Communicator::new()
        .with_locator(&registry.obj(QUERY_OBJ))
        .expect("locator");
    let nobody = comm.string_to_proxy("Nobody.Server.Obj").expect("proxy");
    let err = who(&nobody).expect_err("nobody is registered");
    match &err {
        CallError::NoEndpoint { object, cause } => {
            assert_eq!(object, "Nobody.Server.Obj");
            assert!(cause
                .as_deref()
                .is_some_and(|c| c.contains("no active instance")));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err
        .to_string()
        .starts_with("no endpoint for Nobody.Server.Obj (locator: "));

    // The registry is unreachable: the transport failure is the cause.
    let mut registry = registry;
    let query = registry.obj(QUERY_OBJ);
    registry.stop();
    let comm = Communicator::new().with_locator(&query).expect("locator");
    let p = comm.string_to_proxy(OBJ).expect("proxy");
    let err = who(&p).expect_err("no registry");
    let text = err.to_string();
    assert!(
        matches!(&err, CallError::NoEndpoint { cause: Some(_), .. }),
        "{err:?}"
    );
    assert!(text.contains("(locator: transport error"), "{text}");

    // A proxy string without locator: no cause.
    let (_s, port) = who_server("s");
    let direct = Communicator::new()
        .with_policy(Policy::new(RoundRobin::new()).filter(Environment::new("prod")))
        .string_to_proxy(&format!("{OBJ}@tcp -h 127.0.0.1 -p {port}"))
        .expect("proxy");
    assert!(matches!(
        who(&direct),
        Err(CallError::NoEndpoint { cause: None, .. })
    ));
}

#[test]
fn the_refresh_interval_counts_when_set_after_the_locator() {
    let registry = TestRegistry::start();
    let (_a, port_a) = who_server("a");
    let (_b, port_b) = who_server("b");
    add(&registry, port_a, "prod");
    let comm = Communicator::new()
        .with_locator(&registry.obj(QUERY_OBJ))
        .expect("locator")
        .with_refresh_interval(Duration::from_millis(50));
    assert_eq!(comm.refresh_interval(), Duration::from_millis(50));
    let p = comm.string_to_proxy(OBJ).expect("proxy");
    assert_eq!(answered(&p, 4), names(&["a"]));
    add(&registry, port_b, "prod");
    wait_until(
        "the new endpoint to get calls",
        Duration::from_secs(10),
        || answered(&p, 4) == names(&["a", "b"]),
    );
}
