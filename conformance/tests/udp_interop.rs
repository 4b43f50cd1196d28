//! UDP interop with npm @tars/rpc (`udp -h ... -p ...`: one request frame per datagram, one
//! reply datagram to the sender):
//!
//! - the @tars/rpc client (`rpc-client.js --udp`) against our `interop-server --udp-port`;
//! - the @tars/rpc UDP server (`rpc-server.js --udp`) against a raw std `UdpSocket`, so the
//!   other direction can be tested once our client speaks UDP.

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use tars::bytes::Bytes;
use tars::codec::{Reader, TarsStruct};
use tars::packet::{packet_type, ParamReader, ParamWriter, RequestPacket, ResponsePacket};
use tars_conformance::hello::HELLO_OBJ;
use tars_conformance::peer;
use tars_test_support::ChildProcess;

/// How long a process may take to print READY, and a reply to arrive.
const START: Duration = Duration::from_secs(20);
const REPLY: Duration = Duration::from_secs(5);

/// Runs `node rpc-client.js <port> --udp [flags]` and requires every check to pass.
fn node_udp_client(port: u16, flags: &[&str]) {
    let mut args = vec![port.to_string(), "--udp".to_owned()];
    args.extend(flags.iter().map(|f| f.to_string()));
    let run = peer::run("rpc-client.js", &args).unwrap_or_else(|e| panic!("{e}"));
    println!("rpc-client.js {args:?}:\n{}", run.output);
    assert!(
        run.success && run.output.contains(" passed, 0 failed") && run.output.contains("over udp"),
        "@tars/rpc UDP client ({args:?}) failed:\n{}",
        run.output
    );
}

#[test]
fn node_client_calls_our_interop_server_over_udp() {
    peer::ensure_peers().unwrap_or_else(|e| panic!("{e}"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_interop-server"));
    // Stdin is closed for the child, so it runs for a fixed time (killed when dropped).
    command.args(["--udp-port", "0", "--seconds", "300"]);
    let server = ChildProcess::start(command, START);
    let udp = server
        .ready_field("udp")
        .unwrap_or_else(|| panic!("no udp= on the READY line {:?}", server.ready()));
    node_udp_client(udp, &[]);
    node_udp_client(udp, &["--tup"]);
    node_udp_client(udp, &["--tup2"]);
}

/// The @tars/rpc client over UDP against the @tars/rpc UDP server: the scripts are right about
/// the peer itself.
#[test]
fn node_client_calls_node_udp_server() {
    let (_node, port) = node_udp_server();
    node_udp_client(port, &["--no-servant-check"]);
}

/// `rpc-server.js --udp` on a free UDP port (killed by pid when dropped).
fn node_udp_server() -> (ChildProcess, u16) {
    let port = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free udp port")
        .port();
    let mut command =
        peer::node_server_command("rpc-server.js", port).unwrap_or_else(|e| panic!("{e}"));
    command.arg("--udp");
    (ChildProcess::start(command, START), port)
}

fn datagram(req: &RequestPacket) -> Vec<u8> {
    let body = req.encode_to_bytes();
    let mut out = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// Receives one datagram and checks it holds exactly one response frame.
fn reply(socket: &UdpSocket) -> ResponsePacket {
    let mut buf = vec![0u8; 70_000];
    let n = socket.recv(&mut buf).expect("a reply datagram within 5 s");
    assert!(n >= 4, "datagram of {n} bytes");
    let prefix = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    assert_eq!(prefix, n, "one frame per reply datagram");
    let body = Bytes::copy_from_slice(&buf[4..n]);
    ResponsePacket::read_fields(&mut Reader::from_bytes(&body, Default::default()))
        .expect("a Tars response")
}

#[test]
fn node_udp_server_answers_a_raw_datagram_with_one_datagram() {
    let (_node, port) = node_udp_server();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("client socket");
    socket.connect(("127.0.0.1", port)).expect("connect");
    socket.set_read_timeout(Some(REPLY)).expect("timeout");

    // int echo(string s, out string r)
    let mut w = ParamWriter::tars();
    w.write_str(1, "s", "datagram");
    socket
        .send(&datagram(&RequestPacket::new(
            7,
            HELLO_OBJ,
            "echo",
            w.into_body(),
            3000,
        )))
        .expect("send");
    let r = reply(&socket);
    assert_eq!((r.request_id, r.ret), (7, 0));
    let mut out = ParamReader::tars(&r.buffer, Default::default());
    assert_eq!(out.read_return::<i32>().unwrap(), 8);
    assert_eq!(out.read::<String>(2, "r").unwrap(), "datagram");

    // void notify(string msg) one-way: no reply; string lastNotify() sees it.
    let mut w = ParamWriter::tars();
    w.write_str(1, "msg", "one-way over udp");
    let mut notify = RequestPacket::new(8, HELLO_OBJ, "notify", w.into_body(), 3000);
    notify.packet_type = packet_type::ONEWAY;
    socket.send(&datagram(&notify)).expect("send");
    let last = RequestPacket::new(
        9,
        HELLO_OBJ,
        "lastNotify",
        ParamWriter::tars().into_body(),
        3000,
    );
    socket.send(&datagram(&last)).expect("send");
    let r = reply(&socket);
    assert_eq!(
        r.request_id, 9,
        "the first reply answers lastNotify, not the one-way call"
    );
    let text: String = ParamReader::tars(&r.buffer, Default::default())
        .read_return()
        .unwrap();
    assert_eq!(text, "one-way over udp");
}
