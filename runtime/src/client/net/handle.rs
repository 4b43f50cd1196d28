//! Reaching the net threads from callers: the command channel, the awake flag (a command wakes
//! the thread only when it is about to sleep, once), adapter
//! slots and request ids.

use std::sync::atomic::{fence, AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use crossbeam_channel::Sender;
use futures::channel::oneshot;
use mio::{Poll, Waker};
use parking_lot::Mutex;

use super::adapter::{AdapterShared, CallFailure};
use super::thread::{NetThread, WAKER};
use super::NetConfig;
use crate::packet::ResponsePacket;

/// What a waiting call needs when its response (or its end) comes.
pub(super) struct Pending {
    /// The id the caller's proxy gave the request (restored in the response).
    pub original_id: i32,
    /// When the call started (for the endpoint's latency statistics).
    pub started: Instant,
    /// When the call times out, and its timeout in ms (for the error).
    pub deadline: Option<(Instant, u64)>,
    /// Where the outcome goes.
    pub tx: oneshot::Sender<Result<ResponsePacket, CallFailure>>,
}

/// Commands from callers to a net thread.
pub(super) enum Command {
    /// A new adapter (endpoint connection) in `slot`; connects on its first call.
    Open {
        slot: usize,
        generation: u32,
        adapter: Arc<AdapterShared>,
    },
    /// A request frame for the adapter in `slot`, with its id; `None` for one-way calls.
    Call {
        slot: usize,
        generation: u32,
        id: i32,
        frame: Bytes,
        pending: Option<Pending>,
    },
    /// A call whose frame its caller writes directly to the socket of generation
    /// `socket_generation` (sent before the write, without waking the thread).
    Register {
        slot: usize,
        generation: u32,
        socket_generation: u32,
        id: i32,
        pending: Pending,
    },
    /// What a caller's direct write left unsent: goes out first, and the net thread takes the
    /// write gate over.
    DirectRest {
        slot: usize,
        generation: u32,
        socket_generation: u32,
        rest: Bytes,
    },
    /// The adapter in `slot` is gone: close its socket and fail its calls.
    Close { slot: usize, generation: u32 },
}

/// Adapter slots of one net thread, allocated by callers. Commands travel through one FIFO
/// channel, so a slot's `Close` always reaches the thread before the `Open` that reuses it.
#[derive(Default)]
struct Slots {
    free: Vec<usize>,
    next: usize,
    generation: u32,
}

struct HandleInner {
    tx: Option<Sender<Command>>,
    waker: Waker,
    /// True while the thread is awake or a wake-up is already on its way: it will look at the
    /// channel before it sleeps, so a command needs no wake-up of its own.
    awake: Arc<AtomicBool>,
    slots: Mutex<Slots>,
    next_id: AtomicI32,
    max_send_buffer: usize,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        // Disconnect the channel, then wake the thread so it sees that and exits.
        self.tx.take();
        let _ = self.waker.wake();
    }
}

/// A way to reach one client net thread from any thread. The thread exits when every handle
/// (the communicator's and each adapter's) is dropped.
#[derive(Clone)]
pub(crate) struct NetHandle(Arc<HandleInner>);

impl NetHandle {
    /// Sends `cmd`, waking the thread only when it sleeps and no wake is pending yet (an awake
    /// thread looks at the channel again before it sleeps).
    /// Returns false when the thread is gone.
    pub(super) fn send(&self, cmd: Command) -> bool {
        let h = &self.0;
        let Some(tx) = h.tx.as_ref() else {
            return false;
        };
        if tx.send(cmd).is_err() {
            return false;
        }
        // Pairs with the thread's fence between clearing the flag and checking the channel:
        // either the thread sees this command before sleeping, or this sees the flag clear.
        fence(Ordering::SeqCst);
        if !h.awake.swap(true, Ordering::AcqRel) {
            // A failed wake means the poll is gone: the thread is exiting.
            let _ = h.waker.wake();
        }
        true
    }

    /// Sends `cmd` without waking the thread: it is seen on the thread's next pass (the caller
    /// makes sure there is one). Returns false when the thread is gone.
    pub(super) fn send_quietly(&self, cmd: Command) -> bool {
        self.0.tx.as_ref().is_some_and(|tx| tx.send(cmd).is_ok())
    }

