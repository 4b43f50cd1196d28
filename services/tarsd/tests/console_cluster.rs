//! The console of a cluster node: its overview shows the cluster as etcd sees it — the live
//! nodes, the fragments and which node leads each — and its transaction routes say where
//! transactions are instead of answering from an empty local view.
#![cfg(feature = "cluster")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use tars_test_support::TestEtcd;
use tarsd::{ClusterSection, Node, NodeConfig};

/// GET `path` from the console at `addr` (open: loopback, no tokens): (status, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn cluster_node(id: &str, etcd: &TestEtcd, dir: &std::path::Path) -> Node {
    let mut config = NodeConfig {
        data_dir: Some(dir.join(id)),
        cluster: Some(ClusterSection {
            etcd: etcd.urls(),
            node_id: id.into(),
            ..ClusterSection::default()
        }),
        ..NodeConfig::default()
    };
    config.registry.port = 0;
    config.coordinator.port = 0;
    config.console = NodeConfig::from_toml("[console]\nport = 0\n")
        .expect("console section")
        .console;
    Node::start(&config).expect("cluster node")
}

#[test]
fn a_cluster_nodes_overview_shows_the_nodes_fragments_and_leaders() {
    if !TestEtcd::available("a_cluster_nodes_overview_shows_the_nodes_fragments_and_leaders") {
        return;
    }
    let etcd = TestEtcd::start(1);
    let dir = tempfile::tempdir().expect("dir");
    let nodes = [
        cluster_node("c1", &etcd, dir.path()),
        cluster_node("c2", &etcd, dir.path()),
    ];
    let console = nodes[0].console_addr().expect("console");
    // Until both nodes lead fragments, the overview of c1 must come to say so.
    let deadline = Instant::now() + Duration::from_secs(30);
    let overview = loop {
        let (status, body) = get(console, "/api/overview");
        assert_eq!(status, 200, "{body}");
        let overview: Value = serde_json::from_str(&body).expect("json");
        let cluster = &overview["cluster"];
        let leaders: Vec<&str> = cluster["fragments"]
            .as_array()
            .map(|f| f.iter().filter_map(|f| f["leader"].as_str()).collect())
            .unwrap_or_default();
        if leaders.contains(&"c1") && leaders.contains(&"c2") {
            break overview;
        }
        assert!(
            Instant::now() < deadline,
            "no fragment leaders of both nodes in the overview: {cluster}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let cluster = &overview["cluster"];
    let mut node_ids: Vec<&str> = cluster["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["node_id"].as_str())
        .collect();
    node_ids.sort_unstable();
    assert_eq!(node_ids, ["c1", "c2"]);
    // Each fragment's coordinator is one of the nodes' coordinator addresses.
    let coordinators: Vec<String> = nodes
        .iter()
        .map(|n| {
            n.coordinator_addr()
                .expect("coordinator")
                .port()
                .to_string()
        })
        .collect();
    for f in cluster["fragments"].as_array().expect("fragments") {
        if let Some(at) = f["coordinator"].as_str() {
            assert!(
                coordinators.iter().any(|p| at.ends_with(&format!(":{p}"))),
                "{at} is no node's coordinator ({coordinators:?})"
            );
        }
    }
    // Transactions live with the fragments' leaders: the local routes say so.
    let (status, body) = get(console, "/api/transactions");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("cluster"), "{body}");
    for node in nodes {
        node.shutdown();
    }
}
