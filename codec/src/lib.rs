//! # tars-codec
//!
//! The Tars binary codec, on its own: what a program needs to encode and decode Tars data,
//! without the RPC runtime (as `prost` is to `tonic`). The `tars` crate re-exports all of it
//! as `tars::codec` (and `tars::packet`).
//!
//! - [`Writer`], [`Reader`], the [`TarsValue`] / [`TarsStruct`](trait@TarsStruct) /
//!   [`TarsEnum`](trait@TarsEnum) traits and the containers;
//! - `#[derive(TarsStruct, TarsEnum)]` (re-exported from `tars-derive`);
//! - [`packet`]: request and response packets, length-prefixed framing and TUP. With the
//!   `tokio-codec` feature, the framing implements `tokio_util::codec::{Decoder, Encoder}`.
//!
//! A value is a sequence of tagged fields. Each field starts with a head — the tag and a 4-bit
//! [`WireType`] — followed by the payload. [`Writer`] produces the canonical, narrowest
//! encoding; [`Reader`] accepts every form real peers send and rejects malformed input with a
//! [`DecodeError`] naming the tag.
//!
//! ```
//! use tars_codec::{Reader, Writer};
//!
//! let mut w = Writer::new();
//! w.write_i32(0, 300);
//! w.write_string(1, "hi");
//! assert_eq!(w.as_slice(), &[0x01, 0x01, 0x2c, 0x16, 0x02, b'h', b'i']);
//!
//! let mut r = Reader::new(w.as_slice());
//! assert_eq!(r.read_required::<i32>(0, "n").unwrap(), 300);
//! assert_eq!(r.read_required::<String>(1, "s").unwrap(), "hi");
//! ```

#![deny(missing_docs)]

// Lets the derive output, which names `::tars_codec`, work inside this crate too.
extern crate self as tars_codec;

mod containers;
mod error;
mod limits;
mod reader;
mod string;
mod structs;
mod value;
mod wire;
mod writer;

pub use containers::{read_map, write_map, MapVec};
pub use error::DecodeError;
pub use limits::DecodeLimits;
pub use reader::Reader;
pub use string::TarsString;
pub use structs::{read_enum, read_struct, write_struct, TarsEnum, TarsStruct};
pub use value::{read_list_elements, tup_type_name, TarsValue, TupTypeStyle};
pub use wire::{Head, WireType};
pub use writer::Writer;

pub mod packet;

pub use bytes;
pub use tars_derive::{TarsEnum, TarsStruct};
