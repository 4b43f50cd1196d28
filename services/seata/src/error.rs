//! The errors of the Seata codec.

use thiserror::Error;

/// Everything that can go wrong while framing, decoding or encoding Seata v1 data.
///
/// A frame-level error (bad magic, version or length) means the byte stream can no longer be
/// followed: the listener should close the connection.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SeataError {
    /// The frame does not start with the magic bytes `0xDA 0xDA`.
    #[error("bad magic {0:#06x} (expected 0xdada)")]
    BadMagic(u16),
    /// The protocol version byte is not 1.
    #[error("unsupported protocol version {0}")]
    BadVersion(u8),
    /// The frame's full length is over the decoder's cap.
    #[error("frame of {len} bytes is over the {max}-byte cap")]
    FrameTooLarge {
        /// The full length the frame header announces.
        len: u64,
        /// The cap.
        max: usize,
    },
    /// A length field is negative or inconsistent with the data around it.
    #[error("bad {what}: {len}")]
    BadLength {
        /// Which length.
        what: &'static str,
        /// The value read.
        len: i64,
    },
    /// The input ended inside a field.
    #[error("truncated input: {what}")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// Bytes were left over after a complete body or section.
    #[error("{count} trailing bytes after {what}")]
    TrailingBytes {
        /// The body or section that was complete.
        what: &'static str,
        /// How many bytes were left.
        count: usize,
    },
    /// The frame's message type byte is not one of 0..=4.
    #[error("unknown frame message type {0}")]
    UnknownMessageType(u8),
    /// The body's type code names no message of the SEATA codec.
    #[error("unknown message type code {0}")]
    UnknownTypeCode(i16),
    /// A batch (merged, merge-result or batch-result message) inside a batch.
    #[error("message type code {0} is not allowed inside a batch")]
    NestedBatch(i16),
    /// The frame's codec is not SEATA (1).
    #[error("unsupported codec {0} (only 1 = SEATA)")]
    UnsupportedCodec(u8),
    /// The frame's compressor is not NONE (0).
    #[error("unsupported compressor {0} (only 0 = none)")]
    UnsupportedCompressor(u8),
    /// A string field is not valid UTF-8.
    #[error("{what} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field.
        what: &'static str,
    },
    /// A batch's message ids do not match its message count.
    #[error("{found} message ids for {expected} messages")]
    MsgIdCount {
        /// The number of messages.
        expected: usize,
        /// The number of ids.
        found: usize,
    },
    /// A value is too long for its length field (encoding only).
    #[error("{what} of {len} is over the maximum {max}")]
    TooLong {
        /// The field or section.
        what: &'static str,
        /// Its length (bytes, or entries for counts).
        len: usize,
        /// The largest the wire format allows.
        max: usize,
    },
}

/// Result alias of this crate.
pub type Result<T, E = SeataError> = std::result::Result<T, E>;
