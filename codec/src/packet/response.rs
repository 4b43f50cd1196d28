//! `tars.ResponsePacket`.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::{DecodeError, DecodeLimits, Reader, TarsString, TarsStruct};

use super::consts::{packet_type, status_key, version, RetCode};
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

impl ResponsePacket {
    /// Decodes a response in the layout its version uses: Tars responses (`iVersion` 1) are
    /// ResponsePackets, while TUP responses (`iVersion` 2 and 3) come in the RequestPacket
    /// layout with the result in the `STATUS_RESULT_CODE` / `STATUS_RESULT_DESC` status
    /// entries. Both become a `ResponsePacket`: `ret` and `result_desc` from the status of a
    /// TUP response (a missing code is success), its buffer (the attribute map), version and
    /// status kept.
    pub fn decode_any(frame: &Bytes, limits: DecodeLimits) -> Result<ResponsePacket, DecodeError> {
        let version = Reader::from_bytes(frame, limits)
            .read_optional::<i16>(1)?
            .unwrap_or(version::TARS);
        if version != version::TUP && version != version::TUP_COMPLEX {
            return ResponsePacket::read_fields(&mut Reader::from_bytes(frame, limits));
        }
        let req = RequestPacket::read_fields(&mut Reader::from_bytes(frame, limits))?;
        let ret = match req.status.get(status_key::RESULT_CODE) {
            None => 0,
            Some(code) => code
                .trim()
                .parse::<i32>()
                .map_err(|_| DecodeError::Malformed {
                    tag: 10,
                    what: "STATUS_RESULT_CODE of a TUP response is not a number",
                })?,
        };
        Ok(ResponsePacket {
            version: req.version,
            packet_type: req.packet_type,
            request_id: req.request_id,
            message_type: req.message_type,
            ret,
            result_desc: req
                .status
                .get(status_key::RESULT_DESC)
                .cloned()
                .unwrap_or_default(),
            buffer: req.buffer,
            status: req.status,
            context: req.context,
        })
    }
}
