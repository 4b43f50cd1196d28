//! The transport abstraction under [`ServantProxy`](super::ServantProxy).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::error::CallError;
use super::net::{CallFailure, PendingReply};
use crate::packet::{RequestPacket, ResponsePacket};
use crate::stat::{CallOutcome, StatCollector, StatTarget};

/// A pending response: a plain `Future` (`Send + 'static`), usable from any executor or
/// blocked on. Transports make one from any future with [`ResponseFuture::new`]; the network
/// transport's common case (one endpoint) needs no allocation of its own.
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture(Source, Option<CallObserver>);

/// Records the outcome of a call in the statistics when it completes.
pub(crate) struct CallObserver {
    pub collector: Arc<StatCollector>,
    pub target: Arc<StatTarget>,
    pub func: crate::TarsString,
    pub started: Instant,
}

impl CallObserver {
    /// Records `outcome`.
    pub fn record(&self, outcome: &Result<ResponsePacket, CallError>) {
        self.collector.record(
            &self.target,
            &self.func,
            None,
            outcome_of(outcome, self.started),
        );
    }
}

/// How the stat service counts a call that ended with `outcome` (TarsCpp's
/// `AdapterProxy::stat`: success only with a response whose `iRet` is 0).
pub(crate) fn outcome_of(
    outcome: &Result<ResponsePacket, CallError>,
    started: Instant,
) -> CallOutcome {
    match outcome {
        Ok(p) if p.ret == 0 => CallOutcome::Success(started.elapsed()),
        Err(CallError::Timeout(_)) => CallOutcome::Timeout,
        _ => CallOutcome::Exception,
    }
}

enum Source {
    /// A call on a client net thread, with no other endpoint to try.
    Reply(PendingReply),
    /// Any other future.
    Boxed(Pin<Box<dyn Future<Output = Result<ResponsePacket, CallError>> + Send>>),
    /// Known at once (taken when polled).
    Ready(Option<Result<ResponsePacket, CallError>>),
}

impl ResponseFuture {
    /// A response future over `future`.
    pub fn new(
        future: impl Future<Output = Result<ResponsePacket, CallError>> + Send + 'static,
    ) -> ResponseFuture {
        ResponseFuture(Source::Boxed(Box::pin(future)), None)
    }

    /// A response (or failure) known already.
    pub fn ready(outcome: Result<ResponsePacket, CallError>) -> ResponseFuture {
        ResponseFuture(Source::Ready(Some(outcome)), None)
    }

    /// The reply of a call on a client net thread, recorded by `observer` when it completes.
    pub(crate) fn observed(reply: PendingReply, observer: Option<CallObserver>) -> ResponseFuture {
        ResponseFuture(Source::Reply(reply), observer)
    }
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl Future for ResponseFuture {
    type Output = Result<ResponsePacket, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let polled = match &mut this.0 {
            Source::Reply(reply) => Pin::new(reply).poll(cx).map_err(CallFailure::into_error),
            Source::Boxed(future) => future.as_mut().poll(cx),
            Source::Ready(outcome) => Poll::Ready(outcome.take().unwrap_or_else(|| {
                Err(CallError::Transport(
                    "response future polled after it completed".into(),
                ))
            })),
        };
        if let Poll::Ready(outcome) = &polled {
            if let Some(observer) = this.1.take() {
                observer.record(outcome);
            }
        }
        polled
    }
}

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
