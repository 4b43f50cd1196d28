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

    /// Sends a one-way request; returns once it has been handed to the transport.
    fn invoke_oneway(&self, request: RequestPacket, hash: Option<u64>) -> Result<(), CallError>;
}
