//! ProtocolV1 frames: the 16-byte header, the head map, and a [`FrameDecoder`] that cuts
//! complete frames out of a byte stream.
//!
//! ```text
//! off size field
//! 0   2    magic 0xDA 0xDA
//! 2   1    version = 1
//! 3   4    full length (the whole frame)
//! 7   2    head length (16 + head-map bytes)
//! 9   1    message type
//! 10  1    codec (1 = SEATA)
//! 11  1    compressor (0 = none)
//! 12  4    request id
//! 16  n    head map
//! ..       body
//! ```

use bytes::{Bytes, BytesMut};

use crate::error::{Result, SeataError};
use crate::message::Message;
use crate::wire::{Reader, Writer};

/// The two magic bytes every frame starts with.
pub const MAGIC: [u8; 2] = [0xDA, 0xDA];
/// The protocol version byte.
pub const VERSION: u8 = 1;
/// The fixed header's length; a frame without head map and body (a heartbeat) is this long.
pub const HEADER_LEN: usize = 16;
/// The largest frame accepted by default (Java's 8 MiB).
pub const DEFAULT_MAX_FRAME: usize = 8 * 1024 * 1024;
/// Codec byte of the SEATA serializer, the only one supported.
pub const CODEC_SEATA: u8 = 1;
/// Compressor byte of "no compression", the only one supported.
pub const COMPRESSOR_NONE: u8 = 0;

/// The frame's message type (byte 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// 0: a request expecting a response with the same id.
    Request,
    /// 1: a response.
    Response,
    /// 2: a request without response.
    OneWay,
    /// 3: heartbeat request (PING), no body.
    HeartbeatRequest,
    /// 4: heartbeat response (PONG), no body.
    HeartbeatResponse,
}

impl MessageType {
    /// The wire byte.
    pub fn code(self) -> u8 {
        match self {
            MessageType::Request => 0,
            MessageType::Response => 1,
            MessageType::OneWay => 2,
            MessageType::HeartbeatRequest => 3,
            MessageType::HeartbeatResponse => 4,
        }
    }

    /// The type for a wire byte; fails with [`SeataError::UnknownMessageType`].
    pub fn from_code(code: u8) -> Result<Self> {
        Ok(match code {
            0 => MessageType::Request,
            1 => MessageType::Response,
            2 => MessageType::OneWay,
            3 => MessageType::HeartbeatRequest,
            4 => MessageType::HeartbeatResponse,
            other => return Err(SeataError::UnknownMessageType(other)),
        })
    }

    /// Whether this is a PING or a PONG.
    pub fn is_heartbeat(self) -> bool {
        matches!(
            self,
            MessageType::HeartbeatRequest | MessageType::HeartbeatResponse
        )
    }
}

/// One head-map entry. On the wire key and value are each an `int16` length (-1 = null) and
/// UTF-8 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeadEntry {
    /// The key; `None` is null.
    pub key: Option<String>,
    /// The value; `None` is null.
    pub value: Option<String>,
}

/// One ProtocolV1 frame with its body still encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Byte 9.
    pub message_type: MessageType,
    /// Byte 10 (1 = SEATA). Kept as read; [`Frame::message`] rejects other codecs.
    pub codec: u8,
    /// Byte 11 (0 = none). Kept as read; [`Frame::message`] rejects compression.
    pub compressor: u8,
    /// The request id; a response carries its request's.
    pub request_id: i32,
    /// The head map, in wire order (clients normally send none).
    pub head_map: Vec<HeadEntry>,
    /// The body: the serialized message, empty for heartbeats.
    pub body: Bytes,
}

impl Frame {
    /// A frame with the SEATA codec, no compression and no head map.
    pub fn new(message_type: MessageType, request_id: i32, body: Bytes) -> Self {
        Frame {
            message_type,
            codec: CODEC_SEATA,
            compressor: COMPRESSOR_NONE,
            request_id,
            head_map: Vec::new(),
            body,
        }
    }

    /// A frame carrying `msg`.
    pub fn with_message(message_type: MessageType, request_id: i32, msg: &Message) -> Result<Self> {
        Ok(Frame::new(
            message_type,
            request_id,
            msg.to_bytes()?.freeze(),
        ))
    }

    /// A heartbeat request (PING).
    pub fn ping(request_id: i32) -> Self {
        Frame::new(MessageType::HeartbeatRequest, request_id, Bytes::new())
    }

    /// A heartbeat response (PONG) to the PING with `request_id`.
    pub fn pong(request_id: i32) -> Self {
        Frame::new(MessageType::HeartbeatResponse, request_id, Bytes::new())
    }

    /// Whether this is a PING or a PONG.
    pub fn is_heartbeat(&self) -> bool {
        self.message_type.is_heartbeat()
    }

    /// Decodes the body. `None` for heartbeats, whose body (normally absent) is ignored, as
    /// Java does. Fails on a codec other than SEATA, on compression, or on a bad body.
    pub fn message(&self) -> Result<Option<Message>> {
        if self.is_heartbeat() {
            return Ok(None);
        }
        if self.codec != CODEC_SEATA {
            return Err(SeataError::UnsupportedCodec(self.codec));
        }
        if self.compressor != COMPRESSOR_NONE {
            return Err(SeataError::UnsupportedCompressor(self.compressor));
        }
        Message::decode(&self.body).map(Some)
    }

