//! Starting and stopping a server: binds the adapters, spawns the net threads and business
//! threads, and shuts down gracefully.

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{unbounded, Receiver, Sender};
use mio::net::{TcpListener, UdpSocket};
use mio::{Interest, Poll, Token};

use super::config::{AdapterConfig, ServerConfig};
use super::handle;
use super::net_thread::{AdapterSlot, Command, NetHandle, NetThread, UDP_BASE};
use super::stats::{IoCounters, IoStats};
use super::udp::UdpAdapter;
use crate::server::announce::{AnnounceError, AnnouncedServant, Announcement};
use crate::server::signals::ShutdownSignals;

/// The administration servant's object name, which is never registered.
const ADMIN_OBJ: &str = "AdminObj";

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// An adapter could not listen.
    #[error("adapter {adapter}: cannot listen on {endpoint}: {source}")]
    Bind {
        /// Adapter name.
        adapter: String,
        /// Its endpoint.
        endpoint: String,
        /// The error.
        source: std::io::Error,
    },
    /// A thread or poll could not be created.
    #[error("cannot start server threads: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The configured [`Announcer`](crate::server::Announcer) refused to announce the
    /// servants (for self-registration: a bad registry string, or no host to publish).
    #[error("cannot announce the servants: {0}")]
    Announce(#[source] AnnounceError),
    /// SIGTERM / SIGINT could not be caught ([`Server::run_until_signal`]).
    #[error("cannot catch the shutdown signals: {0}")]
    Signals(std::io::Error),
}

/// Open connections per adapter, readable from any thread.
#[derive(Debug, Clone)]
pub struct ConnectionStats {
    adapters: Vec<(String, Arc<AtomicUsize>)>,
}

impl ConnectionStats {
    /// `(adapter, open connections)` pairs.
    pub fn snapshot(&self) -> Vec<(String, usize)> {
        self.adapters
            .iter()
            .map(|(n, c)| (n.clone(), c.load(std::sync::atomic::Ordering::Relaxed)))
            .collect()
    }

