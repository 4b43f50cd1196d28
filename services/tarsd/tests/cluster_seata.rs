//! The Seata front end in cluster mode: two tarsd nodes on one etcd, each with a Seata port.
//! A transaction begun on one node's Seata port carries that node's Seata address; the other
//! node's Seata port serves it (its RM registers a branch there and its TM commits there), and
//! the fragment's leader drives phase two back to the RM connected to the other node.
#![cfg(feature = "cluster")]

#[path = "common/seata_client.rs"]
mod seata_client;

use std::process::Command;
use std::time::{Duration, Instant};

use seata_client::Client;
use tars_coordinator::xid::Xid;
use tars_seata_front::tars_seata::message::{BranchPhaseTwoRequest, GlobalXidRequest};
use tars_seata_front::tars_seata::{BranchType, GlobalStatus, Message, MessageType};
use tars_test_support::{ChildProcess, Signal, TestEtcd};
use tarsd::cluster::tars_cluster::etcd::{Etcd, EtcdConfig};
use tarsd::cluster::tars_cluster::status::ClusterStatus;

struct Node {
    child: ChildProcess,
    seata: u16,
    coordinator: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.child.signal(Signal::SIGKILL);
        let _ = self.child.wait_exit(Duration::from_secs(10));
    }
}

/// Starts node `id`; `extra` is appended to its configuration file.
fn start_node(id: &str, etcd: &TestEtcd, dir: &std::path::Path, extra: &str) -> Node {
    let config = dir.join(format!("{id}.toml"));
    std::fs::write(
        &config,
        format!(
            "[coordinator]\nphase_two_timeout_ms = 1000\nretry_period_ms = 100\n\
             max_backoff_ms = 300\n{extra}"
        ),
    )
    .expect("config");
    let mut command = Command::new(env!("CARGO_BIN_EXE_tarsd"));
    command
        .arg("--config")
        .arg(&config)
        .arg("--cluster")
        .arg(format!("etcd={}", etcd.endpoints()))
        .args(["--node-id", id, "--advertise", "127.0.0.1"])
        .arg("--data-dir")
        .arg(dir.join(id))
        .args([
            "--registry-port",
            "0",
            "--coordinator-port",
            "0",
            "--seata-port",
            "0",
        ])
        .env("RUST_LOG", "warn");
    let child = ChildProcess::start(command, Duration::from_secs(30));
    let seata = child.ready_field("seata").expect("seata= in READY");
    let coordinator = child
        .ready_field("coordinator")
        .expect("coordinator= in READY");
    Node {
        child,
        seata,
        coordinator,
    }
}

