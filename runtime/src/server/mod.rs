//! Server side of calls: the [`Current`] call context, the [`Dispatch`] trait that generated
//! servant dispatchers implement, [`Servants`] which routes a request to its servant and
//! builds the response, and [`Responder`] for replies sent later from another thread.

mod admin;
mod current;
mod dispatch;
pub mod net;
pub mod registration;
mod servants;

pub use admin::{AdminServant, CommandHandler, LOG_LEVELS};
pub use current::{Current, Responder, Response, ResponseSink};
pub use dispatch::{Dispatch, DispatchError, ServantError};
pub use net::{
    AdapterConfig, ConnectionStats, Endpoint, IoStats, Server, ServerConfig, ServerError,
};
pub use registration::{LoadReporter, RegistrationConfig, RegistrationError};
pub use servants::Servants;
