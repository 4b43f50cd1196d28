//! The encoder: appends tagged values to a growable buffer.

use bytes::{BufMut, Bytes, BytesMut};

use super::wire::WireType;

/// Appends Tars-encoded fields to a buffer.
///
/// Integers are narrowed to their smallest wire form and zero becomes `ZERO_TAG`; floats and
/// doubles are always written at full width. Writing never fails.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: BytesMut,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Writer {
        Writer {
            buf: BytesMut::new(),
        }
    }

    /// An empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Writer {
        Writer {
            buf: BytesMut::with_capacity(capacity),
        }
    }

    /// Wraps an existing buffer; new fields are appended after its contents.
    pub fn from_buf(buf: BytesMut) -> Writer {
        Writer { buf }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Clears the buffer, keeping its allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Gives back the underlying buffer.
    pub fn into_inner(self) -> BytesMut {
        self.buf
    }

    /// Freezes the written bytes.
    pub fn into_bytes(self) -> Bytes {
        self.buf.freeze()
    }

    /// Writes a field head.
    #[inline]
    pub fn write_head(&mut self, tag: u8, ty: WireType) {
        if tag < 15 {
            self.buf.put_u8((tag << 4) | ty as u8);
        } else {
            self.buf.put_u8(0xF0 | ty as u8);
            self.buf.put_u8(tag);
        }
    }

    /// Writes a bool as a byte 1/0 (false becomes `ZERO_TAG`).
    #[inline]
    pub fn write_bool(&mut self, tag: u8, v: bool) {
        self.write_i8(tag, v as i8);
    }

    /// Writes an 8-bit integer.
    #[inline]
    pub fn write_i8(&mut self, tag: u8, v: i8) {
        if v == 0 {
            self.write_head(tag, WireType::ZeroTag);
        } else {
            self.write_head(tag, WireType::Int1);
            self.buf.put_i8(v);
        }
    }

    /// Writes a 16-bit integer in its smallest form.
    #[inline]
    pub fn write_i16(&mut self, tag: u8, v: i16) {
        if let Ok(n) = i8::try_from(v) {
            self.write_i8(tag, n);
        } else {
            self.write_head(tag, WireType::Int2);
            self.buf.put_i16(v);
        }
    }

    /// Writes a 32-bit integer in its smallest form.
    #[inline]
    pub fn write_i32(&mut self, tag: u8, v: i32) {
        if let Ok(n) = i16::try_from(v) {
            self.write_i16(tag, n);
        } else {
            self.write_head(tag, WireType::Int4);
            self.buf.put_i32(v);
        }
    }

    /// Writes a 64-bit integer in its smallest form.
    #[inline]
    pub fn write_i64(&mut self, tag: u8, v: i64) {
        if let Ok(n) = i32::try_from(v) {
            self.write_i32(tag, n);
        } else {
            self.write_head(tag, WireType::Int8);
            self.buf.put_i64(v);
        }
    }

    /// Writes a float, always as a 4-byte `FLOAT` (0.0 is not narrowed).
    #[inline]
    pub fn write_f32(&mut self, tag: u8, v: f32) {
        self.write_head(tag, WireType::Float);
        self.buf.put_f32(v);
    }

    /// Writes a double, always as an 8-byte `DOUBLE`.
    #[inline]
    pub fn write_f64(&mut self, tag: u8, v: f64) {
        self.write_head(tag, WireType::Double);
        self.buf.put_f64(v);
    }

    /// Writes a string given as raw bytes: `STRING1` up to 255 bytes, else `STRING4`.
    #[inline]
    pub fn write_string_bytes(&mut self, tag: u8, v: &[u8]) {
        if let Ok(len) = u8::try_from(v.len()) {
            self.write_head(tag, WireType::String1);
            self.buf.put_u8(len);
        } else {
            self.write_head(tag, WireType::String4);
            self.buf.put_u32(len_u32(v.len()));
        }
        self.buf.put_slice(v);
    }

    /// Writes a UTF-8 string.
    #[inline]
    pub fn write_string(&mut self, tag: u8, v: &str) {
        self.write_string_bytes(tag, v.as_bytes());
    }

    /// Writes a byte vector (`vector<byte>`) as a `SIMPLE_LIST`.
    #[inline]
    pub fn write_bytes(&mut self, tag: u8, v: &[u8]) {
        self.write_head(tag, WireType::SimpleList);
        self.write_head(0, WireType::Int1);
        self.write_i32(0, len_i32(v.len()));
        self.buf.put_slice(v);
    }

    /// Writes a signed byte vector (`vector<byte>` as `Vec<i8>`) as a `SIMPLE_LIST`.
    pub fn write_signed_bytes(&mut self, tag: u8, v: &[i8]) {
        self.write_head(tag, WireType::SimpleList);
        self.write_head(0, WireType::Int1);
        self.write_i32(0, len_i32(v.len()));
        self.buf.reserve(v.len());
        for &b in v {
            self.buf.put_i8(b);
        }
    }

    /// Starts a list of `len` elements; the caller then writes each element at tag 0.
    #[inline]
    pub fn write_list_header(&mut self, tag: u8, len: usize) {
        self.write_head(tag, WireType::List);
        self.write_i32(0, len_i32(len));
    }

    /// Starts a map of `len` entries; the caller then writes each key at tag 0 and value at tag 1.
    #[inline]
    pub fn write_map_header(&mut self, tag: u8, len: usize) {
        self.write_head(tag, WireType::Map);
        self.write_i32(0, len_i32(len));
    }

    /// Starts a nested struct.
    #[inline]
    pub fn write_struct_begin(&mut self, tag: u8) {
        self.write_head(tag, WireType::StructBegin);
    }

    /// Ends a nested struct with the single byte `0x0b`.
    #[inline]
    pub fn write_struct_end(&mut self) {
        self.buf.put_u8(WireType::StructEnd as u8);
    }

    /// Appends bytes that are already Tars-encoded.
    #[inline]
    pub fn write_raw(&mut self, encoded: &[u8]) {
        self.buf.put_slice(encoded);
    }
}

/// Wire lengths are 32-bit; a buffer beyond that cannot be represented by any Tars peer.
/// Such sizes are far above every decoder limit, so saturating keeps the output rejectable
/// instead of silently wrapping to a small, valid-looking length.
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn len_i32(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}
