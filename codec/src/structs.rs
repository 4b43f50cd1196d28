//! Structs and enums: the traits the derive macros implement and the helpers they call.

use bytes::Bytes;

use super::error::DecodeError;
use super::limits::DecodeLimits;
use super::reader::Reader;
use super::wire::WireType;
use super::writer::Writer;

/// A Tars struct: an ordered set of tagged fields.
///
/// Usually implemented with `#[derive(TarsStruct)]`, which also implements
/// [`TarsValue`](super::TarsValue) so the struct can be nested in other structs and containers.
pub trait TarsStruct: Sized {
    /// The Tars class name, `Module.Name` (as TarsCpp's `className()`).
    const CLASS_NAME: &'static str;

    /// Writes every field, in ascending tag order, without a `STRUCT_BEGIN`/`STRUCT_END` wrapper.
    fn write_fields(&self, w: &mut Writer);

    /// Reads the fields, stopping before `STRUCT_END` or at the end of the buffer; unknown
    /// fields are skipped.
    fn read_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Encodes the fields as a top-level buffer (the form used for packet bodies).
    fn encode_to_bytes(&self) -> Bytes {
        // Most messages fit; growing a buffer costs more than over-reserving briefly.
        let mut w = Writer::with_capacity(512);
        self.write_fields(&mut w);
        w.into_bytes()
    }

    /// Decodes a top-level buffer with default limits; trailing unknown fields are ignored.
    fn decode_from(buf: &[u8]) -> Result<Self, DecodeError> {
        Self::read_fields(&mut Reader::new(buf))
    }

    /// Decodes a top-level buffer with the given limits.
    fn decode_with_limits(buf: &[u8], limits: DecodeLimits) -> Result<Self, DecodeError> {
        Self::read_fields(&mut Reader::with_limits(buf, limits))
    }
}

/// Writes `value` as a nested struct at `tag`: `STRUCT_BEGIN`, the fields, `STRUCT_END`.
#[inline]
pub fn write_struct<T: TarsStruct>(value: &T, w: &mut Writer, tag: u8) {
    w.write_struct_begin(tag);
    value.write_fields(w);
    w.write_struct_end();
}

/// Reads a nested struct whose head (of wire type `ty`) has been consumed, then skips any
/// fields it does not know and consumes `STRUCT_END`.
#[inline]
pub fn read_struct<T: TarsStruct>(
    r: &mut Reader<'_>,
    tag: u8,
    ty: WireType,
) -> Result<T, DecodeError> {
    if ty != WireType::StructBegin {
        return Err(DecodeError::TypeMismatch {
            tag,
            expected: T::CLASS_NAME,
            found: ty,
        });
    }
    r.enter()?;
    let v = T::read_fields(r)?;
    r.skip_to_struct_end(tag)?;
    r.leave();
    Ok(v)
}

/// A Tars enum: an `int` on the wire.
///
/// Usually implemented with `#[derive(TarsEnum)]`, which also implements
/// [`TarsValue`](super::TarsValue).
pub trait TarsEnum: Sized {
    /// The enum's Tars name.
    const ENUM_NAME: &'static str;

    /// The wire value of this enumerator.
    fn to_i32(&self) -> i32;

    /// The enumerator with wire value `v`, if any.
    fn from_i32(v: i32) -> Option<Self>;
}

/// Reads an enum whose head has been consumed; values that name no enumerator are an error.
#[inline]
pub fn read_enum<T: TarsEnum>(r: &mut Reader<'_>, tag: u8, ty: WireType) -> Result<T, DecodeError> {
    // Width Int4 guarantees the value fits in an i32.
    let v = r.read_int(tag, ty, WireType::Int4, T::ENUM_NAME)? as i32;
    T::from_i32(v).ok_or(DecodeError::UnknownEnumValue {
        tag,
        name: T::ENUM_NAME,
        value: v,
    })
}
