//! The network thread: a mio poll loop that accepts connections, reads and frames requests
//! (from TCP connections and UDP adapter sockets), hands them to the business queues and
//! writes responses back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use crossbeam_channel::{Receiver, Sender};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::connection::Connection;
use super::queue::{JobBatch, JobQueue};
use super::stats::IoCounters;
use super::udp::{split_frames, UdpAdapter};
use crate::codec::{DecodeLimits, Reader, TarsStruct};
use crate::packet::{RequestPacket, RetCode};
use crate::server::{Caller, Response, ResponseSink};

const WAKER: Token = Token(0);
const LISTENER_BASE: usize = 1;
/// UDP adapter sockets: `UDP_BASE + adapter index`.
pub(crate) const UDP_BASE: usize = 1 << 15;
const CONN_BASE: usize = 1 << 16;

/// Where a response goes: a TCP connection, or a datagram to the sender of a UDP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplyTo {
    /// A connection (checked against its generation on arrival).
    Conn(ConnId),
    /// A datagram from the UDP socket of adapter `adapter` (on the net thread that owns it)
    /// to `peer`.
    Datagram {
        adapter: usize,
        peer: std::net::SocketAddr,
    },
}

/// Identifies a connection across threads: net thread, slot, and the slot's generation (so a
/// late response never reaches a newer connection that reused the slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnId {
    pub thread: usize,
    pub slot: usize,
    pub generation: u32,
}

/// Commands sent to a net thread.
pub(crate) enum Command {
    /// A connection accepted by another net thread.
    Adopt(TcpStream, std::net::SocketAddr, usize),
    /// Encoded response frames for a connection or a datagram peer, and how many frames the
    /// bytes hold.
    Send(ReplyTo, Bytes, usize),
    /// Stop accepting and stop taking new requests.
    StopAccepting,
    /// Flush what is queued (within the deadline) and exit.
    Exit(Instant),
}

/// A way to reach a net thread from any thread; wakes it at most once per loop.
#[derive(Clone)]
pub(crate) struct NetHandle(Arc<NetHandleInner>);

struct NetHandleInner {
    tx: Sender<Command>,
    waker: Waker,
    wake_pending: AtomicBool,
}

impl NetHandle {
    pub fn send(&self, cmd: Command) {
        let h = &self.0;
        if h.tx.send(cmd).is_ok() && !h.wake_pending.swap(true, Ordering::AcqRel) {
            // A failed wake means the poll is gone: the thread is exiting.
            let _ = h.waker.wake();
        }
    }
}

/// Sends deferred responses back to the connection (or datagram peer) they belong to.
pub(crate) struct ConnSink {
    pub conn: ReplyTo,
    pub net: NetHandle,
}

impl ResponseSink for ConnSink {
    fn send(&self, response: Response) {
        let mut out = BytesMut::new();
        response.write_frame(&mut out);
        self.net.send(Command::Send(self.conn, out.freeze(), 1));
    }
}

/// The sink of one inline request: its answer goes to the connection, and the request stops
/// counting as in flight when it is answered, or when nothing can answer it any more (its
/// `Current` and `Responder` are gone).
pub(crate) struct CountedSink {
    sink: ConnSink,
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    answered: std::sync::atomic::AtomicBool,
    /// The -6 answer sent instead when the request outlives the adapter's queue timeout.
    expired: parking_lot::Mutex<Option<Response>>,
}

