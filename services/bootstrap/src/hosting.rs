//! One service on one adapter: where it listens and with how many threads.

use std::sync::Arc;

use tars::server::{AdapterConfig, Endpoint, Servants, Server, ServerConfig, ServerError};

/// Where and how a service is served: its adapter's name, host and port, the adapter's
/// business threads, and the network threads of a server that hosts it alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosting {
    /// Adapter name.
    pub adapter: String,
    /// Listening host.
    pub host: String,
    /// Listening port (0 picks a free one).
    pub port: u16,
    /// Business threads of the adapter (0: served on the network thread).
    pub threads: usize,
    /// Network threads of a server with just this adapter (at least 1).
    pub net_threads: usize,
}

impl Hosting {
    /// `adapter` on `host:port`, 1 business thread, 1 network thread.
    pub fn new(adapter: impl Into<String>, host: impl Into<String>, port: u16) -> Hosting {
        Hosting {
            adapter: adapter.into(),
            host: host.into(),
            port,
            threads: 1,
            net_threads: 1,
        }
    }

    /// Sets the business threads.
    pub fn with_threads(mut self, threads: usize) -> Hosting {
        self.threads = threads;
        self
    }

    /// Sets the network threads.
    pub fn with_net_threads(mut self, net_threads: usize) -> Hosting {
        self.net_threads = net_threads;
        self
    }

    /// The TCP adapter serving `servants`.
    pub fn adapter(&self, servants: Servants) -> AdapterConfig {
        let mut adapter = AdapterConfig::new(
            self.adapter.clone(),
            Endpoint::tcp(&self.host, self.port),
            Arc::new(servants),
        );
        adapter.threads = self.threads;
        adapter
    }

    /// The default server configuration with these network threads.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            net_threads: self.net_threads.max(1),
            ..ServerConfig::default()
        }
    }

    /// A server with just the adapter serving `servants`; [`Server::local_addr`] of
    /// [`Hosting::adapter`]'s name gives its address.
    pub fn start(&self, servants: Servants) -> Result<Server, ServerError> {
        Server::start(self.server_config(), vec![self.adapter(servants)])
    }
}

/// A service served on one adapter: it says where ([`Hosted::hosting`]) and what
/// ([`Hosted::add_servants`]); the adapter, the server configuration and a server of its own
/// follow. Several services can share one server: `Server::start(config, vec![a.adapter(),
/// b.adapter()])` (what `tarsd` does).
pub trait Hosted {
    /// Where it listens and with how many threads.
    fn hosting(&self) -> Hosting;

    /// Adds its servants under their object names.
    fn add_servants(&self, servants: &mut Servants);

    /// Its servants alone.
    fn servants(&self) -> Servants {
        let mut servants = Servants::new();
        self.add_servants(&mut servants);
        servants
    }

    /// The adapter serving its servants.
    fn adapter(&self) -> AdapterConfig {
        self.hosting().adapter(self.servants())
    }

    /// The configuration of a server hosting it alone.
    fn server_config(&self) -> ServerConfig {
        self.hosting().server_config()
    }

    /// Starts a server hosting it alone.
    fn start(&self) -> Result<Server, ServerError> {
        self.hosting().start(self.servants())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapter_and_server_follow_the_hosting() {
        let hosting = Hosting::new("A", "127.0.0.1", 0)
            .with_threads(3)
            .with_net_threads(0);
        let adapter = hosting.adapter(Servants::new());
        assert_eq!(adapter.name, "A");
        assert_eq!(adapter.threads, 3);
        assert_eq!(adapter.endpoint.address(), "127.0.0.1:0");
        assert_eq!(hosting.server_config().net_threads, 1, "at least one");
        let server = hosting.start(Servants::new()).expect("starts");
        assert!(server.local_addr("A").is_some_and(|a| a.port() != 0));
        server.shutdown();
    }
}