    /// The `tars.connection` report: one `adapter: count` line per adapter.
    pub fn report(&self) -> String {
        self.snapshot()
            .iter()
            .map(|(n, c)| format!("{n}: {c} connection(s)"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Why [`Server::wait`] stopped waiting.
#[derive(Debug)]
enum StopCause {
    /// [`StopHandle::stop`] was called.
    Requested,
    /// A net thread ended on its own (its poll failed, or it panicked).
    NetThreadEnded,
}

/// Asks a running server to stop, from any thread: [`Server::wait`] (and so
/// [`Server::run_until_signal`]) then shuts it down gracefully and returns. Cheap to clone;
/// stopping twice, or a server that is gone, is harmless.
#[derive(Debug, Clone)]
pub struct StopHandle {
    tx: Sender<StopCause>,
}

impl StopHandle {
    /// Requests the stop and returns at once.
    pub fn stop(&self) {
        let _ = self.tx.send(StopCause::Requested);
    }
}

/// Tells the server when its net thread ends, however it ends.
struct NetThreadExit(Sender<StopCause>);

impl Drop for NetThreadExit {
    fn drop(&mut self) {
        let _ = self.0.send(StopCause::NetThreadEnded);
    }
}

/// A running server. Dropping it shuts it down gracefully.
///
/// A program that serves until it is told to stop calls [`Server::run_until_signal`] (SIGTERM
/// or SIGINT) or [`Server::wait`] (a [`StopHandle`]); both drain and withdraw the
/// announcement (deregister, with self-registration) before they return.
pub struct Server {
    nets: Vec<NetHandle>,
    net_threads: Vec<JoinHandle<()>>,
    business_threads: Vec<JoinHandle<()>>,
    addrs: Vec<(String, SocketAddr)>,
    connections: Vec<(String, Arc<AtomicUsize>)>,
    counters: Arc<IoCounters>,
    grace: std::time::Duration,
    announcement: Option<Box<dyn Announcement>>,
    stop_tx: Sender<StopCause>,
    stop_rx: Receiver<StopCause>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addresses", &self.addrs)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds every adapter and starts serving.
    pub fn start(
        config: ServerConfig,
        adapters: Vec<AdapterConfig>,
    ) -> Result<Server, ServerError> {
        if adapters.is_empty() {
            return Err(ServerError::Config("no adapters".into()));
        }
        let n_net = config.net_threads.max(1);
        let mut polls = Vec::with_capacity(n_net);
        let mut handles = Vec::with_capacity(n_net);
        let mut receivers = Vec::with_capacity(n_net);
        for _ in 0..n_net {
            let poll = Poll::new()?;
            let (h, rx) = NetThread::handle(&poll)?;
            polls.push(poll);
            handles.push(h);
            receivers.push(rx);
        }

        if adapters.len() >= UDP_BASE - 1 {
            return Err(ServerError::Config(format!(
                "{} adapters; at most {} are supported",
                adapters.len(),
                UDP_BASE - 2
            )));
        }
        let counters = Arc::new(IoCounters::default());
        let mut addrs = Vec::new();
        let mut conn_counts = Vec::new();
        let mut business_threads = Vec::new();
        let mut slots_per_thread: Vec<Vec<AdapterSlot>> = (0..n_net).map(|_| Vec::new()).collect();
        let observe = Arc::new(crate::server::current::Observe {
            stats: config.stats.clone(),
            dyeing_log: config.dyeing_log.clone(),
        });
        for (ai, a) in adapters.iter().enumerate() {
            let udp = match a.endpoint.protocol.as_str() {
                "tcp" => false,
                "ssl" if a.tls.is_none() => {
                    return Err(ServerError::Config(format!(
                        "adapter {}: an ssl endpoint needs TLS settings (certificate and key)",
                        a.name
                    )))
                }
                "ssl" => false,
                "udp" => true,
                other => {
                    return Err(ServerError::Config(format!(
                        "adapter {}: unknown protocol {other:?} (tcp, ssl or udp)",
                        a.name
                    )))
                }
            };
            if a.tls.is_some() && !a.endpoint.is_tls() {
                tracing::warn!(
                    "adapter {}: TLS settings ignored: the endpoint is {}, not ssl",
                    a.name,
                    a.endpoint.protocol
                );
            }
            match a.endpoint.auth_type {
                0 => {}
                1 if !udp => {}
                1 => {
                    return Err(ServerError::Config(format!(
                        "adapter {}: authentication (-e 1) needs a tcp endpoint",
                        a.name
                    )))
                }
                other => {
                    return Err(ServerError::Config(format!(
                        "adapter {}: unknown authentication type -e {other} (0 or 1)",
                        a.name
                    )))
                }
            }
            let bind_err = |source| ServerError::Bind {
                adapter: a.name.clone(),
                endpoint: a.endpoint.to_string(),
                source,
            };
            let addr: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(&a.endpoint.address())
                .map_err(bind_err)?
                .next()
                .ok_or_else(|| {
                    ServerError::Config(format!("adapter {}: host does not resolve", a.name))
                })?;
            // A UDP socket is owned by one net thread, adapters spread round-robin; TCP
            // listeners are all on net thread 0, which hands connections out.
            let udp_thread = ai % n_net;
            let (mut listener, mut udp_socket) = if udp {
                let mut socket = UdpSocket::bind(addr).map_err(bind_err)?;
                addrs.push((a.name.clone(), socket.local_addr()?));
                polls[udp_thread].registry().register(
                    &mut socket,
                    Token(UDP_BASE + ai),
                    Interest::READABLE,
                )?;
                let socket = UdpAdapter::new(socket, config.max_write_buffer, counters.clone());
                (None, Some(socket))
            } else {
                let mut listener = TcpListener::bind(addr).map_err(bind_err)?;
                addrs.push((a.name.clone(), listener.local_addr()?));
                polls[0]
                    .registry()
                    .register(&mut listener, Token(1 + ai), Interest::READABLE)?;
                (Some(listener), None)
            };

            let (tx, rx) = super::queue::job_queue(a.queue_capacity);
            let inline = (a.threads == 0).then(|| a.servants.clone());
            for t in 0..a.threads {
                let rx = rx.clone();
                let servants = a.servants.clone();
                let timeout = a.queue_timeout;
                let observe = observe.clone();
                let counters = counters.clone();
                business_threads.push(
                    std::thread::Builder::new()
                        .name(format!("tars-handle-{}-{t}", a.name))
                        .spawn(move || handle::run(rx, servants, timeout, observe, counters))?,
                );
            }
            let connections = Arc::new(AtomicUsize::new(0));
            let inline_in_flight = Arc::new(AtomicUsize::new(0));
            counters.queues.lock().push(super::stats::QueueGauge {
                queued: tx.queued.clone(),
                inline_in_flight: inline_in_flight.clone(),
            });
            let per_ip = Arc::new(super::net_thread::PerIp::default());
            let auth = (a.endpoint.auth_type == 1).then(|| {
                Arc::new(super::net_thread::AdapterAuth {
                    objects: a.servants.names().map(str::to_owned).collect(),
                    keys: a.auth_keys.clone(),
                })
            });
            conn_counts.push((a.name.clone(), connections.clone()));
            // Only net thread 0 accepts; it hands connections to the others round-robin.
            for (t, slots) in slots_per_thread.iter_mut().enumerate() {
                slots.push(AdapterSlot {
                    listener: listener.take(),
                    udp: if t == udp_thread {
                        udp_socket.take()
                    } else {
                        None
                    },
                    jobs: inline.is_none().then(|| tx.clone()),
                    inline: inline.clone(),
                    observe: observe.clone(),
                    inline_in_flight: inline_in_flight.clone(),
                    inline_capacity: a.queue_capacity.max(1),
                    inline_timeout: a.queue_timeout,
                    inline_pending: Default::default(),
                    idle_timeout: std::time::Duration::from_millis(a.endpoint.timeout_ms.max(1)),
                    max_connections: a.max_connections,
                    connections: connections.clone(),
                    per_ip: per_ip.clone(),
                    auth: auth.clone(),
                    tls: a
                        .tls
                        .as_ref()
                        .filter(|_| a.endpoint.is_tls())
                        .map(|t| t.config().clone()),
                    max_per_ip: a.max_connections_per_ip.max(1),
                });
            }
        }

        let (stop_tx, stop_rx) = unbounded();
        let mut net_threads = Vec::with_capacity(n_net);
        for (i, ((poll, rx), slots)) in polls
            .into_iter()
            .zip(receivers)
            .zip(slots_per_thread)
            .enumerate()
        {
            let mut t = NetThread::new(
                i,
                poll,
                rx,
                handles[i].clone(),
                slots,
                config.max_packet,
                config.max_write_buffer,
                config.limits,
            );
            t.counters = counters.clone();
            t.frame_timeout = config.frame_timeout;
            t.max_buffered = config.max_buffered_bytes;
            if i == 0 {
                t.peers = handles[1..].to_vec();
            }
            let exit = NetThreadExit(stop_tx.clone());
            net_threads.push(
                std::thread::Builder::new()
                    .name(format!("tars-net-{i}"))
                    .spawn(move || {
                        let _exit = exit;
                        t.run()
                    })?,
            );
        }
        let mut server = Server {
            nets: handles,
            net_threads,
            business_threads,
            addrs,
            connections: conn_counts,
            counters,
            grace: config.shutdown_grace,
            announcement: None,
            stop_tx,
            stop_rx,
        };
        if let Some(announcer) = &config.announcer {
            // On error the server is dropped, which stops its threads.
            let announced = Self::announced(&adapters, &server.addrs);
            server.announcement = Some(
                announcer
                    .announce(&announced)
                    .map_err(ServerError::Announce)?,
            );
        }
        Ok(server)
    }

    /// Every servant but `AdminObj` on every TCP adapter, at its bound address. (A
    /// registration announces plain TCP endpoints only, so UDP and ssl adapters are not
    /// announced.)
    fn announced(
        adapters: &[AdapterConfig],
        addrs: &[(String, SocketAddr)],
    ) -> Vec<AnnouncedServant> {
        adapters
            .iter()
            .zip(addrs)
            .filter(|(a, _)| {
                let tcp = a.endpoint.protocol == "tcp";
                if !tcp {
                    tracing::info!(
                        "adapter {}: {} endpoints are not registered with the registry",
                        a.name,
                        a.endpoint.protocol
                    );
                }
                tcp
            })
            .flat_map(|(a, (_, addr))| {
                a.servants
                    .names()
                    .filter(|n| *n != ADMIN_OBJ)
                    .map(move |object| AnnouncedServant {
                        adapter: a.name.clone(),
                        object: object.to_owned(),
                        addr: *addr,
                        timeout_ms: a.endpoint.timeout_ms,
                    })
            })
            .collect()
    }

    /// The bound address of adapter `name` (useful with port 0).
    pub fn local_addr(&self, adapter: &str) -> Option<SocketAddr> {
        self.addrs
            .iter()
            .find(|(n, _)| n == adapter)
            .map(|(_, a)| *a)
    }

    /// Socket reads and writes, requests and responses so far (all adapters).
    pub fn io_stats(&self) -> IoStats {
        self.counters.snapshot()
    }

    /// A handle on the same counters as [`Server::io_stats`], for sampling them from
    /// elsewhere while the server runs.
    pub fn io_stats_source(&self) -> super::stats::IoStatsSource {
        super::stats::IoStatsSource(self.counters.clone())
    }

    /// A snapshot-able view of open connections per adapter (for `tars.connection`).
    pub fn connection_stats(&self) -> ConnectionStats {
        ConnectionStats {
            adapters: self.connections.clone(),
        }
    }

    /// A handle that makes [`Server::wait`] return (after a graceful shutdown), from any
    /// thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            tx: self.stop_tx.clone(),
        }
    }

    /// Serves until a [`StopHandle`] of this server asks it to stop (or a net thread ends on
    /// its own), then shuts down gracefully like [`Server::shutdown`] and returns once the
    /// server has stopped: not accepting, in-flight requests answered, announcement withdrawn.
    pub fn wait(mut self) {
        // `self` holds a sender, so this only returns on a message.
        match self.stop_rx.recv() {
            Ok(StopCause::NetThreadEnded) => {
                tracing::error!("a net thread ended on its own; shutting the server down")
            }
            Ok(StopCause::Requested) | Err(_) => tracing::info!("server stopping"),
        }
        self.stop();
    }

    /// Serves until SIGTERM or SIGINT (or a [`StopHandle`]), then shuts down gracefully and
    /// returns: stops accepting, answers the requests it already has (within
    /// [`ServerConfig::shutdown_grace`](super::ServerConfig::shutdown_grace)), then
    /// withdraws the announcement when an announcer is configured — so a self-registered
    /// server stopped by a signal leaves the registry at once, not after the heartbeat
    /// timeout.
    ///
    /// While it waits, a second signal ends the process at once (status `128 + signal`); see
    /// [`ShutdownSignals`]. Fails, shutting the server down, when the signals cannot be
    /// caught (another [`ShutdownSignals`] is installed in the process).
    pub fn run_until_signal(self) -> Result<(), ServerError> {
        let stop = self.stop_handle();
        let signals = match ShutdownSignals::install(move |_| stop.stop()) {
            Ok(signals) => signals,
            Err(e) => {
                self.shutdown();
                return Err(ServerError::Signals(e));
            }
        };
        self.wait();
        drop(signals);
        Ok(())
    }

    /// Stops accepting, answers the requests already received, flushes the responses (within
    /// the configured grace period), joins every thread, then withdraws the announcement
    /// (when an announcer is configured: self-registration deregisters).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if !self.net_threads.is_empty() {
            for n in &self.nets {
                n.send(Command::StopAccepting);
            }
            for t in self.business_threads.drain(..) {
                let _ = t.join();
            }
            let deadline = Instant::now() + self.grace;
            for n in &self.nets {
                n.send(Command::Exit(deadline));
            }
            for t in self.net_threads.drain(..) {
                let _ = t.join();
            }
        }
        // Drained: now withdraw the announcement (e.g. deregister, waiting for the calls).
        if let Some(announcement) = self.announcement.take() {
            announcement.withdraw();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