impl CountedSink {
    /// Marks the request answered; true the first time only.
    fn done(&self) -> bool {
        let first = !self.answered.swap(true, Ordering::AcqRel);
        if first {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
        first
    }

    /// Answers -6 when nothing answered yet (the servant's later answer is then dropped).
    /// Whether it answered -6 (false: answered already).
    fn expire(&self) -> bool {
        if !self.done() {
            return false;
        }
        if let Some(response) = self.expired.lock().take() {
            self.sink.send(response);
        }
        true
    }
}

impl ResponseSink for CountedSink {
    fn send(&self, response: Response) {
        // A request answered -6 already gets no second answer.
        if self.done() {
            self.sink.send(response);
        }
    }
}

impl Drop for CountedSink {
    fn drop(&mut self) {
        self.done();
    }
}

/// What an adapter with `-e 1` checks a connection's first request against.
#[derive(Debug)]
pub(crate) struct AdapterAuth {
    /// Its servants' names (the objects a package may name).
    pub objects: Vec<String>,
    /// Access key → secret key.
    pub keys: std::collections::BTreeMap<String, String>,
}

impl AdapterAuth {
    /// The state the first request `request` earns, and the answer to send back.
    fn check(
        &self,
        request: &RequestPacket,
    ) -> (crate::auth::AuthState, Option<Arc<str>>, Response) {
        use crate::auth::{verify, AuthState, BasicAuthPackage};
        use crate::codec::TarsStruct;
        let now = crate::auth::unix_seconds();
        let mut principal = None;
        let state = if request.buffer.len() <= 20 {
            AuthState::ProtoErr
        } else {
            match BasicAuthPackage::decode_from(&request.buffer) {
                Ok(pkg) => {
                    let objects: Vec<&str> = self.objects.iter().map(String::as_str).collect();
                    let state = verify(&pkg, &objects, |ak| self.keys.get(ak).cloned(), now);
                    principal = Some(Arc::from(pkg.access_key.as_str()));
                    state
                }
                Err(_) => AuthState::ProtoErr,
            }
        };
        let response = Response::Tars(crate::packet::ResponsePacket {
            version: 1,
            packet_type: request.packet_type,
            request_id: request.request_id,
            message_type: request.message_type,
            ret: 0,
            buffer: bytes::Bytes::from_static(state.name().as_bytes()),
            status: Default::default(),
            result_desc: Default::default(),
            context: Default::default(),
        });
        (state, principal, response)
    }
}

/// Open connections of an adapter per client address.
#[derive(Debug, Default)]
pub(crate) struct PerIp(parking_lot::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>);

impl PerIp {
    fn of(&self, ip: std::net::IpAddr) -> usize {
        self.0.lock().get(&ip).copied().unwrap_or(0)
    }

    fn add(&self, ip: std::net::IpAddr) {
        *self.0.lock().entry(ip).or_default() += 1;
    }

    fn remove(&self, ip: std::net::IpAddr) {
        let mut map = self.0.lock();
        if let Some(n) = map.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&ip);
            }
        }
    }
}

/// Per-adapter state a net thread needs.
pub(crate) struct AdapterSlot {
    pub listener: Option<TcpListener>,
    pub jobs: Option<JobQueue>,
    /// Servants called on the net thread itself (adapters configured with 0 threads).
    pub inline: Option<Arc<crate::server::Servants>>,
    /// Statistics and dyeing log of the server.
    pub observe: Arc<crate::server::current::Observe>,
    /// Requests of the inline servants not answered yet (shared by the net threads).
    pub inline_in_flight: Arc<std::sync::atomic::AtomicUsize>,
    /// Past this many inline requests in flight, requests are refused with -9.
    pub inline_capacity: usize,
    /// An inline request not answered this long after it arrived is answered -6.
    pub inline_timeout: Duration,
    /// Deferred inline requests of this thread, oldest first, until answered or expired.
    pub inline_pending: std::collections::VecDeque<(Instant, std::sync::Weak<CountedSink>)>,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
    /// Open connections per client address (shared by the net threads).
    pub per_ip: Arc<PerIp>,
    /// TarsCpp local authentication (`-e 1`): what a connection's first request must prove.
    pub auth: Option<Arc<AdapterAuth>>,
    /// Connections one address may hold at most.
    pub max_per_ip: usize,
    /// The TLS configuration of an `ssl` adapter: each connection starts a TLS session.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The adapter's UDP socket, on the one net thread that owns it.
    pub udp: Option<UdpAdapter>,
}

pub(crate) struct NetThread {
    pub index: usize,
    pub poll: Poll,
    pub rx: Receiver<Command>,
    pub me: NetHandle,
    pub peers: Vec<NetHandle>,
    pub adapters: Vec<AdapterSlot>,
    pub max_packet: usize,
    pub max_write_buffer: usize,
    pub limits: DecodeLimits,
    /// How long a request frame may take to arrive once its first byte did.
    pub frame_timeout: Duration,
    /// Bytes all connections of the server may hold (partial frames, unsent replies).
    pub max_buffered: u64,
    conns: Vec<Option<Connection>>,
    free: Vec<usize>,
    scratch: Vec<u8>,
    next_generation: u32,
    next_peer: usize,
    stopping: bool,
    /// Connections with bytes queued this loop; flushed once each at the end of the loop.
    dirty: Vec<(usize, u32)>,
    /// UDP adapters with replies queued this loop; flushed at the end of the loop.
    dirty_udp: Vec<usize>,
    /// The server's I/O counters.
    pub counters: Arc<IoCounters>,
}

