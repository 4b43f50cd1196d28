//! The generated `Test::Hello` (idl/Hello.tars) between our own client and server over TCP:
//! every call of the interface against the reference semantics also used by the Node peer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tars::bytes::Bytes;
use tars::client::{block_on, Communicator};
use tars::server::{AdapterConfig, Endpoint, Servants, Server, ServerConfig};
use tars_conformance::hello::{HelloImpl, Test, HELLO_OBJ};

fn our_server() -> (Server, u16) {
    let mut servants = Servants::new();
    servants.add(
        HELLO_OBJ,
        Arc::new(Test::HelloServant::new(HelloImpl::default())),
    );
    let mut adapter = AdapterConfig::new(
        "HelloAdapter",
        Endpoint::tcp("127.0.0.1", 0),
        Arc::new(servants),
    );
    adapter.threads = 2;
    let server = Server::start(ServerConfig::default(), vec![adapter]).expect("server starts");
    let port = server.local_addr("HelloAdapter").expect("bound").port();
    (server, port)
}

fn proxy(port: u16) -> Test::HelloProxy {
    let p = Communicator::new()
        .string_to_proxy(&format!("{HELLO_OBJ}@tcp -h 127.0.0.1 -p {port} -t 3000"))
        .expect("proxy");
    Test::HelloProxy::new(p)
}

/// Every call of the interface, checked against the agreed semantics.
fn exercise(hello: &Test::HelloProxy) {
    assert_eq!(hello.echo("hello").unwrap(), (5, "hello".to_string()));
    let item = Test::Item {
        id: 41,
        name: "item".into(),
        data: Bytes::from_static(&[1, 2, 3]),
        attrs: BTreeMap::from([("k".to_string(), "v".to_string())]),
    };
    let back = hello.echo_item(&item).unwrap();
    assert_eq!((back.id, back.name.as_str()), (42, "item!"));
    assert_eq!(
        (back.data, back.attrs),
        (item.data.clone(), item.attrs.clone())
    );
    let m = BTreeMap::from([("a".to_string(), 1), ("b".to_string(), -7)]);
    assert_eq!(
        hello.echo_map(&m).unwrap(),
        BTreeMap::from([("a".to_string(), 2), ("b".to_string(), -14)])
    );
    let bytes: Bytes = (0..300u32).map(|i| i as u8).collect();
    let reversed: Bytes = bytes.iter().rev().copied().collect();
    assert_eq!(hello.echo_bytes(&bytes).unwrap(), reversed);
    assert_eq!(hello.add(-5, 12).unwrap(), (0, 7));
    hello.ping().unwrap();
    hello.notify_oneway("sent one-way").unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let last = hello.last_notify().unwrap();
        if last == "sent one-way" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "one-way notify never arrived (last = {last:?})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        block_on(hello.echo_async("async")).unwrap(),
        (5, "async".to_string())
    );
}

#[test]
fn our_client_calls_our_server() {
    let (server, port) = our_server();
    exercise(&proxy(port));
    server.shutdown();
}
