//! A node in-process: clients that know only the registry find the coordinator by name, and
//! the coordinator's registration carries its open transactions; shutdown deregisters.

use std::time::Duration;

use tars::client::Communicator;
use tars_protocols::tarsrs::{InstanceFilter, RegistryProxy};
use tars_protocols::tarstx::{CoordinatorProxy, ResultCode};
use tars_test_support::{poll_until_ok, proxy, proxy_string};
use tarsd::{Node, NodeConfig};

const COORDINATOR_OBJ: &str = "tars.tarscoordinator.CoordinatorObj";

fn node(dir: &std::path::Path) -> Node {
    let mut config = NodeConfig {
        data_dir: Some(dir.to_path_buf()),
        ..NodeConfig::default()
    };
    config.registry.port = 0;
    config.registry.heartbeat_timeout_ms = 300;
    config.coordinator.port = 0;
    Node::start(&config).expect("node")
}

#[test]
fn the_coordinator_is_found_through_the_node_registry() {
    let dir = tempfile::tempdir().expect("dir");
    let node = node(dir.path());
    let registry_port = node.registry_addr().expect("registry").port();
    let comm = Communicator::new()
        .with_locator(&proxy_string("tars.tarsregistry.QueryObj", registry_port))
        .expect("locator");
    let coordinator = CoordinatorProxy::new(comm.string_to_proxy(COORDINATOR_OBJ).expect("proxy"));
    let (r, xid) = coordinator
        .begin("app", "found-by-name", 60_000)
        .expect("begin");
    assert_eq!(r.code, ResultCode::Success);
    assert_eq!(
        tars_coordinator::xid::Xid::fragment_of(&xid),
        Some(0),
        "{xid}"
    );

    // The heartbeats keep it active past the heartbeat timeout and report open transactions.
    let registry = RegistryProxy::new(proxy("tars.tarsregistry.RegistryObj", registry_port));
    let filter = InstanceFilter {
        obj_name: COORDINATOR_OBJ.into(),
        ..InstanceFilter::default()
    };
    poll_until_ok(
        "the coordinator listed active with one open transaction",
        Duration::from_secs(10),
        || {
            let (_, listed) = registry.list(&filter).expect("list");
            match &listed[..] {
                [c] if c.active && c.load.active_transactions == 1 => Ok(()),
                _ => Err(listed),
            }
        },
    );
    std::thread::sleep(Duration::from_millis(600)); // two heartbeat timeouts
    let (_, listed) = registry.list(&filter).expect("list");
    assert!(
        listed[0].active,
        "heartbeats keep the node's objects active"
    );

    let registry_service = node.registry().clone();
    node.shutdown();
    assert!(
        registry_service
            .registry()
            .list(&InstanceFilter::default())
            .is_empty(),
        "shutdown deregisters the node's objects"
    );
}
