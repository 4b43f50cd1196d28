//! The Seata v1 wire codec: what a Seata transaction coordinator front end reads and writes.
//!
//! - [`frame`]: ProtocolV1 frames (16-byte header, head map, body) and the [`FrameDecoder`]
//!   that cuts them out of a TCP byte stream, with an 8 MiB cap by default.
//! - [`message`]: the SEATA-codec bodies (`int16` type code + fields), every message a
//!   coordinator exchanges with Java, python and go clients, as the [`Message`] enum.
//! - [`enums`]: result, exception, global and branch status, branch type codes; values this
//!   crate does not know are kept (`Other(i8)`), never an error.
//! - [`wire`]: bounds-checked big-endian primitives (`str16`, `str32`, ...).
//!
//! Decoding never panics and never allocates from a length it has not checked against the
//! bytes actually present. Errors are [`SeataError`]s.
//!
//! ```
//! use tars_seata::{Frame, FrameDecoder, Message, MessageType};
//! use tars_seata::message::GlobalBeginRequest;
//! use bytes::BytesMut;
//!
//! let begin = Message::GlobalBeginRequest(GlobalBeginRequest {
//!     timeout: 60_000,
//!     transaction_name: "transfer".into(),
//! });
//! let mut wire = BytesMut::new();
//! Frame::with_message(MessageType::Request, 7, &begin)?.encode(&mut wire)?;
//! Frame::ping(8).encode(&mut wire)?;
//!
//! let mut decoder = FrameDecoder::new();
//! let first = decoder.decode(&mut wire)?.expect("a whole frame");
//! assert_eq!(first.request_id, 7);
//! assert_eq!(first.message()?, Some(begin));
//! let second = decoder.decode(&mut wire)?.expect("a whole frame");
//! assert!(second.is_heartbeat());
//! assert!(decoder.decode(&mut wire)?.is_none());
//! # Ok::<(), tars_seata::SeataError>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The `bytes` crate this codec's buffers come from.
pub use bytes;

pub mod enums;
pub mod error;
pub mod frame;
pub mod message;
pub mod wire;

pub use enums::{BranchStatus, BranchType, GlobalStatus, ResultCode, TransactionExceptionCode};
pub use error::{Result, SeataError};
pub use frame::{Frame, FrameDecoder, HeadEntry, MessageType};
pub use message::Message;
