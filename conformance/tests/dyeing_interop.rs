//! Request dyeing between tars-rs and npm @tars/rpc, both ways (issue #17): a call dyed by a
//! @tars/rpc client is seen dyed, with its key, by our servant (`Current::dyeing_key`), and a call
//! dyed by our client (`CallOptions::dyeing`, or the thread's dye) is seen dyed, with its key, by
//! the @tars/rpc server (`TarsCurrent.getDyeingObj()`); undyed calls are seen undyed by both.
//!
//! Both servants answer `Test.Hello.seenDyeing` (idl/Hello.tars) with what their framework makes
//! of the request: ours from `Current::dyeing_key()` (conformance/src/hello.rs), the Node one from
//! `current.getDyeingObj()` (node/rpc-server.js). The Node client is node/dye-client.js, which
//! dyes a call through @tars/rpc's public API (`proxy.method(..., {dyeing: Dyeing.gen(true,
//! key)})`). The dyeing logs of our server and client are checked as well: one line per dyed
//! hop, none for undyed calls.

use std::sync::Arc;
use std::time::Duration;

use tars::client::{block_on, CallOptions, Communicator};
use tars::dyeing::DyeingLog;
use tars::packet::TupVersion;
use tars::server::{Server, ServerConfig};
use tars::TarsString;
use tars_conformance::hello::{hello_adapter, Test, HELLO_ADAPTER, HELLO_OBJ};
use tars_conformance::peer;
use tars_test_support::{free_port, proxy_string, ChildProcess};

/// The lines of a dyeing log: `(side, key, object, function)` (`unix-ms|side|key|object|function|
/// detail`).
fn log_lines(log: &DyeingLog) -> Vec<(String, String, String, String)> {
    std::fs::read_to_string(log.path())
        .expect("read the dyeing log")
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            assert_eq!(f.len(), 6, "dyeing log line {l:?}");
            (f[1].into(), f[2].into(), f[3].into(), f[4].into())
        })
        .collect()
}

/// What the server reported for one call of `seenDyeing`.
#[derive(Debug, PartialEq)]
struct Seen {
    call: String,
    dyed: bool,
    key: String,
}

fn seen(call: &str, dyed: bool, key: &str) -> Seen {
    Seen {
        call: call.into(),
        dyed,
        key: key.into(),
    }
}

/// Runs `node dye-client.js <port> [flags]` and returns the `SEEN` lines it printed.
fn node_dye_client(port: u16, flags: &[&str]) -> Vec<Seen> {
    let mut args = vec![port.to_string()];
    args.extend(flags.iter().map(|f| f.to_string()));
    let run = peer::run("dye-client.js", &args).unwrap_or_else(|e| panic!("{e}"));
    println!("dye-client.js {args:?}:\n{}", run.output);
    assert!(
        run.success && run.output.lines().any(|l| l == "DONE"),
        "@tars/rpc dyeing client ({args:?}) failed:\n{}",
        run.output
    );
    run.output
        .lines()
        .filter_map(|l| l.strip_prefix("SEEN "))
        .map(|json| {
            let v: serde_json::Value = serde_json::from_str(json).expect("SEEN line is JSON");
            Seen {
                call: v["call"].as_str().expect("call").into(),
                dyed: v["dyed"].as_bool().expect("dyed"),
                key: v["key"].as_str().expect("key").into(),
            }
        })
        .collect()
}

