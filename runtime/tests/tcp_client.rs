//! Our client over TCP against our server on 127.0.0.1: sync / async / one-way calls,
//! timeouts, reconnection after a server restart, and endpoint fail-over.

use std::sync::Arc;
use std::time::Duration;

use tars::client::{block_on, CallError, CallOptions, Communicator};
use tars::packet::ParamWriter;
use tars::server::{Servants, ServerConfig};
use tars_test_support::servants::string_param;
use tars_test_support::{free_port, one_servant, poll_until, proxy_string, serve_on, Echo};

const OBJ: &str = "Test.Client.EchoObj";

/// The servants of the tests' servers: a fresh [`Echo`] under [`OBJ`].
fn echo_servants() -> Servants {
    one_servant(OBJ, Arc::new(Echo::default()))
}

#[test]
fn sync_async_oneway_and_context_over_tcp() {
    let (server, port) = serve_on(0, echo_servants(), 4, ServerConfig::default());
    let proxy = Communicator::new()
        .string_to_proxy(&proxy_string(OBJ, port))
        .unwrap()
        .with_context("tag", "#");
    let reply = proxy
        .invoke_sync("echo", string_param("a"), &CallOptions::new())
        .unwrap();
    assert_eq!(reply.reader().read_return::<String>().unwrap(), "#a");
    // Many concurrent async calls on one connection, answered out of order by 4 threads.
    let futures: Vec<_> = (0..200)
        .map(|i| proxy.invoke_async("echo", string_param(&i.to_string()), &CallOptions::new()))
        .collect();
    for (i, f) in futures.into_iter().enumerate() {
        assert_eq!(
            block_on(f)
                .unwrap()
                .reader()
                .read_return::<String>()
                .unwrap(),
            format!("#{i}")
        );
    }
    for _ in 0..3 {
        proxy
            .invoke_oneway("notify", ParamWriter::tars(), &CallOptions::new())
            .unwrap();
    }
    poll_until(
        "the 3 one-way calls arrive",
        Duration::from_secs(10),
        || {
            let n: i32 = proxy
                .invoke_sync("count", ParamWriter::tars(), &CallOptions::new())
                .unwrap()
                .reader()
                .read_return()
                .unwrap();
            assert!(n <= 3, "one-way calls arrive once: {n}");
            (n == 3).then_some(())
        },
    );
    assert_eq!(
        proxy
            .invoke_sync("nope", ParamWriter::tars(), &CallOptions::new())
            .unwrap_err()
            .code(),
        -3
    );
    server.shutdown();
}

#[test]
fn timeouts_and_reconnection() {
    let port = free_port();
    let (server, _) = serve_on(port, echo_servants(), 4, ServerConfig::default());
    let proxy = Communicator::new()
        .string_to_proxy(&format!("{OBJ}@tcp -h 127.0.0.1 -p {port} -t 1000"))
        .unwrap();
    let mut w = ParamWriter::tars();
    w.write(1, "ms", &500i32);
    let err = proxy
        .invoke_sync(
            "sleep",
            w,
            &CallOptions::new().timeout(Duration::from_millis(100)),
        )
        .unwrap_err();
    assert_eq!(err, CallError::Timeout(100));
    server.shutdown();
    // The server is gone: calls fail with a transport error, promptly.
    let err = proxy
        .invoke_sync("echo", string_param("x"), &CallOptions::new())
        .unwrap_err();
    assert!(matches!(err, CallError::Transport(_)), "{err:?}");
    // It comes back on the same port: the proxy reconnects.
    let (server, _) = serve_on(port, echo_servants(), 4, ServerConfig::default());
    let reply = proxy
        .invoke_sync("echo", string_param("back"), &CallOptions::new())
        .unwrap();
    assert_eq!(reply.reader().read_return::<String>().unwrap(), "back");
    server.shutdown();
}

#[test]
fn dead_endpoints_are_skipped() {
    let (server, port) = serve_on(0, echo_servants(), 4, ServerConfig::default());
    let dead = free_port();
    let proxy = Communicator::new()
        .string_to_proxy(&format!(
            "{OBJ}@tcp -h 127.0.0.1 -p {dead} -t 500:tcp -h 127.0.0.1 -p {port} -t 500"
        ))
        .unwrap();
    for i in 0..6 {
        let reply = proxy
            .invoke_sync("echo", string_param(&i.to_string()), &CallOptions::new())
            .unwrap();
        assert_eq!(
            reply.reader().read_return::<String>().unwrap(),
            i.to_string()
        );
    }
    assert!(Communicator::new().string_to_proxy("NoEndpoints").is_err());
    assert!(Communicator::new()
        .string_to_proxy("Obj@tcp -h 127.0.0.1")
        .is_err());
    server.shutdown();
}

/// `NetConfig::connections_per_endpoint` opens that many connections to an endpoint, spread
/// over the net threads, and calls (sync and async) use them in turn.
#[test]
fn several_connections_per_endpoint() {
    let (server, port) = serve_on(0, echo_servants(), 2, ServerConfig::default());
    let net = tars::client::NetConfig {
        threads: 2,
        connections_per_endpoint: 3,
        ..tars::client::NetConfig::default()
    };
    let proxy = Communicator::new()
        .with_net_config(net)
        .string_to_proxy(&proxy_string(OBJ, port))
        .unwrap();
    for i in 0..12 {
        let reply = proxy
            .invoke_sync("echo", string_param(&i.to_string()), &CallOptions::new())
            .unwrap();
        assert_eq!(
            reply.reader().read_return::<String>().unwrap(),
            i.to_string()
        );
    }
    let calls: Vec<_> = (0..60)
        .map(|i| proxy.invoke_async("echo", string_param(&i.to_string()), &CallOptions::new()))
        .collect();
    for (i, f) in calls.into_iter().enumerate() {
        let reply = block_on(f).unwrap();
        assert_eq!(
            reply.reader().read_return::<String>().unwrap(),
            i.to_string()
        );
    }
    let open = server
        .connection_stats()
        .snapshot()
        .into_iter()
        .map(|(_, n)| n)
        .sum::<usize>();
    assert_eq!(open, 3, "connections open at the server");
    server.shutdown();
}
