//! An in-process [`Invoker`]: requests are encoded, handed to a [`LocalTarget`] (such as the
//! server's `Servants`) and the responses decoded, exactly as over a connection but without
//! the network. Useful for tests and for calling co-located servants.
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
use crate::codec::TarsStruct;
use crate::packet::{RequestPacket, ResponsePacket};

/// Completes one in-process call with the encoded response: a `ResponsePacket` in the Tars
/// layout, or the TUP layout for a TUP request, without the length prefix.
pub type LocalReply = Box<dyn FnOnce(Bytes) + Send + 'static>;

/// What a [`LocalInvoker`] delivers requests to: servants in the same process.
pub trait LocalTarget: std::fmt::Debug + Send + Sync + 'static {
    /// Serves `request`. For a two-way call `reply` is `Some`: the target calls it once with
    /// the encoded response, at once or later from any thread. A reply dropped without being
    /// called leaves the call to its timeout (a call without a timeout fails at once). For a
    /// one-way call `reply` is `None` and nothing is answered.
    fn deliver(&self, request: RequestPacket, reply: Option<LocalReply>);
}

/// Delivers requests to a [`LocalTarget`] in the same process through the wire encoding.
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

    fn through_wire(req: &RequestPacket) -> Result<RequestPacket, CallError> {
        Ok(RequestPacket::decode_from(&req.encode_to_bytes())?)
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

fn decode_response(body: &Bytes) -> Result<ResponsePacket, CallError> {
    Ok(ResponsePacket::decode_any(
        body,
        crate::codec::DecodeLimits::DEFAULT,
    )?)
}

impl Invoker for LocalInvoker {
    fn invoke(&self, request: RequestPacket, _hash: Option<u64>) -> ResponseFuture {
        let req = match Self::through_wire(&request) {
            Ok(r) => r,
            Err(e) => return ResponseFuture::ready(Err(e)),
        };
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
            Some(Box::new(move |body: Bytes| {
                on_reply.complete(decode_response(&body))
            })),
        );
        ResponseFuture::new(async move {
            match rx.await {
                Ok(outcome) => outcome,
                Err(_) => Err(CallError::Transport("servant dropped the responder".into())),
            }
        })
    }

    fn invoke_oneway(&self, request: RequestPacket, _hash: Option<u64>) -> Result<(), CallError> {
        let req = Self::through_wire(&request)?;
        self.target.deliver(req, None);
        Ok(())
    }
}
