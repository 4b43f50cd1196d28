//! The node's statistics services: StatObj and PropertyObj found by name through the node's
//! registry, reports rolled up and kept across a restart, and queries fanned out to the other
//! nodes' StatQueryObj the registry lists (merged, with a dead node named).

use std::collections::BTreeMap;

use tars::client::{instance_of_endpoint, Communicator};
use tars::endpoint::Endpoint;
use tars::protocol::tars::{
    PropertyFProxy, StatFProxy, StatMicMsgBody, StatMicMsgHead, StatPropInfo, StatPropMsgBody,
    StatPropMsgHead,
};
use tars_protocols::tarsrs::DynamicMeta;
use tars_stat::{
    now_minute, CallQuery, PropertyQuery, Side, PROPERTY_OBJ, STAT_OBJ, STAT_QUERY_OBJ,
};
use tars_test_support::proxy_string;
use tarsd::{Node, NodeConfig};

fn node(dir: &std::path::Path) -> Node {
    let mut config = NodeConfig {
        data_dir: Some(dir.to_path_buf()),
        ..NodeConfig::default()
    };
    config.registry.port = 0;
    config.coordinator.port = 0;
    config.stat.flush_interval_ms = 50;
    Node::start(&config).expect("node")
}

fn by_name(node: &Node) -> Communicator {
    let port = node.registry_addr().expect("registry").port();
    Communicator::new()
        .with_locator(&proxy_string("tars.tarsregistry.QueryObj", port))
        .expect("locator")
}

fn report(stat: &StatFProxy, interface: &str, count: i32, exceptions: i32) {
    let mut msg = BTreeMap::new();
    msg.insert(
        StatMicMsgHead {
            master_name: "Test.Client".into(),
            slave_name: "Test.HelloServer.HelloObj".into(),
            interface_name: interface.into(),
            master_ip: "127.0.0.1".into(),
            slave_ip: "127.0.0.1".into(),
            slave_port: 9000,
            ..StatMicMsgHead::default()
        },
        StatMicMsgBody {
            count,
            exec_count: exceptions,
            interval_count: [(5, count)].into_iter().collect(),
            total_rsp_time: i64::from(count) * 2,
            max_rsp_time: 3,
            min_rsp_time: 1,
            ..StatMicMsgBody::default()
        },
    );
    assert_eq!(stat.report_mic_msg(&msg, true).expect("reportMicMsg"), 0);
}

fn totals(series: &[tars_stat::CallSeries], interface: &str) -> (u64, u64) {
    series
        .iter()
        .filter(|s| s.interface_name == interface && s.side == Side::Client)
        .flat_map(|s| &s.points)
        .fold((0, 0), |(n, e), p| (n + p.successes, e + p.exceptions))
}

fn recent() -> CallQuery {
    CallQuery {
        from_minute: now_minute() - 2,
        to_minute: now_minute() + 2,
        ..CallQuery::default()
    }
}

#[test]
fn the_node_serves_its_statistics_objects_by_name_and_keeps_the_rollups() {
    let dir = tempfile::tempdir().expect("dir");
    let node = node(dir.path());
    let comm = by_name(&node);
    let stat = StatFProxy::new(comm.string_to_proxy(STAT_OBJ).expect("stat proxy"));
    report(&stat, "hello", 7, 2);
    let property = PropertyFProxy::new(comm.string_to_proxy(PROPERTY_OBJ).expect("proxy"));
    let mut msg = BTreeMap::new();
    msg.insert(
        StatPropMsgHead {
            module_name: "Test.HelloServer".into(),
            ip: "127.0.0.1".into(),
            property_name: "connections".into(),
            ..StatPropMsgHead::default()
        },
        StatPropMsgBody {
            v_info: vec![StatPropInfo {
                policy: "Max".into(),
                value: "12".into(),
            }],
        },
    );
    assert_eq!(property.report_prop_msg(&msg).expect("reportPropMsg"), 0);

    let stats = node.stats().expect("[stat] is on by default");
    let calls = stats.calls(&recent()).expect("calls");
    assert!(calls.failed.is_empty(), "{:?}", calls.failed);
    assert_eq!(totals(&calls.value, "hello"), (7, 2));
    let props = stats
        .properties(&PropertyQuery {
            from_minute: now_minute() - 2,
            to_minute: now_minute() + 2,
            ..PropertyQuery::default()
        })
        .expect("properties");
    assert_eq!(props.value.len(), 1, "{:?}", props.value);
    assert_eq!(props.value[0].points[0].value, 12.0);

    node.shutdown();
    let node = self::node(dir.path());
    let calls = node
        .stats()
        .expect("stats")
        .calls(&recent())
        .expect("calls");
    assert_eq!(
        totals(&calls.value, "hello"),
        (7, 2),
        "kept across the restart"
    );
}

#[test]
fn queries_fan_out_to_every_node_the_registry_lists() {
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (a, b) = (node(dir_a.path()), node(dir_b.path()));
    let port = |n: &Node| n.registry_addr().expect("registry").port();
    let stat_at = |n: &Node| {
        StatFProxy::new(
            Communicator::new()
                .string_to_proxy(&proxy_string(STAT_OBJ, port(n)))
                .expect("proxy"),
        )
    };
    report(&stat_at(&a), "hello", 5, 1);
    report(&stat_at(&b), "hello", 3, 0);
    report(&stat_at(&b), "bye", 2, 0);

    // A's registry lists B's StatQueryObj (as the shared registry of a cluster does) and one
    // of a node that is gone.
    let registry = a.registry().registry();
    let gone = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let gone_port = gone.local_addr().expect("addr").port();
    drop(gone);
    for p in [port(&b), gone_port] {
        registry
            .register(instance_of_endpoint(
                STAT_QUERY_OBJ,
                &Endpoint::tcp("127.0.0.1", p),
            ))
            .expect("register");
        registry.heartbeat(
            STAT_QUERY_OBJ,
            "127.0.0.1",
            i32::from(p),
            DynamicMeta::default(),
        );
    }

    let merged = a.stats().expect("stats").calls(&recent()).expect("calls");
    assert_eq!(totals(&merged.value, "hello"), (8, 1), "{:?}", merged.value);
    assert_eq!(totals(&merged.value, "bye"), (2, 0));
    assert_eq!(merged.failed.len(), 1, "{:?}", merged.failed);
    assert!(merged.failed[0].0.ends_with(&format!(":{gone_port}")));
    let catalog = a
        .stats()
        .expect("stats")
        .catalog(now_minute() - 2, now_minute() + 2);
    let catalog = catalog.expect("catalog").value;
    assert_eq!(catalog.servants["Test.HelloServer.HelloObj"].len(), 2);

    // B's registry knows only B.
    let own = b.stats().expect("stats").calls(&recent()).expect("calls");
    assert_eq!(totals(&own.value, "hello"), (3, 0));
    assert!(own.failed.is_empty());
}
