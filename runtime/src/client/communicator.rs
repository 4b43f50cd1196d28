//! [`Communicator`]: turns `Obj@endpoints` strings into proxies over TCP.

use std::sync::Arc;

use super::balance::{Balancer, Selection, ShieldConfig};
use super::proxy::ServantProxy;
use super::tcp::TcpInvoker;
use crate::server::Endpoint;

/// Why a proxy string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// No `@endpoints` part (resolution through a locator is not configured).
    #[error("{0:?} has no endpoints and no locator is configured")]
    NoEndpoints(String),
    /// An endpoint did not parse.
    #[error(transparent)]
    Endpoint(#[from] crate::server::net::EndpointError),
}

/// Creates proxies; one per process is typical.
#[derive(Debug, Default, Clone)]
pub struct Communicator {
    selection: Selection,
    shield: ShieldConfig,
}

impl Communicator {
    /// A communicator with default settings (round-robin, shield after 3 failures for 30 s).
    pub fn new() -> Communicator {
        Communicator::default()
    }

    /// The endpoint selection policy of proxies created from now on.
    pub fn with_selection(mut self, selection: Selection) -> Communicator {
        self.selection = selection;
        self
    }

    /// The shielding thresholds of proxies created from now on.
    pub fn with_shielding(mut self, shield: ShieldConfig) -> Communicator {
        self.shield = shield;
        self
    }

    /// A proxy for `Obj@tcp -h host -p port -t timeout[:tcp ...]`; calls are spread over the
    /// endpoints by the selection policy, skipping shielded or unreachable ones.
    pub fn string_to_proxy(&self, text: &str) -> Result<ServantProxy, ProxyError> {
        let (obj, endpoints) = text
            .split_once('@')
            .ok_or_else(|| ProxyError::NoEndpoints(text.to_owned()))?;
        let invokers = endpoints
            .split(':')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.parse::<Endpoint>().map(TcpInvoker::new))
            .collect::<Result<Vec<_>, _>>()?;
        if invokers.is_empty() {
            return Err(ProxyError::NoEndpoints(text.to_owned()));
        }
        let balancer = Arc::new(Balancer::new(invokers, self.selection, self.shield));
        Ok(ServantProxy::new(obj.trim(), Arc::new(balancer)))
    }
}
