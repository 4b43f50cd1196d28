//! `Server::run_until_signal` through a child process (`tars-test-server`, an Echo server that
//! registers with a real registry): on SIGTERM or SIGINT it answers the call it is running,
//! exits 0, and is gone from the registry as soon as it has exited. The registry's heartbeat
//! timeout is 60 s, so only the server's own deregistration can take it off the lookups.

use std::process::Command;
use std::time::{Duration, Instant};

use tars::protocol::tarsrs::InstanceFilter;
use tars_test_support::servants::{sleep, sleeping};
use tars_test_support::{poll_until, proxy, ChildProcess, Signal, TestRegistry};

const OBJ: &str = "Test.LifecycleServer.EchoObj";
const HEARTBEAT_TIMEOUT_MS: u64 = 60_000;
/// How long the call in flight at the signal runs.
const SLOW_MS: i32 = 1500;

/// `(active, inactive)` ports of `OBJ` by QueryF `findObjectById4Any`.
fn lookup(registry: &TestRegistry) -> (Vec<i32>, Vec<i32>) {
    let (ret, active, inactive) = registry
        .query_proxy()
        .find_object_by_id4_any(OBJ)
        .expect("findObjectById4Any");
    assert_eq!(ret, 0);
    let ports = |eps: Vec<tars::protocol::tars::EndpointF>| eps.iter().map(|e| e.port).collect();
    (ports(active), ports(inactive))
}

/// Whether RegistryObj lists `port` as an instance of `OBJ` (active or not).
fn listed(registry: &TestRegistry, port: i32) -> bool {
    let filter = InstanceFilter {
        obj_name: OBJ.into(),
        include_inactive: true,
        ..InstanceFilter::default()
    };
    let (_, list) = registry.registry_proxy().list(&filter).expect("list");
    list.iter().any(|i| i.endpoint.port == port)
}

fn stops_on(signal: Signal) {
    let registry = TestRegistry::start_with(|c| c.heartbeat_timeout_ms = HEARTBEAT_TIMEOUT_MS);
    let mut command = Command::new(env!("CARGO_BIN_EXE_tars-test-server"));
    command.args(["--obj", OBJ, "--registry", &registry.registry_obj()]);
    let mut server = ChildProcess::start(command, Duration::from_secs(20));
    let port = server.ready_port();

    // Registered (before READY) and active.
    let (active, inactive) = lookup(&registry);
    assert_eq!(
        active,
        [i32::from(port)],
        "listed as active before the signal"
    );
    assert!(inactive.is_empty());

    // A slow call in flight when the signal arrives. It has a connection of its own: the
    // server serves the requests of one connection read in one pass in turn, so a poll on the
    // same connection could wait behind it.
    let slow = std::thread::spawn(move || sleep(&proxy(OBJ, port), SLOW_MS));
    let echo = proxy(OBJ, port);
    poll_until(
        "the slow call to be running",
        Duration::from_secs(10),
        || (sleeping(&echo).ok()? == 1).then_some(()),
    );
    // Serving a while, as servers do before they are stopped (a signal within the first
    // moments must work as well; tests/lifecycle.rs of the runtime checks one that comes late).
    std::thread::sleep(Duration::from_millis(200));
    // Right before the signal it is still listed as active.
    assert_eq!(lookup(&registry).0, [i32::from(port)]);

    let signalled = Instant::now();
    server.signal(signal);
    let answer = slow.join().expect("slow call thread");
    assert_eq!(
        answer.expect("the call in flight is answered during the drain"),
        SLOW_MS
    );
    let status = server.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{signal}: exit status {status:?}");
    assert!(
        signalled.elapsed() >= Duration::from_millis(SLOW_MS as u64 / 2),
        "the server waited for the call in flight"
    );
    assert_eq!(
        server.stdout_lines().last().map(String::as_str),
        Some("STOPPED"),
        "run_until_signal returned"
    );

    // Gone from the registry at once: the heartbeat timeout (60 s) is far away.
    assert_eq!(
        lookup(&registry),
        (vec![], vec![]),
        "no endpoint after exit"
    );
    assert!(
        !listed(&registry, i32::from(port)),
        "no instance after exit"
    );
    assert!(
        signalled.elapsed() < Duration::from_millis(HEARTBEAT_TIMEOUT_MS / 4),
        "the check ran long before the heartbeat timeout"
    );
}

#[test]
fn sigterm_drains_deregisters_and_exits_0() {
    stops_on(Signal::SIGTERM);
}

#[test]
fn sigint_drains_deregisters_and_exits_0() {
    stops_on(Signal::SIGINT);
}

/// Without `run_until_signal` catching it, SIGTERM kills the process and the registry keeps
/// listing it (until the heartbeat timeout): the control that shows the test above measures
/// deregistration, not the registry forgetting on its own.
#[test]
fn a_killed_server_stays_listed() {
    let registry = TestRegistry::start_with(|c| c.heartbeat_timeout_ms = HEARTBEAT_TIMEOUT_MS);
    let mut command = Command::new(env!("CARGO_BIN_EXE_tars-test-server"));
    command.args(["--obj", OBJ, "--registry", &registry.registry_obj()]);
    let mut server = ChildProcess::start(command, Duration::from_secs(20));
    let port = i32::from(server.ready_port());
    server.signal(Signal::SIGKILL);
    let status = server.wait_exit(Duration::from_secs(15));
    assert!(!status.success());
    assert_eq!(lookup(&registry).0, [port], "still listed as active");
}
