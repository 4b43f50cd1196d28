//! Wire-level vocabulary: the 4-bit type codes and the field head.

use std::fmt;

/// The type code carried in the low nibble of every field head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum WireType {
    /// 1-byte signed integer.
    Int1 = 0,
    /// 2-byte big-endian signed integer.
    Int2 = 1,
    /// 4-byte big-endian signed integer.
    Int4 = 2,
    /// 8-byte big-endian signed integer.
    Int8 = 3,
    /// IEEE-754 single precision.
    Float = 4,
    /// IEEE-754 double precision.
    Double = 5,
    /// String with a 1-byte length.
    String1 = 6,
    /// String with a 4-byte big-endian length.
    String4 = 7,
    /// Map: Int32 size at tag 0, then key (tag 0) / value (tag 1) pairs.
    Map = 8,
    /// List: Int32 size at tag 0, then elements at tag 0.
    List = 9,
    /// Start of a nested struct.
    StructBegin = 10,
    /// End of a nested struct (always the single byte `0x0b`).
    StructEnd = 11,
    /// The numeric value zero, with no payload.
    ZeroTag = 12,
    /// Byte array: a head `(0, Int1)`, an Int32 length at tag 0, then raw bytes.
    SimpleList = 13,
}

impl WireType {
    /// Decodes a type nibble; 14 and 15 are invalid.
    #[inline]
    pub fn from_nibble(n: u8) -> Option<WireType> {
        const TABLE: [Option<WireType>; 16] = [
            Some(WireType::Int1),
            Some(WireType::Int2),
            Some(WireType::Int4),
            Some(WireType::Int8),
            Some(WireType::Float),
            Some(WireType::Double),
            Some(WireType::String1),
            Some(WireType::String4),
            Some(WireType::Map),
            Some(WireType::List),
            Some(WireType::StructBegin),
            Some(WireType::StructEnd),
            Some(WireType::ZeroTag),
            Some(WireType::SimpleList),
            None,
            None,
        ];
        TABLE[(n & 0x0F) as usize]
    }

    /// Human-readable name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            WireType::Int1 => "INT1",
            WireType::Int2 => "INT2",
            WireType::Int4 => "INT4",
            WireType::Int8 => "INT8",
            WireType::Float => "FLOAT",
            WireType::Double => "DOUBLE",
            WireType::String1 => "STRING1",
            WireType::String4 => "STRING4",
            WireType::Map => "MAP",
            WireType::List => "LIST",
            WireType::StructBegin => "STRUCT_BEGIN",
            WireType::StructEnd => "STRUCT_END",
            WireType::ZeroTag => "ZERO_TAG",
            WireType::SimpleList => "SIMPLE_LIST",
        }
    }
}

impl fmt::Display for WireType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A decoded field head: the tag and the wire type of the value that follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Field tag, 0..=255.
    pub tag: u8,
    /// Wire type of the value.
    pub ty: WireType,
}
