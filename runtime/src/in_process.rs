//! Where the client's in-process invoker meets the server's servants: [`Servants`] is a
//! [`LocalTarget`], so `LocalInvoker::new(Arc::new(servants))` calls them without a network
//! (Tars responses are handed back as packets, TUP ones encoded). This module sits above both the client and the server, which
//! do not import each other.

use std::sync::Mutex;

use crate::client::{LocalReply, LocalResponse, LocalTarget};
use crate::packet::RequestPacket;
use crate::server::{Response, ResponseSink, Servants};

/// Hands the servant's response (now, or later from a `Responder`) to the invoker's reply.
struct ReplySink(Mutex<Option<LocalReply>>);

impl ResponseSink for ReplySink {
    fn send(&self, response: Response) {
        let reply = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(reply) = reply {
            reply(match response {
                Response::Tars(packet) => LocalResponse::Packet(packet),
                tup @ Response::Tup(_) => LocalResponse::Encoded(tup.encode_body()),
            });
        }
    }
}

impl LocalTarget for Servants {
    fn deliver(&self, request: RequestPacket, reply: Option<LocalReply>) {
        match reply {
            Some(reply) => {
                let sink = std::sync::Arc::new(ReplySink(Mutex::new(Some(reply))));
                if let Some(response) = self.handle(request, Some(sink.clone())) {
                    sink.send(response);
                }
            }
            None => {
                // One-way: the servant runs, nothing is answered.
                let _ = self.handle(request, None);
            }
        }
    }
}
