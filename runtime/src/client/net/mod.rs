//! The client transport: mio net threads owned by a [`Communicator`](super::Communicator), and
//! one `AdapterProxy` per endpoint connection.
//!
//! The design follows the server's net threads and TarsCpp's client `NetThread`s:
//!
//! - A caller encodes its request on its own thread, takes a request id from the net
//!   thread's counter, and hands the frame to the net thread through a channel. The net thread
//!   is woken with a [`mio::Waker`] at most once per loop pass, however many calls arrive, and
//!   not at all when it is awake (it checks the channel again before it sleeps).
//! - The net thread owns every socket: it connects without blocking, drains readable
//!   sockets until `WouldBlock` (at most 32 reads per socket and pass; a socket with more is read
//!   again next pass, so a flooding peer cannot starve the others), decodes every complete
//!   response frame, completes the waiting calls, and writes what each connection has queued
//!   once per pass.
//! - Each call carries the deadline fixed when it started. The net thread keeps the deadlines
//!   in a heap and fails overdue calls with [`CallError::Timeout`](super::CallError) itself:
//!   there is no timer thread and no wake per call. Requests queued while connecting are sent
//!   when the connection comes up or fail at their deadline; connecting is bounded by the calls
//!   waiting for it, never by the endpoint's `-t`.
//! - No lock is held across a socket operation: sockets are touched by their net thread only.
//! - Connection tokens carry the adapter slot and the socket's generation, so an event of a
//!   closed socket never reaches the socket that reused its slot.
//!
//! TCP sockets set `TCP_NODELAY`: a burst of requests leaves in one write per pass and never
//! waits for a peer's delayed ACK. UDP endpoints (`udp -h ... -p ...`) send one request per
//! datagram and read one response per datagram.

mod adapter;
mod conn;
mod deadlines;
mod gate;
mod handle;
mod thread;

pub(crate) use adapter::{deadline_of, AdapterProxy, CallFailure, EndpointHealth, PendingReply};
pub(crate) use handle::ClientNet;

/// Settings of a communicator's client net threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetConfig {
    /// Number of client net threads (at least 1).
    pub threads: usize,
    /// Bytes a connection may hold queued for sending (waiting for the connection or for the
    /// peer to read) before new calls on it fail at once.
    pub max_send_buffer: usize,
    /// Largest response frame accepted; a larger length prefix closes the connection.
    pub max_frame: usize,
    /// Connections per endpoint (at least 1), spread over the net threads; calls go to them in
    /// turn. More than one lets a single busy endpoint use several net threads.
    pub connections_per_endpoint: usize,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            threads: 1,
            max_send_buffer: 16 * 1024 * 1024,
            max_frame: crate::packet::DEFAULT_MAX_FRAME,
            connections_per_endpoint: 1,
        }
    }
}
