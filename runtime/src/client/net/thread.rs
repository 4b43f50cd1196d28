//! The client net thread: a mio poll loop that connects, writes queued requests once per pass,
//! reads and decodes responses, and fails calls at their deadlines.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use mio::net::{TcpStream, UdpSocket};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::os::fd::AsRawFd;

use super::adapter::CallFailure;
use super::conn::{resolve, Conn, Socket};
use super::deadlines::Deadlines;
use super::handle::{Command, Pending};
use super::NetConfig;
use crate::client::error::CallError;
use crate::codec::DecodeLimits;
use crate::packet::ResponsePacket;

/// The waker's token (connection tokens never reach it: their slot part is below 2^24).
pub(super) const WAKER: Token = Token(usize::MAX);

/// The longest poll wait: a bound on how late the thread notices anything it was not woken
/// for.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// Request ids are already unique: hashing them again is wasted work.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_i32(&mut self, n: i32) {
        // Spread sequential ids over the table's high bits too (hashbrown uses the top 7).
        self.0 = u64::from(n as u32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A call waiting on this thread: where it went, and how to complete it.
struct InFlight {
    slot: usize,
    socket_generation: u32,
    pending: Pending,
}

pub(super) struct NetThread {
    poll: Poll,
    rx: Receiver<Command>,
    /// Cleared just before sleeping, set on waking (see the handle's `awake`).
    awake: Arc<AtomicBool>,
    config: NetConfig,
    limits: DecodeLimits,
    conns: Vec<Option<Conn>>,
    inflight: HashMap<i32, InFlight, BuildHasherDefault<IdHasher>>,
    deadlines: Deadlines,
    /// Connections with bytes queued this pass; flushed once each at the end of the pass.
    dirty: Vec<usize>,
    scratch: Vec<u8>,
    next_socket_generation: u32,
    /// Responses no call was waiting for, kept for [`ORPHAN_TTL`] in case their call's
    /// registration is still in the channel (a direct write's response can be read in the
    /// same pass, before the registration is drained).
    orphans: Vec<Orphan>,
    /// Sockets to read again next pass (their read budget ran out).
    unfinished_reads: Vec<usize>,
    /// Bytes held by `orphans`.
    orphan_bytes: usize,
    /// Responses read this pass, delivered at its end.
    answered: Vec<(Reply, ResponsePacket)>,
}

/// Where a call's outcome goes.
type Reply = futures::channel::oneshot::Sender<Result<ResponsePacket, CallFailure>>;

/// A response that matched no call when it was read.
struct Orphan {
    at: Instant,
    slot: usize,
    socket_generation: u32,
    response: ResponsePacket,
}

/// How long an unmatched response is kept.
const ORPHAN_TTL: Duration = Duration::from_secs(1);
/// At most this many unmatched responses are kept (late answers to timed-out calls included),
/// holding at most [`MAX_ORPHAN_BYTES`] of results: a peer answering ids nobody asked for
/// cannot make the client hold more.
const MAX_ORPHANS: usize = 1024;
/// The most result bytes unmatched responses may hold.
const MAX_ORPHAN_BYTES: usize = 4 * 1024 * 1024;

fn token(slot: usize, socket_generation: u32) -> Token {
    Token((socket_generation as usize) << 24 | slot)
}

fn untoken(token: Token) -> (usize, u32) {
    (token.0 & ((1 << 24) - 1), (token.0 >> 24) as u32)
}

impl NetThread {
    pub fn new(
        poll: Poll,
        rx: Receiver<Command>,
        awake: Arc<AtomicBool>,
        config: NetConfig,
    ) -> NetThread {
        NetThread {
            poll,
            rx,
            awake,
            config,
            limits: DecodeLimits::DEFAULT,
            conns: Vec::new(),
            inflight: HashMap::default(),
            deadlines: Deadlines::default(),
            dirty: Vec::new(),
            scratch: vec![0; 64 * 1024],
            next_socket_generation: 1,
            orphans: Vec::new(),
            answered: Vec::new(),
            unfinished_reads: Vec::new(),
            orphan_bytes: 0,
        }
    }

    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            // About to sleep: from now on a command must wake us. Commands sent while this
            // thread was awake did not (the flag was set): look for them before sleeping.
            self.awake.store(false, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let wait = if !self.rx.is_empty() || !self.unfinished_reads.is_empty() {
                Duration::ZERO
            } else {
                match self.deadlines.next() {
                    Some(at) => at.saturating_duration_since(Instant::now()).min(MAX_WAIT),
                    None => MAX_WAIT,
                }
            };
            let polled = self.poll.poll(&mut events, Some(wait));
            // Awake: commands sent from now on are seen without a wake-up.
            self.awake.store(true, Ordering::SeqCst);
            if let Err(e) = polled {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    tracing::error!("client net thread: poll failed: {e}");
                    self.fail_all("the client net thread failed");
                    return;
                }
            }
            // Commands first: a synchronous caller registers its call (without waking us)
            // before writing the request, so its registration is always in the channel by the
            // time its response raises an event.
            if !self.drain_commands() {
                return;
            }
            for event in events.iter() {
                if event.token() == WAKER {
                    continue;
                }
                let (slot, socket_generation) = untoken(event.token());
                let Some(conn) = self.live(slot, socket_generation) else {
                    continue;
                };
                if matches!(conn.socket, Socket::Connecting(_)) {
                    if event.is_writable() || event.is_error() || event.is_write_closed() {
                        self.finish_connect(slot);
                    }
                    continue;
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.on_readable(slot);
                }
                if event.is_writable() {
                    self.mark_dirty(slot);
                }
            }
            // Sockets whose read budget ran out last time (edge-triggered: no new event comes
            // for bytes already waiting).
            for slot in std::mem::take(&mut self.unfinished_reads) {
                self.on_readable(slot);
            }
            self.flush_dirty();
            self.deliver();
            let now = Instant::now();
            self.expire(now);
            if !self.orphans.is_empty() {
                self.orphans
                    .retain(|o| now.duration_since(o.at) < ORPHAN_TTL);
                self.orphan_bytes = self.orphans.iter().map(|o| o.response.buffer.len()).sum();
            }
        }
    }

    /// Runs every queued command; false when the communicator is gone (the thread exits).
    fn drain_commands(&mut self) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(cmd) => self.command(cmd),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => {
                    self.fail_all("the communicator was dropped");
                    return false;
                }
            }
        }
    }

    /// The connection in `slot` if its current socket is of `socket_generation`.
    fn live(&mut self, slot: usize, socket_generation: u32) -> Option<&mut Conn> {
        self.conns
            .get_mut(slot)?
            .as_mut()
            .filter(|c| c.socket_generation == socket_generation)
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Open {
                slot,
                generation,
                adapter,
            } => {
                if self.conns.len() <= slot {
                    self.conns.resize_with(slot + 1, || None);
                }
                self.conns[slot] = Some(Conn::new(adapter, generation, self.config.max_frame));
            }
            Command::Call {
                slot,
                generation,
                id,
                frame,
                pending,
            } => {
                if let Some(conn) = self.conn_of(slot, generation) {
                    conn.adapter
                        .in_channel
                        .fetch_sub(frame.len(), Ordering::AcqRel);
                }
                self.call(slot, generation, id, frame, pending)
            }
            Command::Register {
                slot,
                generation,
                socket_generation,
                id,
                pending,
            } => self.register(slot, generation, socket_generation, id, pending),
            Command::DirectRest {
                slot,
                generation,
                socket_generation,
                rest,
            } => {
                let Some(conn) = self.conn_of(slot, generation) else {
                    return;
                };
                // The caller kept the gate: this thread takes it over and writes the rest first.
                conn.adapter.gate.take_over();
                if conn.socket_generation == socket_generation
                    && matches!(conn.socket, Socket::Tcp(_))
                {
                    conn.queue_first(&rest);
                    self.mark_dirty(slot);
                } else {
                    // The socket it was written to is gone (its call failed with it).
                    conn.adapter.gate.release_from_net();
                }
            }
            Command::Close { slot, generation } => {
                if self.conn_of(slot, generation).is_some() {
                    self.fail_socket(slot, "the endpoint was removed from the proxy");
                    self.conns[slot] = None;
                }
            }
        }
    }

    fn call(
        &mut self,
        slot: usize,
        generation: u32,
        id: i32,
        frame: bytes::Bytes,
        pending: Option<Pending>,
    ) {
        let max_send_buffer = self.config.max_send_buffer;
        let Some(conn) = self.conn_of(slot, generation) else {
            complete_failed(pending, CallFailure::NotSent(closed_error()), None);
            return;
        };
        if conn.queued() + frame.len() > max_send_buffer {
            let error = CallError::Transport(format!(
                "{}: {} bytes already queued for sending",
                conn.adapter.address,
                conn.queued()
            ));
            let adapter = conn.adapter.clone();
            complete_failed(pending, CallFailure::NotSent(error), Some(&adapter));
            return;
        }
        if matches!(conn.socket, Socket::Idle) {
            if let Err(reason) = self.open_socket(slot) {
                let adapter = self.conns[slot].as_ref().map(|c| c.adapter.clone());
                let error = CallFailure::NotSent(CallError::Transport(reason));
                complete_failed(pending, error, adapter.as_ref());
                return;
            }
        }
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        conn.queue(frame);
        let connected = !matches!(conn.socket, Socket::Connecting(_));
        let socket_generation = conn.socket_generation;
        if let Some(pending) = pending {
            self.track(slot, socket_generation, id, pending);
        }
        if connected {
            self.mark_dirty(slot);
        }
    }

    /// Waits for the response to call `id` on the socket `socket_generation` of `slot`, until
    /// the call's deadline.
    fn track(&mut self, slot: usize, socket_generation: u32, id: i32, pending: Pending) {
        if let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) {
            conn.waiting += 1;
        }
        if let Some((at, _)) = pending.deadline {
            self.deadlines.push(at, id);
        }
        self.inflight.insert(
            id,
            InFlight {
                slot,
                socket_generation,
                pending,
            },
        );
    }

    /// The adapter in `slot` if it is still the one of `generation`.
    fn conn_of(&mut self, slot: usize, generation: u32) -> Option<&mut Conn> {
        self.conns
            .get_mut(slot)?
            .as_mut()
            .filter(|c| c.generation == generation)
    }

    /// A call its caller writes directly: waits on the socket it was written to, or fails at
    /// once when that socket is already gone.
    fn register(
        &mut self,
        slot: usize,
        generation: u32,
        socket_generation: u32,
        id: i32,
        pending: Pending,
    ) {
        let Some(conn) = self.conn_of(slot, generation) else {
            complete_failed(Some(pending), CallFailure::Failed(closed_error()), None);
            return;
        };
        if conn.socket_generation != socket_generation || !matches!(conn.socket, Socket::Tcp(_)) {
            let adapter = conn.adapter.clone();
            let error = CallError::Transport(format!("{}: connection closed", adapter.address));
            complete_failed(Some(pending), CallFailure::Failed(error), Some(&adapter));
            return;
        }
        self.track(slot, socket_generation, id, pending);
        // Its response may have been read before this registration was (see `orphans`).
        if let Some(i) = self.orphans.iter().position(|o| {
            o.response.request_id == id
                && o.slot == slot
                && o.socket_generation == socket_generation
        }) {
            let orphan = self.orphans.swap_remove(i);
            self.orphan_bytes -= orphan.response.buffer.len();
            self.complete(slot, socket_generation, orphan.response, Instant::now());
        }
    }

    /// Starts connecting (TCP) or binds (UDP) the socket of `slot`.
    fn open_socket(&mut self, slot: usize) -> Result<(), String> {
        let socket_generation = self.next_socket_generation;
        self.next_socket_generation = self.next_socket_generation.wrapping_add(1).max(1);
        let registry = self.poll.registry();
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return Err(closed_error().to_string());
        };
        if let super::adapter::Transport::Unavailable(reason) = &conn.adapter.transport {
            return Err(reason.clone());
        }
        let addr = resolve(&conn.adapter.address)?;
        let token = token(slot, socket_generation);
        let interest = Interest::READABLE | Interest::WRITABLE;
        conn.socket = if conn.adapter.udp {
            let local: std::net::SocketAddr = if addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let mut socket = UdpSocket::bind(local)
                .and_then(|s| s.connect(addr).map(|()| s))
                .map_err(|e| format!("cannot open a UDP socket to {addr}: {e}"))?;
            registry
                .register(&mut socket, token, interest)
                .map_err(|e| format!("cannot register a UDP socket: {e}"))?;
            Socket::Udp(socket)
        } else {
            let mut stream =
                TcpStream::connect(addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            registry
                .register(&mut stream, token, interest)
                .map_err(|e| format!("cannot register a connection: {e}"))?;
            Socket::Connecting(stream)
        };
        conn.socket_generation = socket_generation;
        Ok(())
    }

    /// The connect of `slot` reported progress: connected, or failed.
    fn finish_connect(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let Socket::Connecting(stream) = &conn.socket else {
            return;
        };
        let outcome = match stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => stream.peer_addr().map(drop),
        };
        match outcome {
            Ok(()) => {
                if let Socket::Connecting(stream) =
                    std::mem::replace(&mut conn.socket, Socket::Idle)
                {
                    let _ = stream.set_nodelay(true);
                    let tls = match &conn.adapter.transport {
                        super::adapter::Transport::Tls(config, name) => {
                            match rustls::ClientConnection::new(config.clone(), name.clone()) {
                                Ok(tls) => Some(tls),
                                Err(e) => {
                                    conn.socket = Socket::Connecting(stream);
                                    let reason = format!(
                                        "cannot start TLS with {}: {e}",
                                        conn.adapter.address
                                    );
                                    self.fail_socket(slot, &reason);
                                    return;
                                }
                            }
                        }
                        _ => None,
                    };
                    let stream = Arc::new(stream);
                    let tls_session = tls.is_some();
                    if let Some(tls) = tls {
                        conn.start_tls(tls);
                    }
                    match &conn.adapter.auth {
                        // The signed package goes first; every request then goes through
                        // this thread's queue (no direct writes that could overtake it).
                        Some((obj, key)) => {
                            let frame = crate::auth::request_frame(obj, key);
                            conn.queue_first(&frame);
                        }
                        // TLS: every byte goes through the session on this thread.
                        None if tls_session => {}
                        None => conn
                            .adapter
                            .gate
                            .publish(stream.clone(), conn.socket_generation),
                    }
                    conn.socket = Socket::Tcp(stream);
                }
                self.mark_dirty(slot);
                // Responses may already be waiting (edge-triggered): read now.
                self.on_readable(slot);
            }
            // Not connected yet (a spurious wake-up): wait for the next event.
            Err(e) if e.kind() == std::io::ErrorKind::NotConnected => {}
            Err(e) => {
                let reason = format!("cannot connect to {}: {e}", conn.adapter.address);
                self.fail_socket(slot, &reason);
            }
        }
    }

    fn on_readable(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let outcome = conn.read(&mut self.scratch);
        // A TLS session may have records to send after reading (its handshake).
        if outcome.failed.is_none() && conn.needs_flush() && !conn.dirty {
            conn.dirty = true;
            self.dirty.push(slot);
        }
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if outcome.more && !self.unfinished_reads.contains(&slot) {
            self.unfinished_reads.push(slot);
        }
        let socket_generation = conn.socket_generation;
        let adapter = conn.adapter.clone();
        let mut failed = outcome.failed;
        // One clock read for the whole pass: the calls it answers ended together.
        let now = Instant::now();
        for frame in outcome.frames {
            let response = match ResponsePacket::decode_any(&frame, self.limits) {
                Ok(r) => r,
                Err(e) => {
                    failed = Some(format!("bad response from {}: {e}", adapter.address));
                    break;
                }
            };
            self.complete(slot, socket_generation, response, now);
        }
        if let Some(reason) = failed {
            self.fail_socket(slot, &reason);
        }
    }

    /// Completes the call a response answers (when it is still waiting, on this socket).
    fn complete(
        &mut self,
        slot: usize,
        socket_generation: u32,
        mut response: ResponsePacket,
        now: Instant,
    ) {
        let id = response.request_id;
        match self.inflight.get(&id) {
            Some(c) if c.slot == slot && c.socket_generation == socket_generation => {}
            Some(_) => return,
            // Timed out already, an id this socket was never given, or the call of a direct
            // write whose registration this thread has not seen yet: kept briefly.
            None => {
                let size = response.buffer.len();
                if self.orphans.len() < MAX_ORPHANS && self.orphan_bytes + size <= MAX_ORPHAN_BYTES
                {
                    self.orphan_bytes += size;
                    self.orphans.push(Orphan {
                        at: now,
                        slot,
                        socket_generation,
                        response,
                    });
                }
                return;
            }
        }
        let Some(call) = self.inflight.remove(&id) else {
            return;
        };
        if let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) {
            conn.waiting = conn.waiting.saturating_sub(1);
            conn.adapter.finish(call.pending.started, now, true);
        }
        response.request_id = call.pending.original_id;
        self.answered.push((call.pending.tx, response));
    }

    /// Hands the pass's responses to their callers. Done once the pass's writes are out: waking
    /// a caller can cost this thread its CPU, and the requests should not wait for that.
    fn deliver(&mut self) {
        for (tx, response) in self.answered.drain(..) {
            let _ = tx.send(Ok(response));
        }
    }

    /// Closes the socket of `slot` and fails the calls waiting on it: as not sent when it never
    /// connected, as failed otherwise.
    fn fail_socket(&mut self, slot: usize, reason: &str) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let socket_generation = conn.socket_generation;
        let adapter = conn.adapter.clone();
        // A request does not leave before the TLS handshake is done.
        let never_connected =
            matches!(conn.socket, Socket::Connecting(_)) || conn.tls_handshaking();
        conn.adapter.gate.withdraw();
        match conn.reset() {
            Socket::Connecting(mut s) => {
                let _ = self.poll.registry().deregister(&mut s);
            }
            Socket::Tcp(s) => {
                let fd = s.as_raw_fd();
                let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            }
            Socket::Udp(mut s) => {
                let _ = self.poll.registry().deregister(&mut s);
            }
            Socket::Idle => {}
        }
        tracing::debug!(endpoint = %adapter.address, "connection closed: {reason}");
        let ids: Vec<i32> = self
            .inflight
            .iter()
            .filter(|(_, c)| c.slot == slot && c.socket_generation == socket_generation)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(call) = self.inflight.remove(&id) {
                let error = CallError::Transport(reason.to_owned());
                let failure = if never_connected {
                    CallFailure::NotSent(error)
                } else {
                    CallFailure::Failed(error)
                };
                complete_failed(Some(call.pending), failure, Some(&adapter));
            }
        }
    }

    fn mark_dirty(&mut self, slot: usize) {
        if let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(slot);
            }
        }
    }

    /// Writes what each dirty connection has queued: one write per connection and pass.
    ///
    /// A TCP socket is written only while this thread holds its write gate; when a synchronous
    /// caller is writing to it, the flush waits for the caller's wake-up.
    fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &slot in &dirty {
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            conn.dirty = false;
            let tcp = matches!(conn.socket, Socket::Tcp(_));
            if tcp && (!conn.needs_flush() || !conn.adapter.gate.acquire_for_net()) {
                continue;
            }
            if let Err(reason) = conn.flush() {
                self.fail_socket(slot, &reason);
            } else if tcp && conn.queued() == 0 {
                conn.adapter.gate.release_from_net();
            }
        }
        dirty.clear();
        self.dirty = dirty;
    }

    /// Fails every call whose deadline has passed; abandons connects nobody waits for.
    fn expire(&mut self, now: Instant) {
        while let Some((at, id)) = self.deadlines.pop_due(now) {
            let due = self
                .inflight
                .get(&id)
                .is_some_and(|c| c.pending.deadline.map(|d| d.0) == Some(at));
            if !due {
                continue;
            }
            let Some(call) = self.inflight.remove(&id) else {
                continue;
            };
            let ms = call.pending.deadline.map_or(0, |d| d.1);
            let mut abandon = false;
            let adapter = match self.conns.get_mut(call.slot).and_then(Option::as_mut) {
                Some(conn) => {
                    conn.waiting = conn.waiting.saturating_sub(1);
                    abandon = conn.waiting == 0 && matches!(conn.socket, Socket::Connecting(_));
                    Some(conn.adapter.clone())
                }
                None => None,
            };
            if let Some(adapter) = &adapter {
                // A timeout is a latency sample too (at least this slow), so latency-based
                // policies steer away from an endpoint that stopped answering.
                adapter
                    .health
                    .stats
                    .record_latency(call.pending.started.elapsed());
            }
            complete_failed(
                Some(call.pending),
                CallFailure::Failed(CallError::Timeout(ms)),
                adapter.as_ref(),
            );
            if abandon {
                // Nobody waits for this connect any more; the next call starts a fresh one.
                self.fail_socket(call.slot, "connect abandoned: every waiting call timed out");
            }
        }
        let inflight = &self.inflight;
        self.deadlines.compact(inflight.len(), |at, id| {
            inflight
                .get(&id)
                .is_some_and(|c| c.pending.deadline.map(|d| d.0) == Some(at))
        });
    }

    fn fail_all(&mut self, reason: &str) {
        self.deliver();
        for slot in 0..self.conns.len() {
            self.fail_socket(slot, reason);
        }
    }
}

fn closed_error() -> CallError {
    CallError::Transport("the endpoint was removed from the proxy".into())
}

/// Fails a call (if it expects a reply) and records the failure on its endpoint.
fn complete_failed(
    pending: Option<Pending>,
    failure: CallFailure,
    adapter: Option<&Arc<super::adapter::AdapterShared>>,
) {
    let Some(pending) = pending else {
        return;
    };
    if let Some(adapter) = adapter {
        adapter.finish(pending.started, Instant::now(), false);
    }
    let _ = pending.tx.send(Err(failure));
}
