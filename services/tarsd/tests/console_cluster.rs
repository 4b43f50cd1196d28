//! The console of a cluster node: its overview shows the cluster as etcd sees it — the live
//! nodes, the fragments and which node leads each — and its transaction pages show and act
//! on the transactions of every fragment, whichever node leads it.
#![cfg(feature = "cluster")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use tars::client::Communicator;
use tars_coordinator::service::COORDINATOR_OBJ;
use tars_protocols::tarstx::{BranchType, CoordinatorProxy, GlobalStatus, ResultCode};
use tars_test_support::TestEtcd;
use tarsd::{ClusterSection, Node, NodeConfig};

const ADMIN: &str = "admin-token-0123";
const READER: &str = "read-token-0123";

/// GET `path` from the console at `addr` (open: loopback, no tokens): (status, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    request(addr, "GET", path, None)
}

/// `method` `path` on the console at `addr`, with `token` as bearer: (status, body).
fn request(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\n\
         Connection: close\r\n\r\n"
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

fn json(addr: SocketAddr, method: &str, path: &str, token: &str) -> (u16, Value) {
    let (status, body) = request(addr, method, path, Some(token));
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, value)
}

fn cluster_node(id: &str, etcd: &TestEtcd, dir: &std::path::Path) -> Node {
    cluster_node_with(id, etcd, dir, "[console]\nport = 0\n")
}

fn cluster_node_with(id: &str, etcd: &TestEtcd, dir: &std::path::Path, console: &str) -> Node {
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
    config.console = NodeConfig::from_toml(console)
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
    for node in nodes {
        node.shutdown();
    }
}

/// Waits until both nodes lead fragments (as c1's overview shows).
fn wait_for_leaders(console: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, overview) = json(console, "GET", "/api/overview", READER);
        assert_eq!(status, 200, "{overview}");
        let leaders: Vec<&str> = overview["cluster"]["fragments"]
            .as_array()
            .map(|f| f.iter().filter_map(|f| f["leader"].as_str()).collect())
            .unwrap_or_default();
        if leaders.contains(&"c1") && leaders.contains(&"c2") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no fragment leaders of both nodes: {overview}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A TM client of `node`'s coordinator (a begin there goes to a fragment it leads).
fn coordinator_of(node: &Node) -> CoordinatorProxy {
    let port = node.coordinator_addr().expect("coordinator").port();
    let proxy = Communicator::new()
        .string_to_proxy(&format!(
            "{COORDINATOR_OBJ}@tcp -h 127.0.0.1 -p {port} -t 10000"
        ))
        .expect("proxy");
    CoordinatorProxy::new(proxy)
}

fn begin(tm: &CoordinatorProxy, name: &str) -> String {
    let (r, xid) = tm.begin("shop", name, 120_000).expect("begin");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    xid.to_string()
}

