//! An in-process [`Invoker`]: requests are encoded, handed to [`Servants`] and the responses
//! decoded, exactly as over a connection but without the network. Useful for tests and for
//! calling co-located servants.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::channel::oneshot;

use super::error::CallError;
use super::invoker::{Invoker, ResponseFuture};
use super::timer::{Timer, TimerId};
use crate::codec::TarsStruct;
use crate::packet::{RequestPacket, ResponsePacket};
use crate::server::{Response, ResponseSink, Servants};

/// Delivers requests to servants in the same process through the wire encoding.
#[derive(Debug, Clone)]
pub struct LocalInvoker {
    servants: Arc<Servants>,
}

impl LocalInvoker {
    /// An invoker over `servants`.
    pub fn new(servants: Arc<Servants>) -> LocalInvoker {
        LocalInvoker { servants }
    }

    fn through_wire(req: &RequestPacket) -> Result<RequestPacket, CallError> {
        Ok(RequestPacket::decode_from(&req.encode_to_bytes())?)
    }
}

type Outcome = Result<ResponsePacket, CallError>;

/// Completes a call once: with the servant's response or with the timeout, whichever is first.
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

impl ResponseSink for OneshotSink {
    fn send(&self, response: Response) {
        self.complete(decode_response(response));
    }
}

fn decode_response(response: Response) -> Result<ResponsePacket, CallError> {
    Ok(ResponsePacket::decode_any(
        &response.encode_body(),
        crate::codec::DecodeLimits::DEFAULT,
    )?)
}

impl Invoker for LocalInvoker {
    fn invoke(&self, request: RequestPacket, _hash: Option<u64>) -> ResponseFuture {
        let req = match Self::through_wire(&request) {
            Ok(r) => r,
            Err(e) => return Box::pin(async move { Err(e) }),
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
        if let Some(response) = self.servants.handle(req, Some(sink.clone())) {
            sink.send(response);
        }
        Box::pin(async move {
            match rx.await {
                Ok(outcome) => outcome,
                Err(_) => Err(CallError::Transport("servant dropped the responder".into())),
            }
        })
    }

    fn invoke_oneway(&self, request: RequestPacket, _hash: Option<u64>) -> Result<(), CallError> {
        let req = Self::through_wire(&request)?;
        let _ = self.servants.handle(req, None);
        Ok(())
    }
}
