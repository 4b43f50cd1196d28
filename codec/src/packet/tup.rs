//! TUP (`iVersion` 3): parameters carried by name in a [`UniAttribute`].
//!
//! A TUP request is a [`RequestPacket`] whose buffer is a `map<string, vector<byte>>` at tag 0;
//! each value is encoded on its own at tag 0. The return value travels under `""` (and
//! `"tars_ret"` for compatibility). A TUP response reuses the RequestPacket layout, with the
//! result in the `STATUS_RESULT_CODE` / `STATUS_RESULT_DESC` status entries.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::consts::{packet_type, status_key, version};
use super::request::RequestPacket;
use crate::{DecodeError, DecodeLimits, Reader, TarsString, TarsValue, Writer};

/// Why a TUP packet or attribute could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TupError {
    /// The packet's `iVersion` is not TUP (3).
    #[error("not a TUP v3 packet: iVersion {0}")]
    Version(i16),
    /// No attribute of that name.
    #[error("TUP attribute {0:?} not found")]
    NotFound(String),
    /// The attribute map or one attribute did not decode.
    #[error("TUP attribute {name:?}: {source}")]
    Decode {
        /// The attribute (empty for the map itself).
        name: String,
        /// What went wrong.
        source: DecodeError,
    },
    /// `STATUS_RESULT_CODE` was not a number.
    #[error("invalid STATUS_RESULT_CODE {0:?}")]
    BadResultCode(String),
}

/// Named, individually encoded values: the body of TUP v3 packets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UniAttribute {
    data: BTreeMap<String, Bytes>,
    limits: DecodeLimits,
}

impl UniAttribute {
    /// An empty attribute set.
    pub fn new() -> UniAttribute {
        UniAttribute::default()
    }

    /// Stores `value` under `name`, replacing any previous value.
    pub fn put<T: TarsValue>(&mut self, name: impl Into<String>, value: &T) {
        let mut w = Writer::new();
        value.write_field(&mut w, 0);
        self.data.insert(name.into(), w.into_bytes());
    }

    /// Decodes the value stored under `name`.
    pub fn get<T: TarsValue>(&self, name: &str) -> Result<T, TupError> {
        let raw = self
            .data
            .get(name)
            .ok_or_else(|| TupError::NotFound(name.to_owned()))?;
        Reader::from_bytes(raw, self.limits)
            .read_required::<T>(0, "value")
            .map_err(|source| TupError::Decode {
                name: name.to_owned(),
                source,
            })
    }

    /// Decodes the value under `name`, or returns `default` when absent.
    pub fn get_or<T: TarsValue>(&self, name: &str, default: T) -> Result<T, TupError> {
        if self.data.contains_key(name) {
            self.get(name)
        } else {
            Ok(default)
        }
    }

    /// The encoded bytes stored under `name`.
    pub fn raw(&self, name: &str) -> Option<&Bytes> {
        self.data.get(name)
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.data.contains_key(name)
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Attribute names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.data.keys().map(String::as_str)
    }

    /// Encodes the attribute map (the packet buffer).
    pub fn encode(&self) -> Bytes {
        let mut w = Writer::with_capacity(64);
        self.data.write_field(&mut w, 0);
        w.into_bytes()
    }

    /// Decodes an attribute map with default limits.
    pub fn decode(buf: &Bytes) -> Result<UniAttribute, TupError> {
        UniAttribute::decode_with_limits(buf, DecodeLimits::DEFAULT)
    }

    /// Decodes an attribute map with the given limits (also used for the values).
    pub fn decode_with_limits(buf: &Bytes, limits: DecodeLimits) -> Result<UniAttribute, TupError> {
        let data = Reader::from_bytes(buf, limits)
            .read_required::<BTreeMap<String, Bytes>>(0, "attributes")
            .map_err(|source| TupError::Decode {
                name: String::new(),
                source,
            })?;
        Ok(UniAttribute { data, limits })
    }
}

/// A TUP v3 request.
#[derive(Debug, Clone, PartialEq)]
pub struct TupRequest {
    /// Request id.
    pub request_id: i32,
    /// Target servant.
    pub servant_name: TarsString,
    /// Function name.
    pub func_name: TarsString,
    /// Named parameters.
    pub attrs: UniAttribute,
    /// Timeout in milliseconds.
    pub timeout: i32,
    /// Call context.
    pub context: BTreeMap<TarsString, TarsString>,
    /// Whether no response is expected.
    pub oneway: bool,
}