/// The detail of `xid` through `console`, until `done` accepts it.
fn detail_until(console: SocketAddr, xid: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, detail) = json(console, "GET", &format!("/api/transactions/{xid}"), READER);
        if status == 200 && done(&detail) {
            return detail;
        }
        assert!(Instant::now() < deadline, "{xid}: {status} {detail}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_cluster_nodes_console_lists_shows_and_acts_on_every_leaders_transactions() {
    if !TestEtcd::available(
        "a_cluster_nodes_console_lists_shows_and_acts_on_every_leaders_transactions",
    ) {
        return;
    }
    let etcd = TestEtcd::start(1);
    let dir = tempfile::tempdir().expect("dir");
    let console_section = format!(
        "[console]\nport = 0\n\
         [[console.tokens]]\nname = \"ops\"\ntoken = \"{ADMIN}\"\nrole = \"admin\"\n\
         [[console.tokens]]\nname = \"viewer\"\ntoken = \"{READER}\"\nrole = \"read\"\n"
    );
    let nodes = [
        cluster_node_with("c1", &etcd, dir.path(), &console_section),
        cluster_node_with("c2", &etcd, dir.path(), &console_section),
    ];
    let console = nodes[0].console_addr().expect("console");
    wait_for_leaders(console);
    let (tm1, tm2) = (coordinator_of(&nodes[0]), coordinator_of(&nodes[1]));

    // Undecided on c1's fragment and on c2's; one of c2's stuck retrying its commit.
    let on_c1 = begin(&tm1, "on-c1");
    let undecided = begin(&tm2, "undecided");
    let stuck = begin(&tm2, "stuck");
    let (r, _) = tm2
        .branch_register(
            &stuck,
            BranchType::TCC,
            "Gone.Rm.ParticipantObj@tcp -h 127.0.0.1 -p 1 -t 500",
            "c",
            "",
            "{\"sku\":7}",
        )
        .expect("register");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    let (r, status) = tm2.commit(&stuck).expect("commit");
    assert_eq!(
        (r.code, status),
        (ResultCode::Success, GlobalStatus::CommitRetrying),
        "{r:?}"
    );

    // The list of c1's console holds all three, each with the node leading it.
    let (status, list) = json(console, "GET", "/api/transactions", READER);
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["failed"], serde_json::json!([]), "{list}");
    let listed: Vec<(String, String, String)> = list["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .map(|t| {
            (
                t["xid"].as_str().unwrap_or_default().to_owned(),
                t["node"].as_str().unwrap_or_default().to_owned(),
                t["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for (xid, node, status) in [
        (&on_c1, "c1", "Begin"),
        (&undecided, "c2", "Begin"),
        (&stuck, "c2", "CommitRetrying"),
    ] {
        assert!(
            listed.contains(&(xid.clone(), node.to_owned(), status.to_owned())),
            "{xid} on {node} ({status}) not in {listed:?}"
        );
    }
    assert_eq!(listed.len(), 3, "{listed:?}");
    // Filtered by status on every node.
    let (status, list) = json(
        console,
        "GET",
        "/api/transactions?status=commitretrying",
        READER,
    );
    assert_eq!(status, 200, "{list}");
    let xids: Vec<&str> = list["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .filter_map(|t| t["xid"].as_str())
        .collect();
    assert_eq!(xids, [stuck.as_str()]);

    // The detail of c2's stuck transaction, read through c1.
    let (status, detail) = json(
        console,
        "GET",
        &format!("/api/transactions/{stuck}"),
        READER,
    );
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["status"], "CommitRetrying", "{detail}");
    assert_eq!(detail["actions"], serde_json::json!(["stop-retrying"]));
    let branches = detail["branch_list"].as_array().expect("branches");
    assert_eq!(branches.len(), 1, "{detail}");
    assert_eq!(branches[0]["branch_type"], "TCC");
    assert_eq!(
        branches[0]["resource"],
        "Gone.Rm.ParticipantObj@tcp -h 127.0.0.1 -p 1 -t 500"
    );
    assert_eq!(branches[0]["application_data"], "{\"sku\":7}");
    assert!(
        branches[0]["status"]
            .as_str()
            .is_some_and(|s| s.starts_with("PhaseTwo_CommitFailed")),
        "{detail}"
    );
    assert_eq!(detail["timeout_ms"], 120_000, "{detail}");

    // A read token acts on nothing.
    for (xid, action) in [(&stuck, "stop-retrying"), (&undecided, "rollback")] {
        let (status, body) = json(
            console,
            "POST",
            &format!("/api/transactions/{xid}/{action}"),
            READER,
        );
        assert_eq!(status, 403, "{body}");
    }

    // Stop retrying (led by c2, asked of c1), then retry.
    let (status, outcome) = json(
        console,
        "POST",
        &format!("/api/transactions/{stuck}/stop-retrying"),
        ADMIN,
    );
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["ok"], true, "{outcome}");
    assert_eq!(outcome["status"], "CommitRetryTimeout", "{outcome}");
    let detail = detail_until(console, &stuck, |d| d["status"] == "CommitRetryTimeout");
    assert_eq!(detail["actions"], serde_json::json!(["retry"]), "{detail}");
    let (_, status) = tm2.get_status(&stuck).expect("status");
    assert_eq!(status, GlobalStatus::CommitRetryTimeout);
    // Not retrying any more: a second stop is refused by the leader.
    let (status, outcome) = json(
        console,
        "POST",
        &format!("/api/transactions/{stuck}/stop-retrying"),
        ADMIN,
    );
    assert_eq!(
        (status, &outcome["ok"]),
        (409, &Value::Bool(false)),
        "{outcome}"
    );

    let (status, outcome) = json(
        console,
        "POST",
        &format!("/api/transactions/{stuck}/retry"),
        ADMIN,
    );
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["ok"], true, "{outcome}");
    let detail = detail_until(console, &stuck, |d| d["status"] == "CommitRetrying");
    assert!(
        detail["retried_at_ms"].as_i64().is_some_and(|t| t > 0),
        "{detail}"
    );

    // A decided transaction cannot be forced back; an undecided one of c2 can.
    let (status, body) = json(
        console,
        "POST",
        &format!("/api/transactions/{stuck}/rollback"),
        ADMIN,
    );
    assert_eq!(status, 409, "{body}");
    let (status, outcome) = json(
        console,
        "POST",
        &format!("/api/transactions/{undecided}/rollback"),
        ADMIN,
    );
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["ok"], true, "{outcome}");
    assert_eq!(outcome["status"], "Rollbacked", "{outcome}");
    // Gone from the leader (getStatus answers Finished for an ended transaction).
    let (_, status) = tm2.get_status(&undecided).expect("status");
    assert_eq!(status, GlobalStatus::Finished);
    let (status, body) = json(
        console,
        "GET",
        &format!("/api/transactions/{undecided}"),
        READER,
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.to_string().contains("Rollbacked"), "{body}");
    let (status, list) = json(console, "GET", "/api/transactions", READER);
    assert_eq!(status, 200, "{list}");
    assert!(
        !list.to_string().contains(&undecided),
        "{undecided} still listed: {list}"
    );

    // The transaction led by c1 is served locally just the same.
    let (status, detail) = json(
        console,
        "GET",
        &format!("/api/transactions/{on_c1}"),
        READER,
    );
    assert_eq!(status, 200, "{detail}");
    assert_eq!(
        detail["actions"],
        serde_json::json!(["rollback"]),
        "{detail}"
    );

    // A node gone from the cluster is no longer asked; the list still answers.
    let [c1, c2] = nodes;
    c2.shutdown();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, list) = json(console, "GET", "/api/transactions", READER);
        assert_eq!(status, 200, "{list}");
        if list.to_string().contains(&on_c1) {
            break;
        }
        assert!(Instant::now() < deadline, "{list}");
        std::thread::sleep(Duration::from_millis(200));
    }
    c1.shutdown();
}