/// Waits until both nodes lead fragments (so neither is a bystander).
fn both_lead(etcd: &TestEtcd) {
    let status_client = Etcd::connect(&EtcdConfig {
        endpoints: etcd.urls(),
        ..EtcdConfig::default()
    })
    .expect("etcd");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let led = ClusterStatus::read(&status_client).ok().map(|s| {
            ["s1", "s2"].map(|n| {
                s.fragments
                    .iter()
                    .filter(|f| f.leader.as_deref() == Some(n))
                    .count()
            })
        });
        if led.is_some_and(|l| l.iter().all(|n| *n > 0)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "both nodes lead fragments: {led:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_non_leader_nodes_seata_port_serves_another_nodes_xid() {
    if !TestEtcd::available("a_non_leader_nodes_seata_port_serves_another_nodes_xid") {
        return;
    }
    let etcd = TestEtcd::start(1);
    let dir = tempfile::tempdir().expect("dir");
    let nodes = [
        start_node("s1", &etcd, dir.path(), ""),
        start_node("s2", &etcd, dir.path(), ""),
    ];
    both_lead(&etcd);
    let (mut tm, mut rm, issuer) = commit_across_nodes(&nodes);
    // An RM that moved: it registers a branch through the other node, then that connection
    // is gone and the RM is connected to the issuer only. The bridge the branch names has no
    // RM of it any more; the leader finds the RM through the bridges in the registry.
    let xid = tm.begin();
    let branch = rm.tcc_branch(&xid, "cluster-account");
    drop(rm);
    let mut moved = Client::connect(nodes[issuer].seata);
    moved.register("cluster-app", "cluster-account");
    let id = moved.send(&Message::GlobalCommitRequest(GlobalXidRequest {
        xid: xid.clone(),
        extra_data: String::new(),
    }));
    let mut answered = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !answered {
        assert!(Instant::now() < deadline, "the moved RM was not reached");
        let frame = moved.recv_frame();
        if frame.message_type == MessageType::Request {
            let request = frame.message().expect("decode").expect("body");
            let Message::BranchCommitRequest(r) = &request else {
                panic!("not a branch commit: {request:?}")
            };
            assert_eq!((r.xid.as_str(), r.branch_id), (xid.as_str(), branch));
            moved.succeed(frame.request_id, &request);
        } else {
            assert_eq!(frame.request_id, id);
            answered = true;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while moved.status(&xid) != GlobalStatus::Finished {
        assert!(Instant::now() < deadline, "{xid} not finished");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Seata transaction begun on one node, its branch registered and committed through the
/// other node's Seata port: the fragment's leader reaches the RM through the other node's
/// bridge. Returns the TM (on node 0), the RM (on the other node) and the issuer's index.
fn commit_across_nodes(nodes: &[Node; 2]) -> (Client, Client, usize) {
    let mut tm = Client::connect(nodes[0].seata);
    tm.register("cluster-app", "cluster-tm-only");
    let xid = tm.begin();
    let parsed: Xid = xid.parse().expect("a Java-parsable XID");
    let issuer = nodes
        .iter()
        .position(|n| parsed.address == format!("127.0.0.1:{}", n.seata))
        .unwrap_or_else(|| panic!("{xid} names no node's Seata address"));
    let other = &nodes[1 - issuer];
    // On the other node's Seata port: an RM registers a branch of that XID, a TM commits it.
    let mut rm = Client::connect(other.seata);
    rm.register("cluster-app", "cluster-account");
    let branch = rm.tcc_branch(&xid, "cluster-account");
    let id = rm.send(&Message::GlobalCommitRequest(GlobalXidRequest {
        xid: xid.clone(),
        extra_data: String::new(),
    }));
    // The fragment's leader (the issuer) reaches the RM through the other node's bridge.
    let frame = rm.recv_frame();
    assert_eq!(frame.message_type, MessageType::Request, "{frame:?}");
    let request = frame.message().expect("decode").expect("body");
    assert_eq!(
        request,
        Message::BranchCommitRequest(BranchPhaseTwoRequest {
            xid: xid.clone(),
            branch_id: branch,
            branch_type: BranchType::Tcc,
            resource_id: "cluster-account".into(),
            application_data: "seata-branch".into(),
        })
    );
    rm.succeed(frame.request_id, &request);
    let answer = rm.recv_frame();
    assert_eq!(answer.request_id, id);
    match answer.message().expect("decode").expect("body") {
        Message::GlobalCommitResponse(r) => assert_eq!(r.global_status, GlobalStatus::Committed),
        other => panic!("not a commit response: {other:?}"),
    }
    // Both nodes' Seata ports answer for it now: it is finished.
    assert_eq!(tm.status(&xid), GlobalStatus::Finished);
    assert_eq!(rm.status(&xid), GlobalStatus::Finished);
    (tm, rm, issuer)
}

/// Authentication on every node: the nodes call each other with their client key (forwarded
/// calls, Seata bridges), and a fragment's leader checks the principal the forwarding node
/// names, not the node's.
const SECURED: &str = "[coordinator.access]\nenforce = true\n\n\
    [security]\nauth_keys = { node = \"node-secret\", orders = \"orders-secret\", \
    mallory = \"mallory-secret\" }\n\n\
    [security.client_key]\naccess_key = \"node\"\nsecret_key = \"node-secret\"\n";

fn coordinator_as(key: Option<&str>, port: u16) -> tars_protocols::tarstx::CoordinatorProxy {
    let communicator = match key {
        Some(ak) => tars::client::Communicator::new().with_auth_key(ak, format!("{ak}-secret")),
        None => tars::client::Communicator::new(),
    };
    tars_protocols::tarstx::CoordinatorProxy::new(
        communicator
            .string_to_proxy(&format!(
                "tars.tarscoordinator.CoordinatorObj@tcp -h 127.0.0.1 -p {port} -t 5000 -e 1"
            ))
            .expect("proxy"),
    )
}

#[test]
fn with_authentication_the_nodes_reach_each_other_and_leaders_check_the_callers_principal() {
    use tars_protocols::tarstx::{ResultCode, TransactionExceptionCode as Code};
    if !TestEtcd::available(
        "with_authentication_the_nodes_reach_each_other_and_leaders_check_the_callers_principal",
    ) {
        return;
    }
    let etcd = TestEtcd::start(1);
    let dir = tempfile::tempdir().expect("dir");
    let nodes = [
        start_node("s1", &etcd, dir.path(), SECURED),
        start_node("s2", &etcd, dir.path(), SECURED),
    ];
    both_lead(&etcd);
    // Seata clients (principal "seata") across nodes: bridges are reached with the node key.
    let _ = commit_across_nodes(&nodes);

    // A transaction begun as orders on s1 (led there); s2 forwards calls on it to s1, naming
    // the caller: mallory is refused by the leader, orders is served.
    let (r, xid) = coordinator_as(Some("orders"), nodes[0].coordinator)
        .begin("orders", "forwarded", 60_000)
        .expect("begin");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    let via_s2 = |key| coordinator_as(Some(key), nodes[1].coordinator);
    let (r, _) = via_s2("mallory").rollback(&xid).expect("call");
    assert_eq!(
        (r.code, r.error),
        (ResultCode::Failed, Code::AccessDenied),
        "{r:?}"
    );
    let (r, _) = via_s2("node").rollback(&xid).expect("call");
    assert_eq!(
        (r.code, r.error),
        (ResultCode::Failed, Code::AccessDenied),
        "a node key acts for its callers, not as a principal of its own: {r:?}"
    );
    let (r, status) = via_s2("orders").commit(&xid).expect("call");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    assert_eq!(status, tars_protocols::tarstx::GlobalStatus::Committed);
    // An anonymous caller is not served at all.
    assert!(coordinator_as(None, nodes[1].coordinator)
        .begin("anon", "x", 1000)
        .is_err());
}
