//! TUP: parameters carried by name in a [`UniAttribute`], in two versions.
//!
//! - **v3** (`TUP_SIMPLE`, what current peers send): the buffer is a
//!   `map<string, vector<byte>>` at tag 0, each value encoded on its own at tag 0.
//! - **v2** (`TUP_COMPLEX`, "UniAttribute with type names"): the buffer is a
//!   `map<string, map<string, vector<byte>>>`; the inner map is keyed by the value's type name
//!   (`int32`, `string`, `list<char>`, `Test.Item`, ...; see
//!   [`TarsValue::tup_type_name`](crate::TarsValue::tup_type_name)). Readers look a value up by
//!   name and type, so a v2 writer must spell the type the reader's way: TarsCpp, TarsJava and
//!   TarsGo write `list<T>`, npm `@tars/stream` writes `List<T>`. This implementation writes
//!   both spellings when they differ and reads either.
//!
//! The return value travels under `""` (and `"tars_ret"` for compatibility). A TUP response
//! reuses the RequestPacket layout, with the result in the `STATUS_RESULT_CODE` /
//! `STATUS_RESULT_DESC` status entries, for errors too: a TUP client cannot decode the
//! ResponsePacket layout.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::consts::{packet_type, status_key, version};
use super::request::RequestPacket;
use crate::{
    tup_type_name, DecodeError, DecodeLimits, Reader, TarsString, TarsValue, TupTypeStyle, Writer,
};

/// Why a TUP packet or attribute could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TupError {
    /// The packet's `iVersion` is not TUP (2 or 3).
    #[error("not a TUP packet: iVersion {0}")]
    Version(i16),
    /// No attribute of that name.
    #[error("TUP attribute {0:?} not found")]
    NotFound(String),
    /// A v2 attribute holds no value of the type asked for.
    #[error("TUP attribute {name:?} has no value of type {expected} (it has: {found})")]
    TypeMismatch {
        /// The attribute.
        name: String,
        /// The type asked for.
        expected: String,
        /// The types it holds, comma-separated.
        found: String,
    },
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

/// The two TUP versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TupVersion {
    /// v2, `TUP_COMPLEX`: values keyed by name and type name.
    Complex,
    /// v3, `TUP_SIMPLE`: values keyed by name.
    #[default]
    Simple,
}

impl TupVersion {
    /// The `iVersion` of packets in this version.
    pub fn code(self) -> i16 {
        match self {
            TupVersion::Complex => version::TUP_COMPLEX,
            TupVersion::Simple => version::TUP,
        }
    }

    /// The version an `iVersion` names, if it is a TUP one.
    pub fn from_code(code: i16) -> Option<TupVersion> {
        match code {
            version::TUP_COMPLEX => Some(TupVersion::Complex),
            version::TUP => Some(TupVersion::Simple),
            _ => None,
        }
    }
}

/// Named, individually encoded values: the body of TUP packets.
///
/// Each name holds its encoded value; in v2 the value is also keyed by its type name (under
/// one or two spellings, see the module docs). In v3 that key is empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UniAttribute {
    data: BTreeMap<String, BTreeMap<String, Bytes>>,
    version: TupVersion,
    limits: DecodeLimits,
}

impl UniAttribute {
    /// An empty v3 attribute set.
    pub fn new() -> UniAttribute {
        UniAttribute::default()
    }

    /// An empty attribute set of `version`.
    pub fn with_version(version: TupVersion) -> UniAttribute {
        UniAttribute {
            version,
            ..UniAttribute::default()
        }
    }

    /// The TUP version.
    pub fn version(&self) -> TupVersion {
        self.version
    }

    /// Stores `value` under `name`, replacing any previous value.
    pub fn put<T: TarsValue>(&mut self, name: impl Into<String>, value: &T) {
        let mut w = Writer::new();
        value.write_field(&mut w, 0);
        let bytes = w.into_bytes();
        let mut types = BTreeMap::new();
        match self.version {
            TupVersion::Simple => {
                types.insert(String::new(), bytes);
            }
            TupVersion::Complex => {
                let cpp = tup_type_name::<T>(TupTypeStyle::Cpp);
                let node = tup_type_name::<T>(TupTypeStyle::Node);
                if node != cpp {
                    types.insert(node, bytes.clone());
                }
                types.insert(cpp, bytes);
            }
        }
        self.data.insert(name.into(), types);
    }

