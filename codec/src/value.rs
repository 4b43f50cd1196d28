//! The [`TarsValue`] trait and its implementations for the built-in scalar types.
//!
//! | IDL type | Rust type | wire |
//! |---|---|---|
//! | bool | `bool` | INT1 / ZERO_TAG |
//! | byte | `i8` | INT1 |
//! | short / unsigned byte | `i16` / `u8` | narrowed INT2 |
//! | int / unsigned short | `i32` / `u16` | narrowed INT4 |
//! | long / unsigned int | `i64` / `u32` | narrowed INT8 |
//! | float / double | `f32` / `f64` | FLOAT / DOUBLE, never narrowed |
//! | string | `String` | STRING1 / STRING4 |

use super::error::DecodeError;
use super::reader::Reader;
use super::wire::WireType;
use super::writer::Writer;

/// A value that can be written at a tag and read back from one.
///
/// Implemented for the built-in types, containers, [`bytes::Bytes`], and — through the derive
/// macros — for user structs and enums.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be encoded as a Tars value",
    label = "not a Tars type",
    note = "Tars values are bool, i8..i64, u8/u16/u32, f32, f64, String, Bytes, Vec<T>, maps, and types with #[derive(TarsStruct)] or #[derive(TarsEnum)]"
)]
pub trait TarsValue: Sized {
    /// Name of the declared type, used in error messages.
    const TYPE_NAME: &'static str;

    /// Writes `self` as field `tag`.
    fn write_field(&self, w: &mut Writer, tag: u8);

    /// Reads a value of this type for field `tag` whose head (of wire type `ty`) has been consumed.
    fn read_value(r: &mut Reader<'_>, tag: u8, ty: WireType) -> Result<Self, DecodeError>;

    /// The value an absent optional field takes when the IDL declares no default.
    fn tars_default() -> Self;

    /// Whether an optional field holding `self` is left out of the encoding, as tars2cpp does:
    /// scalars and strings equal to their explicit default, and empty vectors and maps, are
    /// skipped; bools, enums and structs are always written.
    fn skip_optional(&self, explicit_default: Option<&Self>) -> bool {
        let _ = explicit_default;
        false
    }

    /// Appends the type's name as TUP v2 (`UniAttribute` with type names) spells it: `int32`,
    /// `string`, `list<...>`, `map<K,V>`, the struct's class name, and so on.
    fn tup_type_name(out: &mut String, style: TupTypeStyle) {
        let _ = style;
        out.push_str(Self::TYPE_NAME);
    }

    /// Appends the TUP v2 name of a list of this type (`list<char>` for bytes).
    fn tup_list_type_name(out: &mut String, style: TupTypeStyle) {
        out.push_str(match style {
            TupTypeStyle::Cpp => "list<",
            TupTypeStyle::Node => "List<",
        });
        Self::tup_type_name(out, style);
        out.push('>');
    }

    /// Writes a slice of this type as a list. Byte-like types override this to use `SIMPLE_LIST`.
    fn write_vec(items: &[Self], w: &mut Writer, tag: u8) {
        w.write_list_header(tag, items.len());
        for item in items {
            item.write_field(w, 0);
        }
    }

    /// Reads a list of this type whose head (of wire type `ty`) has been consumed.
    fn read_vec(r: &mut Reader<'_>, tag: u8, ty: WireType) -> Result<Vec<Self>, DecodeError> {
        read_list_elements(r, tag, ty)
    }
}

/// How a TUP v2 peer spells type names. TarsCpp, TarsJava and TarsGo write `list<T>`; npm
/// `@tars/stream` writes `List<T>` (but `list<char>` for byte vectors). Every other name is
/// the same for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TupTypeStyle {
    /// `list<T>`: TarsCpp, TarsJava, TarsGo.
    Cpp,
    /// `List<T>`: npm `@tars/stream`.
    Node,
}

/// The TUP v2 type name of `T` in `style`.
pub fn tup_type_name<T: TarsValue>(style: TupTypeStyle) -> String {
    let mut out = String::new();
    T::tup_type_name(&mut out, style);
    out
}

