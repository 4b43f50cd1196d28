//! The transport abstraction under [`ServantProxy`](super::ServantProxy).

use std::future::Future;
use std::pin::Pin;

use super::error::CallError;
use crate::packet::{RequestPacket, ResponsePacket};

/// A pending response: a plain `Future`, usable from any executor or blocked on.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Result<ResponsePacket, CallError>> + Send>>;

/// Delivers requests to a servant and resolves their responses.
///
/// Implementations enforce the request's `iTimeout` (resolving with [`CallError::Timeout`]).
pub trait Invoker: Send + Sync + 'static {
    /// Sends a request that expects a response. `hash` selects the endpoint for hash-based
    /// policies (mod-hash, consistent hash); transports with one destination ignore it.
    fn invoke(&self, request: RequestPacket, hash: Option<u64>) -> ResponseFuture;

    /// Sends a request and blocks the calling thread until its response (or its timeout).
    /// Transports may take a faster path for a caller that is going to wait anyway; the
    /// default waits on [`invoke`](Self::invoke).
    fn invoke_sync(
        &self,
        request: RequestPacket,
        hash: Option<u64>,
    ) -> Result<ResponsePacket, CallError> {
        super::wait::block_on_spinning(self.invoke(request, hash), super::wait::SPIN)
    }

    /// Sends a one-way request; returns once it has been handed to the transport.
    fn invoke_oneway(&self, request: RequestPacket, hash: Option<u64>) -> Result<(), CallError>;
}
