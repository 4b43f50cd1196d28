//! `tars.RequestPacket`.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::TarsString;

use super::consts::{packet_type, version};

/// A request as sent by clients. Every field is `require`: TarsCpp and TarsJava peers close the
/// connection when one is missing, so all are always written.
#[derive(Debug, Clone, PartialEq, Default, tars_derive::TarsStruct)]
#[tars(class = "tars.RequestPacket")]
pub struct RequestPacket {
    /// Protocol version (see [`version`](super::version)).
    #[tars(tag = 1, require)]
    pub version: i16,
    /// Normal or one-way (see [`packet_type`](super::packet_type)).
    #[tars(tag = 2, require)]
    pub packet_type: i8,
    /// Message type flags.
    #[tars(tag = 3, require)]
    pub message_type: i32,
    /// Request id, echoed in the response.
    #[tars(tag = 4, require)]
    pub request_id: i32,
    /// Target servant (object) name.
    #[tars(tag = 5, require)]
    pub servant_name: TarsString,
    /// Function name.
    #[tars(tag = 6, require)]
    pub func_name: TarsString,
    /// Encoded parameters.
    #[tars(tag = 7, require)]
    pub buffer: Bytes,
    /// Timeout in milliseconds.
    #[tars(tag = 8, require)]
    pub timeout: i32,
    /// Call context, propagated along call chains.
    #[tars(tag = 9, require)]
    pub context: BTreeMap<TarsString, TarsString>,
    /// Framework status.
    #[tars(tag = 10, require)]
    pub status: BTreeMap<TarsString, TarsString>,
}

impl RequestPacket {
    /// A normal Tars (v1) call.
    pub fn new(
        request_id: i32,
        servant_name: impl Into<TarsString>,
        func_name: impl Into<TarsString>,
        buffer: Bytes,
        timeout_ms: i32,
    ) -> RequestPacket {
        RequestPacket {
            version: version::TARS,
            packet_type: packet_type::NORMAL,
            message_type: 0,
            request_id,
            servant_name: servant_name.into(),
            func_name: func_name.into(),
            buffer,
            timeout: timeout_ms,
            context: BTreeMap::new(),
            status: BTreeMap::new(),
        }
    }

    /// Whether the caller expects no response.
    pub fn is_oneway(&self) -> bool {
        self.packet_type == packet_type::ONEWAY
    }
}