/// Reads the elements of a `LIST` whose head has been consumed.
#[inline]
pub fn read_list_elements<T: TarsValue>(
    r: &mut Reader<'_>,
    tag: u8,
    ty: WireType,
) -> Result<Vec<T>, DecodeError> {
    if ty != WireType::List {
        return Err(DecodeError::TypeMismatch {
            tag,
            expected: "list",
            found: ty,
        });
    }
    let n = r.read_size(tag, "list", r.limits().max_collection_len, 1)?;
    r.charge(tag, "list", n.saturating_mul(std::mem::size_of::<T>()))?;
    r.enter()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        // Elements are always at tag 0, so there is nothing to skip: read the head directly.
        let ty = r.read_element_head(tag)?;
        out.push(T::read_value(r, tag, ty)?);
    }
    r.leave();
    Ok(out)
}

macro_rules! int_value {
    ($t:ty, $name:literal, $tup:literal, $write:ident, $max:expr) => {
        impl TarsValue for $t {
            const TYPE_NAME: &'static str = $name;

            fn tup_type_name(out: &mut String, _style: TupTypeStyle) {
                out.push_str($tup);
            }

            #[inline]
            fn write_field(&self, w: &mut Writer, tag: u8) {
                w.$write(tag, (*self).into());
            }

            #[inline]
            fn read_value(r: &mut Reader<'_>, tag: u8, ty: WireType) -> Result<Self, DecodeError> {
                let v = r.read_int(tag, ty, $max, $name)?;
                <$t>::try_from(v).map_err(|_| DecodeError::OutOfRange {
                    tag,
                    expected: $name,
                    value: v,
                })
            }

            fn tars_default() -> Self {
                0
            }

            fn skip_optional(&self, explicit_default: Option<&Self>) -> bool {
                explicit_default.is_some_and(|d| d == self)
            }

            fn read_vec(
                r: &mut Reader<'_>,
                tag: u8,
                ty: WireType,
            ) -> Result<Vec<Self>, DecodeError> {
                read_int_list(r, tag, ty, $max, $name, |v| <$t>::try_from(v).ok())
            }
        }
    };
}

/// A list of integers: every element head and value read in one step (the common `vector<int>`
/// and friends), narrowed by `fit`.
#[inline]
fn read_int_list<T>(
    r: &mut Reader<'_>,
    tag: u8,
    ty: WireType,
    max: WireType,
    name: &'static str,
    fit: impl Fn(i64) -> Option<T>,
) -> Result<Vec<T>, DecodeError> {
    if ty != WireType::List {
        return Err(DecodeError::TypeMismatch {
            tag,
            expected: "list",
            found: ty,
        });
    }
    let n = r.read_size(tag, "list", r.limits().max_collection_len, 1)?;
    r.charge(tag, "list", n.saturating_mul(std::mem::size_of::<T>()))?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let v = r.read_int_element(tag, max, name)?;
        out.push(fit(v).ok_or(DecodeError::OutOfRange {
            tag,
            expected: name,
            value: v,
        })?);
    }
    Ok(out)
}

int_value!(i16, "short", "short", write_i16, WireType::Int2);
int_value!(i32, "int", "int32", write_i32, WireType::Int4);
int_value!(i64, "long", "int64", write_i64, WireType::Int8);
// Unsigned types widen on the wire (and in TUP v2 type names), exactly like Java and the
// other peers expect.
int_value!(u8, "unsigned byte", "short", write_i16, WireType::Int2);
int_value!(u16, "unsigned short", "int32", write_i32, WireType::Int4);
int_value!(u32, "unsigned int", "int64", write_i64, WireType::Int8);

impl TarsValue for i8 {
    const TYPE_NAME: &'static str = "byte";

    fn tup_type_name(out: &mut String, _style: TupTypeStyle) {
        out.push_str("char");
    }

    fn tup_list_type_name(out: &mut String, _style: TupTypeStyle) {
        out.push_str("list<char>");
    }

