//! The node's Seata front end: `--seata-port` starts it, the READY line names its port, Seata
//! clients begin and commit through it, and the XIDs carry its address. The `[seata]` section
//! of the example configuration, uncommented, parses with its documented values.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use tars_seata_front::tars_seata::bytes::BytesMut;
use tars_seata_front::tars_seata::message::{
    GlobalBeginRequest, GlobalXidRequest, RegisterTmRequest,
};
use tars_seata_front::tars_seata::{
    Frame, FrameDecoder, GlobalStatus, Message, MessageType, ResultCode,
};
use tars_test_support::{ChildProcess, Signal};
use tarsd::NodeConfig;

struct Client {
    stream: TcpStream,
    decoder: FrameDecoder,
    buf: BytesMut,
    id: i32,
}

impl Client {
    fn call(&mut self, msg: Message) -> Message {
        self.id += 1;
        let mut wire = BytesMut::new();
        Frame::with_message(MessageType::Request, self.id, &msg)
            .expect("frame")
            .encode(&mut wire)
            .expect("encode");
        self.stream.write_all(&wire).expect("write");
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).expect("frame") {
                assert_eq!(frame.request_id, self.id);
                return frame.message().expect("decode").expect("body");
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).expect("read");
            assert!(n > 0, "tarsd closed the Seata connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

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

    let stream = TcpStream::connect(("127.0.0.1", seata)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut c = Client {
        stream,
        decoder: FrameDecoder::new(),
        buf: BytesMut::new(),
        id: 0,
    };
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
