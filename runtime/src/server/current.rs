//! The context of one call on the server.

use crate::TarsString;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::packet::{packet_type, ParamWriter, ResponsePacket, TupResponse};

/// A response ready to be framed and sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// A Tars (v1) response.
    Tars(ResponsePacket),
    /// A TUP (v2 or v3) response, in the RequestPacket layout.
    Tup(TupResponse),
}

impl Response {
    /// The request id answered.
    pub fn request_id(&self) -> i32 {
        match self {
            Response::Tars(p) => p.request_id,
            Response::Tup(p) => p.request_id,
        }
    }

    /// The return code.
    pub fn ret(&self) -> i32 {
        match self {
            Response::Tars(p) => p.ret,
            Response::Tup(p) => p.ret,
        }
    }

    /// Encodes the packet (without the length prefix).
    pub fn encode_body(&self) -> bytes::Bytes {
        use crate::codec::TarsStruct;
        match self {
            Response::Tars(p) => p.encode_to_bytes(),
            Response::Tup(p) => p.to_packet().encode_to_bytes(),
        }
    }

    /// An error answer to `req` in the request's own protocol (Tars, or TUP with the code in
    /// `STATUS_RESULT_CODE`).
    pub fn error(
        req: &crate::packet::RequestPacket,
        code: crate::packet::RetCode,
        desc: impl Into<String>,
    ) -> Response {
        let current = Current::new(req, None);
        current.build_response(code.code(), current.result_writer(), desc.into())
    }

    /// Appends the response as a complete frame (4-byte length, then the packet) to `out`,
    /// without an intermediate buffer.
    pub fn write_frame(&self, out: &mut bytes::BytesMut) {
        use crate::codec::{TarsStruct, Writer};
        use bytes::BufMut;
        let start = out.len();
        out.put_u32(0);
        let mut w = Writer::from_buf(std::mem::take(out));
        match self {
            Response::Tars(p) => p.write_fields(&mut w),
            Response::Tup(p) => p.to_packet().write_fields(&mut w),
        }
        *out = w.into_inner();
        let len = (out.len() - start) as u32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// Where deferred responses go: the connection the request came from.
pub trait ResponseSink: Send + Sync + 'static {
    /// Sends `response` to the caller. Errors (the connection is gone) are the sink's to log.
    fn send(&self, response: Response);
}

/// Who sent a request: the address it came from and the identity it proved, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// The peer's address (`None` for requests that did not come over the network).
    pub addr: Option<std::net::SocketAddr>,
    /// The identity the connection proved: the access key of TarsCpp local authentication
    /// (`-e 1`), or the name in a TLS client certificate. `None` for anonymous callers.
    pub principal: Option<Arc<str>>,
}

impl Caller {
    /// An anonymous caller at `addr`.
    pub fn at(addr: std::net::SocketAddr) -> Caller {
        Caller {
            addr: Some(addr),
            principal: None,
        }
    }
}

/// Everything about the call being served, plus what the servant wants to add to the response.
pub struct Current {
    version: i16,
    packet_type: i8,
    message_type: i32,
    request_id: i32,
    servant_name: TarsString,
    func_name: TarsString,
    timeout_ms: i32,
    context: BTreeMap<TarsString, TarsString>,
    status: BTreeMap<TarsString, TarsString>,
    response_context: BTreeMap<TarsString, TarsString>,
    sink: Option<Arc<dyn ResponseSink>>,
    deferred: bool,
    caller: Caller,
    /// Statistics of this request, when they are collected.
    observed: Option<Observed>,
}

/// What the server observes of its requests: statistics and the dyeing log.
#[derive(Debug, Default)]
pub(crate) struct Observe {
    pub stats: Option<Arc<crate::stat::StatReporter>>,
    pub dyeing_log: Option<Arc<crate::dyeing::DyeingLog>>,
}

/// A request whose answer is recorded in the server statistics.
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    pub stats: Arc<crate::stat::StatReporter>,
    pub received: std::time::Instant,
    pub func: TarsString,
    pub peer: Option<std::net::IpAddr>,
}

