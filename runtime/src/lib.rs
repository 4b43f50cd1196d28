//! # tars
//!
//! The Tars RPC framework for Rust.
//!
//! - [`codec`]: the Tars binary encoding — [`Writer`], [`Reader`], the [`TarsValue`] /
//!   [`TarsStruct`](trait@TarsStruct) traits, and `#[derive(TarsStruct, TarsEnum)]`.
//! - [`packet`]: request and response packets, the length-prefixed frame codec and TUP.
//! - [`server`]: the call context, servant dispatch and response building.
//! - [`client`]: servant proxies and the transport abstraction they call through.
//! - [`protocol`]: the framework protocols (EndpointF, QueryF, AdminF, the tars-rs Registry).
#![deny(missing_docs)]

// Lets the derive output (which names `::tars`) work inside this crate too.
extern crate self as tars;

pub mod client;
pub mod codec;
pub mod packet;
pub mod protocol;
pub mod server;

pub use bytes;
pub use codec::{DecodeError, Reader, TarsEnum, TarsStruct, TarsValue, Writer};
pub use tars_derive::{TarsEnum, TarsStruct};
