//! Server and adapter configuration, with TarsCpp-like defaults.

use std::sync::Arc;
use std::time::Duration;

use crate::codec::DecodeLimits;
use crate::endpoint::Endpoint;
use crate::packet::DEFAULT_MAX_FRAME;
use crate::server::{Announcer, Servants};

/// One listening endpoint and the servants it serves.
#[derive(Debug, Clone)]
pub struct AdapterConfig {
    /// Adapter name, for logs (e.g. `Test.HelloServer.HelloObjAdapter`).
    pub name: String,
    /// Where to listen: `tcp` (connections; `-t` is the idle timeout), `ssl` (TLS
    /// connections, which need [`tls`](Self::tls)) or `udp` (one socket, one request frame per
    /// datagram, one reply datagram per response; `-t` unused).
    pub endpoint: Endpoint,
    /// The servants requests on this adapter are dispatched to.
    pub servants: Arc<Servants>,
    /// Business threads (ServantHandle) serving this adapter's queue. 0 runs servant calls
    /// inline on the net threads (no queue, no hand-off): fastest, for servants that never
    /// block — a blocking servant then stalls every connection of that net thread.
    pub threads: usize,
    /// Capacity of the request queue; past 4/5 of it requests are refused with -9 (overload).
    /// An inline adapter (`threads` 0) has no queue: this bounds its requests in flight
    /// instead (deferred replies not sent yet), and past it requests are refused with -9.
    pub queue_capacity: usize,
    /// Requests that waited longer than this in the queue are answered -6 (queue timeout).
    /// On an inline adapter (`threads` 0), a request whose deferred reply is not sent this
    /// long after it arrived is answered -6 (within half a second more), which ends its
    /// count as in flight; the servant's later reply is dropped.
    pub queue_timeout: Duration,
    /// Connections beyond this (TCP only): a new connection takes the place of the one that
    /// has been quiet longest (2 s or more without traffic, nothing buffered either way, on the
    /// accepting net thread), so idle connections held open cannot lock clients out; when
    /// there is no such connection the new one is closed at once.
    pub max_connections: usize,
    /// Connections one client address may hold at most (TCP only); past it, that address's
    /// connection quiet longest makes room, as at `max_connections`, or the new one is
    /// closed. Default 1,000.
    pub max_connections_per_ip: usize,
    /// Access key → secret key of the callers an endpoint with `-e 1` (TarsCpp's local
    /// authentication, [`crate::auth`]) accepts. Such an endpoint refuses every connection
    /// whose first request is not a valid authentication package for one of its servants.
    pub auth_keys: std::collections::BTreeMap<String, String>,
    /// Certificate, key and optional client CA of an `ssl` endpoint ([`crate::tls`]); an
    /// `ssl` adapter without it does not start. With a client CA, the name of each client's
    /// certificate is its requests' [`principal`](crate::server::Current::principal).
    pub tls: Option<Arc<crate::tls::ServerTls>>,
}

impl AdapterConfig {
    /// An adapter with default limits: 1 thread, queue of 10,000, 60 s queue timeout,
    /// 10,000 connections.
    pub fn new(
        name: impl Into<String>,
        endpoint: Endpoint,
        servants: Arc<Servants>,
    ) -> AdapterConfig {
        AdapterConfig {
            name: name.into(),
            endpoint,
            servants,
            threads: 1,
            queue_capacity: 10_000,
            queue_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            max_connections_per_ip: 1_000,
            auth_keys: Default::default(),
            tls: None,
        }
    }
}

/// Bytes all connections of a server may hold by default: 1 GiB (a hundred partial frames of
/// the largest size, or 10,000 connections with 100 KiB each).
pub const DEFAULT_MAX_BUFFERED: u64 = 1 << 30;

/// How long a request frame may take to arrive by default: 10 s (a 10 MB frame needs 1 MB/s).
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// Server-wide configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Network threads (each runs its own poll loop).
    pub net_threads: usize,
    /// Largest request frame accepted; a larger one closes the connection.
    pub max_packet: usize,
    /// Bytes of unsent responses a connection may hold before it is closed as too slow.
    pub max_write_buffer: usize,
    /// Bytes all connections together may hold in partial request frames and unsent replies.
    /// Past it, the connections holding the most are closed first until the node is under
    /// it again. Default [`DEFAULT_MAX_BUFFERED`].
    pub max_buffered_bytes: u64,
    /// How long a request frame may take to arrive once its first byte did; a connection
    /// that is slower is closed (checked every 500 ms). Separate from the adapter's idle
    /// timeout, which every byte resets. Default [`DEFAULT_FRAME_TIMEOUT`].
    pub frame_timeout: Duration,
    /// Decode limits for request parameters.
    pub limits: DecodeLimits,
    /// How long a graceful shutdown waits for in-flight requests and unsent responses.
    pub shutdown_grace: Duration,
    /// Publishes the servants once the server is serving and withdraws them after a graceful
    /// stop (none by default). Self-registration with a registry is
    /// `Some(tars::registration::RegistrationConfig::new(registry).into())`.
    pub announcer: Option<Arc<dyn Announcer>>,
    /// Records every answered request (inline, business-thread and deferred replies: its
    /// return code and the time since it arrived) in this reporter's server statistics,
    /// sent with `StatF.reportMicMsg(msg, false)` (none by default: see [`crate::stat`];
    /// a communicator's `stat_reporter()` gives one).
    pub stats: Option<Arc<crate::stat::StatReporter>>,
    /// Where dyed requests served here are logged (see [`crate::dyeing`]); they are logged as
    /// `tracing` events either way.
    pub dyeing_log: Option<Arc<crate::dyeing::DyeingLog>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            net_threads: 1,
            max_packet: DEFAULT_MAX_FRAME,
            max_write_buffer: 16 * 1024 * 1024,
            frame_timeout: DEFAULT_FRAME_TIMEOUT,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED,
            limits: DecodeLimits::DEFAULT,
            shutdown_grace: Duration::from_secs(5),
            announcer: None,
            stats: None,
            dyeing_log: None,
        }
    }
}
