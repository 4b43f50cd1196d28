//! Tars packets on the wire: [`RequestPacket`] / [`ResponsePacket`], the length-prefixed
//! [`FrameCodec`] and [`PacketCodec`] for `tokio_util::codec`, return codes, and TUP
//! ([`UniAttribute`]).

mod consts;
mod framing;
mod params;
mod request;
mod response;
mod tup;

pub use consts::{packet_type, status_key, version, RetCode};
pub use framing::{FrameCodec, FrameError, PacketCodec, DEFAULT_MAX_FRAME, MIN_FRAME};
pub use params::{ParamReader, ParamWriter};
pub use request::RequestPacket;
pub use response::ResponsePacket;
pub use tup::{TupError, TupRequest, TupResponse, TupVersion, UniAttribute};