    /// Appends the whole frame to `dst`. Fails if the head map is over the `int16` head length
    /// or the frame over the `int32` full length (no cap is applied: check
    /// [`Frame::encoded_len`] against the peer's limit when it matters).
    pub fn encode(&self, dst: &mut BytesMut) -> Result<()> {
        let mut head = BytesMut::new();
        let mut hw = Writer::new(&mut head);
        for entry in &self.head_map {
            hw.nullable_str16(entry.key.as_deref(), "head map key")?;
            hw.nullable_str16(entry.value.as_deref(), "head map value")?;
        }
        let head_len = HEADER_LEN + head.len();
        let head_len16 = i16::try_from(head_len).map_err(|_| SeataError::TooLong {
            what: "head length",
            len: head_len,
            max: i16::MAX as usize,
        })?;
        let full_len = head_len + self.body.len();
        let full_len32 = i32::try_from(full_len).map_err(|_| SeataError::TooLong {
            what: "full length",
            len: full_len,
            max: i32::MAX as usize,
        })?;
        dst.reserve(full_len);
        let mut w = Writer::new(dst);
        w.bytes(&MAGIC);
        w.u8(VERSION);
        w.i32(full_len32);
        w.i16(head_len16);
        w.u8(self.message_type.code());
        w.u8(self.codec);
        w.u8(self.compressor);
        w.i32(self.request_id);
        w.bytes(&head);
        w.bytes(&self.body);
        Ok(())
    }

    /// The encoded frame's length in bytes.
    pub fn encoded_len(&self) -> usize {
        let head: usize = self
            .head_map
            .iter()
            .map(|e| {
                4 + e.key.as_ref().map_or(0, String::len) + e.value.as_ref().map_or(0, String::len)
            })
            .sum();
        HEADER_LEN + head + self.body.len()
    }

    /// Parses one complete frame (exactly its bytes), checking magic, version, both lengths,
    /// the message type and the head map.
    pub fn parse(frame: Bytes) -> Result<Frame> {
        let (full_len, head_len) = check_header(&frame, usize::MAX)?;
        let (full_len, head_len) = match (full_len, head_len) {
            (Some(f), Some(h)) => (f, h),
            _ => {
                return Err(SeataError::Truncated {
                    what: "frame header",
                })
            }
        };
        if frame.len() != full_len {
            return Err(SeataError::BadLength {
                what: "full length (frame has a different size)",
                len: full_len as i64,
            });
        }
        let mut r = Reader::new(&frame[..HEADER_LEN]);
        r.take(9, "frame header")?;
        let message_type = MessageType::from_code(r.u8("message type")?)?;
        let codec = r.u8("codec")?;
        let compressor = r.u8("compressor")?;
        let request_id = r.i32("request id")?;
        let mut hr = Reader::new(&frame[HEADER_LEN..head_len]);
        let mut head_map = Vec::new();
        while hr.remaining() > 0 {
            let key = hr.nullable_str16("head map key")?;
            let value = hr.nullable_str16("head map value")?;
            head_map.push(HeadEntry { key, value });
        }
        Ok(Frame {
            message_type,
            codec,
            compressor,
            request_id,
            head_map,
            body: frame.slice(head_len..),
        })
    }
}

/// Checks whatever part of the header `buf` already holds. Returns the full length and head
/// length once they are readable and valid.
fn check_header(buf: &[u8], max: usize) -> Result<(Option<usize>, Option<usize>)> {
    if buf.len() >= 2 && buf[..2] != MAGIC {
        return Err(SeataError::BadMagic(u16::from_be_bytes([buf[0], buf[1]])));
    }
    if buf.len() >= 3 && buf[2] != VERSION {
        return Err(SeataError::BadVersion(buf[2]));
    }
    if buf.len() < 7 {
        return Ok((None, None));
    }
    let full = i32::from_be_bytes([buf[3], buf[4], buf[5], buf[6]]);
    let full = match usize::try_from(full) {
        Ok(f) if f >= HEADER_LEN => f,
        _ => {
            return Err(SeataError::BadLength {
                what: "full length",
                len: i64::from(full),
            })
        }
    };
    if full > max {
        return Err(SeataError::FrameTooLarge {
            len: full as u64,
            max,
        });
    }
    if buf.len() < 9 {
        return Ok((Some(full), None));
    }
    let head = i16::from_be_bytes([buf[7], buf[8]]);
    let head = match usize::try_from(head) {
        Ok(h) if h >= HEADER_LEN => h,
        _ => {
            return Err(SeataError::BadLength {
                what: "head length",
                len: i64::from(head),
            })
        }
    };
    if head > full {
        return Err(SeataError::BadLength {
            what: "head length (over the full length)",
            len: head as i64,
        });
    }
    Ok((Some(full), Some(head)))
}

/// Cuts frames out of a byte stream: several per read, or one split over many reads.
///
/// Stateless between calls apart from its cap: feed the connection's buffer to
/// [`FrameDecoder::decode`] after every read and call it again while it yields frames. It
/// never reserves room for a frame announced but not yet received, so memory follows what the
/// peer actually sent. After an error the stream cannot be followed any more: close it.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new()
    }
}

impl FrameDecoder {
    /// A decoder with the 8 MiB cap ([`DEFAULT_MAX_FRAME`]).
    pub fn new() -> Self {
        FrameDecoder::with_max_frame(DEFAULT_MAX_FRAME)
    }

    /// A decoder accepting frames up to `max_frame` bytes (whole frame, header included).
    pub fn with_max_frame(max_frame: usize) -> Self {
        FrameDecoder { max_frame }
    }

    /// The cap.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Takes the next complete frame off the front of `src`: `Ok(None)` if it is not all
    /// there yet (`src` untouched), an error as soon as the bytes received show the header is
    /// bad (magic, version, lengths, cap).
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>> {
        let (full, head) = check_header(src, self.max_frame)?;
        match (full, head) {
            (Some(full), Some(_)) if src.len() >= full => {
                Frame::parse(src.split_to(full).freeze()).map(Some)
            }
            _ => Ok(None),
        }
    }
}