impl Observed {
    /// Records the answer `ret` (0: success, after the time since the request arrived).
    pub fn record(&self, ret: i32) {
        use crate::stat::CallOutcome;
        let outcome = match ret {
            0 => CallOutcome::Success(self.received.elapsed()),
            r if r == crate::packet::RetCode::QueueTimeout.code()
                || r == crate::packet::RetCode::AsyncCallTimeout.code() =>
            {
                CallOutcome::Timeout
            }
            _ => CallOutcome::Exception,
        };
        self.stats
            .server()
            .record(self.stats.server_target(), &self.func, self.peer, outcome);
    }
}

impl fmt::Debug for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Current")
            .field("servant", &self.servant_name)
            .field("func", &self.func_name)
            .field("request_id", &self.request_id)
            .field("version", &self.version)
            .field("deferred", &self.deferred)
            .finish_non_exhaustive()
    }
}

impl Current {
    /// Builds the context of a request; `sink` receives deferred responses.
    pub fn new(req: &crate::packet::RequestPacket, sink: Option<Arc<dyn ResponseSink>>) -> Current {
        Current {
            version: req.version,
            packet_type: req.packet_type,
            message_type: req.message_type,
            request_id: req.request_id,
            servant_name: req.servant_name.clone(),
            func_name: req.func_name.clone(),
            timeout_ms: req.timeout,
            context: req.context.clone(),
            status: req.status.clone(),
            response_context: BTreeMap::new(),
            sink,
            deferred: false,
            caller: Caller::default(),
            observed: None,
        }
    }

    /// Like [`Current::new`], taking the request apart instead of copying it; returns the
    /// parameter buffer alongside.
    pub(crate) fn from_packet(
        req: crate::packet::RequestPacket,
        sink: Option<Arc<dyn ResponseSink>>,
        caller: Caller,
    ) -> (Current, bytes::Bytes) {
        let current = Current {
            version: req.version,
            packet_type: req.packet_type,
            message_type: req.message_type,
            request_id: req.request_id,
            servant_name: req.servant_name,
            func_name: req.func_name,
            timeout_ms: req.timeout,
            context: req.context,
            status: req.status,
            response_context: BTreeMap::new(),
            sink,
            deferred: false,
            caller,
            observed: None,
        };
        (current, req.buffer)
    }

    /// Records this request's answer in `stats` (the request arrived at `received`).
    pub(crate) fn observe(
        &mut self,
        stats: Arc<crate::stat::StatReporter>,
        received: std::time::Instant,
    ) {
        self.observed = Some(Observed {
            stats,
            received,
            func: self.func_name.clone(),
            peer: self.caller.addr.map(|a| a.ip()),
        });
    }

    /// The statistics record of this request, if kept.
    pub(crate) fn observed(&self) -> Option<&Observed> {
        self.observed.as_ref()
    }

    /// The dyeing key when the request is dyed (the dyed flag `0x04` in `iMessageType`, the
    /// key in the `STATUS_DYED_KEY` status entry, empty when absent), as TarsCpp's
    /// `ServantHandle` and @tars/rpc's `getDyeingObj()` read them. While a dyed request is
    /// served, the calls the servant makes on its thread are dyed with the same key.
    pub fn dyeing_key(&self) -> Option<&str> {
        crate::dyeing::key_of(self.message_type, &self.status)
    }

