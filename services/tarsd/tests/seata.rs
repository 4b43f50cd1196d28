//! The node's Seata front end: `--seata-port` starts it, the READY line names its port, Seata
//! clients begin and commit through it, and the XIDs carry its address. The `[seata]` section
//! of the example configuration, uncommented, parses with its documented values. A decided
//! transaction survives `kill -9` of tarsd and its Seata RM gets the BranchCommit after the
//! restart; a transaction mixing a Seata RM and a Tars participant reaches both.

#[path = "common/seata_client.rs"]
mod seata_client;

use std::process::Command;
use std::time::Duration;

use seata_client::Client;
use tars::client::Communicator;
use tars::server::{Current, ServantError, Servants};
use tars::TarsString;
use tars_protocols::tarstx::{self as tx, CoordinatorProxy, Participant, ParticipantServant};
use tars_seata_front::tars_seata::message::{
    BranchPhaseTwoRequest, GlobalBeginRequest, GlobalXidRequest, RegisterTmRequest,
};
use tars_seata_front::tars_seata::{BranchType, GlobalStatus, Message, MessageType, ResultCode};
use tars_test_support::{ChildProcess, Signal};
use tarsd::NodeConfig;

#[test]
fn seata_clients_begin_and_commit_through_the_node_and_xids_carry_the_seata_address() {
    let dir = tempfile::tempdir().expect("dir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_tarsd"));
    command
        .args(["--data-dir", dir.path().to_str().expect("utf-8")])
        .args(["--registry-port", "0", "--coordinator-port", "0"])
        .args(["--seata-port", "0"])
        .env("RUST_LOG", "warn");
    let mut child = ChildProcess::start(command, Duration::from_secs(30));
    let seata = child
        .ready_field("seata")
        .unwrap_or_else(|| panic!("no seata= in READY {:?}", child.ready()));
    assert!(child.ready_field("registry").is_some() && child.ready_field("coordinator").is_some());
    assert!(
        child.ready().starts_with("registry="),
        "existing fields first: {:?}",
        child.ready()
    );

    let mut c = Client::connect(seata);
    let registered = c.call(Message::RegisterTmRequest(RegisterTmRequest {
        version: "2.2.0".into(),
        application_id: "node-test".into(),
        transaction_service_group: "default_tx_group".into(),
        extra_data: String::new(),
    }));
    assert!(matches!(registered, Message::RegisterTmResponse(r) if r.identified));
    let Message::GlobalBeginResponse(begun) =
        c.call(Message::GlobalBeginRequest(GlobalBeginRequest {
            timeout: 30_000,
            transaction_name: "node".into(),
        }))
    else {
        panic!("not a begin response")
    };
    assert_eq!(begun.result.result_code, ResultCode::Success, "{begun:?}");
    assert!(
        begun.xid.starts_with(&format!("127.0.0.1:{seata}:")),
        "the XID carries the Seata address: {}",
        begun.xid
    );
    let Message::GlobalCommitResponse(committed) =
        c.call(Message::GlobalCommitRequest(GlobalXidRequest {
            xid: begun.xid.clone(),
            extra_data: String::new(),
        }))
    else {
        panic!("not a commit response")
    };
    assert_eq!(committed.result.result_code, ResultCode::Success);
    assert_eq!(committed.global_status, GlobalStatus::Committed);

    child.signal(Signal::SIGTERM);
    let status = child.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn without_a_seata_port_the_ready_line_is_unchanged() {
    let dir = tempfile::tempdir().expect("dir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_tarsd"));
    command
        .args(["--data-dir", dir.path().to_str().expect("utf-8")])
        .args(["--registry-port", "0", "--coordinator-port", "0"])
        .env("RUST_LOG", "warn");
    let mut child = ChildProcess::start(command, Duration::from_secs(30));
    assert!(child.ready_field("seata").is_none(), "{:?}", child.ready());
    child.signal(Signal::SIGTERM);
    assert!(child.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn the_example_seata_section_parses_with_its_documented_values() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tarsd.example.toml"))
            .expect("example config");
    let default = NodeConfig::from_toml(&example).expect("the example parses");
    assert_eq!(default.seata.port, None, "off by default");
    let start = example.find("# [seata]").expect("a [seata] section");
    let (head, rest) = example.split_at(start);
    let end = rest
        .find("\n\n")
        .expect("the section ends with a blank line");
    let section: Vec<&str> = rest[..end]
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .collect();
    let text = format!("{head}{}\n{}", section.join("\n"), &rest[end..]);
    let config = NodeConfig::from_toml(&text).expect("valid");
    assert_eq!(config.seata.port, Some(8091));
    assert_eq!(config.seata.host.as_deref(), Some("127.0.0.1"));
    assert_eq!(config.seata.advertise.as_deref(), Some("127.0.0.1"));
    // The documented UndoLogDelete values are Java's defaults.
    assert_eq!(
        config.seata.undo_log(),
        tars_seata_front::UndoLogSchedule::default()
    );
    assert_eq!(config.seata.undo_log_save_days, Some(7));
    assert!(!config.seata.batch_responses);
    let typo = text.replace("advertise = ", "advertize = ");
    assert!(
        NodeConfig::from_toml(&typo).is_err(),
        "unknown keys refused"
    );
}

