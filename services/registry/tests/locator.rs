//! Our client resolving names through our registry (127.0.0.1): QueryF and Registry locators,
//! refreshes that move traffic, a failed lookup keeping the known endpoints, periodic refresh,
//! and registry metadata reaching the load-balancing policy.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tars::client::policy::{Environment, RoundRobin};
use tars::client::{CallError, CallOptions, Communicator, Policy, ServantProxy};
use tars::packet::{ParamReader, ParamWriter};
use tars::protocol::tars::EndpointF;
use tars::protocol::tarsrs::{Instance, RegistryProxy, StaticMeta};
use tars::server::{
    AdapterConfig, Current, Dispatch, DispatchError, Endpoint, Servants, Server, ServerConfig,
};
use tars_registry::service::ADAPTER;
use tars_registry::{RegistryConfig, RegistryService, QUERY_OBJ, REGISTRY_OBJ};

const OBJ: &str = "Test.Locator.WhoObj";

struct Who(String);

impl Dispatch for Who {
    fn functions(&self) -> &'static [&'static str] {
        &["who"]
    }
    fn dispatch(
        &self,
        _c: &mut Current,
        _p: &mut ParamReader<'_>,
        out: &mut ParamWriter,
    ) -> Result<(), DispatchError> {
        out.write_return(&self.0);
        Ok(())
    }
}

fn who_server(name: &str) -> (Server, u16) {
    let mut s = Servants::new();
    s.add(OBJ, Arc::new(Who(name.into())));
    let a = AdapterConfig::new("A", Endpoint::tcp("127.0.0.1", 0), Arc::new(s));
    let server = Server::start(ServerConfig::default(), vec![a]).expect("who server");
    let port = server.local_addr("A").expect("bound").port();
    (server, port)
}

struct Registry {
    server: Option<Server>,
    _dir: tempfile::TempDir,
    port: u16,
    proxy: RegistryProxy,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let service = RegistryService::open(RegistryConfig {
            data_dir: dir.path().to_path_buf(),
            port: 0,
            ..RegistryConfig::default()
        })
        .expect("open");
        let server = service.start().expect("start");
        let port = server.local_addr(ADAPTER).expect("bound").port();
        let proxy = RegistryProxy::new(
            Communicator::new()
                .string_to_proxy(&format!(
                    "{REGISTRY_OBJ}@tcp -h 127.0.0.1 -p {port} -t 3000"
                ))
                .expect("proxy"),
        );
        Registry {
            server: Some(server),
            _dir: dir,
            port,
            proxy,
        }
    }

    fn obj(&self, name: &str) -> String {
        format!("{name}@tcp -h 127.0.0.1 -p {} -t 1000", self.port)
    }

    fn add(&self, port: u16, environment: &str) {
        let instance = Instance {
            obj_name: OBJ.into(),
            endpoint: EndpointF {
                host: "127.0.0.1".into(),
                port: i32::from(port),
                timeout: 3000,
                istcp: 1,
                ..EndpointF::default()
            },
            meta: StaticMeta {
                environment: environment.into(),
                ..StaticMeta::default()
            },
            ..Instance::default()
        };
        assert_eq!(
            self.proxy.register_instance(&instance).expect("register"),
            0
        );
    }

    fn remove(&self, port: u16) {
        assert_eq!(
            self.proxy
                .deregister(OBJ, "127.0.0.1", i32::from(port))
                .expect("deregister"),
            0
        );
    }
}

fn who(p: &ServantProxy) -> Result<String, CallError> {
    let reply = p.invoke_sync("who", ParamWriter::tars(), &CallOptions::new())?;
    Ok(reply.reader().read_return::<String>()?)
}

/// Who answered `n` calls.
fn answered(p: &ServantProxy, n: usize) -> BTreeSet<String> {
    (0..n).map(|_| who(p).expect("call")).collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn query_f_locator_resolves_refreshes_and_survives_registry_loss() {
    let mut registry = Registry::start();
    let servers: Vec<(Server, u16)> = ["s0", "s1", "s2", "s3"]
        .iter()
        .map(|n| who_server(n))
        .collect();
    for (_, port) in &servers[..3] {
        registry.add(*port, "prod");
    }
    let comm = Communicator::new()
        .with_locator(&registry.obj(QUERY_OBJ))
        .expect("locator");
    let p = comm.string_to_proxy(OBJ).expect("proxy by name");
    assert_eq!(answered(&p, 9), names(&["s0", "s1", "s2"]));

    // s1 leaves, s3 joins: after a refresh, traffic follows.
    registry.remove(servers[1].1);
    registry.add(servers[3].1, "prod");
    comm.refresh_endpoints().expect("refresh");
    assert_eq!(answered(&p, 9), names(&["s0", "s2", "s3"]));

    // The registry goes away: the lookup fails, the known endpoints stay.
    if let Some(server) = registry.server.take() {
        server.shutdown();
    }
    assert!(comm.refresh_endpoints().is_err());
    assert_eq!(answered(&p, 9), names(&["s0", "s2", "s3"]));

    // An object nobody registered: no endpoint.
    let mut registry = Registry::start();
    let comm = Communicator::new()
        .with_locator(&registry.obj(QUERY_OBJ))
        .expect("locator");
    let nobody = comm.string_to_proxy("Nobody.Server.Obj").expect("proxy");
    assert!(matches!(who(&nobody), Err(CallError::NoEndpoint(_))));
    if let Some(server) = registry.server.take() {
        server.shutdown();
    }
}

#[test]
fn refresh_runs_periodically() {
    let registry = Registry::start();
    let (_a, port_a) = who_server("a");
    let (_b, port_b) = who_server("b");
    registry.add(port_a, "prod");
    let comm = Communicator::new()
        .with_refresh_interval(Duration::from_millis(50))
        .with_locator(&registry.obj(QUERY_OBJ))
        .expect("locator");
    let p = comm.string_to_proxy(OBJ).expect("proxy");
    assert_eq!(answered(&p, 4), names(&["a"]));
    registry.add(port_b, "prod");
    let deadline = Instant::now() + Duration::from_secs(10);
    while answered(&p, 4) != names(&["a", "b"]) {
        assert!(
            Instant::now() < deadline,
            "the new endpoint never got calls"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn registry_locator_metadata_reaches_the_policy() {
    let registry = Registry::start();
    let servers: Vec<(Server, u16)> = ["prod-1", "staging-1", "prod-2"]
        .iter()
        .map(|n| who_server(n))
        .collect();
    registry.add(servers[0].1, "prod");
    registry.add(servers[1].1, "staging");
    registry.add(servers[2].1, "prod");
    let comm = Communicator::new()
        .with_policy(Policy::new(RoundRobin::new()).filter(Environment::new("prod")))
        .with_registry_locator(&registry.obj(REGISTRY_OBJ))
        .expect("locator");
    let p = comm.string_to_proxy(OBJ).expect("proxy");
    assert_eq!(answered(&p, 10), names(&["prod-1", "prod-2"]));
    // The QueryF locator has no metadata: the same filter leaves nothing.
    let plain = Communicator::new()
        .with_policy(Policy::new(RoundRobin::new()).filter(Environment::new("prod")))
        .with_locator(&registry.obj(QUERY_OBJ))
        .expect("locator")
        .string_to_proxy(OBJ)
        .expect("proxy");
    assert!(matches!(who(&plain), Err(CallError::NoEndpoint(_))));
}
