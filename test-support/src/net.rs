//! Servers and proxies on 127.0.0.1.

use std::sync::Arc;

use tars::client::{Communicator, ServantProxy};
use tars::server::{AdapterConfig, Dispatch, Endpoint, Servants, Server, ServerConfig};

/// The adapter name [`serve`] uses.
pub const ADAPTER: &str = "Test.Adapter";

/// A port nothing listens on right now (bound to 127.0.0.1:0, then released).
pub fn free_port() -> u16 {
    // The kernel may hand a port it just handed out again once its listener is closed; a
    // caller asking for several ports at once (an etcd cluster's peer and client ports) needs
    // them distinct, so no port is returned twice in one process.
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port on 127.0.0.1")
            .port();
        if given.insert(port) {
            return port;
        }
    }
}

/// Starts `servants` on 127.0.0.1 (a free port) with `threads` business threads (0: on the
/// net thread) and the default server configuration; returns the server and its port.
pub fn serve(servants: Servants, threads: usize) -> (Server, u16) {
    serve_on(0, servants, threads, ServerConfig::default())
}

/// [`serve`] on a given port (0: a free one) with a server configuration of the caller's.
pub fn serve_on(
    port: u16,
    servants: Servants,
    threads: usize,
    config: ServerConfig,
) -> (Server, u16) {
    serve_adapter(port, servants, config, |adapter| adapter.threads = threads)
}

/// Serves `servants` on 127.0.0.1:`port` (0: a free one) on an adapter ([`ADAPTER`], default
/// limits) that `adjust` changes first (threads, queue, connection limits, ...).
pub fn serve_adapter(
    port: u16,
    servants: Servants,
    config: ServerConfig,
    adjust: impl FnOnce(&mut AdapterConfig),
) -> (Server, u16) {
    let mut adapter = AdapterConfig::new(
        ADAPTER,
        Endpoint::tcp("127.0.0.1", port),
        Arc::new(servants),
    );
    adjust(&mut adapter);
    let server = Server::start(config, vec![adapter]).expect("test server starts");
    let port = server.local_addr(ADAPTER).expect("bound").port();
    (server, port)
}

/// The servants of a server with one servant, `servant` under `obj` (for [`serve`],
/// [`serve_on`] and [`serve_adapter`]).
pub fn one_servant(obj: &str, servant: Arc<dyn Dispatch>) -> Servants {
    let mut servants = Servants::new();
    servants.add(obj, servant);
    servants
}

/// Starts one servant under `obj` (1 business thread); returns the server and its port.
pub fn serve_one(obj: &str, servant: Arc<dyn Dispatch>) -> (Server, u16) {
    serve(one_servant(obj, servant), 1)
}

/// `obj@tcp -h 127.0.0.1 -p <port> -t 3000`.
pub fn proxy_string(obj: &str, port: u16) -> String {
    format!("{obj}@tcp -h 127.0.0.1 -p {port} -t 3000")
}

/// A proxy to `obj` on 127.0.0.1:`port` from a new communicator.
pub fn proxy(obj: &str, port: u16) -> ServantProxy {
    Communicator::new()
        .string_to_proxy(&proxy_string(obj, port))
        .expect("proxy")
}

/// A registry instance of `obj` at `host:port` (TCP, 3 s timeout) with default metadata; set
/// the other fields with struct update syntax.
pub fn instance(obj: &str, host: &str, port: i32) -> tars::protocol::tarsrs::Instance {
    tars::protocol::tarsrs::Instance {
        obj_name: obj.into(),
        endpoint: tars::protocol::tars::EndpointF {
            host: host.into(),
            port,
            timeout: 3000,
            istcp: 1,
            ..Default::default()
        },
        ..Default::default()
    }
}
