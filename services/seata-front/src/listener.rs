//! The listener thread: one mio loop accepting Seata clients, reading and decoding their
//! frames, handing requests to [`dispatch`](crate::dispatch), and writing the answers.
//!
//! Each pass of the loop: handle the readiness events (accept; read every readable
//! connection until it would block, decoding every complete frame); take what other threads
//! sent through the channel (TC → RM requests); poll the answers started by this pass and
//! those whose coordinator call completed since (the call's completion wakes the loop through
//! its [`mio::Waker`], at most once until the loop looks); then flush each connection with
//! output once. An answer for a connection whose slot changed generation is dropped.

use std::collections::BTreeSet;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Token, Waker};
use tars_seata::bytes::{Bytes, BytesMut};
use tars_seata::message::{BatchResultMessage, RegisterResponse, UndoLogDeleteRequest};
use tars_seata::{BranchType, Frame, Message, MessageType};

use crate::backend::Backend;
use crate::codes::downgrade;
use crate::connection::{ConnId, Connection, ReadOutcome};
use crate::dispatch::{dispatch, is_dispatchable, Caller};
use crate::registry::{client_id, RmConnection, RmRegistry};
use crate::{SeataConfig, UndoLogSchedule};
use tars_protocols::seata_route::SeataRoute;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_CONN: usize = 2;
/// How often overdue TC → RM requests are looked for (their timeouts fire this late at most).
const EXPIRY_PERIOD: Duration = Duration::from_millis(50);
/// How often connections are checked for frames past the frame deadline, while any has part
/// of a frame buffered.
const FRAME_SWEEP: Duration = Duration::from_millis(250);

/// What other threads hand the listener thread.
pub(crate) enum Outbound {
    /// Bytes (whole frames) to send on a connection.
    Frame {
        /// The connection.
        conn: ConnId,
        /// The encoded frames.
        bytes: Bytes,
    },
    /// Close a connection.
    Close {
        /// The connection.
        conn: ConnId,
        /// Why (logged).
        reason: String,
    },
}

/// An answer being computed: the encoded frame (or the reason to close) once it is ready.
type Pending = Pin<Box<dyn Future<Output = Outbound> + Send + 'static>>;

/// Wakes the listener thread for its pending answers and its mailbox, once until it looks
/// again.
struct LoopWaker {
    woken: AtomicBool,
    waker: Arc<Waker>,
}

impl Wake for LoopWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::AcqRel) {
            if let Err(e) = self.waker.wake() {
                tracing::warn!(error = %e, "waking the Seata listener");
            }
        }
    }
}

/// The channel into the listener thread, with the waker that makes it look.
#[derive(Clone)]
pub(crate) struct Mailbox {
    tx: Sender<Outbound>,
    waker: Arc<LoopWaker>,
}

impl Mailbox {
    /// Hands `item` to the listener thread; false when it stopped. The loop is woken once
    /// until it looks, however many items arrive meanwhile.
    pub(crate) fn send(&self, item: Outbound) -> bool {
        if self.tx.send(item).is_err() {
            return false;
        }
        self.waker.wake_by_ref();
        true
    }

    /// Wakes the loop without a message (to see the stop flag).
    pub(crate) fn wake(&self) {
        if let Err(e) = self.waker.waker.wake() {
            tracing::warn!(error = %e, "waking the Seata listener");
        }
    }
}

struct Slot {
    generation: u64,
    conn: Option<Connection>,
}

/// Everything the frame handlers need besides the connection.
struct Ctx {
    coordinator: Arc<dyn Backend>,
    registry: RmRegistry,
    max_outbound: usize,
    server_version: String,
    /// The Tars endpoint of this node's phase-two bridge, put into the client id of every
    /// branch registered here (see [`crate::bridge`]).
    bridge: Option<String>,
    /// Whether merged requests of clients >= 1.5 are answered by BatchResultMessages.
    batch_responses: bool,
}

