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
}

impl Drop for Node {
    fn drop(&mut self) {
        self.child.signal(Signal::SIGKILL);
        let _ = self.child.wait_exit(Duration::from_secs(10));
    }
}

fn start_node(id: &str, etcd: &TestEtcd, dir: &std::path::Path) -> Node {
    let config = dir.join(format!("{id}.toml"));
    std::fs::write(
        &config,
        "[coordinator]\nphase_two_timeout_ms = 1000\nretry_period_ms = 100\nmax_backoff_ms = 300\n",
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
    Node { child, seata }
}

#[test]
fn a_non_leader_nodes_seata_port_serves_another_nodes_xid() {
    if !TestEtcd::available("a_non_leader_nodes_seata_port_serves_another_nodes_xid") {
        return;
    }
    let etcd = TestEtcd::start(1);
    let dir = tempfile::tempdir().expect("dir");
    let nodes = [
        start_node("s1", &etcd, dir.path()),
        start_node("s2", &etcd, dir.path()),
    ];
    // Both nodes lead fragments (so neither is a bystander).
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

    // Begin on s1: the XID names the Seata port of the node leading its fragment.
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