    /// Wakes the thread (at most once per pass).
    pub(super) fn wake(&self) {
        let h = &self.0;
        fence(Ordering::SeqCst);
        if !h.awake.swap(true, Ordering::AcqRel) {
            let _ = h.waker.wake();
        }
    }

    /// A request id unique among this thread's calls in flight (positive, never 0).
    pub(super) fn next_request_id(&self) -> i32 {
        loop {
            let id = self.0.next_id.fetch_add(1, Ordering::Relaxed) & i32::MAX;
            if id != 0 {
                return id;
            }
        }
    }

    /// Bytes an adapter may have waiting (in the channel, and again on the connection).
    pub(super) fn max_send_buffer(&self) -> usize {
        self.0.max_send_buffer
    }

    /// Allocates an adapter slot and its generation.
    pub(super) fn open_slot(&self) -> (usize, u32) {
        let mut s = self.0.slots.lock();
        s.generation = s.generation.wrapping_add(1).max(1);
        let generation = s.generation;
        let slot = s.free.pop().unwrap_or_else(|| {
            s.next += 1;
            s.next - 1
        });
        (slot, generation)
    }

    /// Returns a slot whose `Close` has been sent.
    pub(super) fn free_slot(&self, slot: usize) {
        self.0.slots.lock().free.push(slot);
    }
}

/// A communicator's client net threads. Adapters are spread over them round-robin.
pub(crate) struct ClientNet {
    handles: Vec<NetHandle>,
    next: AtomicUsize,
    connections_per_endpoint: usize,
    auth_key: Option<Arc<crate::auth::ClientKey>>,
    tls: Option<Arc<crate::tls::ClientTls>>,
}

impl ClientNet {
    /// Starts `config.threads` net threads (at least one).
    pub fn start(
        config: NetConfig,
        auth_key: Option<Arc<crate::auth::ClientKey>>,
        tls: Option<Arc<crate::tls::ClientTls>>,
    ) -> std::io::Result<ClientNet> {
        let n = config.threads.max(1);
        let mut handles = Vec::with_capacity(n);
        for index in 0..n {
            let poll = Poll::new()?;
            let waker = Waker::new(poll.registry(), WAKER)?;
            let (tx, rx) = crossbeam_channel::unbounded();
            // The thread starts awake (it checks the channel before it first sleeps).
            let awake = Arc::new(AtomicBool::new(true));
            let thread = NetThread::new(poll, rx, awake.clone(), config);
            std::thread::Builder::new()
                .name(format!("tars-client-net-{index}"))
                .spawn(move || thread.run())?;
            handles.push(NetHandle(Arc::new(HandleInner {
                tx: Some(tx),
                waker,
                awake,
                slots: Mutex::new(Slots::default()),
                next_id: AtomicI32::new(1),
                max_send_buffer: config.max_send_buffer,
            })));
        }
        Ok(ClientNet {
            handles,
            next: AtomicUsize::new(0),
            connections_per_endpoint: config.connections_per_endpoint.max(1),
            auth_key,
            tls,
        })
    }

    /// The key for endpoints with `-e 1`, if the communicator has one.
    pub fn auth_key(&self) -> Option<&Arc<crate::auth::ClientKey>> {
        self.auth_key.as_ref()
    }

    /// How connections to `endpoint` are made: plain, over TLS, or not at all (an `ssl`
    /// endpoint and no TLS settings).
    pub fn transport_for(&self, endpoint: &crate::endpoint::Endpoint) -> super::adapter::Transport {
        use super::adapter::Transport;
        if !endpoint.is_tls() {
            return Transport::Plain;
        }
        let Some(tls) = &self.tls else {
            return Transport::Unavailable(format!(
                "{} is an ssl endpoint and the communicator has no TLS settings (Communicator::with_tls)",
                endpoint.address()
            ));
        };
        match tls.server_name_for(&endpoint.host) {
            Ok(name) => Transport::Tls(tls.config().clone(), name),
            Err(e) => Transport::Unavailable(format!("{}: {e}", endpoint.address())),
        }
    }

    /// The thread for the next adapter.
    pub fn handle(&self) -> NetHandle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        self.handles[i].clone()
    }

    /// How many connections each endpoint gets.
    pub fn connections_per_endpoint(&self) -> usize {
        self.connections_per_endpoint
    }

    /// How many net threads there are.
    pub fn threads(&self) -> usize {
        self.handles.len()
    }
}