    #[inline]
    fn write_field(&self, w: &mut Writer, tag: u8) {
        w.write_i8(tag, *self);
    }

    #[inline]
    fn read_value(r: &mut Reader<'_>, tag: u8, ty: WireType) -> Result<Self, DecodeError> {
        // Width Int1 guarantees the value fits.
        Ok(r.read_int(tag, ty, WireType::Int1, "byte")? as i8)
    }

    fn tars_default() -> Self {
        0
    }

    fn skip_optional(&self, explicit_default: Option<&Self>) -> bool {
        explicit_default.is_some_and(|d| d == self)
    }

    /// `vector<byte>` is a `SIMPLE_LIST`.
    fn write_vec(items: &[Self], w: &mut Writer, tag: u8) {
        w.write_signed_bytes(tag, items);
    }

    fn read_vec(r: &mut Reader<'_>, tag: u8, ty: WireType) -> Result<Vec<Self>, DecodeError> {
        if ty == WireType::SimpleList {
            let raw = r.read_simple_list_slice(tag)?;
            r.charge(tag, "byte vector", raw.len())?;
            Ok(raw.iter().map(|&b| b as i8).collect())
        } else {
            read_list_elements(r, tag, ty)
        }
    }
}

impl TarsValue for bool {
    const TYPE_NAME: &'static str = "bool";

    #[inline]
    fn write_field(&self, w: &mut Writer, tag: u8) {
        w.write_bool(tag, *self);
    }

    #[inline]
    fn read_value(r: &mut Reader<'_>, tag: u8, ty: WireType) -> Result<Self, DecodeError> {
        Ok(r.read_int(tag, ty, WireType::Int1, "bool")? != 0)
    }

    fn tars_default() -> Self {
        false
    }
}

impl TarsValue for f32 {
    const TYPE_NAME: &'static str = "float";

    #[inline]
    fn write_field(&self, w: &mut Writer, tag: u8) {
        w.write_f32(tag, *self);
    }

    #[inline]
    fn read_value(r: &mut Reader<'_>, tag: u8, ty: WireType) -> Result<Self, DecodeError> {
        Ok(r.read_float(tag, ty, false, "float")? as f32)
    }

    fn tars_default() -> Self {
        0.0
    }

    fn skip_optional(&self, explicit_default: Option<&Self>) -> bool {
        explicit_default.is_some_and(|d| d == self)
    }
}

impl TarsValue for f64 {
    const TYPE_NAME: &'static str = "double";

    #[inline]
    fn write_field(&self, w: &mut Writer, tag: u8) {
        w.write_f64(tag, *self);
    }

    #[inline]
    fn read_value(r: &mut Reader<'_>, tag: u8, ty: WireType) -> Result<Self, DecodeError> {
        r.read_float(tag, ty, true, "double")
    }

    fn tars_default() -> Self {
        0.0
    }

    fn skip_optional(&self, explicit_default: Option<&Self>) -> bool {
        explicit_default.is_some_and(|d| d == self)
    }
}

impl TarsValue for String {
    const TYPE_NAME: &'static str = "string";

    #[inline]
    fn write_field(&self, w: &mut Writer, tag: u8) {
        w.write_string(tag, self);
    }

    #[inline]
    fn read_value(r: &mut Reader<'_>, tag: u8, ty: WireType) -> Result<Self, DecodeError> {
        let raw = r.read_string_bytes(tag, ty)?;
        r.charge(tag, "string", raw.len())?;
        if raw.is_ascii() {
            // SAFETY: ASCII bytes are valid UTF-8. This skips the general validator, which is
            // slow for the short strings typical of Tars messages.
            return Ok(unsafe { String::from_utf8_unchecked(raw.to_vec()) });
        }
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(DecodeError::InvalidUtf8 { tag }),
        }
    }

    fn tars_default() -> Self {
        String::new()
    }

    fn skip_optional(&self, explicit_default: Option<&Self>) -> bool {
        explicit_default.is_some_and(|d| d == self)
    }
}
