//! Socket and packet counters of a server, updated by its net threads (relaxed atomics: one
//! increment per system call or frame).

use std::sync::atomic::{AtomicU64, Ordering};

/// The live counters, shared by the net threads and connections of one server.
#[derive(Debug, Default)]
pub(crate) struct IoCounters {
    pub reads: AtomicU64,
    pub writes: AtomicU64,
    pub requests: AtomicU64,
    pub responses: AtomicU64,
    pub udp_bad_datagrams: AtomicU64,
    pub udp_oversized_replies: AtomicU64,
    pub udp_unsent_replies: AtomicU64,
    /// Bytes the connections hold now: partial request frames and unsent replies.
    pub buffered: AtomicU64,
    /// Requests refused with -9 (overload).
    pub shed_overload: AtomicU64,
    /// Requests answered -6 (waited past the queue timeout).
    pub shed_queue_timeout: AtomicU64,
    /// Per adapter: its business queue's requests waiting, and its inline requests in
    /// flight (filled when the server starts).
    pub queues: parking_lot::Mutex<Vec<QueueGauge>>,
}

/// The live depth of one adapter's work: queued requests (business threads) and inline
/// requests not answered yet.
#[derive(Debug, Clone)]
pub(crate) struct QueueGauge {
    pub queued: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub inline_in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl IoCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> IoStats {
        IoStats {
            socket_reads: self.reads.load(Ordering::Relaxed),
            socket_writes: self.writes.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            responses: self.responses.load(Ordering::Relaxed),
            udp_bad_datagrams: self.udp_bad_datagrams.load(Ordering::Relaxed),
            udp_oversized_replies: self.udp_oversized_replies.load(Ordering::Relaxed),
            udp_unsent_replies: self.udp_unsent_replies.load(Ordering::Relaxed),
            buffered_bytes: self.buffered.load(Ordering::Relaxed),
            shed_overload: self.shed_overload.load(Ordering::Relaxed),
            shed_queue_timeout: self.shed_queue_timeout.load(Ordering::Relaxed),
            queued_requests: self
                .queues
                .lock()
                .iter()
                .map(|q| {
                    (q.queued.load(Ordering::Relaxed) + q.inline_in_flight.load(Ordering::Relaxed))
                        as u64
                })
                .sum(),
        }
    }
}

/// Totals since the server started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoStats {
    /// Socket reads that returned data.
    pub socket_reads: u64,
    /// Socket writes that sent data. Responses of one read pass share a write, so under
    /// pipelining this stays well below `responses`.
    pub socket_writes: u64,
    /// Request frames received.
    pub requests: u64,
    /// Response frames queued for sending.
    pub responses: u64,
    /// Request datagrams dropped on UDP adapters: length prefix not the datagram's size,
    /// larger than `max_packet`, or a packet that does not decode.
    pub udp_bad_datagrams: u64,
    /// Replies too large for one datagram (65,507 bytes); each was answered with -2 instead
    /// when that answer fits, else dropped (and also counted in `udp_unsent_replies`).
    pub udp_oversized_replies: u64,
    /// UDP replies not sent: too large even as an error answer, the adapter's send queue was
    /// full, or the socket refused them.
    pub udp_unsent_replies: u64,
    /// Bytes the connections hold at this moment (not a total): partial request frames and
    /// unsent replies, bounded by `ServerConfig::max_buffered_bytes`.
    pub buffered_bytes: u64,
    /// Requests refused with -9 (overload: the queue past 4/5 of its capacity, or an inline
    /// adapter at its bound of requests in flight, or the server stopping).
    pub shed_overload: u64,
    /// Requests answered -6: they waited in the queue past the queue timeout (or, inline,
    /// were not answered within it).
    pub shed_queue_timeout: u64,
    /// Requests waiting in the adapters' queues plus inline requests in flight, at this
    /// moment (not a total).
    pub queued_requests: u64,
}

/// A handle on a server's live counters that outlives borrows of the server (a monitor
/// thread samples it; [`crate::server::Server::io_stats_source`]).
#[derive(Debug, Clone)]
pub struct IoStatsSource(pub(crate) std::sync::Arc<IoCounters>);

impl IoStatsSource {
    /// The totals now (as [`crate::server::Server::io_stats`]).
    pub fn snapshot(&self) -> IoStats {
        self.0.snapshot()
    }
}
