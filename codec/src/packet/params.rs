//! Call bodies, independent of the protocol version: Tars (v1) carries the return value at
//! tag 0 and parameters at tags 1..N; TUP (v3) carries them by name in a [`UniAttribute`].

use bytes::Bytes;

use super::tup::{TupError, UniAttribute};
use crate::{DecodeError, DecodeLimits, Reader, TarsValue, Writer};

/// Reads the parameters of a call (server side) or the results of a response (client side).
#[derive(Debug)]
pub enum ParamReader<'a> {
    /// Tagged fields.
    Tars(Reader<'a>),
    /// Named attributes.
    Tup(&'a UniAttribute),
}

impl<'a> ParamReader<'a> {
    /// A reader of a Tars (v1) body.
    pub fn tars(body: &'a Bytes, limits: DecodeLimits) -> ParamReader<'a> {
        ParamReader::Tars(Reader::from_bytes(body, limits))
    }

    /// Reads the parameter with `tag` (Tars) or `name` (TUP); absence is an error.
    pub fn read<T: TarsValue>(&mut self, tag: u8, name: &'static str) -> Result<T, DecodeError> {
        match self {
            ParamReader::Tars(r) => r.read_required(tag, name),
            ParamReader::Tup(attrs) => attrs.get(name).map_err(|e| tup_read_error(e, tag, name)),
        }
    }

    /// Reads the return value: tag 0, or the `""` attribute (falling back to `"tars_ret"`).
    pub fn read_return<T: TarsValue>(&mut self) -> Result<T, DecodeError> {
        match self {
            ParamReader::Tars(r) => r.read_required(0, "return value"),
            ParamReader::Tup(attrs) => {
                let name = if attrs.contains("") { "" } else { "tars_ret" };
                attrs
                    .get(name)
                    .map_err(|e| tup_read_error(e, 0, "return value"))
            }
        }
    }
}

/// The decode error of reading parameter `name` (at `tag` in Tars) from TUP attributes.
fn tup_read_error(e: TupError, tag: u8, name: &'static str) -> DecodeError {
    match e {
        TupError::Decode { source, .. } => source,
        TupError::TypeMismatch { .. } => DecodeError::Malformed {
            tag,
            what: "TUP v2 value is stored under another type name",
        },
        _ => DecodeError::MissingRequired { tag, field: name },
    }
}

/// Writes the parameters of a call (client side) or the results of a response (server side).
#[derive(Debug)]
pub enum ParamWriter {
    /// Tagged fields.
    Tars(Writer),
    /// Named attributes.
    Tup(UniAttribute),
}

impl ParamWriter {
    /// A writer for a Tars (v1) body.
    pub fn tars() -> ParamWriter {
        ParamWriter::Tars(Writer::with_capacity(64))
    }

    /// A writer for a TUP (v3) body.
    pub fn tup() -> ParamWriter {
        ParamWriter::Tup(UniAttribute::new())
    }

    /// A writer for a body of protocol `version` (`iVersion`): TUP v2 or v3 by name, anything
    /// else as Tars tagged fields.
    pub fn for_version(version: i16) -> ParamWriter {
        match super::tup::TupVersion::from_code(version) {
            Some(v) => ParamWriter::Tup(UniAttribute::with_version(v)),
            None => ParamWriter::tars(),
        }
    }

    /// Writes a parameter at `tag` (Tars) or under `name` (TUP).
    pub fn write<T: TarsValue>(&mut self, tag: u8, name: &str, value: &T) {
        match self {
            ParamWriter::Tars(w) => value.write_field(w, tag),
            ParamWriter::Tup(attrs) => attrs.put(name, value),
        }
    }

    /// Writes a string parameter without requiring an owned `String`.
    pub fn write_str(&mut self, tag: u8, name: &str, value: &str) {
        self.write_string_bytes(tag, name, value.as_bytes());
    }

    /// Writes a string parameter given as its bytes, which need not be UTF-8 (a Tars string
    /// is bytes: GBK text passes unchanged).
    pub fn write_string_bytes(&mut self, tag: u8, name: &str, value: &[u8]) {
        match self {
            ParamWriter::Tars(w) => w.write_string_bytes(tag, value),
            ParamWriter::Tup(attrs) => attrs.put(
                name,
                &crate::TarsString::from_bytes(Bytes::copy_from_slice(value)),
            ),
        }
    }

    /// Writes the return value: tag 0, or the `""` and `"tars_ret"` attributes.
    pub fn write_return<T: TarsValue>(&mut self, value: &T) {
        match self {
            ParamWriter::Tars(w) => value.write_field(w, 0),
            ParamWriter::Tup(attrs) => {
                attrs.put("", value);
                attrs.put("tars_ret", value);
            }
        }
    }

    /// The encoded body.
    pub fn into_body(self) -> Bytes {
        match self {
            ParamWriter::Tars(w) => w.into_bytes(),
            ParamWriter::Tup(attrs) => attrs.encode(),
        }
    }
}
