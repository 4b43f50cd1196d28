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
    /// Sends a request that expects a response.
    fn invoke(&self, request: RequestPacket) -> ResponseFuture;

    /// Sends a one-way request; returns once it has been handed to the transport.
    fn invoke_oneway(&self, request: RequestPacket) -> Result<(), CallError>;
}
