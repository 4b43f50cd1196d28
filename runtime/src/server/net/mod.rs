//! The network server: mio net threads (edge-triggered, drain until `WouldBlock`, every
//! complete frame decoded per pass, one write per connection and pass, one wake per batch of
//! responses, generation-checked connection tokens) feeding bounded per-adapter queues served
//! by business threads, one batch per connection and read pass.
//!
//! UDP adapters (`udp -h H -p P`) bind one socket each, owned by one net thread: every
//! datagram holds one whole frame and every reply is one datagram to the sender, through the
//! same queues, business threads and admission control as TCP.
//!
//! Protection: requests past 4/5 of a queue are refused with -9 (overload); requests that
//! waited longer than the queue timeout or their own `iTimeout` get -6; oversized or malformed
//! frames close the connection (on UDP: the datagram is dropped and counted); connections over
//! the adapter limit are closed on accept; idle connections close after the endpoint's `-t`; a
//! client whose unread responses exceed `max_write_buffer` is disconnected.

mod config;
mod connection;
mod handle;
mod net_thread;
mod queue;
mod server;
mod stats;
mod udp;

pub use crate::endpoint::{Endpoint, EndpointError};
pub use config::{AdapterConfig, ServerConfig, DEFAULT_FRAME_TIMEOUT, DEFAULT_MAX_BUFFERED};
pub use server::{ConnectionStats, Server, ServerError, StopHandle};
pub use stats::{IoStats, IoStatsSource};