/// The loop's state (owned by the listener thread).
pub(crate) struct Listener {
    poll: mio::Poll,
    listener: TcpListener,
    rx: Receiver<Outbound>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    max_frame: usize,
    frame_timeout: Duration,
    undo_log: UndoLogSchedule,
    stop: Arc<AtomicBool>,
    ctx: Ctx,
    /// Answers being computed, polled when woken.
    pending: FuturesUnordered<Pending>,
    /// Answers started while reading, added to `pending` after the read.
    started: Vec<Pending>,
    loop_waker: Arc<LoopWaker>,
}

/// A bound, not yet running listener, with what the handle of the front end keeps.
pub(crate) struct Bound {
    pub(crate) listener: Listener,
    pub(crate) local_addr: SocketAddr,
    pub(crate) mailbox: Mailbox,
    pub(crate) registry: RmRegistry,
}

impl Listener {
    /// Binds `config.host:config.port` and sets up the poll, waker and channel.
    pub(crate) fn bind(
        config: &SeataConfig,
        coordinator: Arc<dyn Backend>,
        stop: Arc<AtomicBool>,
    ) -> Result<Bound, crate::Error> {
        let addr = format!("{}:{}", config.host, config.port);
        let std_listener =
            std::net::TcpListener::bind(&addr).map_err(|source| crate::Error::Bind {
                addr: addr.clone(),
                source,
            })?;
        std_listener
            .set_nonblocking(true)
            .map_err(crate::Error::Io)?;
        let local_addr = std_listener.local_addr().map_err(crate::Error::Io)?;
        let mut listener = TcpListener::from_std(std_listener);
        let poll = mio::Poll::new().map_err(crate::Error::Io)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(crate::Error::Io)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(crate::Error::Io)?);
        let (tx, rx) = crossbeam_channel::unbounded();
        let loop_waker = Arc::new(LoopWaker {
            woken: AtomicBool::new(false),
            waker,
        });
        let mailbox = Mailbox {
            tx,
            waker: loop_waker.clone(),
        };
        let registry = RmRegistry::new(mailbox.clone());
        Ok(Bound {
            listener: Listener {
                poll,
                listener,
                rx,
                slots: Vec::new(),
                free: Vec::new(),
                max_frame: config.max_frame,
                frame_timeout: config.frame_timeout,
                undo_log: config.undo_log,
                stop,
                pending: FuturesUnordered::new(),
                started: Vec::new(),
                loop_waker,
                ctx: Ctx {
                    coordinator,
                    registry: registry.clone(),
                    max_outbound: config.max_outbound,
                    server_version: config.server_version.clone(),
                    bridge: config.bridge.clone(),
                    batch_responses: config.batch_responses,
                },
            },
            local_addr,
            mailbox,
            registry,
        })
    }

    /// Runs until the stop flag is set (and the waker woken); then closes every connection.
    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(256);
        let mut dirty = BTreeSet::new();
        let mut next_undo_log_delete = Instant::now() + self.undo_log.delay;
        let mut next_expiry = Instant::now();
        let mut earliest_deadline = None;
        let mut next_frame_sweep = Instant::now() + FRAME_SWEEP;
        while !self.stop.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= next_frame_sweep {
                self.close_slow_frames(now);
                next_frame_sweep = now + FRAME_SWEEP;
            }
            // TC → RM requests past their deadline fail (looked at every EXPIRY_PERIOD at most).
            if now >= next_expiry {
                earliest_deadline = self.ctx.registry.expire(now);
                next_expiry = now + EXPIRY_PERIOD;
            }
            if now >= next_undo_log_delete {
                self.undo_log_delete();
                next_undo_log_delete = now + self.undo_log.period;
            }
            let mut wake_at = earliest_deadline
                .map(|d: Instant| d.max(next_expiry))
                .map_or(next_undo_log_delete, |d| d.min(next_undo_log_delete));
            if self.any_partial_frame() {
                wake_at = wake_at.min(next_frame_sweep);
            }
            let timeout = wake_at.saturating_duration_since(now);
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(error = %e, "Seata listener poll failed; stopping");
                break;
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(t) => {
                        let index = t - FIRST_CONN;
                        let closing = event.is_read_closed() || event.is_error();
                        if event.is_readable() || closing {
                            self.read(index, closing);
                        }
                        if event.is_writable() {
                            dirty.insert(index);
                        }
                    }
                }
            }
            // Cleared before looking, so a wake from now on makes the next poll return.
            let woken = self.loop_waker.woken.swap(false, Ordering::AcqRel);
            while let Ok(item) = self.rx.try_recv() {
                self.deliver(item, &mut dirty);
            }
            self.poll_answers(woken, &mut dirty);
            // Responses queued while reading (heartbeats, registrations) count too.
            for (index, slot) in self.slots.iter().enumerate() {
                if slot.conn.as_ref().is_some_and(Connection::has_output) {
                    dirty.insert(index);
                }
            }
            for index in std::mem::take(&mut dirty) {
                let result = match self.slots.get_mut(index).and_then(|s| s.conn.as_mut()) {
                    Some(c) => c.flush(),
                    None => continue,
                };
                if let Err(why) = result {
                    self.close(index, &why);
                }
            }
        }
        for index in 0..self.slots.len() {
            if self.slots[index].conn.is_some() {
                self.close(index, "the front end stops");
            }
        }
        self.ctx.registry.clear();
    }

    /// Whether any connection has part of a frame buffered.
    fn any_partial_frame(&self) -> bool {
        self.slots
            .iter()
            .filter_map(|s| s.conn.as_ref())
            .any(Connection::has_partial_frame)
    }

    /// Closes the connections whose incomplete frame is older than the frame deadline.
    fn close_slow_frames(&mut self, now: Instant) {
        let limit = self.frame_timeout;
        let slow: Vec<usize> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.conn.as_ref().is_some_and(|c| c.frame_overdue(now, limit)))
            .map(|(i, _)| i)
            .collect();
        for index in slow {
            self.close(
                index,
                &format!("a frame took longer than {limit:?} to arrive"),
            );
        }
    }

    /// Queues what another thread or an answer hands the loop.
    fn deliver(&mut self, item: Outbound, dirty: &mut BTreeSet<usize>) {
        match item {
            Outbound::Frame { conn, bytes } => {
                let max_outbound = self.ctx.max_outbound;
                let Some(c) = self.conn_mut(conn) else {
                    tracing::debug!(?conn, "response for a closed connection dropped");
                    return;
                };
                match c.queue(&bytes, max_outbound) {
                    Ok(()) => {
                        dirty.insert(conn.index);
                    }
                    Err(why) => self.close(conn.index, &why),
                }
            }
            Outbound::Close { conn, reason } => {
                if self.conn_mut(conn).is_some() {
                    self.close(conn.index, &reason);
                }
            }
        }
    }

    /// Polls the answers started since the last pass and, when the loop was `woken`, those
    /// woken since (the coordinator answered), queueing every one that is ready.
    fn poll_answers(&mut self, woken: bool, dirty: &mut BTreeSet<usize>) {
        if !woken && self.started.is_empty() {
            return;
        }
        self.pending.extend(self.started.drain(..));
        let waker = std::task::Waker::from(self.loop_waker.clone());
        let mut cx = Context::from_waker(&waker);
        while let Poll::Ready(Some(item)) = self.pending.poll_next_unpin(&mut cx) {
            self.deliver(item, dirty);
        }
    }

    /// Java's daily UndoLogDelete: one one-way request per registered resource id, on one of
    /// its connections.
    fn undo_log_delete(&self) {
        let resources = self.ctx.registry.one_per_resource();
        if resources.is_empty() {
            return;
        }
        tracing::debug!(
            resources = resources.len(),
            save_days = self.undo_log.save_days,
            "sending UndoLogDelete"
        );
        for (resource_id, conn) in resources {
            let request = Message::UndoLogDeleteRequest(UndoLogDeleteRequest {
                branch_type: BranchType::At,
                resource_id,
                save_days: self.undo_log.save_days,
            });
            if let Err(e) = self.ctx.registry.send_oneway(conn, &request) {
                tracing::debug!(error = %e, "UndoLogDelete not sent");
            }
        }
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Connection> {
        let slot = self.slots.get_mut(id.index)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.conn.as_mut()
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => self.add(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors, say: the pending connection waits for the next pass.
                    tracing::warn!(error = %e, "Seata accept failed");
                    return;
                }
            }
        }
    }

    fn add(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    conn: None,
                });
                self.slots.len() - 1
            }
        };
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(index + FIRST_CONN),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            tracing::warn!(error = %e, %peer, "registering a Seata connection");
            self.free.push(index);
            return;
        }
        let slot = &mut self.slots[index];
        let id = ConnId {
            index,
            generation: slot.generation,
        };
        tracing::debug!(%peer, ?id, "Seata client connected");
        slot.conn = Some(Connection::new(id, stream, peer, self.max_frame));
    }

    /// Reads what `index` has (to its end when the peer is `closing`).
    fn read(&mut self, index: usize, closing: bool) {
        let Some(conn) = self.slots.get_mut(index).and_then(|s| s.conn.as_mut()) else {
            return;
        };
        let (ctx, started) = (&self.ctx, &mut self.started);
        match conn.read_available(closing, |c, frame| handle_frame(ctx, started, c, frame)) {
            Ok(ReadOutcome::Drained) => {}
            Ok(ReadOutcome::Eof) => {
                // Answers still due are lost with the connection (the peer left).
                self.close(index, "peer closed the connection");
            }
            Err(why) => self.close(index, &why),
        }
    }

    fn close(&mut self, index: usize, why: &str) {
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        let Some(mut conn) = slot.conn.take() else {
            return;
        };
        slot.generation = slot.generation.wrapping_add(1);
        let _ = self.poll.registry().deregister(&mut conn.stream);
        if why == "peer closed the connection" {
            tracing::debug!(peer = %conn.peer, "Seata client disconnected");
        } else {
            tracing::info!(peer = %conn.peer, reason = why, "closing Seata connection");
        }
        self.ctx.registry.remove(conn.id);
        self.free.push(index);
    }
}

