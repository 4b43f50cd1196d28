//! Typed decode errors. Every variant that concerns a field names its tag.

use super::wire::WireType;

/// Why a buffer could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The buffer ended in the middle of a head or a value.
    #[error("unexpected end of buffer at offset {offset}: needed {needed} more byte(s)")]
    UnexpectedEof {
        /// Offset at which the read started.
        offset: usize,
        /// Bytes that were missing.
        needed: usize,
    },
    /// A head carried type code 14 or 15.
    #[error("invalid wire type {code} at offset {offset}")]
    InvalidWireType {
        /// The type nibble.
        code: u8,
        /// Offset of the head.
        offset: usize,
    },
    /// A required field was not present.
    #[error("required field {field} (tag {tag}) is missing")]
    MissingRequired {
        /// Tag of the missing field.
        tag: u8,
        /// Name of the missing field.
        field: &'static str,
    },
    /// A field had a wire type its declared type cannot be read from.
    #[error("tag {tag}: cannot read {expected} from wire type {found}")]
    TypeMismatch {
        /// Tag of the field.
        tag: u8,
        /// Declared type.
        expected: &'static str,
        /// Wire type found.
        found: WireType,
    },
    /// A numeric value does not fit the declared type.
    #[error("tag {tag}: value {value} out of range for {expected}")]
    OutOfRange {
        /// Tag of the field.
        tag: u8,
        /// Declared type.
        expected: &'static str,
        /// The value found.
        value: i64,
    },
    /// A length or element count was negative.
    #[error("tag {tag}: negative length {len}")]
    NegativeLength {
        /// Tag of the field.
        tag: u8,
        /// The length found.
        len: i64,
    },
    /// A length or count exceeded a configured limit or the bytes left in the buffer.
    #[error("tag {tag}: {what} length {len} exceeds limit {limit}")]
    LengthTooLarge {
        /// Tag of the field.
        tag: u8,
        /// What was being sized (string, bytes, list, map).
        what: &'static str,
        /// The length found.
        len: u64,
        /// The bound it broke.
        limit: u64,
    },
    /// A string was not valid UTF-8.
    #[error("tag {tag}: string is not valid UTF-8")]
    InvalidUtf8 {
        /// Tag of the field.
        tag: u8,
    },
    /// Nesting went deeper than allowed.
    #[error("nesting deeper than {limit} levels")]
    TooDeep {
        /// The configured limit.
        limit: usize,
    },
    /// A nested struct ended without `STRUCT_END`.
    #[error("tag {tag}: struct is not terminated by STRUCT_END")]
    UnterminatedStruct {
        /// Tag of the struct field.
        tag: u8,
    },
    /// A `SIMPLE_LIST` did not start with its `(0, INT1)` element head.
    #[error("tag {tag}: malformed SIMPLE_LIST element head")]
    MalformedSimpleList {
        /// Tag of the field.
        tag: u8,
    },
    /// An enum field carried a value that is not one of its enumerators.
    #[error("tag {tag}: {value} is not a value of enum {name}")]
    UnknownEnumValue {
        /// Tag of the field.
        tag: u8,
        /// Enum type name.
        name: &'static str,
        /// The value found.
        value: i32,
    },
    /// Decoding would allocate more memory than the limits allow for an input of this size.
    #[error("tag {tag}: decoding {what} needs {needed} more bytes of memory, but only {left} of the budget for this input are left")]
    MemoryBudget {
        /// Tag of the field.
        tag: u8,
        /// What was being allocated.
        what: &'static str,
        /// Bytes it needed.
        needed: u64,
        /// Bytes left in the budget.
        left: u64,
    },
    /// A map or list element is missing.
    #[error("tag {tag}: {what}")]
    Malformed {
        /// Tag of the field.
        tag: u8,
        /// What was wrong.
        what: &'static str,
    },
}
