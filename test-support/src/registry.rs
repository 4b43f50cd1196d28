//! The tars-rs registry on 127.0.0.1 (a free port), with its data in a temporary directory.

use tars::client::Communicator;
use tars::protocol::tars::QueryFProxy;
use tars::protocol::tarsrs::RegistryProxy;
use tars::server::Server;
use tars_registry::service::ADAPTER;
use tars_registry::{RegistryConfig, RegistryService, QUERY_OBJ, REGISTRY_OBJ};

/// A running registry; stopped (and its directory removed) when dropped.
#[derive(Debug)]
pub struct TestRegistry {
    server: Option<Server>,
    service: RegistryService,
    port: u16,
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    /// A registry with the default configuration (on a free port, data in a temporary
    /// directory).
    pub fn start() -> TestRegistry {
        TestRegistry::start_with(|_| {})
    }

    /// A registry whose configuration `configure` adjusts (data directory and port are set
    /// before, and can be changed).
    pub fn start_with(configure: impl FnOnce(&mut RegistryConfig)) -> TestRegistry {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config = RegistryConfig {
            data_dir: dir.path().to_path_buf(),
            host: "127.0.0.1".into(),
            port: 0,
            ..RegistryConfig::default()
        };
        configure(&mut config);
        let service = RegistryService::open(config).expect("registry opens");
        let server = service.start().expect("registry starts");
        let port = server.local_addr(ADAPTER).expect("bound").port();
        TestRegistry {
            server: Some(server),
            service,
            port,
            _dir: dir,
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The opened service (its in-process `Registry` state).
    pub fn service(&self) -> &RegistryService {
        &self.service
    }

    /// `tars.tarsregistry.RegistryObj@tcp -h 127.0.0.1 -p <port>` (what
    /// `tars::registration::RegistrationConfig::new` and a registry locator take).
    pub fn registry_obj(&self) -> String {
        format!("{REGISTRY_OBJ}@tcp -h 127.0.0.1 -p {}", self.port)
    }

    /// `tars.tarsregistry.QueryObj@tcp -h 127.0.0.1 -p <port>` (what a QueryF locator takes).
    pub fn query_obj(&self) -> String {
        format!("{QUERY_OBJ}@tcp -h 127.0.0.1 -p {}", self.port)
    }

    /// `name@tcp -h 127.0.0.1 -p <port> -t 3000` for an object of the registry.
    pub fn obj(&self, name: &str) -> String {
        format!("{name}@tcp -h 127.0.0.1 -p {} -t 3000", self.port)
    }

    /// A proxy to RegistryObj.
    pub fn registry_proxy(&self) -> RegistryProxy {
        RegistryProxy::new(
            Communicator::new()
                .string_to_proxy(&self.obj(REGISTRY_OBJ))
                .expect("proxy"),
        )
    }

    /// A proxy to QueryObj.
    pub fn query_proxy(&self) -> QueryFProxy {
        QueryFProxy::new(
            Communicator::new()
                .string_to_proxy(&self.obj(QUERY_OBJ))
                .expect("proxy"),
        )
    }

    /// Stops the server (the data stays until the value is dropped).
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
    }
}
