//! [`TcpInvoker`]: requests to one endpoint over a persistent TCP connection.
//!
//! Requests are written under a lock; one reader thread per connection decodes responses and
//! completes the waiting calls by request id. Request ids are remapped per connection, so
//! several proxies can share an invoker. A failed connection fails its pending calls with
//! [`CallError::Transport`] and the next call reconnects.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::channel::oneshot;
use parking_lot::Mutex;

use super::error::CallError;
use super::invoker::{Invoker, ResponseFuture};
use super::timer::{Timer, TimerId};
use crate::codec::DecodeLimits;
use crate::endpoint::Endpoint;
use crate::packet::{
    FrameCodec, FrameError, PacketCodec, RequestPacket, ResponsePacket, DEFAULT_MAX_FRAME,
};

type Outcome = Result<ResponsePacket, CallError>;

struct Pending {
    original_id: i32,
    tx: oneshot::Sender<Outcome>,
    timer: Option<TimerId>,
}

struct Connection {
    stream: TcpStream,
    generation: u64,
}

struct Inner {
    endpoint: Endpoint,
    connect_timeout: Duration,
    conn: Mutex<Option<Connection>>,
    pending: Mutex<HashMap<i32, (u64, Pending)>>,
    next_id: AtomicI32,
    generations: AtomicU64,
    limits: DecodeLimits,
}

/// Sends requests to one endpoint over TCP.
#[derive(Clone)]
pub struct TcpInvoker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TcpInvoker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpInvoker")
            .field("endpoint", &self.inner.endpoint.to_string())
            .finish_non_exhaustive()
    }
}

impl TcpInvoker {
    /// An invoker for `endpoint`; connects on first use. The endpoint's `-t` bounds connecting.
    pub fn new(endpoint: Endpoint) -> TcpInvoker {
        let connect_timeout = Duration::from_millis(endpoint.timeout_ms.clamp(100, 60_000));
        TcpInvoker {
            inner: Arc::new(Inner {
                endpoint,
                connect_timeout,
                conn: Mutex::new(None),
                pending: Mutex::new(HashMap::new()),
                next_id: AtomicI32::new(1),
                generations: AtomicU64::new(1),
                limits: DecodeLimits::DEFAULT,
            }),
        }
    }

    /// The endpoint called.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// Opens the connection if needed, reporting failure synchronously.
    pub(crate) fn ensure_connected(&self) -> Result<(), CallError> {
        let mut guard = self.inner.conn.lock();
        if guard.is_none() {
            *guard = Some(self.inner.connect()?);
        }
        Ok(())
    }

    /// Closes the connection, if open; its reader thread ends and calls still waiting on it
    /// fail. The next call connects again.
    pub fn close(&self) {
        if let Some(c) = self.inner.conn.lock().take() {
            let _ = c.stream.shutdown(Shutdown::Both);
        }
    }

    /// Whether a connection is currently open.
    pub fn is_connected(&self) -> bool {
        self.inner.conn.lock().is_some()
    }

    fn send(&self, mut request: RequestPacket, pending: Option<Pending>) -> Result<i32, CallError> {
        let inner = &self.inner;
        let mut guard = inner.conn.lock();
        if guard.is_none() {
            *guard = Some(inner.connect()?);
        }
        let Some(conn) = guard.as_mut() else {
            return Err(CallError::Transport("not connected".into()));
        };
        let mut id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        if id == 0 {
            id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        }
        request.request_id = id;
        if let Some(p) = pending {
            inner.pending.lock().insert(id, (conn.generation, p));
        }
        let mut buf = BytesMut::new();
        let mut codec = PacketCodec::<ResponsePacket, RequestPacket>::new();
        codec
            .encode_packet(&request, &mut buf)
            .map_err(|e| CallError::Transport(e.to_string()))?;
        if let Err(e) = conn.stream.write_all(&buf) {
            let generation = conn.generation;
            let _ = conn.stream.shutdown(Shutdown::Both);
            *guard = None;
            drop(guard);
            inner.fail_generation(
                generation,
                &format!("write to {} failed: {e}", inner.endpoint.address()),
            );
            return Err(CallError::Transport(e.to_string()));
        }
        Ok(id)
    }
}

