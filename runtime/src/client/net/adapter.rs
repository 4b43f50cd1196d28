//! [`AdapterProxy`]: the caller's side of one endpoint connection, and the endpoint state that
//! outlives reconnects (statistics and shielding).

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::channel::oneshot;
use parking_lot::Mutex;

use super::gate::WriteGate;
use super::handle::{Command, NetHandle, Pending};
use crate::client::balance::ShieldConfig;
use crate::client::error::CallError;
use crate::client::policy::EndpointStats;
use crate::endpoint::Endpoint;
use crate::packet::{PacketCodec, RequestPacket, ResponsePacket};

/// Bytes a thread's frame buffer holds before a new one is started.
const FRAME_ARENA: usize = 64 * 1024;

thread_local! {
    /// The buffer this thread's request frames are encoded into (see `AdapterProxy::frame`).
    static FRAMES: std::cell::RefCell<BytesMut> = std::cell::RefCell::new(BytesMut::new());
}

/// The largest UDP payload (IPv4).
pub(super) const MAX_DATAGRAM: usize = 65_507;

/// How a call failed, and whether its request ever left: a request that was never sent may be
/// retried on another endpoint.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CallFailure {
    /// The request was not sent (connecting failed, or the send queue was full).
    NotSent(CallError),
    /// The request may have reached the server.
    Failed(CallError),
}

impl CallFailure {
    /// The error to report when there is no other endpoint to try.
    pub fn into_error(self) -> CallError {
        match self {
            CallFailure::NotSent(e) | CallFailure::Failed(e) => e,
        }
    }
}

/// The health of one endpoint — what its calls measured and its shielding — shared by all its
/// connections and kept across reconnects.
pub(crate) struct EndpointHealth {
    /// What calls measured: in flight, latency.
    pub stats: EndpointStats,
    failures: AtomicU32,
    shielded_until: Mutex<Option<Instant>>,
    shield: ShieldConfig,
}

impl EndpointHealth {
    /// A healthy endpoint, shielded after `shield`'s failures.
    pub fn new(shield: ShieldConfig) -> EndpointHealth {
        EndpointHealth {
            stats: EndpointStats::new(),
            failures: AtomicU32::new(0),
            shielded_until: Mutex::new(None),
            shield,
        }
    }

    /// Records the end, at `now`, of a call: its latency when answered, and its effect on
    /// shielding. Any answer (even a server error) proves the endpoint alive; timeouts and
    /// transport failures count towards shielding.
    pub fn finish(&self, started: Instant, now: Instant, answered: bool) {
        if answered {
            self.stats
                .record_latency_at(now.saturating_duration_since(started), now);
        }
        self.stats.end_call();
        self.record(answered);
    }

    fn record(&self, ok: bool) {
        if ok {
            if self.failures.swap(0, Ordering::Relaxed) != 0 {
                *self.shielded_until.lock() = None;
            }
            return;
        }
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= self.shield.failures_to_shield {
            *self.shielded_until.lock() = Some(Instant::now() + self.shield.retry_after);
        }
    }

    /// Whether the endpoint is usable now (not shielded, or its shielding has expired).
    pub fn available(&self, now: Instant) -> bool {
        if self.failures.load(Ordering::Relaxed) < self.shield.failures_to_shield {
            return true;
        }
        self.shielded_until.lock().is_none_or(|until| now >= until)
    }
}

/// How an adapter's TCP connections are made.
#[derive(Clone)]
pub(crate) enum Transport {
    /// Plain TCP (or UDP).
    Plain,
    /// TLS (`ssl` endpoints): the client configuration and the name to verify.
    Tls(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    ),
    /// An `ssl` endpoint that cannot be reached (no TLS settings, or an invalid server name):
    /// every call fails with this reason.
    Unavailable(String),
}

/// One connection's state shared by its proxy side and its net thread.
pub(crate) struct AdapterShared {
    /// `host:port`: where to connect, and for messages.
    pub address: String,
    /// The endpoint speaks UDP (one request per datagram).
    pub udp: bool,
    /// The endpoint's health (shared with its other connections).
    pub health: Arc<EndpointHealth>,
    /// Who may write to the TCP socket: the net thread or one synchronous caller.
    pub gate: WriteGate,
    /// Frame bytes handed to the net thread and not yet taken from its channel: with the
    /// connection's own queue, bounded by `max_send_buffer`, so callers faster than the net
    /// thread cannot grow the channel without bound.
    pub in_channel: AtomicUsize,
    max_send_buffer: usize,
    /// The object and key to authenticate with first (an endpoint with `-e 1`).
    pub auth: Option<(String, Arc<crate::auth::ClientKey>)>,
    /// Plain or TLS.
    pub transport: Transport,
}

