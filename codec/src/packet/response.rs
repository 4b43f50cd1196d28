//! `tars.ResponsePacket`.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::TarsString;

use super::consts::{packet_type, RetCode};
use super::request::RequestPacket;

/// A response to a Tars (v1) request. Note the tag order: request id (3) comes before the
/// message type (4), unlike in [`RequestPacket`].
#[derive(Debug, Clone, PartialEq, Default, tars_derive::TarsStruct)]
#[tars(class = "tars.ResponsePacket")]
pub struct ResponsePacket {
    /// Protocol version, copied from the request.
    #[tars(tag = 1, require)]
    pub version: i16,
    /// Packet type, copied from the request.
    #[tars(tag = 2, require)]
    pub packet_type: i8,
    /// Id of the request answered.
    #[tars(tag = 3, require)]
    pub request_id: i32,
    /// Message type flags.
    #[tars(tag = 4, require)]
    pub message_type: i32,
    /// Framework return code (see [`RetCode`]); 0 on success.
    #[tars(tag = 5, require)]
    pub ret: i32,
    /// Encoded return value and out parameters.
    #[tars(tag = 6, require)]
    pub buffer: Bytes,
    /// Framework status.
    #[tars(tag = 7, require)]
    pub status: BTreeMap<TarsString, TarsString>,
    /// Human-readable description of a failure.
    #[tars(tag = 8, optional)]
    pub result_desc: TarsString,
    /// Response context.
    #[tars(tag = 9, optional)]
    pub context: BTreeMap<TarsString, TarsString>,
}

impl ResponsePacket {
    /// A successful response to `req` carrying `buffer`.
    pub fn ok(req: &RequestPacket, buffer: Bytes) -> ResponsePacket {
        ResponsePacket {
            version: req.version,
            packet_type: packet_type::NORMAL,
            request_id: req.request_id,
            message_type: req.message_type,
            ret: RetCode::Ok.code(),
            buffer,
            ..ResponsePacket::default()
        }
    }

    /// A framework error response to `req`.
    pub fn error(req: &RequestPacket, ret: RetCode, desc: impl Into<TarsString>) -> ResponsePacket {
        ResponsePacket {
            version: req.version,
            packet_type: packet_type::NORMAL,
            request_id: req.request_id,
            message_type: req.message_type,
            ret: ret.code(),
            result_desc: desc.into(),
            ..ResponsePacket::default()
        }
    }
}
