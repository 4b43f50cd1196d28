//! The generated `Test::Hello` (idl/Hello.tars) between our client and our server, and between
//! our client and the npm @tars/rpc server, over TCP and over UDP: every call of the interface
//! against the reference semantics also used by the Node peer.

use std::collections::BTreeMap;
use std::time::Duration;
use tars::TarsString;

use tars::bytes::Bytes;
use tars::client::{block_on, CallError, CallOptions, Communicator};
use tars::packet::TupVersion;
use tars::server::{Server, ServerConfig};
use tars_conformance::hello::{
    hello_adapter, udp_twin, Test, HELLO_ADAPTER, HELLO_OBJ, HELLO_UDP_ADAPTER,
};
use tars_conformance::peer;
use tars_test_support::{free_port, poll_until_ok, proxy_string, ChildProcess};

fn our_server() -> (Server, u16) {
    let adapter = hello_adapter(0, 2);
    let server = Server::start(ServerConfig::default(), vec![adapter]).expect("server starts");
    let port = server.local_addr(HELLO_ADAPTER).expect("bound").port();
    (server, port)
}

fn proxy(port: u16) -> Test::HelloProxy {
    let p = Communicator::new()
        .string_to_proxy(&proxy_string(HELLO_OBJ, port))
        .expect("proxy");
    Test::HelloProxy::new(p)
}

/// A proxy calling over UDP (`udp -h 127.0.0.1 -p port`): one request per datagram.
fn udp_proxy(port: u16) -> Test::HelloProxy {
    let p = Communicator::new()
        .string_to_proxy(&format!("{HELLO_OBJ}@udp -h 127.0.0.1 -p {port} -t 3000"))
        .expect("proxy");
    Test::HelloProxy::new(p)
}

/// The @tars/rpc server `rpc-server.js` on a free port (killed by pid when dropped).
fn node_server() -> (ChildProcess, u16) {
    let port = free_port();
    let command =
        peer::node_server_command("rpc-server.js", port).unwrap_or_else(|e| panic!("{e}"));
    (ChildProcess::start(command, Duration::from_secs(20)), port)
}

/// Every call of the interface, checked against the agreed semantics.
fn exercise(hello: &Test::HelloProxy) {
    assert_eq!(hello.echo("hello").unwrap(), (5, TarsString::from("hello")));
    let item = Test::Item {
        id: 41,
        name: "item".into(),
        data: Bytes::from_static(&[1, 2, 3]),
        attrs: BTreeMap::from([(TarsString::from("k"), TarsString::from("v"))]),
    };
    let back = hello.echo_item(&item).unwrap();
    assert_eq!((back.id, back.name.as_str()), (42, "item!"));
    assert_eq!(
        (back.data, back.attrs),
        (item.data.clone(), item.attrs.clone())
    );
    let m = BTreeMap::from([(TarsString::from("a"), 1), (TarsString::from("b"), -7)]);
    assert_eq!(
        hello.echo_map(&m).unwrap(),
        BTreeMap::from([(TarsString::from("a"), 2), (TarsString::from("b"), -14)])
    );
    let bytes: Bytes = (0..300u32).map(|i| i as u8).collect();
    let reversed: Bytes = bytes.iter().rev().copied().collect();
    assert_eq!(hello.echo_bytes(&bytes).unwrap(), reversed);
    assert_eq!(hello.add(-5, 12).unwrap(), (0, 7));
    hello.ping().unwrap();
    hello.notify_oneway("sent one-way").unwrap();
    poll_until_ok("the one-way notify", Duration::from_secs(3), || {
        let last = hello.last_notify().unwrap();
        if last == "sent one-way" {
            Ok(())
        } else {
            Err(last)
        }
    });
    assert_eq!(
        block_on(hello.echo_async("async")).unwrap(),
        (5, TarsString::from("async"))
    );
    hello.tars_ping().unwrap();
    lossless(hello);
}

/// Values this side cannot interpret travel unchanged: enum values of a newer IDL and strings
/// that are not UTF-8.
fn lossless(hello: &Test::HelloProxy) {
    assert_eq!(hello.echo_mood(Test::Mood::BUSY).unwrap(), Test::Mood::BUSY);
    for unknown in [99, -5, i32::MAX] {
        let back = hello.echo_mood(Test::Mood::Unrecognized(unknown)).unwrap();
        assert_eq!(back, Test::Mood::Unrecognized(unknown));
        assert_eq!(i32::from(back), unknown);
    }
    let gbk: &[u8] = b"\xc4\xe3\xba\xc3\xca\xc0\xbd\xe7"; // "你好世界" in GBK
    let mut long = b"id=".to_vec();
    long.extend(std::iter::repeat_n(0xb0u8, 300));
    for raw in [gbk, &long[..], b"\xff\x00\x80"] {
        let sent = TarsString::from_bytes(Bytes::copy_from_slice(raw));
        assert!(!sent.is_utf8());
        let back = hello.echo_raw(&sent).unwrap();
        assert_eq!(back.as_bytes(), raw, "non-UTF-8 string changed on the way");
        assert_eq!(back, sent);
    }
}