impl NetThread {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index: usize,
        poll: Poll,
        rx: Receiver<Command>,
        me: NetHandle,
        adapters: Vec<AdapterSlot>,
        max_packet: usize,
        max_write_buffer: usize,
        limits: DecodeLimits,
    ) -> NetThread {
        NetThread {
            index,
            poll,
            rx,
            me,
            peers: Vec::new(),
            adapters,
            max_packet,
            max_write_buffer,
            limits,
            frame_timeout: super::config::DEFAULT_FRAME_TIMEOUT,
            max_buffered: super::config::DEFAULT_MAX_BUFFERED,
            conns: Vec::new(),
            free: Vec::new(),
            scratch: vec![0; 64 * 1024],
            next_generation: 1,
            next_peer: 0,
            stopping: false,
            dirty: Vec::new(),
            dirty_udp: Vec::new(),
            counters: Arc::default(),
        }
    }

    pub fn handle(poll: &Poll) -> std::io::Result<(NetHandle, Receiver<Command>)> {
        let waker = Waker::new(poll.registry(), WAKER)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        Ok((
            NetHandle(Arc::new(NetHandleInner {
                tx,
                waker,
                wake_pending: AtomicBool::new(false),
            })),
            rx,
        ))
    }

    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let mut last_sweep = Instant::now();
        let mut exit_deadline: Option<Instant> = None;
        loop {
            if let Err(e) = self
                .poll
                .poll(&mut events, Some(Duration::from_millis(200)))
            {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    tracing::error!("net thread {}: poll failed: {e}", self.index);
                    return;
                }
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
                    Token(t) if (LISTENER_BASE..UDP_BASE).contains(&t) => {
                        self.accept(t - LISTENER_BASE)
                    }
                    Token(t) if (UDP_BASE..CONN_BASE).contains(&t) => {
                        if event.is_readable() {
                            self.on_udp_readable(t - UDP_BASE);
                        }
                        if event.is_writable() {
                            self.on_udp_writable(t - UDP_BASE);
                        }
                    }
                    Token(t) => {
                        let (slot, generation) = decode_token(t);
                        if event.is_readable() || event.is_read_closed() {
                            // After a FIN every byte must be read to see the end of stream.
                            let until_eof = event.is_read_closed();
                            self.on_readable(slot, generation, until_eof);
                        }
                        if event.is_writable() {
                            self.on_writable(slot, generation);
                        }
                    }
                }
            }
            // Clear the flag before draining, so a command sent meanwhile wakes us again.
            self.me.0.wake_pending.store(false, Ordering::Release);
            while let Ok(cmd) = self.rx.try_recv() {
                match cmd {
                    Command::Adopt(stream, peer, adapter) => self.adopt(stream, peer, adapter),
                    Command::Send(to, bytes, frames) => self.send(to, &bytes, frames),
                    Command::StopAccepting => self.stop_accepting(),
                    Command::Exit(deadline) => exit_deadline = Some(deadline),
                }
            }
            // One write per connection for everything answered in this pass.
            self.flush_dirty();
            self.flush_udp();
            self.within_memory_budget();
            if let Some(deadline) = exit_deadline {
                let unsent = self.conns.iter().flatten().any(|c| c.pending_write() > 0)
                    || self
                        .adapters
                        .iter()
                        .filter_map(|a| a.udp.as_ref())
                        .any(|u| u.pending_write() > 0);
                if !unsent || Instant::now() >= deadline {
                    return;
                }
            }
            if last_sweep.elapsed() >= Duration::from_millis(500) {
                last_sweep = Instant::now();
                self.close_idle();
                self.expire_inline(last_sweep);
            }
        }
    }

    /// Answers -6 to the inline requests still unanswered past their adapter's queue
    /// timeout, and forgets the answered ones (so the list holds about what arrives between
    /// two sweeps plus what is really pending).
    fn expire_inline(&mut self, now: Instant) {
        for a in &mut self.adapters {
            while let Some((deadline, _)) = a.inline_pending.front() {
                if *deadline > now {
                    break;
                }
                if let Some((_, sink)) = a.inline_pending.pop_front() {
                    if let Some(sink) = sink.upgrade() {
                        if sink.expire() {
                            IoCounters::add(&self.counters.shed_queue_timeout, 1);
                        }
                    }
                }
            }
            a.inline_pending.retain(|(_, sink)| sink.strong_count() > 0);
        }
    }

    fn stop_accepting(&mut self) {
        self.stopping = true;
        for a in &mut self.adapters {
            if let Some(mut l) = a.listener.take() {
                let _ = self.poll.registry().deregister(&mut l);
            }
            // Dropping our senders lets the business threads finish the queue and exit.
            a.jobs = None;
            a.inline = None;
        }
    }

    fn accept(&mut self, adapter: usize) {
        loop {
            let Some(listener) = self.adapters.get(adapter).and_then(|a| a.listener.as_ref())
            else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    let (full, ip_full) = {
                        let slot = &self.adapters[adapter];
                        (
                            slot.connections.load(Ordering::Relaxed) >= slot.max_connections,
                            slot.per_ip.of(peer.ip()) >= slot.max_per_ip,
                        )
                    };
                    if ip_full && !self.evict_idlest(adapter, Some(peer.ip())) {
                        tracing::warn!(
                            "adapter {adapter}: {} has as many connections as one address may, closing {peer}",
                            peer.ip()
                        );
                        drop(stream);
                        continue;
                    }
                    if full && !ip_full && !self.evict_idlest(adapter, None) {
                        tracing::warn!(
                            "adapter {adapter}: connection limit reached, closing {peer}"
                        );
                        drop(stream);
                        continue;
                    }
                    let slot = &self.adapters[adapter];
                    slot.connections.fetch_add(1, Ordering::Relaxed);
                    slot.per_ip.add(peer.ip());
                    let n = self.peers.len() + 1;
                    let target = self.next_peer % n;
                    self.next_peer = self.next_peer.wrapping_add(1);
                    if target == 0 {
                        self.adopt(stream, peer, adapter);
                    } else {
                        self.peers[target - 1].send(Command::Adopt(stream, peer, adapter));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::warn!("adapter {adapter}: accept failed: {e}");
                    return;
                }
            }
        }
    }

    /// At the connection limit (of the adapter, or of one address `from`): closes this
    /// thread's connection of `adapter` (from that address) that has been quiet longest — no
    /// traffic for [`EVICT_AFTER_QUIET`], nothing buffered either way — to make room for a
    /// new one; false when there is none. Idle connections held open (by an attacker, or
    /// clients that forgot them) cannot lock legitimate clients out.
    fn evict_idlest(&mut self, adapter: usize, from: Option<std::net::IpAddr>) -> bool {
        let now = Instant::now();
        let idlest = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((i, c.as_ref()?)))
            .filter(|(_, c)| {
                c.adapter == adapter
                    && from.is_none_or(|ip| c.peer.ip() == ip)
                    && c.pending_write() == 0
                    && c.partial_since.is_none()
                    && now.duration_since(c.last_active) >= EVICT_AFTER_QUIET
            })
            .min_by_key(|(_, c)| c.last_active)
            .map(|(i, c)| (i, c.peer));
        let Some((slot, peer)) = idlest else {
            return false;
        };
        tracing::info!(%peer, "adapter {adapter}: connection limit reached, closing the idlest connection");
        self.close(slot);
        true
    }

    fn adopt(&mut self, mut stream: TcpStream, peer: std::net::SocketAddr, adapter: usize) {
        let _ = stream.set_nodelay(true);
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        let token = Token(encode_token(slot, generation));
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, token, Interest::READABLE)
        {
            tracing::warn!("cannot register connection from {peer}: {e}");
            self.free.push(slot);
            let a = &self.adapters[adapter];
            a.connections.fetch_sub(1, Ordering::Relaxed);
            a.per_ip.remove(peer.ip());
            return;
        }
        let mut connection = Connection::new(
            stream,
            peer,
            generation,
            adapter,
            self.max_packet,
            self.counters.clone(),
        );
        connection.authenticated = self.adapters[adapter].auth.is_none();
        if let Some(config) = &self.adapters[adapter].tls {
            match rustls::ServerConnection::new(config.clone()) {
                Ok(tls) => connection.start_tls(tls),
                Err(e) => {
                    tracing::warn!("cannot start TLS for {peer}: {e}");
                    self.conns[slot] = Some(connection);
                    self.close(slot);
                    return;
                }
            }
        }
        self.conns[slot] = Some(connection);
        // Data may already be waiting (edge-triggered): read now.
        self.on_readable(slot, generation, true);
    }

    fn close(&mut self, slot: usize) {
        if let Some(Some(mut c)) = self.conns.get_mut(slot).map(Option::take) {
            let _ = self.poll.registry().deregister(&mut c.stream);
            let a = &self.adapters[c.adapter];
            a.connections.fetch_sub(1, Ordering::Relaxed);
            a.per_ip.remove(c.peer.ip());
            self.free.push(slot);
        }
    }

    /// Reads what `slot` has received and dispatches every complete request. `until_eof`
    /// asks for reading until WouldBlock (or end of stream) even after a short read.
    fn on_readable(&mut self, slot: usize, generation: u32, until_eof: bool) {
        let stopping = self.stopping;
        let Some(conn) = live(&mut self.conns, slot, generation) else {
            return;
        };
        let outcome = conn.read(&mut self.scratch, until_eof);
        // A TLS session may have records to send after reading (its handshake, tickets).
        let tls_pending = conn.tls_wants_write();
        let adapter = conn.adapter;
        let mut caller = Caller {
            addr: Some(conn.peer),
            principal: conn.principal.clone(),
        };
        let conn_id = ReplyTo::Conn(ConnId {
            thread: self.index,
            slot,
            generation,
        });
        if !stopping {
            let mut batch = Vec::new();
            for frame in outcome.frames {
                let mut r = Reader::from_bytes(&frame, self.limits);
                match RequestPacket::read_fields(&mut r) {
                    Ok(request) if self.awaits_auth(slot, generation) => {
                        match self.authenticate(adapter, slot, generation, conn_id, &request) {
                            Some(principal) => caller.principal = principal,
                            None => {
                                if let Some(jobs) = &self.adapters[adapter].jobs {
                                    jobs.release(batch.len());
                                }
                                self.close(slot);
                                return;
                            }
                        }
                    }
                    Ok(request) => self.dispatch(adapter, conn_id, &caller, request, &mut batch),
                    Err(e) => {
                        tracing::warn!("closing connection: undecodable request: {e}");
                        if let Some(jobs) = &self.adapters[adapter].jobs {
                            jobs.release(batch.len());
                        }
                        self.close(slot);
                        return;
                    }
                }
            }
            self.enqueue(adapter, conn_id, caller, batch);
        }
        if let Some(e) = outcome.error {
            tracing::warn!("closing connection: {e}");
            self.close(slot);
        } else if let Some(e) = outcome.tls_error {
            let peer = live(&mut self.conns, slot, generation).map(|c| c.peer);
            tracing::warn!(?peer, "closing connection: TLS: {e}");
            self.close(slot);
        } else if outcome.closed {
            // Half-closed by the peer: responses can no longer be read reliably; close.
            self.close(slot);
        } else if tls_pending {
            let id = ConnId {
                thread: self.index,
                slot,
                generation,
            };
            self.queue_for(id);
        }
        // Checked after every read, not only at the end of the pass: one pass may read from
        // a thousand connections, which would overshoot the budget by their sum.
        if self.counters.buffered.load(Ordering::Relaxed) > self.max_buffered {
            self.within_memory_budget();
        }
    }

    /// Whether the connection in `slot` has yet to authenticate.
    fn awaits_auth(&self, slot: usize, generation: u32) -> bool {
        self.conns
            .get(slot)
            .and_then(Option::as_ref)
            .is_some_and(|c| c.generation == generation && !c.authenticated)
    }

    /// Checks the first request of a connection to an adapter with `-e 1`: answers with the
    /// state's name and lets the connection on as the principal it proved (returned), or
    /// returns `None` (to close it) as TarsCpp does on a failed check.
    fn authenticate(
        &mut self,
        adapter: usize,
        slot: usize,
        generation: u32,
        conn: ReplyTo,
        request: &RequestPacket,
    ) -> Option<Option<Arc<str>>> {
        let Some(auth) = self.adapters[adapter].auth.clone() else {
            return Some(None);
        };
        let (state, principal, response) = auth.check(request);
        if state.code() < 0 {
            let peer = live(&mut self.conns, slot, generation).map(|c| c.peer);
            tracing::warn!(
                ?peer,
                state = state.name(),
                "authentication failed; closing"
            );
            return None;
        }
        if let Some(c) = live(&mut self.conns, slot, generation) {
            c.authenticated = true;
            c.principal = principal.clone();
        }
        self.answer(conn, response);
        Some(principal)
    }

    /// Runs `request` on this thread (inline adapters), adds it to `batch` for the business
    /// threads, or refuses it with -9 when the queue is past 4/5 of its capacity.
    fn dispatch(
        &mut self,
        adapter: usize,
        conn: ReplyTo,
        caller: &Caller,
        request: RequestPacket,
        batch: &mut Vec<RequestPacket>,
    ) {
        let slot = &self.adapters[adapter];
        if let Some(servants) = slot.inline.as_ref() {
            if request.is_oneway() {
                let _ = servants.clone().handle_observed(
                    request,
                    None,
                    caller.clone(),
                    Instant::now(),
                    &slot.observe,
                );
                return;
            }
            // Admission: an inline servant has no queue to shed from, so its requests in
            // flight (replies deferred and not sent yet) are bounded instead.
            let in_flight = slot.inline_in_flight.fetch_add(1, Ordering::AcqRel);
            if in_flight >= slot.inline_capacity {
                slot.inline_in_flight.fetch_sub(1, Ordering::AcqRel);
                IoCounters::add(&self.counters.shed_overload, 1);
                self.answer(
                    conn,
                    Response::error(&request, RetCode::Overload, "server overloaded"),
                );
                return;
            }
            let expired = Response::error(
                &request,
                RetCode::QueueTimeout,
                "request not answered within the queue timeout",
            );
            let counted = Arc::new(CountedSink {
                sink: ConnSink {
                    conn,
                    net: self.me.clone(),
                },
                in_flight: slot.inline_in_flight.clone(),
                answered: std::sync::atomic::AtomicBool::new(false),
                expired: parking_lot::Mutex::new(Some(expired)),
            });
            let pending = Arc::downgrade(&counted);
            let deadline = Instant::now() + slot.inline_timeout;
            match servants.clone().handle_observed(
                request,
                Some(counted as Arc<dyn ResponseSink>),
                caller.clone(),
                Instant::now(),
                &slot.observe,
            ) {
                Some(response) => self.answer(conn, response),
                None => {
                    if pending.strong_count() > 0 {
                        self.adapters[adapter]
                            .inline_pending
                            .push_back((deadline, pending));
                    }
                }
            }
            return;
        }
        let Some(jobs) = slot.jobs.as_ref() else {
            return;
        };
        if jobs.admit() {
            batch.push(request);
        } else if !request.is_oneway() {
            IoCounters::add(&self.counters.shed_overload, 1);
            self.answer(
                conn,
                Response::error(&request, RetCode::Overload, "server overloaded"),
            );
        }
    }

    /// Hands the requests of one read pass to the adapter's business threads.
    fn enqueue(
        &mut self,
        adapter: usize,
        conn: ReplyTo,
        caller: Caller,
        requests: Vec<RequestPacket>,
    ) {
        if requests.is_empty() {
            return;
        }
        let Some(jobs) = self.adapters[adapter].jobs.as_ref() else {
            return;
        };
        let batch = JobBatch {
            conn,
            net: self.me.clone(),
            received: Instant::now(),
            requests,
            caller,
        };
        if let Err(batch) = jobs.push(batch) {
            // No business thread is left (shutting down): refuse what was read.
            for request in batch.requests.iter().filter(|r| !r.is_oneway()) {
                self.answer(
                    conn,
                    Response::error(request, RetCode::Overload, "server stopping"),
                );
            }
        }
    }

    /// The live connection `conn`, registered for the end-of-loop flush.
    fn queue_for(&mut self, conn: ConnId) -> Option<&mut Connection> {
        let c = live(&mut self.conns, conn.slot, conn.generation)?;
        if !c.dirty {
            c.dirty = true;
            self.dirty.push((conn.slot, conn.generation));
        }
        Some(c)
    }

    /// Keeps the bytes all connections hold under `max_buffered`: past it, closes this
    /// thread's connections holding the most until the node is under it (or this thread holds
    /// nothing more). Every net thread does so at the end of each pass.
    fn within_memory_budget(&mut self) {
        use std::sync::atomic::Ordering::Relaxed;
        while self.counters.buffered.load(Relaxed) > self.max_buffered {
            let costliest = self
                .conns
                .iter()
                .enumerate()
                .filter_map(|(i, c)| Some((i, c.as_ref()?)))
                .filter(|(_, c)| c.buffered() > 0)
                .max_by_key(|(_, c)| c.buffered())
                .map(|(i, c)| (i, c.peer, c.buffered()));
            let Some((slot, peer, bytes)) = costliest else {
                return;
            };
            tracing::warn!(
                %peer,
                bytes,
                "closing the connection holding the most: the server holds more than {} bytes",
                self.max_buffered
            );
            self.close(slot);
        }
    }

    /// Keeps a connection's unsent bytes under `max_write_buffer` as they are queued, not
    /// only when the pass ends (a pass may queue many batches): past the cap it writes what
    /// the socket takes now, and a connection still past it is closed as a slow reader. The
    /// cut-off is thus accurate to one queued batch.
    fn within_write_cap(&mut self, conn: ConnId) {
        let max = self.max_write_buffer;
        if live(&mut self.conns, conn.slot, conn.generation)
            .is_some_and(|c| c.pending_write() > max)
        {
            self.flush(conn.slot, conn.generation);
        }
    }

    /// Queues `response` for `to`; it is written when the loop pass ends.
    fn answer(&mut self, to: ReplyTo, response: Response) {
        match to {
            ReplyTo::Conn(conn) => {
                if let Some(c) = self.queue_for(conn) {
                    c.queue_response(&response);
                }
                self.within_write_cap(conn);
            }
            ReplyTo::Datagram { adapter, peer } => {
                let mut out = bytes::BytesMut::new();
                response.write_frame(&mut out);
                self.queue_datagram(adapter, peer, out.freeze());
            }
        }
    }

    /// Queues encoded frames for `to`; they are written when the loop pass ends.
    fn send(&mut self, to: ReplyTo, bytes: &Bytes, frames: usize) {
        match to {
            ReplyTo::Conn(conn) => {
                if let Some(c) = self.queue_for(conn) {
                    c.queue(bytes, frames);
                }
                self.within_write_cap(conn);
            }
            // One datagram per frame.
            ReplyTo::Datagram { adapter, peer } => {
                for frame in split_frames(bytes) {
                    self.queue_datagram(adapter, peer, frame);
                }
            }
        }
    }

    /// Queues one reply frame on adapter `adapter`'s UDP socket, registered for the
    /// end-of-loop flush.
    fn queue_datagram(&mut self, adapter: usize, peer: std::net::SocketAddr, frame: Bytes) {
        let limits = self.limits;
        let Some(udp) = self.adapters.get_mut(adapter).and_then(|a| a.udp.as_mut()) else {
            tracing::error!("udp reply for adapter {adapter}, which has no socket here");
            return;
        };
        udp.queue(peer, frame, limits);
        if !udp.dirty {
            udp.dirty = true;
            self.dirty_udp.push(adapter);
        }
    }

    /// Reads every datagram waiting on adapter `adapter`'s UDP socket and dispatches each
    /// request; consecutive requests from one sender go to the queue as one batch.
    fn on_udp_readable(&mut self, adapter: usize) {
        loop {
            // While stopping nothing is read: the socket only sends the last replies.
            if self.stopping {
                return;
            }
            let max_packet = self.max_packet;
            let Some(udp) = self.adapters.get_mut(adapter).and_then(|a| a.udp.as_mut()) else {
                return;
            };
            let (frames, drained) = udp.receive(&mut self.scratch, max_packet);
            let mut batch = Vec::new();
            let mut batch_peer = None;
            for (peer, frame) in frames {
                let to = ReplyTo::Datagram { adapter, peer };
                if batch_peer != Some(peer) {
                    if let Some(prev) = batch_peer {
                        let prev_to = ReplyTo::Datagram {
                            adapter,
                            peer: prev,
                        };
                        self.enqueue(
                            adapter,
                            prev_to,
                            Caller::at(prev),
                            std::mem::take(&mut batch),
                        );
                    }
                    batch_peer = Some(peer);
                }
                let mut r = Reader::from_bytes(&frame, self.limits);
                match RequestPacket::read_fields(&mut r) {
                    Ok(request) => {
                        self.dispatch(adapter, to, &Caller::at(peer), request, &mut batch)
                    }
                    Err(e) => {
                        IoCounters::add(&self.counters.udp_bad_datagrams, 1);
                        tracing::debug!("udp: dropping an undecodable request from {peer}: {e}");
                    }
                }
            }
            if let Some(peer) = batch_peer {
                let to = ReplyTo::Datagram { adapter, peer };
                self.enqueue(adapter, to, Caller::at(peer), batch);
            }
            if drained {
                return;
            }
        }
    }

    fn on_udp_writable(&mut self, adapter: usize) {
        let Some(udp) = self.adapters.get_mut(adapter).and_then(|a| a.udp.as_mut()) else {
            return;
        };
        if udp.flush() && udp.want_write {
            udp.want_write = false;
            let _ = self.poll.registry().reregister(
                &mut udp.socket,
                Token(UDP_BASE + adapter),
                Interest::READABLE,
            );
        }
    }

    /// Sends what each UDP adapter with new replies has queued; waits for writability when
    /// the socket buffer is full.
    fn flush_udp(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty_udp);
        for &adapter in &dirty {
            let Some(udp) = self.adapters.get_mut(adapter).and_then(|a| a.udp.as_mut()) else {
                continue;
            };
            udp.dirty = false;
            // While waiting for writability, the writable event does the sending.
            if udp.want_write || udp.flush() {
                continue;
            }
            udp.want_write = true;
            let _ = self.poll.registry().reregister(
                &mut udp.socket,
                Token(UDP_BASE + adapter),
                Interest::READABLE | Interest::WRITABLE,
            );
        }
        dirty.clear();
        self.dirty_udp = dirty;
    }

    /// Writes what each dirty connection has queued: one write per connection and pass.
    fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &(slot, generation) in &dirty {
            self.flush(slot, generation);
        }
        dirty.clear();
        self.dirty = dirty;
    }

    fn flush(&mut self, slot: usize, generation: u32) {
        let max = self.max_write_buffer;
        // Borrow only the connection table, so the poll registry stays usable.
        let Some(c) = live(&mut self.conns, slot, generation) else {
            return;
        };
        c.dirty = false;
        // While waiting for writability, the writable event does the writing.
        let written = if c.want_write { Ok(false) } else { c.flush() };
        match written {
            Ok(true) => {}
            Ok(false) if c.pending_write() > max => {
                tracing::warn!(
                    "closing {}: client reads too slowly ({} bytes unsent)",
                    c.peer,
                    c.pending_write()
                );
                self.close(slot);
            }
            Ok(false) => {
                if !c.want_write {
                    c.want_write = true;
                    let token = Token(encode_token(slot, generation));
                    let _ = self.poll.registry().reregister(
                        &mut c.stream,
                        token,
                        Interest::READABLE | Interest::WRITABLE,
                    );
                }
            }
            Err(_) => self.close(slot),
        }
    }

    fn on_writable(&mut self, slot: usize, generation: u32) {
        let Some(c) = live(&mut self.conns, slot, generation) else {
            return;
        };
        match c.flush() {
            Ok(true) => {
                c.want_write = false;
                let token = Token(encode_token(slot, generation));
                let _ = self
                    .poll
                    .registry()
                    .reregister(&mut c.stream, token, Interest::READABLE);
            }
            Ok(false) => {}
            Err(_) => self.close(slot),
        }
    }

    /// Closes connections idle past their adapter's timeout, and those sending a frame more
    /// slowly than [`ServerConfig::frame_timeout`](crate::server::ServerConfig::frame_timeout)
    /// allows (a slowloris resets the idle clock with every byte, not this one).
    fn close_idle(&mut self) {
        let now = Instant::now();
        let frame_timeout = self.frame_timeout;
        let idle: Vec<(usize, bool)> = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let c = c.as_ref()?;
                if c.frame_overdue(now, frame_timeout) {
                    return Some((i, true));
                }
                let limit = self.adapters[c.adapter].idle_timeout;
                (c.pending_write() == 0 && now.duration_since(c.last_active) > limit)
                    .then_some((i, false))
            })
            .collect();
        for (slot, slow) in idle {
            if slow {
                if let Some(c) = self.conns.get(slot).and_then(Option::as_ref) {
                    tracing::warn!(
                        peer = %c.peer,
                        "closing connection: a request frame took longer than {frame_timeout:?}"
                    );
                }
            }
            self.close(slot);
        }
    }
}

/// How long a connection must have been quiet to give its place to a new one at the
/// connection limit.
const EVICT_AFTER_QUIET: Duration = Duration::from_secs(2);

/// The connection in `slot` if it is still the one of `generation`.
fn live(conns: &mut [Option<Connection>], slot: usize, generation: u32) -> Option<&mut Connection> {
    conns
        .get_mut(slot)?
        .as_mut()
        .filter(|c| c.generation == generation)
}

fn encode_token(slot: usize, generation: u32) -> usize {
    CONN_BASE + ((generation as usize) << 24 | slot)
}

fn decode_token(token: usize) -> (usize, u32) {
    let t = token - CONN_BASE;
    (t & ((1 << 24) - 1), (t >> 24) as u32)
}
