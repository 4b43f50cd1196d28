//! The Seata v1 front end of the tars-rs coordinator: Seata TM and RM clients (Java, python,
//! go) connect to it as to a Seata TC; their requests become calls on the coordinator
//! ([`Backend`]): `tars.tarscoordinator.CoordinatorObj` through a [`CoordinatorProxy`], or the
//! coordinator servant of the same process called directly.
//!
//! - [`listener`](SeataFrontEnd::start): one mio thread accepts, reads and decodes frames
//!   (several per read, split across reads; a frame error closes the connection, as Java
//!   does), answers PING with PONG (even before registration) and registrations itself, and
//!   writes responses; a client that does not read is closed once its outbound buffer passes
//!   [`SeataConfig::max_outbound`].
//! - [`connection`]: per-connection state; [`Registration`] is what the client registered as.
//!   A transaction request before any registration closes the connection (the Java TC's rule).
//! - `dispatch`: GlobalBegin / Commit / Rollback / Status / Report, BranchRegister /
//!   Report, GlobalLockQuery → `begin`, `commit`, ... with the XID in the call context; a
//!   MergedWarpMessage is answered by one MergeResultMessage in request order. Nothing blocks
//!   the mio thread: each call's answer is a future the thread polls when the call's
//!   completion wakes it (a [`mio::Waker`]), tagged with the connection's slot generation (an
//!   answer for a closed connection is dropped).
//! - [`codes`]: clients below version 1.5 never get codes they cannot decode.
//! - [`registry`]: the RM connections and their resources ([`RmRegistry`]), for sending
//!   TC → RM requests.
//! - [`bridge`]: phase two to Seata RMs. [`SeataBridge`] is a `tarstx::Participant` servant
//!   the node hosts as `tars.tarscoordinator.SeataRmObj`; branches registered here carry
//!   its address in their client id ([`SeataConfig::bridge`]), so the coordinator driving
//!   phase two (this node's or, in cluster mode, a fragment leader elsewhere) calls it, and it
//!   forwards BranchCommit / BranchRollback to the RM's connection.
//! - UndoLogDelete: as the Java TC, 3 minutes after start and then daily
//!   ([`UndoLogSchedule`]), one one-way UndoLogDeleteRequest per registered resource id.
//!
//! The registration answer carries [`SeataConfig::server_version`] (default
//! [`SERVER_VERSION`], "2.0.0"), as a Java TC answers with its own release.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
pub mod bridge;
pub mod codes;
pub mod connection;
mod dispatch;
mod listener;
pub mod registry;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

#[cfg(doc)]
use tars_protocols::tarstx::CoordinatorProxy;

pub use backend::Backend;
pub use bridge::SeataBridge;
pub use connection::{ConnId, Registration};
pub use registry::{PendingResponse, RequestError, ResponseCallback, RmConnection, RmRegistry};
/// The Seata wire codec this front end speaks.
pub use tars_seata;

/// The version the front end answers registrations with.
pub const SERVER_VERSION: &str = "2.0.0";
/// The default Seata TC port.
pub const DEFAULT_PORT: u16 = 8091;

/// Where and how the front end listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeataConfig {
    /// Listening host.
    pub host: String,
    /// Listening port (0 picks a free one; see [`SeataFrontEnd::local_addr`]).
    pub port: u16,
    /// The largest frame accepted (Java's 8 MiB by default); a larger one closes the
    /// connection.
    pub max_frame: usize,
    /// The most bytes waiting to be sent to one client before it is closed as not reading.
    pub max_outbound: usize,
    /// How long a frame may take to arrive once its first byte did; a slower connection is
    /// closed (a client trickling bytes holds a partial frame for nothing). Default 10 s.
    pub frame_timeout: Duration,
    /// The version registrations are answered with.
    pub server_version: String,
    /// `host:port` of the Tars endpoint serving this node's [`SeataBridge`]: recorded in the
    /// client id of every branch registered here, so phase two reaches its RM. `None`:
    /// branches keep Java's plain client id and phase two cannot reach their RMs.
    pub bridge: Option<String>,
    /// When UndoLogDelete requests are sent.
    pub undo_log: UndoLogSchedule,
    /// Answer the merged requests of clients >= 1.5 that number their sub-requests with one
    /// BatchResultMessage per result, as each is ready, instead of one MergeResultMessage
    /// once all are (Java's `transport.enableTcServerBatchSendResponse`, off by default).
    pub batch_responses: bool,
}

