//! # tars
//!
//! The Tars RPC framework for Rust.
//!
//! - [`codec`]: the Tars binary encoding — [`Writer`], [`Reader`], the [`TarsValue`] /
//!   [`TarsStruct`](trait@TarsStruct) traits, and `#[derive(TarsStruct, TarsEnum)]`. This is
//!   the `tars-codec` crate, re-exported whole (also at this crate's root); programs that only
//!   encode and decode can depend on `tars-codec` alone.
//! - [`packet`]: request and response packets, the length-prefixed frame codec and TUP.
//! - [`server`]: the call context, servant dispatch and response building.
//! - [`client`]: servant proxies and the transport abstraction they call through.
//! - [`endpoint`]: endpoint strings (`tcp -h host -p port -t ms`), shared by clients and servers.
//! - [`protocol`]: the framework protocols (EndpointF, QueryF, AdminF, the tars-rs Registry).
//! - [`stat`], [`property`], [`dyeing`]: call statistics and properties reported to the
//!   stat and property services, and dyed (traced) requests.
//! - [`registration`]: self-registration with the tars-rs registry, a server
//!   [`Announcer`](server::Announcer) that calls the registry through a client proxy.
//!
//! The client and the server do not import each other: they meet in the codec, [`endpoint`]
//! and [`protocol`]. What needs both sits above them: [`registration`], and the
//! [`LocalTarget`](client::LocalTarget) implementation for [`Servants`](server::Servants)
//! that lets a [`LocalInvoker`](client::LocalInvoker) call servants in the same process.
#![deny(missing_docs)]

// Lets the derive output (which names `::tars`) work inside this crate too.
extern crate self as tars;

pub mod auth;
pub mod client;
pub mod dyeing;
pub mod endpoint;
mod in_process;
pub mod panic;
pub mod property;
pub mod protocol;
pub mod registration;
pub mod server;
pub mod stat;
pub mod tls;

pub use tars_codec as codec;
#[doc(no_inline)]
pub use tars_codec::packet;
#[doc(no_inline)]
pub use tars_codec::*;
