//! Server side of calls: the [`Current`] call context, the [`Dispatch`] trait that generated
//! servant dispatchers implement, [`Servants`] which routes a request to its servant and
//! builds the response, [`Responder`] for replies sent later from another thread, and the
//! network [`Server`] with its lifecycle: [`Server::run_until_signal`] (SIGTERM / SIGINT),
//! [`Server::wait`] with a [`StopHandle`], and [`ShutdownSignals`] for programs that stop
//! more than a server.
//!
//! A server announces its servants through an [`Announcer`] of its configuration
//! (self-registration, `tars::registration`, is one); nothing here imports the client.

mod admin;
mod announce;
pub(crate) mod current;
mod dispatch;
pub mod net;
mod servants;
mod signals;

pub use admin::{AdminServant, CommandHandler, LOG_LEVELS};
pub use announce::{AnnounceError, AnnouncedServant, Announcement, Announcer};
pub use current::{Caller, Current, Responder, Response, ResponseSink};
pub use dispatch::{Dispatch, DispatchError, ServantError};
pub use net::{
    AdapterConfig, ConnectionStats, Endpoint, IoStats, IoStatsSource, Server, ServerConfig,
    ServerError, StopHandle, DEFAULT_FRAME_TIMEOUT, DEFAULT_MAX_BUFFERED,
};
pub use servants::Servants;
pub use signals::{ShutdownSignal, ShutdownSignals};