impl AdapterShared {
    /// Records the end of a call on this connection (see [`EndpointHealth::finish`]).
    pub fn finish(&self, started: Instant, now: Instant, answered: bool) {
        self.health.finish(started, now, answered);
    }
}

/// A call ready to leave: its request id, its frame, and how to complete it.
struct Begun {
    id: i32,
    frame: bytes::Bytes,
    pending: Pending,
}

/// One connection to one endpoint, owned by a client net thread. Dropping it closes the
/// connection and fails the calls still waiting on it.
pub(crate) struct AdapterProxy {
    shared: Arc<AdapterShared>,
    net: NetHandle,
    slot: usize,
    generation: u32,
}

/// The response of a call: resolves when the net thread completes it.
pub(crate) struct PendingReply(oneshot::Receiver<Result<ResponsePacket, CallFailure>>);

impl Future for PendingReply {
    type Output = Result<ResponsePacket, CallFailure>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.0).poll(cx) {
            Poll::Ready(Ok(outcome)) => Poll::Ready(outcome),
            Poll::Ready(Err(_)) => Poll::Ready(Err(CallFailure::Failed(CallError::Transport(
                "the client net thread stopped".into(),
            )))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AdapterProxy {
    /// A connection to `endpoint` on the net thread of `net`, recording into `health`; it
    /// connects on its first call.
    pub fn new(
        endpoint: &Endpoint,
        health: Arc<EndpointHealth>,
        net: NetHandle,
        auth: Option<(String, Arc<crate::auth::ClientKey>)>,
        transport: Transport,
    ) -> AdapterProxy {
        let (slot, generation) = net.open_slot();
        let shared = Arc::new(AdapterShared {
            address: endpoint.address(),
            udp: endpoint.protocol == "udp",
            health,
            gate: WriteGate::default(),
            in_channel: AtomicUsize::new(0),
            max_send_buffer: net.max_send_buffer(),
            auth,
            transport,
        });
        net.send(Command::Open {
            slot,
            generation,
            adapter: shared.clone(),
        });
        AdapterProxy {
            shared,
            net,
            slot,
            generation,
        }
    }

    /// Encodes `request` as one frame under the net thread's request id `id` (the caller's id
    /// is put back afterwards).
    ///
    /// Frames are carved out of a per-thread buffer ([`FRAME_ARENA`] bytes at a time), so most
    /// calls allocate nothing for their frame, and the net thread, which drops the frame once it
    /// is written, only decrements a reference count.
    fn frame(&self, request: &mut RequestPacket, id: i32) -> Result<bytes::Bytes, CallError> {
        let original = std::mem::replace(&mut request.request_id, id);
        let encoded = FRAMES.with(|arena| {
            let mut arena = arena.borrow_mut();
            let need = request.buffer.len() + 128;
            if arena.capacity() - arena.len() < need {
                // Frames carved earlier keep the old buffer alive; this starts a new one.
                *arena = BytesMut::with_capacity(need.max(FRAME_ARENA));
            }
            let encoded = PacketCodec::<ResponsePacket, RequestPacket>::new()
                .encode_packet(request, &mut arena)
                .map_err(|e| CallError::Transport(format!("cannot encode the request: {e}")));
            encoded.map(|()| arena.split().freeze())
        });
        request.request_id = original;
        let frame = encoded?;
        if self.shared.udp && frame.len() > MAX_DATAGRAM {
            return Err(CallError::Transport(format!(
                "request of {} bytes does not fit in a UDP datagram ({MAX_DATAGRAM} max)",
                frame.len()
            )));
        }
        Ok(frame)
    }

    /// Counts `len` bytes into the net thread's channel, or refuses them when the channel
    /// already holds `max_send_buffer` bytes for this endpoint.
    fn admit(&self, len: usize) -> Result<(), CallError> {
        let before = self.shared.in_channel.fetch_add(len, Ordering::AcqRel);
        if before > 0 && before + len > self.shared.max_send_buffer {
            self.shared.in_channel.fetch_sub(len, Ordering::AcqRel);
            return Err(CallError::Transport(format!(
                "{}: {before} bytes already waiting for the client net thread",
                self.shared.address
            )));
        }
        Ok(())
    }

    /// Encodes `request` under a fresh request id and counts the call in flight. `None` when it
    /// cannot be sent (it does not encode, or — with `admit` — the send limit is reached): the
    /// reply then already holds the failure.
    fn begin(
        &self,
        request: &mut RequestPacket,
        started: Instant,
        admit: bool,
    ) -> (PendingReply, Option<Begun>) {
        let (tx, rx) = oneshot::channel();
        let reply = PendingReply(rx);
        let id = self.net.next_request_id();
        let frame = match self.frame(request, id) {
            Ok(frame) => frame,
            Err(e) => {
                let _ = tx.send(Err(CallFailure::Failed(e)));
                return (reply, None);
            }
        };
        if admit {
            if let Err(e) = self.admit(frame.len()) {
                let _ = tx.send(Err(CallFailure::NotSent(e)));
                return (reply, None);
            }
        }
        self.shared.health.stats.start_call();
        let pending = Pending {
            original_id: request.request_id,
            started,
            deadline: deadline_of(request, started),
            tx,
        };
        (reply, Some(Begun { id, frame, pending }))
    }

    /// Starts a call: the request leaves on the net thread's next pass (or when the connection
    /// is up), and the reply resolves with the response, or fails at `started + timeout`
    /// (`request.timeout` ms; no deadline when it is 0 or less).
    pub fn call(&self, request: &mut RequestPacket, started: Instant) -> PendingReply {
        let (reply, begun) = self.begin(request, started, true);
        let Some(Begun { id, frame, pending }) = begun else {
            return reply;
        };
        if !self.net.send(Command::Call {
            slot: self.slot,
            generation: self.generation,
            id,
            frame,
            pending: Some(pending),
        }) {
            // The command (and its sender) was dropped: the reply resolves as failed.
            self.shared.health.stats.end_call();
        }
        reply
    }

    /// Starts a call for a caller that is going to block on it: when the connection is up and
    /// idle, the caller writes the request itself (see [`WriteGate`]); otherwise as
    /// [`call`](Self::call). A caller that waits past the call's deadline must
    /// [`nudge`](Self::nudge) the net thread, which learns of a direct call only on its next
    /// pass.
    pub fn call_sync(&self, request: &mut RequestPacket, started: Instant) -> PendingReply {
        if self.shared.udp {
            return self.call(request, started);
        }
        let Some((stream, socket_generation)) = self.shared.gate.claim() else {
            return self.call(request, started);
        };
        let (reply, begun) = self.begin(request, started, false);
        let Some(Begun { id, frame, pending }) = begun else {
            self.release_gate();
            return reply;
        };
        // Registered before the write, so the net thread knows the call before any response.
        if !self.net.send_quietly(Command::Register {
            slot: self.slot,
            generation: self.generation,
            socket_generation,
            id,
            pending,
        }) {
            self.shared.health.stats.end_call();
            self.release_gate();
            return reply;
        }
        let mut written = 0;
        while written < frame.len() {
            match (&*stream).write(&frame[written..]) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // WouldBlock or a dead socket: the net thread finishes (or finds the error).
                Err(_) => break,
            }
        }
        if written == frame.len() {
            self.release_gate();
        } else {
            self.net.send(Command::DirectRest {
                slot: self.slot,
                generation: self.generation,
                socket_generation,
                rest: frame.slice(written..),
            });
        }
        reply
    }

    /// Gives the write gate back after a direct write, waking the net thread when it has bytes
    /// waiting for the gate.
    fn release_gate(&self) {
        if self.shared.gate.release() {
            self.net.wake();
        }
    }

    /// Wakes the net thread, so that it sees calls registered without waking it (and fails
    /// those past their deadline).
    pub fn nudge(&self) {
        self.net.wake();
    }

    /// Sends a one-way request; returns once it is queued on the net thread.
    pub fn oneway(&self, request: &mut RequestPacket) -> Result<(), CallError> {
        let id = self.net.next_request_id();
        let frame = self.frame(request, id)?;
        self.admit(frame.len())?;
        if self.net.send(Command::Call {
            slot: self.slot,
            generation: self.generation,
            id,
            frame,
            pending: None,
        }) {
            Ok(())
        } else {
            Err(CallError::Transport("the client net thread stopped".into()))
        }
    }
}

impl Drop for AdapterProxy {
    fn drop(&mut self) {
        self.net.send(Command::Close {
            slot: self.slot,
            generation: self.generation,
        });
        self.net.free_slot(self.slot);
    }
}

/// The deadline of a call started at `started` (`request.timeout` ms; none when it is 0 or
/// less), with the timeout for the error.
pub(crate) fn deadline_of(request: &RequestPacket, started: Instant) -> Option<(Instant, u64)> {
    u64::try_from(request.timeout)
        .ok()
        .filter(|ms| *ms > 0)
        .map(|ms| (started + Duration::from_millis(ms), ms))
}
