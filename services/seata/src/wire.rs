//! Big-endian reader and writer primitives with bounds checks.
//!
//! Every length read from the wire is checked against the bytes that remain before anything is
//! allocated, so a bogus length costs nothing but an error.

use bytes::{BufMut, BytesMut};

use crate::error::{Result, SeataError};

/// A cursor over a byte slice; every read checks the remaining length first.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Takes the next `n` bytes, or fails with [`SeataError::Truncated`] naming `what`.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if n > self.buf.len() {
            return Err(SeataError::Truncated { what });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// Reads an `int8`.
    pub fn i8(&mut self, what: &'static str) -> Result<i8> {
        Ok(i8::from_be_bytes(self.array(what)?))
    }

    /// Reads an unsigned byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(u8::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian `int16`.
    pub fn i16(&mut self, what: &'static str) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian `uint16`.
    pub fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian `int32`.
    pub fn i32(&mut self, what: &'static str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian `int64`.
    pub fn i64(&mut self, what: &'static str) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    /// Reads a `str16`: `int16` byte length + UTF-8. Length 0 is the empty string (Seata's null);
    /// a negative length is an error.
    pub fn str16(&mut self, what: &'static str) -> Result<String> {
        let len = self.i16(what)?;
        self.string(i64::from(len), what)
    }

    /// Reads a `str16` where length -1 means null (the frame's head map).
    pub fn nullable_str16(&mut self, what: &'static str) -> Result<Option<String>> {
        let len = self.i16(what)?;
        if len == -1 {
            return Ok(None);
        }
        self.string(i64::from(len), what).map(Some)
    }

    /// Reads a `str32`: `int32` byte length + UTF-8. Length 0 is empty; negative is an error.
    pub fn str32(&mut self, what: &'static str) -> Result<String> {
        let len = self.i32(what)?;
        self.string(i64::from(len), what)
    }

    fn string(&mut self, len: i64, what: &'static str) -> Result<String> {
        let n = usize::try_from(len).map_err(|_| SeataError::BadLength { what, len })?;
        let bytes = self.take(n, what)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| SeataError::InvalidUtf8 { what })
    }

    /// Fails with [`SeataError::TrailingBytes`] unless everything was read.
    pub fn finish(&self, what: &'static str) -> Result<()> {
        match self.buf.len() {
            0 => Ok(()),
            count => Err(SeataError::TrailingBytes { what, count }),
        }
    }
}

/// Appends big-endian fields to a [`BytesMut`].
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut BytesMut,
}

impl<'a> Writer<'a> {
    /// A writer appending to `buf`.
    pub fn new(buf: &'a mut BytesMut) -> Self {
        Writer { buf }
    }

    /// Bytes in the underlying buffer (including what was there before).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the underlying buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Writes an `int8`.
    pub fn i8(&mut self, v: i8) {
        self.buf.put_i8(v);
    }

    /// Writes an unsigned byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.put_u8(v);
    }

    /// Writes a big-endian `int16`.
    pub fn i16(&mut self, v: i16) {
        self.buf.put_i16(v);
    }

    /// Writes a big-endian `uint16`.
    pub fn u16(&mut self, v: u16) {
        self.buf.put_u16(v);
    }

    /// Writes a big-endian `int32`.
    pub fn i32(&mut self, v: i32) {
        self.buf.put_i32(v);
    }

    /// Writes a big-endian `int64`.
    pub fn i64(&mut self, v: i64) {
        self.buf.put_i64(v);
    }

    /// Writes raw bytes.
    pub fn bytes(&mut self, v: &[u8]) {
        self.buf.put_slice(v);
    }

    /// Writes a `str16`; fails if `s` is over 32767 bytes.
    pub fn str16(&mut self, s: &str, what: &'static str) -> Result<()> {
        let len = i16::try_from(s.len()).map_err(|_| SeataError::TooLong {
            what,
            len: s.len(),
            max: i16::MAX as usize,
        })?;
        self.i16(len);
        self.bytes(s.as_bytes());
        Ok(())
    }

    /// Writes a `str16` where `None` is length -1 (the frame's head map).
    pub fn nullable_str16(&mut self, s: Option<&str>, what: &'static str) -> Result<()> {
        match s {
            Some(s) => self.str16(s, what),
            None => {
                self.i16(-1);
                Ok(())
            }
        }
    }

    /// Writes a `str32`; fails if `s` is over `i32::MAX` bytes.
    pub fn str32(&mut self, s: &str, what: &'static str) -> Result<()> {
        let len = i32::try_from(s.len()).map_err(|_| SeataError::TooLong {
            what,
            len: s.len(),
            max: i32::MAX as usize,
        })?;
        self.i32(len);
        self.bytes(s.as_bytes());
        Ok(())
    }

    /// Overwrites four bytes at absolute offset `at` with a big-endian `int32` (a length
    /// placeholder written earlier).
    pub(crate) fn patch_i32(&mut self, at: usize, v: i32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
}

/// Truncates `s` to at most `max` bytes at a character boundary.
pub(crate) fn truncate_to(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