#[test]
fn a_seata_port_in_use_fails_the_start_and_releases_the_stores() {
    let dir = tempfile::tempdir().expect("dir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut config = NodeConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..NodeConfig::default()
    };
    config.registry.port = 0;
    config.coordinator.port = 0;
    config.seata.port = Some(taken.local_addr().expect("addr").port());
    match tarsd::Node::start(&config) {
        Err(tarsd::NodeError::Seata(e)) => assert!(e.to_string().contains("binding"), "{e}"),
        Err(other) => panic!("not a Seata error: {other}"),
        Ok(_) => panic!("started on a port in use"),
    }
    // The stores were closed: the same data directory opens again.
    config.seata.port = Some(0);
    let node = tarsd::Node::start(&config).expect("restart");
    assert!(node.seata_addr().is_some_and(|a| a.port() != 0));
    node.shutdown();
}

fn start_tarsd(dir: &std::path::Path) -> ChildProcess {
    // Phase two retried quickly, so the test does not wait for the default backoff.
    let config = dir.join("tarsd.toml");
    std::fs::write(
        &config,
        "[coordinator]\nphase_two_timeout_ms = 1000\nretry_period_ms = 100\nmax_backoff_ms = 300\n",
    )
    .expect("config");
    let mut command = Command::new(env!("CARGO_BIN_EXE_tarsd"));
    command
        .args(["--config", config.to_str().expect("utf-8")])
        .args(["--data-dir", dir.to_str().expect("utf-8")])
        .args(["--registry-port", "0", "--coordinator-port", "0"])
        .args(["--seata-port", "0"])
        .env("RUST_LOG", "warn");
    ChildProcess::start(command, Duration::from_secs(30))
}

#[test]
fn a_decided_commit_reaches_the_seata_rm_after_kill_9() {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = start_tarsd(dir.path());
    let seata = child.ready_field("seata").expect("seata port");
    let mut c = Client::connect(seata);
    c.register("crash-app", "crash-account");
    let xid = c.begin();
    let branch = c.tcc_branch(&xid, "crash-account");
    // The TM commits; the RM receives the BranchCommit (so the decision is stored: phase two
    // starts only after it is durable) and tarsd dies before the RM answers.
    c.send(&Message::GlobalCommitRequest(GlobalXidRequest {
        xid: xid.clone(),
        extra_data: String::new(),
    }));
    let (_, first) = c.next_request();
    let expected = Message::BranchCommitRequest(BranchPhaseTwoRequest {
        xid: xid.clone(),
        branch_id: branch,
        branch_type: BranchType::Tcc,
        resource_id: "crash-account".into(),
        application_data: "seata-branch".into(),
    });
    assert_eq!(first, expected);
    child.signal(Signal::SIGKILL);
    let _ = child.wait_exit(Duration::from_secs(10));
    drop(c);

    // Restarted on other ports: the branch's recorded bridge is gone, so the coordinator finds
    // the RM through the bridge registered in the registry once it has reconnected.
    let mut child = start_tarsd(dir.path());
    let seata = child.ready_field("seata").expect("seata port");
    let mut rm = Client::connect(seata);
    rm.register("crash-app", "crash-account");
    let (id, again) = rm.next_request();
    assert_eq!(again, expected, "the same branch commit, after the restart");
    rm.succeed(id, &again);
    tars_test_support::wait_until(
        "the transaction is finished",
        Duration::from_secs(10),
        || rm.status(&xid) == GlobalStatus::Finished,
    );
    child.signal(Signal::SIGTERM);
    assert!(child.wait_exit(Duration::from_secs(10)).success());
}