/// A call dyed by the @tars/rpc client (Tars, TUP v3 and TUP v2 requests) is seen dyed with its
/// key by our servant and logged by our server; an undyed one is not.
#[test]
fn node_client_dyed_calls_are_seen_dyed_by_our_servant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(DyeingLog::to_file(dir.path().join("server.dyeing.log")).expect("log"));
    let config = ServerConfig {
        dyeing_log: Some(log.clone()),
        ..ServerConfig::default()
    };
    let server = Server::start(config, vec![hello_adapter(0, 2)]).expect("server starts");
    let port = server.local_addr(HELLO_ADAPTER).expect("bound").port();

    for flags in [&[][..], &["--tup"], &["--tup2"]] {
        assert_eq!(
            node_dye_client(port, flags),
            [
                seen("plain", false, ""),
                seen("dyed", true, "user-42"),
                // Dyed without a key: the flag alone, the key empty.
                seen("dyed-empty-key", true, ""),
                seen("not-dyed-object", false, ""),
                seen("context-only", false, ""),
                seen("dyed-again", true, "order-7"),
            ],
            "{flags:?}"
        );
    }

    // One server line per dyed request, in order; none for the undyed ones.
    let served = |key: &str| {
        (
            "server".to_string(),
            key.to_string(),
            HELLO_OBJ.to_string(),
            "seenDyeing".to_string(),
        )
    };
    let expected: Vec<_> = (0..3)
        .flat_map(|_| [served("user-42"), served(""), served("order-7")])
        .collect();
    assert_eq!(log_lines(&log), expected);
    server.shutdown();
}

/// A call dyed by our client (call options, the thread's dye; sync, async; Tars and TUP) is
/// seen dyed with its key by the @tars/rpc server's `getDyeingObj()`, and logged by our client;
/// an undyed one is seen undyed.
#[test]
fn our_dyed_calls_are_seen_dyed_by_the_node_server() {
    let port = free_port();
    let command =
        peer::node_server_command("rpc-server.js", port).unwrap_or_else(|e| panic!("{e}"));
    let _node = ChildProcess::start(command, Duration::from_secs(20));

    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(DyeingLog::to_file(dir.path().join("client.dyeing.log")).expect("log"));
    let proxy = Communicator::new()
        .with_dyeing_log(log.clone())
        .string_to_proxy(&proxy_string(HELLO_OBJ, port))
        .expect("proxy");
    let hello = Test::HelloProxy::new(proxy);
    let dyed = |key: &str| hello.with_options(CallOptions::new().dyeing(key));
    let not_dyed = (false, TarsString::from(""));
    let dyed_with = |key: &str| (true, TarsString::from(key));

    assert_eq!(hello.seen_dyeing().unwrap(), not_dyed);
    assert_eq!(dyed("user-42").seen_dyeing().unwrap(), dyed_with("user-42"));
    assert_eq!(dyed("").seen_dyeing().unwrap(), dyed_with(""));
    assert_eq!(
        block_on(dyed("async-1").seen_dyeing_async()).unwrap(),
        dyed_with("async-1")
    );
    // Options of other kinds leave a call undyed.
    assert_eq!(
        hello.with_context("k", "v").seen_dyeing().unwrap(),
        not_dyed
    );
    {
        // The thread's dye (what a servant serving a dyed request has) dyes plain calls.
        let _dye = tars::dyeing::scope("order-7");
        assert_eq!(hello.seen_dyeing().unwrap(), dyed_with("order-7"));
    }
    assert_eq!(hello.seen_dyeing().unwrap(), not_dyed);
    for version in [TupVersion::Simple, TupVersion::Complex] {
        let tup = hello.with_tup(version);
        assert_eq!(tup.seen_dyeing().unwrap(), not_dyed, "{version:?}");
        let dyed_tup = tup.with_options(CallOptions::new().dyeing("tup-key"));
        assert_eq!(
            dyed_tup.seen_dyeing().unwrap(),
            dyed_with("tup-key"),
            "{version:?}"
        );
    }

    // One client line per dyed call, in order; none for the undyed ones.
    let called = |key: &str| {
        (
            "client".to_string(),
            key.to_string(),
            HELLO_OBJ.to_string(),
            "seenDyeing".to_string(),
        )
    };
    assert_eq!(
        log_lines(&log),
        ["user-42", "", "async-1", "order-7", "tup-key", "tup-key"]
            .map(called)
            .to_vec()
    );
}
