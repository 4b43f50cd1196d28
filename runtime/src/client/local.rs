//! An in-process [`Invoker`]: requests are handed to a [`LocalTarget`] (such as the server's
//! `Servants`) as packets, without the network and without encoding the packet around the
//! parameters (the parameters travel encoded in its buffer, as over a connection). Useful for
//! tests and for calling co-located servants.
//!
//! The client reaches the servants only through [`LocalTarget`], a trait of its own; the
//! implementation for `Servants` lives above both the client and the server.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::oneshot;

use super::error::CallError;
use super::invoker::{Invoker, ResponseFuture};
use super::timer::{Timer, TimerId};
use crate::packet::{RequestPacket, ResponsePacket};

/// The answer to one in-process call.
#[derive(Debug)]
pub enum LocalResponse {
    /// A Tars response packet, handed over as it is.
    Packet(ResponsePacket),
    /// An encoded response without the length prefix: a `ResponsePacket` in the Tars layout,
    /// or the TUP layout for a TUP request.
    Encoded(Bytes),
}

/// Completes one in-process call with its response.
pub type LocalReply = Box<dyn FnOnce(LocalResponse) + Send + 'static>;

/// What a [`LocalInvoker`] delivers requests to: servants in the same process.
pub trait LocalTarget: std::fmt::Debug + Send + Sync + 'static {
    /// Serves `request`. For a two-way call `reply` is `Some`: the target calls it once with
    /// the response, at once or later from any thread. A reply dropped without being
    /// called leaves the call to its timeout (a call without a timeout fails at once). For a
    /// one-way call `reply` is `None` and nothing is answered.
    fn deliver(&self, request: RequestPacket, reply: Option<LocalReply>);
}

/// Delivers requests to a [`LocalTarget`] in the same process.
#[derive(Debug, Clone)]
pub struct LocalInvoker {
    target: Arc<dyn LocalTarget>,
}

impl LocalInvoker {
    /// An invoker over `target`, e.g. `LocalInvoker::new(Arc::new(servants))`.
    pub fn new<T: LocalTarget>(target: Arc<T>) -> LocalInvoker {
        LocalInvoker { target }
    }

    /// An invoker over a target already behind a trait object.
    pub fn from_target(target: Arc<dyn LocalTarget>) -> LocalInvoker {
        LocalInvoker { target }
    }
}

type Outcome = Result<ResponsePacket, CallError>;

/// Completes a call once: with the target's response or with the timeout, whichever is first.
struct OneshotSink {
    tx: Mutex<Option<oneshot::Sender<Outcome>>>,
    timer: Mutex<Option<TimerId>>,
}

impl OneshotSink {
    fn complete(&self, outcome: Outcome) {
        let sender = self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(tx) = sender {
            // The caller may have gone away; nothing to do then.
            let _ = tx.send(outcome);
        }
        if let Some(id) = self.timer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Timer::global().cancel(id);
        }
    }
}

fn response_packet(response: LocalResponse) -> Result<ResponsePacket, CallError> {
    match response {
        LocalResponse::Packet(p) => Ok(p),
        LocalResponse::Encoded(body) => Ok(ResponsePacket::decode_any(
            &body,
            crate::codec::DecodeLimits::DEFAULT,
        )?),
    }
}

impl Invoker for LocalInvoker {
    fn invoke(&self, req: RequestPacket, _hash: Option<u64>) -> ResponseFuture {
        let (tx, rx) = oneshot::channel();
        let sink = Arc::new(OneshotSink {
            tx: Mutex::new(Some(tx)),
            timer: Mutex::new(None),
        });
        if req.timeout > 0 {
            let ms = req.timeout as u64;
            let on_timeout = sink.clone();
            let id = Timer::global()
                .schedule(Instant::now() + Duration::from_millis(ms), move || {
                    on_timeout.complete(Err(CallError::Timeout(ms)))
                });
            *sink.timer.lock().unwrap_or_else(|p| p.into_inner()) = Some(id);
        }
        let on_reply = sink;
        self.target.deliver(
            req,
            Some(Box::new(move |response: LocalResponse| {
                on_reply.complete(response_packet(response))
            })),
        );
        ResponseFuture::new(async move {
            match rx.await {
                Ok(outcome) => outcome,
                Err(_) => Err(CallError::Transport("servant dropped the responder".into())),
            }
        })
    }

    fn invoke_oneway(&self, req: RequestPacket, _hash: Option<u64>) -> Result<(), CallError> {
        self.target.deliver(req, None);
        Ok(())
    }
}
