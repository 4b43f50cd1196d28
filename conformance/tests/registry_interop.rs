//! Name resolution through our registry by an unmodified npm @tars/rpc client: its
//! Communicator's `locator` names our `tars.tarsregistry.QueryObj`, it resolves
//! `Test.HelloServer.HelloObj` with findObjectByIdInSameGroup / findObjectByIdInSameSet and calls
//! the endpoints it got — two of our Hello servers that registered themselves (self-registration
//! with heartbeats). Then our own client resolves the same name through the same locator.

use std::collections::BTreeSet;
use std::time::Duration;

use tars::client::{Communicator, Locator, QueryFLocator};
use tars::protocol::tarsrs::StaticMeta;
use tars::registration::RegistrationConfig;
use tars::server::{Server, ServerConfig};
use tars_conformance::hello::{hello_adapter, Test, HELLO_ADAPTER, HELLO_OBJ};
use tars_conformance::peer;
use tars_test_support::{poll_until_ok, proxy_string, TestRegistry};

/// How long a server may take to get a notify the node client sent.
const NOTIFY_WAIT: Duration = Duration::from_secs(10);

/// A Hello server registered with `registry` in SET `set`.
fn hello_server(registry: &TestRegistry, set: &str) -> (Server, u16) {
    let adapter = hello_adapter(0, 1);
    let registration = RegistrationConfig::new(registry.registry_obj())
        .with_set_id(set)
        .with_heartbeat_interval(Duration::from_millis(200))
        .with_meta(StaticMeta {
            region: "sz".into(),
            ..StaticMeta::default()
        });
    let config = ServerConfig {
        announcer: Some(registration.into()),
        ..ServerConfig::default()
    };
    let server = Server::start(config, vec![adapter]).expect("hello server starts");
    let port = server.local_addr(HELLO_ADAPTER).expect("bound").port();
    (server, port)
}

/// `lastNotify()` of the server on `port`, called directly.
fn last_notify(port: u16) -> String {
    let hello = Test::HelloProxy::new(
        Communicator::new()
            .string_to_proxy(&proxy_string(HELLO_OBJ, port))
            .expect("proxy"),
    );
    hello.last_notify().expect("lastNotify").to_string()
}

/// `Ok` once the server on `port` has seen notify(`tag`) last; else the tag it saw last.
fn notified(port: u16, tag: &str) -> Result<(), String> {
    let last = last_notify(port);
    if last == tag {
        Ok(())
    } else {
        Err(last)
    }
}

fn run_node(args: &[String]) {
    let run = peer::run("rpc-locator-client.js", args).unwrap_or_else(|e| panic!("{e}"));
    assert!(run.success, "node locator client failed:\n{}", run.output);
    assert!(run.output.contains("3 passed, 0 failed"), "{}", run.output);
}

#[test]
fn node_client_resolves_through_our_registry() {
    if let Err(e) = peer::ensure_peers() {
        panic!("{e}");
    }
    let registry = TestRegistry::start();
    let (_a, port_a) = hello_server(&registry, "app.sz.1");
    let (_b, port_b) = hello_server(&registry, "app.sz.2");

    // No SET: findObjectByIdInSameGroup gives both servers; @tars/rpc round-robins over them.
    run_node(&[registry.port().to_string(), "via-group".into()]);
    poll_until_ok("notify(via-group) on server A", NOTIFY_WAIT, || {
        notified(port_a, "via-group")
    });
    poll_until_ok("notify(via-group) on server B", NOTIFY_WAIT, || {
        notified(port_b, "via-group")
    });

    // SET app.sz.1: findObjectByIdInSameSet gives only server A.
    run_node(&[
        registry.port().to_string(),
        "via-set".into(),
        "--set".into(),
        "app.sz.1".into(),
    ]);
    poll_until_ok("notify(via-set) on server A", NOTIFY_WAIT, || {
        notified(port_a, "via-set")
    });
    assert_eq!(
        last_notify(port_b),
        "via-group",
        "server B is not in SET app.sz.1"
    );

    // Our own client resolves the bare name through the same QueryObj (QueryF
    // findObjectById4Any: every active endpoint, whatever its SET).
    let comm = Communicator::new()
        .with_locator(&registry.query_obj())
        .expect("locator");
    let query = Communicator::new()
        .string_to_proxy(&registry.query_obj())
        .expect("QueryObj proxy");
    let located: BTreeSet<u16> = QueryFLocator::new(query)
        .locate(HELLO_OBJ)
        .expect("QueryObj answers")
        .iter()
        .map(|i| u16::try_from(i.endpoint.port).expect("port"))
        .collect();
    assert_eq!(
        located,
        BTreeSet::from([port_a, port_b]),
        "the registry gives exactly the two registered Hello servers"
    );
    let hello = Test::HelloProxy::new(
        comm.string_to_proxy(HELLO_OBJ)
            .expect("a proxy from the bare name"),
    );
    for i in 0..10 {
        let s = format!("ours {i}");
        assert_eq!(
            hello.echo(&s).expect("echo through the locator"),
            (s.len() as i32, tars::TarsString::from(s))
        );
    }
    // Two-way calls round-robin over what the locator gave: both servers get notify("via-ours"),
    // and are still answered directly on their own ports.
    for _ in 0..4 {
        hello
            .notify("via-ours")
            .expect("notify through the locator");
    }
    assert_eq!(last_notify(port_a), "via-ours", "server A reached");
    assert_eq!(last_notify(port_b), "via-ours", "server B reached");
}