impl TupRequest {
    /// A request with no parameters yet.
    pub fn new(
        request_id: i32,
        servant_name: impl Into<TarsString>,
        func_name: impl Into<TarsString>,
    ) -> Self {
        TupRequest {
            request_id,
            servant_name: servant_name.into(),
            func_name: func_name.into(),
            attrs: UniAttribute::new(),
            timeout: 0,
            context: BTreeMap::new(),
            oneway: false,
        }
    }

    /// The wire packet.
    pub fn to_packet(&self) -> RequestPacket {
        RequestPacket {
            version: version::TUP,
            packet_type: if self.oneway {
                packet_type::ONEWAY
            } else {
                packet_type::NORMAL
            },
            message_type: 0,
            request_id: self.request_id,
            servant_name: self.servant_name.clone(),
            func_name: self.func_name.clone(),
            buffer: self.attrs.encode(),
            timeout: self.timeout,
            context: self.context.clone(),
            status: BTreeMap::new(),
        }
    }

    /// Reads a request packet with `iVersion` 3.
    pub fn from_packet(p: &RequestPacket) -> Result<TupRequest, TupError> {
        if p.version != version::TUP {
            return Err(TupError::Version(p.version));
        }
        Ok(TupRequest {
            request_id: p.request_id,
            servant_name: p.servant_name.clone(),
            func_name: p.func_name.clone(),
            attrs: UniAttribute::decode(&p.buffer)?,
            timeout: p.timeout,
            context: p.context.clone(),
            oneway: p.is_oneway(),
        })
    }
}

/// A TUP v3 response (sent in the RequestPacket layout).
#[derive(Debug, Clone, PartialEq)]
pub struct TupResponse {
    /// Id of the request answered.
    pub request_id: i32,
    /// Servant that answered.
    pub servant_name: TarsString,
    /// Function called.
    pub func_name: TarsString,
    /// Framework return code (0 on success).
    pub ret: i32,
    /// Description of a failure.
    pub desc: TarsString,
    /// Named results: the return value under `""` and `"tars_ret"`, out parameters by name.
    pub attrs: UniAttribute,
    /// Response context.
    pub context: BTreeMap<TarsString, TarsString>,
}

impl TupResponse {
    /// An empty response to `req` with return code `ret`.
    pub fn reply_to(req: &TupRequest, ret: i32, desc: impl Into<TarsString>) -> TupResponse {
        TupResponse {
            request_id: req.request_id,
            servant_name: req.servant_name.clone(),
            func_name: req.func_name.clone(),
            ret,
            desc: desc.into(),
            attrs: UniAttribute::new(),
            context: BTreeMap::new(),
        }
    }

    /// Stores the function's return value under both `""` and `"tars_ret"`.
    pub fn set_return<T: TarsValue>(&mut self, value: &T) {
        self.attrs.put("", value);
        self.attrs.put("tars_ret", value);
    }

    /// The wire packet.
    pub fn to_packet(&self) -> RequestPacket {
        let mut status = BTreeMap::new();
        status.insert(
            TarsString::from_static(status_key::RESULT_CODE),
            self.ret.to_string().into(),
        );
        status.insert(
            TarsString::from_static(status_key::RESULT_DESC),
            self.desc.clone(),
        );
        RequestPacket {
            version: version::TUP,
            packet_type: packet_type::NORMAL,
            message_type: 0,
            request_id: self.request_id,
            servant_name: self.servant_name.clone(),
            func_name: self.func_name.clone(),
            buffer: self.attrs.encode(),
            timeout: 0,
            context: self.context.clone(),
            status,
        }
    }

    /// Reads a response packet; a missing result code means success.
    pub fn from_packet(p: &RequestPacket) -> Result<TupResponse, TupError> {
        if p.version != version::TUP {
            return Err(TupError::Version(p.version));
        }
        let ret = match p.status.get(status_key::RESULT_CODE) {
            Some(s) => s
                .trim()
                .parse::<i32>()
                .map_err(|_| TupError::BadResultCode(s.to_string()))?,
            None => 0,
        };
        Ok(TupResponse {
            request_id: p.request_id,
            servant_name: p.servant_name.clone(),
            func_name: p.func_name.clone(),
            ret,
            desc: p
                .status
                .get(status_key::RESULT_DESC)
                .cloned()
                .unwrap_or_default(),
            attrs: UniAttribute::decode(&p.buffer)?,
            context: p.context.clone(),
        })
    }
}
