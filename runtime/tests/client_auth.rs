//! TarsCpp's local authentication end to end: a communicator with a key reaches an adapter
//! whose endpoint says `-e 1` (its first frame on each connection is the signed package),
//! one without a key or with a wrong one does not.

use std::sync::Arc;
use std::time::Duration;

use tars::client::{block_on, CallOptions, Communicator};
use tars::server::ServerConfig;
use tars_test_support::servants::string_param;
use tars_test_support::{one_servant, serve_adapter, Echo};

const OBJ: &str = "Test.Auth.EchoObj";

fn echo(communicator: Communicator, port: u16) -> Result<String, tars::client::CallError> {
    let proxy = communicator
        .string_to_proxy(&format!("{OBJ}@tcp -h 127.0.0.1 -p {port} -t 60000 -e 1"))
        .expect("proxy");
    let opts = CallOptions::new().timeout(Duration::from_secs(3));
    let reply = proxy.invoke_sync("echo", string_param("secret handshake"), &opts)?;
    let sync: String = reply.reader().read_return().expect("string");
    let reply = block_on(proxy.invoke_async("echo", string_param("and async"), &opts))?;
    let asynchronous: String = reply.reader().read_return().expect("string");
    Ok(format!("{sync} / {asynchronous}"))
}

/// The principal the servant sees for calls over `communicator`.
fn principal(communicator: Communicator, port: u16, auth: &str) -> String {
    let proxy = communicator
        .string_to_proxy(&format!("{OBJ}@tcp -h 127.0.0.1 -p {port} -t 60000{auth}"))
        .expect("proxy");
    let opts = CallOptions::new().timeout(Duration::from_secs(3));
    let reply = proxy
        .invoke_sync("principal", tars::packet::ParamWriter::tars(), &opts)
        .expect("served");
    reply.reader().read_return().expect("string")
}

#[test]
fn the_servant_sees_the_access_key_as_the_principal_and_anonymous_callers_as_none() {
    let servants = one_servant(OBJ, Arc::new(Echo::default()));
    let (server, port) = serve_adapter(2, servants, ServerConfig::default(), |a| {
        a.endpoint.auth_type = 1;
        a.auth_keys.insert("ak1".into(), "123456".into());
    });
    let key = Communicator::new().with_auth_key("ak1", "123456");
    assert_eq!(principal(key, port, " -e 1"), "ak1");
    server.shutdown();
    let servants = one_servant(OBJ, Arc::new(Echo::default()));
    let (server, port) = serve_adapter(0, servants, ServerConfig::default(), |_| {});
    assert_eq!(principal(Communicator::new(), port, ""), "");
    server.shutdown();
}

#[test]
fn only_a_client_with_the_right_key_is_served_by_an_endpoint_with_local_auth() {
    let servants = one_servant(OBJ, Arc::new(Echo::default()));
    let (server, port) = serve_adapter(0, servants, ServerConfig::default(), |a| {
        a.endpoint.auth_type = 1;
        a.auth_keys.insert("ak1".into(), "123456".into());
    });
    assert_eq!(
        echo(Communicator::new().with_auth_key("ak1", "123456"), port).expect("served"),
        "secret handshake / and async"
    );
    assert!(echo(Communicator::new(), port).is_err(), "no key");
    assert!(
        echo(Communicator::new().with_auth_key("ak1", "654321"), port).is_err(),
        "a wrong secret"
    );
    assert!(
        echo(Communicator::new().with_auth_key("ak9", "123456"), port).is_err(),
        "an unknown access key"
    );
    server.shutdown();
}