    /// The encoded value under `name` for a reader of `T`: in v2 the entry of `T`'s type name
    /// in either spelling, or the only entry when there is just one.
    fn lookup<T: TarsValue>(&self, name: &str) -> Result<&Bytes, TupError> {
        let types = self
            .data
            .get(name)
            .ok_or_else(|| TupError::NotFound(name.to_owned()))?;
        if types.len() == 1 {
            if let Some(only) = types.values().next() {
                return Ok(only);
            }
        }
        let cpp = tup_type_name::<T>(TupTypeStyle::Cpp);
        let node = tup_type_name::<T>(TupTypeStyle::Node);
        types
            .get(&cpp)
            .or_else(|| types.get(&node))
            .ok_or_else(|| TupError::TypeMismatch {
                name: name.to_owned(),
                expected: cpp,
                found: types.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    /// Decodes the value stored under `name`.
    pub fn get<T: TarsValue>(&self, name: &str) -> Result<T, TupError> {
        let raw = self.lookup::<T>(name)?;
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

    /// The encoded bytes stored under `name` (in v2, those of its first type entry).
    pub fn raw(&self, name: &str) -> Option<&Bytes> {
        self.data.get(name).and_then(|types| types.values().next())
    }

    /// The type names `name` is stored under (v2; empty in v3).
    pub fn type_names(&self, name: &str) -> Vec<&str> {
        match self.version {
            TupVersion::Simple => Vec::new(),
            TupVersion::Complex => self
                .data
                .get(name)
                .map(|types| types.keys().map(String::as_str).collect())
                .unwrap_or_default(),
        }
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
        match self.version {
            TupVersion::Complex => self.data.write_field(&mut w, 0),
            TupVersion::Simple => {
                w.write_map_header(0, self.data.len());
                for (name, types) in &self.data {
                    w.write_string(0, name);
                    types
                        .values()
                        .next()
                        .cloned()
                        .unwrap_or_default()
                        .write_field(&mut w, 1);
                }
            }
        }
        w.into_bytes()
    }

    /// Decodes a v3 attribute map with default limits.
    pub fn decode(buf: &Bytes) -> Result<UniAttribute, TupError> {
        UniAttribute::decode_with_limits(buf, DecodeLimits::DEFAULT)
    }

    /// Decodes a v3 attribute map with the given limits (also used for the values).
    pub fn decode_with_limits(buf: &Bytes, limits: DecodeLimits) -> Result<UniAttribute, TupError> {
        UniAttribute::decode_version(buf, TupVersion::Simple, limits)
    }

    /// Decodes an attribute map of `version` with the given limits (also used for the
    /// values).
    pub fn decode_version(
        buf: &Bytes,
        version: TupVersion,
        limits: DecodeLimits,
    ) -> Result<UniAttribute, TupError> {
        let mut r = Reader::from_bytes(buf, limits);
        let data = match version {
            TupVersion::Complex => {
                r.read_required::<BTreeMap<String, BTreeMap<String, Bytes>>>(0, "attributes")
            }
            TupVersion::Simple => r
                .read_required::<BTreeMap<String, Bytes>>(0, "attributes")
                .map(|flat| {
                    flat.into_iter()
                        .map(|(name, bytes)| (name, BTreeMap::from([(String::new(), bytes)])))
                        .collect()
                }),
        }
        .map_err(|source| TupError::Decode {
            name: String::new(),
            source,
        })?;
        Ok(UniAttribute {
            data,
            version,
            limits,
        })
    }
}

/// A TUP request (v2 or v3, as its attributes).
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
            version: self.attrs.version().code(),
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

    /// Reads a request packet with `iVersion` 2 or 3.
    pub fn from_packet(p: &RequestPacket) -> Result<TupRequest, TupError> {
        let version = TupVersion::from_code(p.version).ok_or(TupError::Version(p.version))?;
        Ok(TupRequest {
            request_id: p.request_id,
            servant_name: p.servant_name.clone(),
            func_name: p.func_name.clone(),
            attrs: UniAttribute::decode_version(&p.buffer, version, DecodeLimits::DEFAULT)?,
            timeout: p.timeout,
            context: p.context.clone(),
            oneway: p.is_oneway(),
        })
    }
}

/// A TUP response (sent in the RequestPacket layout), v2 or v3 as its attributes.
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
            attrs: UniAttribute::with_version(req.attrs.version()),
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
            version: self.attrs.version().code(),
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
        let version = TupVersion::from_code(p.version).ok_or(TupError::Version(p.version))?;
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
            attrs: UniAttribute::decode_version(&p.buffer, version, DecodeLimits::DEFAULT)?,
            context: p.context.clone(),
        })
    }
}