/// One decoded frame of `conn`; the answers it starts go to `started`. `Err` closes the
/// connection.
fn handle_frame(
    ctx: &Ctx,
    started: &mut Vec<Pending>,
    conn: &mut Connection,
    frame: Frame,
) -> Result<(), String> {
    match frame.message_type {
        MessageType::HeartbeatRequest => {
            let mut pong = Frame::pong(frame.request_id);
            pong.codec = frame.codec;
            pong.compressor = frame.compressor;
            conn.queue_frame(&pong, ctx.max_outbound)
        }
        MessageType::HeartbeatResponse => Ok(()),
        MessageType::Response => {
            if !ctx.registry.complete(conn.id, &frame) {
                tracing::debug!(peer = %conn.peer, id = frame.request_id, "unexpected response dropped");
            }
            Ok(())
        }
        MessageType::OneWay => {
            tracing::debug!(peer = %conn.peer, "one-way Seata message ignored");
            Ok(())
        }
        MessageType::Request => {
            let msg = match frame.message() {
                Ok(Some(msg)) => msg,
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("undecodable request: {e}")),
            };
            handle_request(ctx, started, conn, &frame, msg)
        }
    }
}

fn respond(ctx: &Ctx, conn: &mut Connection, request: &Frame, msg: &Message) -> Result<(), String> {
    let mut frame = Frame::with_message(MessageType::Response, request.request_id, msg)
        .map_err(|e| format!("encoding a response: {e}"))?;
    frame.codec = request.codec;
    frame.compressor = request.compressor;
    conn.queue_frame(&frame, ctx.max_outbound)
}

