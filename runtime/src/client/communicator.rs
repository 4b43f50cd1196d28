//! [`Communicator`]: turns `Obj@endpoints` strings into proxies over TCP.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::error::CallError;
use super::invoker::{Invoker, ResponseFuture};
use super::proxy::ServantProxy;
use super::tcp::TcpInvoker;
use crate::packet::RequestPacket;
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
pub struct Communicator {}

impl Communicator {
    /// A communicator with default settings.
    pub fn new() -> Communicator {
        Communicator::default()
    }

    /// A proxy for `Obj@tcp -h host -p port -t timeout[:tcp ...]`; calls are spread
    /// round-robin over the endpoints, skipping those that cannot be reached.
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
        Ok(ServantProxy::new(
            obj.trim(),
            Arc::new(RoundRobin {
                invokers,
                next: AtomicUsize::new(0),
            }),
        ))
    }
}

/// Round-robin over endpoints; a request that cannot be delivered goes to the next one.
struct RoundRobin {
    invokers: Vec<TcpInvoker>,
    next: AtomicUsize,
}

impl RoundRobin {
    fn each<T>(
        &self,
        mut attempt: impl FnMut(&TcpInvoker) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last = CallError::NoEndpoint("no endpoints".into());
        for i in 0..self.invokers.len() {
            match attempt(&self.invokers[(start + i) % self.invokers.len()]) {
                Err(CallError::Transport(e)) => last = CallError::Transport(e),
                other => return other,
            }
        }
        Err(last)
    }
}

impl Invoker for RoundRobin {
    fn invoke(&self, request: RequestPacket) -> ResponseFuture {
        // Connection failures surface synchronously (before the future), so they can be
        // retried on the next endpoint; a failed future is returned as is.
        let result = self.each(|inv| {
            if !inv.is_connected() {
                inv.ensure_connected()?;
            }
            Ok(inv.invoke(request.clone()))
        });
        match result {
            Ok(f) => f,
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }

    fn invoke_oneway(&self, request: RequestPacket) -> Result<(), CallError> {
        self.each(|inv| inv.invoke_oneway(request.clone()))
    }
}