/// A Tars participant that records what it was asked and always succeeds.
#[derive(Default, Clone)]
struct TarsParticipant(std::sync::Arc<parking_lot::Mutex<Vec<(&'static str, i64)>>>);

impl Participant for TarsParticipant {
    fn branch_commit(
        &self,
        _: &mut Current,
        _xid: TarsString,
        branch_id: i64,
        _: tx::BranchType,
        _: TarsString,
        _: TarsString,
    ) -> Result<tx::BranchStatus, ServantError> {
        self.0.lock().push(("commit", branch_id));
        Ok(tx::BranchStatus::PhaseTwo_Committed)
    }

    fn branch_rollback(
        &self,
        _: &mut Current,
        _xid: TarsString,
        branch_id: i64,
        _: tx::BranchType,
        _: TarsString,
        _: TarsString,
    ) -> Result<tx::BranchStatus, ServantError> {
        self.0.lock().push(("rollback", branch_id));
        Ok(tx::BranchStatus::PhaseTwo_Rollbacked)
    }
}

#[test]
fn a_seata_tm_ends_a_transaction_with_a_seata_rm_branch_and_a_tars_participant() {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = start_tarsd(dir.path());
    let (seata, coordinator) = (
        child.ready_field("seata").expect("seata port"),
        child.ready_field("coordinator").expect("coordinator port"),
    );
    let tars_side = TarsParticipant::default();
    let mut servants = Servants::new();
    servants.add(
        "Mixed.Account.ParticipantObj",
        std::sync::Arc::new(ParticipantServant::new(tars_side.clone())),
    );
    let (server, port) = tars_test_support::serve(servants, 1);
    let resource = format!("Mixed.Account.ParticipantObj@tcp -h 127.0.0.1 -p {port}");
    let tars_rm = CoordinatorProxy::new(
        Communicator::new()
            .string_to_proxy(&format!(
                "tars.tarscoordinator.CoordinatorObj@tcp -h 127.0.0.1 -p {coordinator} -t 5000"
            ))
            .expect("proxy"),
    );
    let mut c = Client::connect(seata);
    c.register("mixed-app", "mixed-seata");

    for (commit, expected) in [
        (true, GlobalStatus::Committed),
        (false, GlobalStatus::Rollbacked),
    ] {
        tars_side.0.lock().clear();
        let xid = c.begin();
        let seata_branch = c.tcc_branch(&xid, "mixed-seata");
        let (r, tars_branch) = tars_rm
            .branch_register(&xid, tx::BranchType::TCC, &resource, "tars-rm", "", "")
            .expect("tars branch register");
        assert_eq!(r.code, tx::ResultCode::Success, "{r:?}");
        let end = GlobalXidRequest {
            xid: xid.clone(),
            extra_data: String::new(),
        };
        let id = c.send(&if commit {
            Message::GlobalCommitRequest(end)
        } else {
            Message::GlobalRollbackRequest(end)
        });
        // Serve the Seata branch's phase two until the TM's answer comes, noting when it
        // was asked relative to the Tars participant.
        let mut seata_asked_after_tars = None;
        let answer = loop {
            let frame = c.recv_frame();
            if frame.message_type == MessageType::Request {
                let request = frame.message().expect("decode").expect("body");
                seata_asked_after_tars = Some(!tars_side.0.lock().is_empty());
                c.succeed(frame.request_id, &request);
                continue;
            }
            assert_eq!(frame.request_id, id);
            break frame.message().expect("decode").expect("body");
        };
        let status = match answer {
            Message::GlobalCommitResponse(r) | Message::GlobalRollbackResponse(r) => {
                r.global_status
            }
            other => panic!("not an end response: {other:?}"),
        };
        assert_eq!(status, expected);
        let op = if commit { "commit" } else { "rollback" };
        assert_eq!(*tars_side.0.lock(), [(op, tars_branch)]);
        // Commit goes in registration order (Seata branch first), rollback in reverse.
        assert_eq!(seata_asked_after_tars, Some(!commit), "{op} order");
        assert!(seata_branch != tars_branch);
        assert_eq!(c.status(&xid), GlobalStatus::Finished);
    }
    server.shutdown();
    child.signal(Signal::SIGTERM);
    assert!(child.wait_exit(Duration::from_secs(10)).success());
}