fn handle_request(
    ctx: &Ctx,
    started: &mut Vec<Pending>,
    conn: &mut Connection,
    frame: &Frame,
    msg: Message,
) -> Result<(), String> {
    match msg {
        Message::RegisterTmRequest(r) => {
            conn.caller = None;
            let reg = &mut conn.registration;
            reg.tm = true;
            reg.identify(r.version, r.application_id, r.transaction_service_group);
            tracing::debug!(peer = %conn.peer, app = %reg.application_id, version = %reg.version, "TM registered");
            let answer = Message::RegisterTmResponse(RegisterResponse {
                identified: true,
                version: ctx.server_version.clone(),
            });
            respond(ctx, conn, frame, &answer)
        }
        Message::RegisterRmRequest(r) => {
            conn.caller = None;
            let reg = &mut conn.registration;
            reg.rm = true;
            reg.identify(r.version, r.application_id, r.transaction_service_group);
            reg.add_resources(&r.resource_ids);
            tracing::debug!(peer = %conn.peer, app = %reg.application_id, resources = %r.resource_ids, "RM registered");
            ctx.registry.upsert(RmConnection {
                conn: conn.id,
                peer: conn.peer,
                application_id: reg.application_id.clone(),
                transaction_service_group: reg.transaction_service_group.clone(),
                version: reg.version.clone(),
                resource_ids: reg.resource_ids.clone(),
            });
            let answer = Message::RegisterRmResponse(RegisterResponse {
                identified: true,
                version: ctx.server_version.clone(),
            });
            respond(ctx, conn, frame, &answer)
        }
        msg if is_dispatchable(&msg) => {
            if !conn.registration.is_registered() {
                // What the Java TC does (ServerOnRequestProcessor).
                return Err(format!(
                    "transaction request (type {}) before registration",
                    msg.type_code()
                ));
            }
            let registration = &conn.registration;
            let caller = conn.caller.get_or_insert_with(|| {
                let java_client_id = client_id(&registration.application_id, conn.peer);
                Caller {
                    application_id: registration.application_id.clone(),
                    client_id: match &ctx.bridge {
                        Some(bridge) => SeataRoute::client_id(bridge, &java_client_id),
                        None => java_client_id,
                    },
                }
            });
            let old = conn.registration.is_old_client();
            let (id, request_id, codec, compressor) =
                (conn.id, frame.request_id, frame.codec, frame.compressor);
            let frame_of = move |mut answer: Message| -> Outbound {
                if old {
                    downgrade(&mut answer);
                }
                match encode_response(request_id, codec, compressor, &answer) {
                    Ok(bytes) => Outbound::Frame { conn: id, bytes },
                    Err(reason) => Outbound::Close { conn: id, reason },
                }
            };
            match msg {
                // Java's TC with `transport.enableTcServerBatchSendResponse` answers a merged
                // request of a client >= 1.5 (which numbers its sub-requests) result by result
                // in BatchResultMessages, as each one is ready.
                Message::MergedWarpMessage(merged)
                    if ctx.batch_responses
                        && !old
                        && !merged.msgs.is_empty()
                        && merged.msg_ids.len() == merged.msgs.len() =>
                {
                    for (msg, msg_id) in merged.msgs.into_iter().zip(merged.msg_ids) {
                        let answer =
                            dispatch(ctx.coordinator.as_ref(), caller, msg).map_err(|m| {
                                format!("merged request type {} not dispatched", m.type_code())
                            })?;
                        started.push(Box::pin(answer.map(move |answer| {
                            frame_of(Message::BatchResultMessage(BatchResultMessage {
                                msgs: vec![answer],
                                msg_ids: vec![msg_id],
                            }))
                        })));
                    }
                    Ok(())
                }
                msg => {
                    let answer = dispatch(ctx.coordinator.as_ref(), caller, msg)
                        .map_err(|m| format!("request type {} not dispatched", m.type_code()))?;
                    started.push(Box::pin(answer.map(frame_of)));
                    Ok(())
                }
            }
        }
        other => Err(format!(
            "unsupported request (type {}) from a client",
            other.type_code()
        )),
    }
}

fn encode_response(
    request_id: i32,
    codec: u8,
    compressor: u8,
    msg: &Message,
) -> Result<Bytes, String> {
    let mut frame = Frame::with_message(MessageType::Response, request_id, msg)
        .map_err(|e| format!("encoding a response: {e}"))?;
    frame.codec = codec;
    frame.compressor = compressor;
    let mut buf = BytesMut::with_capacity(frame.encoded_len());
    frame
        .encode(&mut buf)
        .map_err(|e| format!("encoding a response: {e}"))?;
    Ok(buf.freeze())
}