impl Inner {
    fn connect(self: &Arc<Self>) -> Result<Connection, CallError> {
        let addr = self
            .endpoint
            .address()
            .to_socket_addrs()
            .map_err(|e| {
                CallError::Transport(format!("cannot resolve {}: {e}", self.endpoint.address()))
            })?
            .next()
            .ok_or_else(|| {
                CallError::Transport(format!("{} does not resolve", self.endpoint.address()))
            })?;
        let stream = TcpStream::connect_timeout(&addr, self.connect_timeout)
            .map_err(|e| CallError::Transport(format!("cannot connect to {addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let reader = stream
            .try_clone()
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        let inner = self.clone();
        std::thread::Builder::new()
            .name(format!("tars-client-{addr}"))
            .spawn(move || inner.read_loop(reader, generation))
            .map_err(|e| CallError::Transport(format!("cannot start reader thread: {e}")))?;
        Ok(Connection { stream, generation })
    }

    fn read_loop(self: Arc<Self>, mut stream: TcpStream, generation: u64) {
        let mut frames = FrameCodec::with_max_frame(DEFAULT_MAX_FRAME);
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let mut chunk = vec![0u8; 64 * 1024];
        let reason = loop {
            // TUP responses come in the RequestPacket layout: decode_any reads either.
            match frames.decode_frame(&mut buf).map(|frame| {
                frame.map(|f| ResponsePacket::decode_any(&f, self.limits).map_err(FrameError::from))
            }) {
                Ok(Some(Ok(resp))) => {
                    self.complete(resp);
                    continue;
                }
                Ok(None) => {}
                Ok(Some(Err(e))) | Err(e) => {
                    break format!("bad response from {}: {e}", self.endpoint.address())
                }
            }
            match stream.read(&mut chunk) {
                Ok(0) => break format!("{} closed the connection", self.endpoint.address()),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break format!("read from {} failed: {e}", self.endpoint.address()),
            }
        };
        {
            let mut guard = self.conn.lock();
            if guard.as_ref().is_some_and(|c| c.generation == generation) {
                if let Some(c) = guard.take() {
                    let _ = c.stream.shutdown(Shutdown::Both);
                }
            }
        }
        self.fail_generation(generation, &reason);
    }

    fn complete(&self, mut resp: ResponsePacket) {
        let Some((_, p)) = self.pending.lock().remove(&resp.request_id) else {
            return; // Timed out already, or a one-way call.
        };
        if let Some(t) = p.timer {
            Timer::global().cancel(t);
        }
        resp.request_id = p.original_id;
        let _ = p.tx.send(Ok(resp));
    }

    fn fail_generation(&self, generation: u64, reason: &str) {
        let failed: Vec<Pending> = {
            let mut pending = self.pending.lock();
            let ids: Vec<i32> = pending
                .iter()
                .filter(|(_, (g, _))| *g == generation)
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| pending.remove(&id).map(|(_, p)| p))
                .collect()
        };
        for p in failed {
            if let Some(t) = p.timer {
                Timer::global().cancel(t);
            }
            let _ = p.tx.send(Err(CallError::Transport(reason.to_owned())));
        }
    }
}

impl Invoker for TcpInvoker {
    fn invoke(&self, request: RequestPacket, _hash: Option<u64>) -> ResponseFuture {
        let (tx, rx) = oneshot::channel();
        let timeout_ms = request.timeout.max(0) as u64;
        let original_id = request.request_id;
        let pending = Pending {
            original_id,
            tx,
            timer: None,
        };
        let id = match self.send(request, Some(pending)) {
            Ok(id) => id,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        if timeout_ms > 0 {
            let inner = self.inner.clone();
            let timer = Timer::global().schedule(
                Instant::now() + Duration::from_millis(timeout_ms),
                move || {
                    if let Some((_, p)) = inner.pending.lock().remove(&id) {
                        let _ = p.tx.send(Err(CallError::Timeout(timeout_ms)));
                    }
                },
            );
            match self.inner.pending.lock().get_mut(&id) {
                Some((_, p)) => p.timer = Some(timer),
                // Already answered: the timer has nothing left to do.
                None => Timer::global().cancel(timer),
            }
        }
        Box::pin(async move {
            match rx.await {
                Ok(outcome) => outcome,
                Err(_) => Err(CallError::Transport("call abandoned".into())),
            }
        })
    }

    fn invoke_oneway(&self, request: RequestPacket, _hash: Option<u64>) -> Result<(), CallError> {
        self.send(request, None).map(|_| ())
    }
}