/// The calls of the interface in TUP v3 and v2 (parameters by name), through the same proxy
/// switched with `with_tup`.
fn exercise_tup(hello: &Test::HelloProxy) {
    for version in [TupVersion::Simple, TupVersion::Complex] {
        let tup = hello.with_tup(version);
        assert_eq!(tup.servant_proxy().protocol_version(), version.code());
        assert_eq!(
            tup.echo("tup").unwrap(),
            (3, TarsString::from("tup")),
            "{version:?}"
        );
        assert_eq!(tup.add(40, 2).unwrap(), (0, 42), "{version:?}");
        let item = Test::Item {
            id: 7,
            name: "n".into(),
            data: Bytes::from_static(&[9, 8]),
            attrs: BTreeMap::from([(TarsString::from("k"), TarsString::from("v"))]),
        };
        let back = tup.echo_item(&item).unwrap();
        assert_eq!(
            (back.id, back.name.as_str(), back.data),
            (8, "n!", item.data)
        );
        let m = BTreeMap::from([(TarsString::from("a"), 3)]);
        assert_eq!(
            tup.echo_map(&m).unwrap(),
            BTreeMap::from([(TarsString::from("a"), 6)])
        );
        let bytes = Bytes::from_static(&[1, 2, 3]);
        assert_eq!(
            tup.echo_bytes(&bytes).unwrap(),
            Bytes::from_static(&[3, 2, 1])
        );
        tup.ping().unwrap();
        tup.tars_ping().unwrap();
        lossless(&tup);
        // A framework error reaches a TUP caller in the layout it decodes.
        let raw = tup.servant_proxy();
        let err = raw
            .invoke_sync("noSuchFunction", raw.param_writer(), &CallOptions::new())
            .expect_err("unknown function must fail");
        assert!(
            matches!(err, CallError::Server { code: -3, .. }),
            "{version:?}: unexpected {err:?}"
        );
    }
}

#[test]
fn our_client_calls_our_server() {
    let (server, port) = our_server();
    exercise(&proxy(port));
    exercise_tup(&proxy(port));
    server.shutdown();
}

/// Runs `node rpc-client.js <port> [flags]` and requires every check to pass.
fn node_client(port: u16, flags: &[&str]) {
    let mut args = vec![port.to_string()];
    args.extend(flags.iter().map(|f| f.to_string()));
    let run = peer::run("rpc-client.js", &args).unwrap_or_else(|e| panic!("{e}"));
    println!("rpc-client.js {args:?}:\n{}", run.output);
    assert!(
        run.success && run.output.contains(" passed, 0 failed"),
        "@tars/rpc client ({args:?}) failed:\n{}",
        run.output
    );
}

/// The peer scripts are right about the peer itself: the @tars/rpc client passes against the
/// @tars/rpc server (which dispatches by adapter, so it cannot report an unknown servant).
#[test]
fn node_client_calls_node_server() {
    let (_node, port) = node_server();
    node_client(port, &["--no-servant-check"]);
    node_client(port, &["--no-servant-check", "--tup"]);
    node_client(port, &["--no-servant-check", "--tup2"]);
}

#[test]
fn node_client_calls_our_server() {
    let (server, port) = our_server();
    node_client(port, &[]);
    node_client(port, &["--tup"]);
    node_client(port, &["--tup2"]);
    server.shutdown();
}

#[test]
fn our_client_calls_node_server() {
    let (_node, port) = node_server();
    let hello = proxy(port);
    exercise(&hello);
    exercise_tup(&hello);

    // Many calls in flight at once on one connection, answered by request id.
    let pending: Vec<_> = (0..200)
        .map(|i| (i, hello.add_async(i, 1_000_000)))
        .collect();
    for (i, call) in pending {
        assert_eq!(block_on(call).unwrap(), (0, i + 1_000_000));
    }

    // The peer's framework answers an unknown function with -3.
    let raw = hello.servant_proxy();
    let err = raw
        .invoke_sync("noSuchFunction", raw.param_writer(), &CallOptions::new())
        .expect_err("unknown function must fail");
    assert!(
        matches!(err, CallError::Server { code: -3, .. }),
        "unexpected {err:?}"
    );

    // A timeout shorter than the peer needs is reported as a timeout, and the connection
    // still serves calls afterwards.
    let long = "x".repeat(4 << 20);
    let quick = hello.with_timeout(Duration::from_millis(1));
    match quick.echo(&long) {
        Err(CallError::Timeout(_)) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(hello.echo("after").unwrap(), (5, TarsString::from("after")));
}

/// Our client over UDP against our server's UDP adapter (the same servant as its TCP one).
#[test]
fn our_client_calls_our_server_over_udp() {
    let tcp = hello_adapter(0, 2);
    let udp = udp_twin(&tcp, 0);
    let server = Server::start(ServerConfig::default(), vec![tcp, udp]).expect("server starts");
    let port = server.local_addr(HELLO_UDP_ADAPTER).expect("bound").port();
    let hello = udp_proxy(port);
    exercise(&hello);
    exercise_tup(&hello);
    many_in_flight(&hello);
    server.shutdown();
}

/// Our client over UDP against the @tars/rpc UDP server (`rpc-server.js --udp`).
#[test]
fn our_client_calls_node_server_over_udp() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free udp port")
        .port();
    let mut command =
        peer::node_server_command("rpc-server.js", port).unwrap_or_else(|e| panic!("{e}"));
    command.arg("--udp");
    let _node = ChildProcess::start(command, Duration::from_secs(20));
    let hello = udp_proxy(port);
    exercise(&hello);
    exercise_tup(&hello);
    many_in_flight(&hello);
    // A request too large for one datagram fails at once, without reaching the wire.
    let big = "x".repeat(70_000);
    match hello.echo(&big) {
        Err(CallError::Transport(m)) => assert!(m.contains("UDP datagram"), "{m}"),
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert_eq!(hello.echo("after").unwrap(), (5, TarsString::from("after")));
}

/// 64 calls in flight at once (within what a default UDP receive buffer holds), matched by
/// request id.
fn many_in_flight(hello: &Test::HelloProxy) {
    let pending: Vec<_> = (0..64)
        .map(|i| (i, hello.add_async(i, 1_000_000)))
        .collect();
    for (i, call) in pending {
        assert_eq!(block_on(call).unwrap(), (0, i + 1_000_000));
    }
}