/// When the front end asks the RMs to purge old undo logs (Java's `undoLogDelete` task).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UndoLogSchedule {
    /// After start, before the first round (Java: 3 minutes).
    pub delay: Duration,
    /// Between rounds (Java's `server.undo.logDeletePeriod`: one day).
    pub period: Duration,
    /// Days of undo log the RMs keep (Java's `server.undo.logSaveDays`: 7).
    pub save_days: i16,
}

impl Default for UndoLogSchedule {
    fn default() -> Self {
        UndoLogSchedule {
            delay: Duration::from_secs(3 * 60),
            period: Duration::from_secs(24 * 60 * 60),
            save_days: 7,
        }
    }
}

impl Default for SeataConfig {
    fn default() -> Self {
        SeataConfig {
            host: "127.0.0.1".into(),
            port: DEFAULT_PORT,
            max_frame: tars_seata::frame::DEFAULT_MAX_FRAME,
            max_outbound: 16 * 1024 * 1024,
            frame_timeout: Duration::from_secs(10),
            server_version: SERVER_VERSION.into(),
            bridge: None,
            undo_log: UndoLogSchedule::default(),
            batch_responses: false,
        }
    }
}

/// Why the front end did not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// `host:port`.
        addr: String,
        /// The failure.
        source: std::io::Error,
    },
    /// Setting up the poll, the waker or the socket failed.
    #[error("seata listener: {0}")]
    Io(std::io::Error),
    /// The listener thread did not start.
    #[error("starting the seata listener thread: {0}")]
    Thread(std::io::Error),
}

/// A running Seata front end. [`stop`](Self::stop) (or dropping it) ends its thread and
/// closes every connection.
pub struct SeataFrontEnd {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    mailbox: listener::Mailbox,
    registry: RmRegistry,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SeataFrontEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeataFrontEnd")
            .field("local_addr", &self.local_addr)
            .field("running", &self.thread.is_some())
            .finish_non_exhaustive()
    }
}

impl SeataFrontEnd {
    /// Binds `config.host:config.port` and starts the listener thread, which sends every
    /// transaction request to `coordinator` (a `CoordinatorProxy`, or the servant of a
    /// coordinator in this process).
    pub fn start(
        config: SeataConfig,
        coordinator: Arc<dyn Backend>,
    ) -> Result<SeataFrontEnd, Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let bound = listener::Listener::bind(&config, coordinator, stop.clone())?;
        let listener = bound.listener;
        let thread = std::thread::Builder::new()
            .name("seata-listener".into())
            .spawn(move || listener.run())
            .map_err(Error::Thread)?;
        tracing::info!(addr = %bound.local_addr, "Seata front end listening");
        Ok(SeataFrontEnd {
            local_addr: bound.local_addr,
            stop,
            mailbox: bound.mailbox,
            registry: bound.registry,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The RM connections (for TC → RM requests).
    pub fn rm_registry(&self) -> &RmRegistry {
        &self.registry
    }

    /// Ends the listener thread and closes every connection (idempotent).
    pub fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::Release);
            self.mailbox.wake();
            if thread.join().is_err() {
                tracing::error!("the Seata listener thread panicked");
            }
        }
    }
}

impl Drop for SeataFrontEnd {
    fn drop(&mut self) {
        self.stop();
    }
}
