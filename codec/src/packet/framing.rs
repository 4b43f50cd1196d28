//! Length-prefixed framing: a big-endian `u32` total length (including its own 4 bytes)
//! followed by the packet struct.

use std::marker::PhantomData;

use bytes::{Buf, BufMut, Bytes, BytesMut};
#[cfg(feature = "tokio-codec")]
use tokio_util::codec::{Decoder, Encoder};

use crate::{DecodeError, DecodeLimits, Reader, TarsStruct, Writer};

/// Smallest valid frame: the 4-byte length and at least one byte of packet.
pub const MIN_FRAME: usize = 5;

/// Default largest frame accepted: 10 MiB, as TarsCpp.
pub const DEFAULT_MAX_FRAME: usize = 10 * 1024 * 1024;

/// Why a frame was rejected. Any of these means the stream is unusable and the connection
/// should be closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix is below [`MIN_FRAME`].
    #[error("frame length {0} is below the minimum of 5")]
    TooShort(u32),
    /// The length prefix is above the configured maximum.
    #[error("frame length {len} exceeds the maximum of {max}")]
    TooLong {
        /// The announced length.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The packet inside the frame could not be decoded.
    #[error("malformed packet: {0}")]
    Packet(#[from] DecodeError),
    /// The underlying transport failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Splits a byte stream into frames, yielding each packet body (without the length prefix),
/// and prefixes outgoing bodies with their length.
///
/// The length is validated before any buffer is reserved, so a peer announcing a huge frame
/// cannot make the decoder allocate.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_frame: usize,
}

impl FrameCodec {
    /// A codec accepting frames up to [`DEFAULT_MAX_FRAME`].
    pub fn new() -> FrameCodec {
        FrameCodec::with_max_frame(DEFAULT_MAX_FRAME)
    }

    /// A codec accepting frames up to `max_frame` bytes (prefix included).
    pub fn with_max_frame(max_frame: usize) -> FrameCodec {
        FrameCodec {
            max_frame: max_frame.max(MIN_FRAME),
        }
    }

    /// The largest frame accepted.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Checks the length prefix at the start of `src`, if complete, and returns the frame
    /// length once the whole frame has arrived.
    fn complete_frame_len(&self, src: &mut BytesMut) -> Result<Option<usize>, FrameError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        if (len as usize) < MIN_FRAME {
            return Err(FrameError::TooShort(len));
        }
        if len as u64 > self.max_frame as u64 {
            return Err(FrameError::TooLong {
                len: len as u64,
                max: self.max_frame,
            });
        }
        let len = len as usize;
        if src.len() < len {
            // Room for what is missing, but never more than doubles what arrived (at least
            // 64 KiB): four bytes announcing a large frame must not reserve its size.
            let missing = len - src.len();
            src.reserve(missing.min(src.len().max(64 * 1024)));
            return Ok(None);
        }
        Ok(Some(len))
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new()
    }
}

impl FrameCodec {
    /// Takes the next complete frame off the front of `src` and returns its packet body
    /// (without the length prefix), or `None` when more bytes are needed. A bad length
    /// prefix is an error: the stream cannot be resynchronised, so close the connection.
    pub fn decode_frame(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let Some(len) = self.complete_frame_len(src)? else {
            return Ok(None);
        };
        let mut frame = src.split_to(len);
        frame.advance(4);
        Ok(Some(frame.freeze()))
    }

    /// Appends `body` to `dst`, prefixed with its frame length.
    pub fn encode_frame(&mut self, body: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        let total = body.len() as u64 + 4;
        if total > self.max_frame as u64 {
            return Err(FrameError::TooLong {
                len: total,
                max: self.max_frame,
            });
        }
        dst.reserve(total as usize);
        dst.put_u32(total as u32);
        dst.put_slice(body);
        Ok(())
    }
}

#[cfg(feature = "tokio-codec")]
impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        self.decode_frame(src)
    }
}

#[cfg(feature = "tokio-codec")]
impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, body: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode_frame(body.as_ref(), dst)
    }
}

#[cfg(feature = "tokio-codec")]
impl Encoder<&[u8]> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, body: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode_frame(body, dst)
    }
}

/// Frames typed packets: decodes incoming frames into `In` and encodes `Out`.
///
/// A server uses `PacketCodec<RequestPacket, ResponsePacket>`, a client the reverse.
#[derive(Debug)]
pub struct PacketCodec<In, Out> {
    frames: FrameCodec,
    limits: DecodeLimits,
    _marker: PhantomData<fn(Out) -> In>,
}

impl<In, Out> PacketCodec<In, Out> {
    /// A codec with the default frame size and decode limits.
    pub fn new() -> Self {
        PacketCodec::with_limits(DEFAULT_MAX_FRAME, DecodeLimits::DEFAULT)
    }

    /// A codec with the given maximum frame size and decode limits.
    pub fn with_limits(max_frame: usize, limits: DecodeLimits) -> Self {
        PacketCodec {
            frames: FrameCodec::with_max_frame(max_frame),
            limits,
            _marker: PhantomData,
        }
    }
}

impl<In, Out> Default for PacketCodec<In, Out> {
    fn default() -> Self {
        PacketCodec::new()
    }
}

impl<In: TarsStruct, Out> PacketCodec<In, Out> {
    /// Takes the next complete frame off `src` and decodes its packet, or returns `None`
    /// when more bytes are needed.
    pub fn decode_packet(&mut self, src: &mut BytesMut) -> Result<Option<In>, FrameError> {
        let Some(frame) = self.frames.decode_frame(src)? else {
            return Ok(None);
        };
        let mut r = Reader::from_bytes(&frame, self.limits);
        Ok(Some(In::read_fields(&mut r)?))
    }
}

impl<In, Out: TarsStruct> PacketCodec<In, Out> {
    /// Appends `packet` to `dst` as one frame.
    pub fn encode_packet(&mut self, packet: &Out, dst: &mut BytesMut) -> Result<(), FrameError> {
        let start = dst.len();
        let mut w = Writer::from_buf(std::mem::take(dst));
        w.write_raw(&[0, 0, 0, 0]);
        packet.write_fields(&mut w);
        let mut buf = w.into_inner();
        let total = buf.len() - start;
        if total > self.frames.max_frame() {
            buf.truncate(start);
            *dst = buf;
            return Err(FrameError::TooLong {
                len: total as u64,
                max: self.frames.max_frame(),
            });
        }
        buf[start..start + 4].copy_from_slice(&(total as u32).to_be_bytes());
        *dst = buf;
        Ok(())
    }
}

#[cfg(feature = "tokio-codec")]
impl<In: TarsStruct, Out> Decoder for PacketCodec<In, Out> {
    type Item = In;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, FrameError> {
        self.decode_packet(src)
    }
}

#[cfg(feature = "tokio-codec")]
impl<In, Out: TarsStruct> Encoder<&Out> for PacketCodec<In, Out> {
    type Error = FrameError;

    fn encode(&mut self, packet: &Out, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode_packet(packet, dst)
    }
}

#[cfg(feature = "tokio-codec")]
impl<In, Out: TarsStruct> Encoder<Out> for PacketCodec<In, Out> {
    type Error = FrameError;

    fn encode(&mut self, packet: Out, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode_packet(&packet, dst)
    }
}