    /// The caller's address (`None` for requests that did not come over the network).
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.caller.addr
    }

    /// The identity the caller's connection proved (local authentication's access key, or
    /// the TLS client certificate's name); `None` for an anonymous caller.
    pub fn principal(&self) -> Option<&str> {
        self.caller.principal.as_deref()
    }

    /// Who sent the request.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// Replaces who the request is from: for front ends that authenticate callers in a
    /// protocol of their own before calling a servant in process.
    pub fn set_caller(&mut self, caller: Caller) {
        self.caller = caller;
    }

    /// The servant (object) name called.
    pub fn servant_name(&self) -> &str {
        &self.servant_name
    }

    /// The function called.
    pub fn func_name(&self) -> &str {
        &self.func_name
    }

    /// The caller's request id.
    pub fn request_id(&self) -> i32 {
        self.request_id
    }

    /// The protocol version of the request.
    pub fn version(&self) -> i16 {
        self.version
    }

    /// Whether the caller expects no response.
    pub fn is_oneway(&self) -> bool {
        self.packet_type == packet_type::ONEWAY
    }

    /// The caller's timeout in milliseconds (0 if none was given).
    pub fn timeout_ms(&self) -> i32 {
        self.timeout_ms
    }

    /// The call context sent by the caller.
    pub fn context(&self) -> &BTreeMap<TarsString, TarsString> {
        &self.context
    }

    /// The framework status sent by the caller.
    pub fn status(&self) -> &BTreeMap<TarsString, TarsString> {
        &self.status
    }

    /// Adds an entry to the context returned with the response.
    pub fn set_response_context(
        &mut self,
        key: impl Into<TarsString>,
        value: impl Into<TarsString>,
    ) {
        self.response_context.insert(key.into(), value.into());
    }

    /// The context returned with the response.
    pub fn response_context(&self) -> &BTreeMap<TarsString, TarsString> {
        &self.response_context
    }

    /// A writer for results in this request's protocol version.
    pub fn result_writer(&self) -> ParamWriter {
        ParamWriter::for_version(self.version)
    }

    /// Takes over responsibility for the response: the dispatcher will not reply, and the
    /// returned [`Responder`] must be used (from any thread) to reply later. Returns `None`
    /// for one-way calls (nobody waits) or when no connection can take deferred responses.
    pub fn defer(&mut self) -> Option<Responder> {
        self.deferred = true;
        if self.is_oneway() {
            return None;
        }
        let sink = self.sink.clone()?;
        Some(Responder {
            version: self.version,
            message_type: self.message_type,
            request_id: self.request_id,
            servant_name: self.servant_name.clone(),
            func_name: self.func_name.clone(),
            context: self.response_context.clone(),
            sink,
            observed: self.observed.clone(),
        })
    }

    /// Whether [`Current::defer`] was called.
    pub fn is_deferred(&self) -> bool {
        self.deferred
    }

    /// Builds the response carrying `ret` and the results (or failure description).
    pub fn build_response(&self, ret: i32, body: ParamWriter, desc: String) -> Response {
        build_response(
            self.version,
            self.message_type,
            self.request_id,
            &self.servant_name,
            &self.func_name,
            self.response_context.clone(),
            ret,
            body,
            desc,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn build_response(
    version: i16,
    message_type: i32,
    request_id: i32,
    servant_name: &str,
    func_name: &str,
    context: BTreeMap<TarsString, TarsString>,
    ret: i32,
    body: ParamWriter,
    desc: String,
) -> Response {
    match body {
        ParamWriter::Tup(attrs) => Response::Tup(TupResponse {
            request_id,
            servant_name: servant_name.into(),
            func_name: func_name.into(),
            ret,
            desc: desc.into(),
            attrs,
            context,
        }),
        ParamWriter::Tars(w) => Response::Tars(ResponsePacket {
            version,
            packet_type: packet_type::NORMAL,
            request_id,
            message_type,
            ret,
            buffer: w.into_bytes(),
            status: BTreeMap::new(),
            result_desc: desc.into(),
            context,
        }),
    }
}

/// Sends the response of a deferred call, possibly from another thread.
pub struct Responder {
    version: i16,
    message_type: i32,
    request_id: i32,
    servant_name: TarsString,
    func_name: TarsString,
    context: BTreeMap<TarsString, TarsString>,
    sink: Arc<dyn ResponseSink>,
    observed: Option<Observed>,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("servant", &self.servant_name)
            .field("func", &self.func_name)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// A writer for results in the request's protocol version.
    pub fn result_writer(&self) -> ParamWriter {
        ParamWriter::for_version(self.version)
    }

    /// Sends a successful response with the given results.
    pub fn send_ok(self, results: ParamWriter) {
        self.send(0, results, String::new());
    }

    /// Sends a failure.
    pub fn send_error(self, error: &super::ServantError) {
        let body = self.result_writer();
        self.send(error.code(), body, error.desc().to_owned());
    }

    fn send(self, ret: i32, body: ParamWriter, desc: String) {
        let response = build_response(
            self.version,
            self.message_type,
            self.request_id,
            &self.servant_name,
            &self.func_name,
            self.context,
            ret,
            body,
            desc,
        );
        if let Some(observed) = &self.observed {
            observed.record(ret);
        }
        self.sink.send(response);
    }
}
