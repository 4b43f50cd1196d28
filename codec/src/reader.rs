//! The decoder: a cursor over an encoded buffer that finds fields by tag.

use bytes::Bytes;

use super::error::DecodeError;
use super::limits::DecodeLimits;
use super::value::TarsValue;
use super::wire::{Head, WireType};

/// A big-endian signed integer of 1, 2, 4 or 8 bytes (an `INT1`..`INT8` payload).
#[inline(always)]
pub(crate) fn be_int(b: &[u8]) -> i64 {
    match *b {
        [a] => i64::from(a as i8),
        [a, b] => i64::from(i16::from_be_bytes([a, b])),
        [a, b, c, d] => i64::from(i32::from_be_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => i64::from_be_bytes([a, b, c, d, e, f, g, h]),
        // Callers pass slices of 1 << code bytes for codes 0..=3.
        _ => 0,
    }
}

/// Reads Tars-encoded fields from a byte slice.
///
/// Fields are looked up in ascending tag order: [`Reader::find_field`] skips fields with smaller
/// tags (unknown to the caller), and reports a field as absent when it meets a greater tag,
/// `STRUCT_END` or the end of the buffer. All sizes are checked against the remaining bytes and
/// the configured [`DecodeLimits`], so no input can make the reader panic, loop forever or
/// allocate more than a small multiple of the input size.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    source: Option<&'a Bytes>,
    limits: DecodeLimits,
    depth: usize,
    /// Heap bytes this decode may still allocate (see [`DecodeLimits::budget_for`]).
    budget: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf` with default limits.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader::with_limits(buf, DecodeLimits::DEFAULT)
    }

    /// A reader over `buf` with the given limits.
    pub fn with_limits(buf: &'a [u8], limits: DecodeLimits) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            source: None,
            limits,
            depth: 0,
            budget: limits.budget_for(buf.len()),
        }
    }

    /// A reader over a shared buffer: byte vectors decoded as [`Bytes`] borrow from it
    /// instead of being copied.
    pub fn from_bytes(buf: &'a Bytes, limits: DecodeLimits) -> Reader<'a> {
        Reader {
            buf: buf.as_ref(),
            pos: 0,
            source: Some(buf),
            limits,
            depth: 0,
            budget: limits.budget_for(buf.len()),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &DecodeLimits {
        &self.limits
    }

    /// Heap bytes this decode may still allocate.
    pub fn memory_left(&self) -> usize {
        self.budget
    }

    /// Charges `bytes` of heap memory about to be allocated for field `tag` against this
    /// decode's budget, failing with [`DecodeError::MemoryBudget`] when it would go over.
    /// Implementations of [`TarsValue`] that allocate call this before allocating.
    #[inline]
    pub fn charge(&mut self, tag: u8, what: &'static str, bytes: usize) -> Result<(), DecodeError> {
        match self.budget.checked_sub(bytes) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => Err(DecodeError::MemoryBudget {
                tag,
                what,
                needed: bytes as u64,
                left: self.budget as u64,
            }),
        }
    }

    /// Current offset in the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether the whole buffer has been consumed.
    #[inline]
    pub fn is_at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Consumes `n` bytes and returns them.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::UnexpectedEof {
                offset: self.pos,
                needed: n - self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Consumes `n` bytes as a [`Bytes`], without copying when the reader was built by
    /// [`Reader::from_bytes`]. A copy is charged against the memory budget.
    #[inline]
    pub fn take_bytes(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        self.take_bytes_for(0, "byte vector", n)
    }

    #[inline]
    fn take_bytes_for(
        &mut self,
        tag: u8,
        what: &'static str,
        n: usize,
    ) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        if self.source.is_none() {
            if n > self.remaining() {
                return Err(DecodeError::UnexpectedEof {
                    offset: self.pos,
                    needed: n - self.remaining(),
                });
            }
            self.charge(tag, what, n)?;
        }
        let slice = self.take(n)?;
        Ok(match self.source {
            Some(src) => src.slice(start..start + n),
            None => Bytes::copy_from_slice(slice),
        })
    }

    #[inline]
    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Decodes the head at the current position without consuming it.
    /// Returns the head and its encoded length, or `None` at the end of the buffer.
    #[inline]
    pub fn peek_head(&self) -> Result<Option<(Head, usize)>, DecodeError> {
        let Some(&first) = self.buf.get(self.pos) else {
            return Ok(None);
        };
        let code = first & 0x0F;
        let ty = WireType::from_nibble(code).ok_or(DecodeError::InvalidWireType {
            code,
            offset: self.pos,
        })?;
        let tag = first >> 4;
        if tag == 15 {
            let Some(&tag) = self.buf.get(self.pos + 1) else {
                return Err(DecodeError::UnexpectedEof {
                    offset: self.pos,
                    needed: 1,
                });
            };
            Ok(Some((Head { tag, ty }, 2)))
        } else {
            Ok(Some((Head { tag, ty }, 1)))
        }
    }

    /// Reads the next list element as an integer of wire width at most `max`: its head (at
    /// tag 0) and its value in one step.
    #[inline]
    pub fn read_int_element(
        &mut self,
        tag: u8,
        max: WireType,
        expected: &'static str,
    ) -> Result<i64, DecodeError> {
        if let Some(&head) = self.buf.get(self.pos) {
            let code = head & 0x0F;
            if head >> 4 == 0 && code <= max as u8 && code <= WireType::Int8 as u8 {
                let width = 1usize << code;
                let start = self.pos + 1;
                if let Some(b) = self.buf.get(start..start + width) {
                    self.pos = start + width;
                    return Ok(be_int(b));
                }
            }
        }
        // Anything else (ZERO_TAG, errors) the general way.
        let ty = self.read_element_head(tag)?;
        self.read_int(tag, ty, max, expected)
    }

    /// Consumes the head of the next list element, which must be at tag 0 (a one-byte head),
    /// and returns its wire type.
    #[inline]
    pub fn read_element_head(&mut self, tag: u8) -> Result<WireType, DecodeError> {
        match self.buf.get(self.pos) {
            Some(&b) if b >> 4 == 0 => match WireType::from_nibble(b) {
                Some(ty) if ty != WireType::StructEnd => {
                    self.pos += 1;
                    Ok(ty)
                }
                Some(_) => Err(DecodeError::Malformed {
                    tag,
                    what: "list element is missing",
                }),
                None => Err(DecodeError::InvalidWireType {
                    code: b & 0x0F,
                    offset: self.pos,
                }),
            },
            Some(_) => Err(DecodeError::Malformed {
                tag,
                what: "list element is missing",
            }),
            None => Err(DecodeError::UnexpectedEof {
                offset: self.pos,
                needed: 1,
            }),
        }
    }

    /// Decodes and consumes the next head.
    #[inline]
    pub fn read_head(&mut self) -> Result<Head, DecodeError> {
        match self.peek_head()? {
            Some((head, len)) => {
                self.pos += len;
                Ok(head)
            }
            None => Err(DecodeError::UnexpectedEof {
                offset: self.pos,
                needed: 1,
            }),
        }
    }

    /// Positions the reader on the value of field `tag`, skipping fields with smaller tags.
    ///
    /// Returns the wire type of the field with its head consumed, or `None` when the field is
    /// absent (a greater tag, `STRUCT_END` or the end of the buffer comes first; nothing is
    /// consumed then).
    #[inline]
    pub fn find_field(&mut self, tag: u8) -> Result<Option<WireType>, DecodeError> {
        // Fast path: the next field is the one wanted, with a one-byte head.
        if let Some(&first) = self.buf.get(self.pos) {
            if first >> 4 == tag && tag < 15 {
                if let Some(ty) = WireType::from_nibble(first) {
                    if ty != WireType::StructEnd {
                        self.pos += 1;
                        return Ok(Some(ty));
                    }
                }
            }
        }
        loop {
            let Some((head, len)) = self.peek_head()? else {
                return Ok(None);
            };
            if head.ty == WireType::StructEnd || head.tag > tag {
                return Ok(None);
            }
            self.pos += len;
            if head.tag == tag {
                return Ok(Some(head.ty));
            }
            self.skip_value(head.tag, head.ty)?;
        }
    }

    /// Reads field `tag` if present.
    #[inline]
    pub fn read_optional<T: TarsValue>(&mut self, tag: u8) -> Result<Option<T>, DecodeError> {
        match self.find_field(tag)? {
            Some(ty) => T::read_value(self, tag, ty).map(Some),
            None => Ok(None),
        }
    }

    /// Reads field `tag`, failing with [`DecodeError::MissingRequired`] naming `field` when absent.
    #[inline]
    pub fn read_required<T: TarsValue>(
        &mut self,
        tag: u8,
        field: &'static str,
    ) -> Result<T, DecodeError> {
        self.read_optional(tag)?
            .ok_or(DecodeError::MissingRequired { tag, field })
    }

    /// Reads field `tag`, or `T`'s Tars default when it is absent.
    #[inline]
    pub fn read_or_default<T: TarsValue>(&mut self, tag: u8) -> Result<T, DecodeError> {
        Ok(self.read_optional(tag)?.unwrap_or_else(T::tars_default))
    }

    /// Reads an integer of wire width at most `max` (`Int1`, `Int2`, `Int4` or `Int8`)
    /// whose head has been consumed; narrower forms and `ZERO_TAG` are accepted.
    #[inline]
    pub fn read_int(
        &mut self,
        tag: u8,
        ty: WireType,
        max: WireType,
        expected: &'static str,
    ) -> Result<i64, DecodeError> {
        // INT1, INT2, INT4 and INT8 are codes 0..=3, each twice as wide as the one before.
        let code = ty as u8;
        if code <= max as u8 && code <= WireType::Int8 as u8 {
            let width = 1usize << code;
            let Some(b) = self.buf.get(self.pos..self.pos + width) else {
                return Err(DecodeError::UnexpectedEof {
                    offset: self.pos,
                    needed: width - self.remaining(),
                });
            };
            self.pos += width;
            return Ok(be_int(b));
        }
        if ty == WireType::ZeroTag {
            return Ok(0);
        }
        Err(DecodeError::TypeMismatch {
            tag,
            expected,
            found: ty,
        })
    }

    /// Reads a float or double whose head has been consumed; `ZERO_TAG` reads as 0.0.
    /// With `allow_double` false only `ZERO_TAG` and `FLOAT` are accepted.
    #[inline]
    pub fn read_float(
        &mut self,
        tag: u8,
        ty: WireType,
        allow_double: bool,
        expected: &'static str,
    ) -> Result<f64, DecodeError> {
        match ty {
            WireType::ZeroTag => Ok(0.0),
            WireType::Float => Ok(f32::from_be_bytes(self.take_array()?) as f64),
            WireType::Double if allow_double => Ok(f64::from_be_bytes(self.take_array()?)),
            _ => Err(DecodeError::TypeMismatch {
                tag,
                expected,
                found: ty,
            }),
        }
    }

    /// Reads the raw bytes of a string whose head has been consumed.
    #[inline]
    pub fn read_string_bytes(&mut self, tag: u8, ty: WireType) -> Result<&'a [u8], DecodeError> {
        let len = self.read_string_len(tag, ty)?;
        self.take(len)
    }

    /// Reads the length of a string whose head has been consumed, checked against the limits
    /// and the bytes left.
    #[inline]
    fn read_string_len(&mut self, tag: u8, ty: WireType) -> Result<usize, DecodeError> {
        let len = match ty {
            WireType::String1 => self.take_array::<1>()?[0] as usize,
            WireType::String4 => u32::from_be_bytes(self.take_array()?) as usize,
            _ => {
                return Err(DecodeError::TypeMismatch {
                    tag,
                    expected: "string",
                    found: ty,
                })
            }
        };
        self.check_len(tag, "string", len as i64, self.limits.max_string_len, 1)
    }

    /// The fast path for short strings: when the value (whose `STRING1` head has been
    /// consumed) is at most `N` bytes, lies whole in the buffer and is within the limits, copies
    /// it into `out`; when `accept` (given the value's bytes) agrees, consumes it and returns
    /// its length. Otherwise consumes nothing and returns `None` (read it the
    /// general way). Bytes of `out` past the length are unspecified.
    #[inline]
    pub fn read_short_string<const N: usize>(
        &mut self,
        out: &mut [u8; N],
        accept: impl FnOnce(&[u8]) -> bool,
    ) -> Option<usize> {
        let len = usize::from(*self.buf.get(self.pos)?);
        if len > N || len > self.limits.max_string_len {
            return None;
        }
        let start = self.pos + 1;
        let bytes = self.buf.get(start..start + len)?;
        // A whole N-byte block copies with a few moves instead of a call.
        match self.buf.get(start..start + N) {
            Some(block) => out.copy_from_slice(block),
            None => out[..len].copy_from_slice(bytes),
        }
        if !accept(bytes) {
            return None;
        }
        self.pos = start + len;
        Some(len)
    }

    /// Reads the bytes of a string whose head has been consumed, borrowed from the buffer,
    /// with their offset (for [`shared_slice`](Self::shared_slice)).
    #[inline]
    pub fn read_string_at(
        &mut self,
        tag: u8,
        ty: WireType,
    ) -> Result<(usize, &'a [u8]), DecodeError> {
        let len = self.read_string_len(tag, ty)?;
        let start = self.pos;
        Ok((start, self.take(len)?))
    }

    /// The `len` bytes at `start` (already consumed) as a [`Bytes`]: a slice of the source
    /// when the reader was built by [`Reader::from_bytes`], else a copy charged against the
    /// memory budget as `what` of field `tag`.
    #[inline]
    pub fn shared_slice(
        &mut self,
        tag: u8,
        what: &'static str,
        start: usize,
        len: usize,
    ) -> Result<Bytes, DecodeError> {
        let end =
            start
                .checked_add(len)
                .filter(|&e| e <= self.pos)
                .ok_or(DecodeError::Malformed {
                    tag,
                    what: "slice outside the consumed input",
                })?;
        match self.source {
            Some(src) => Ok(src.slice(start..end)),
            None => {
                self.charge(tag, what, len)?;
                Ok(Bytes::copy_from_slice(&self.buf[start..end]))
            }
        }
    }

    /// Reads the size that opens a list, map or simple list (an Int32 at tag 0) and checks it
    /// against `limit` and against the bytes left, given that each element takes at least
    /// `min_element_size` bytes.
    #[inline]
    pub fn read_size(
        &mut self,
        tag: u8,
        what: &'static str,
        limit: usize,
        min_element_size: usize,
    ) -> Result<usize, DecodeError> {
        let ty = self.find_field(0)?.ok_or(DecodeError::Malformed {
            tag,
            what: "container size is missing",
        })?;
        let n = self.read_int(tag, ty, WireType::Int4, "container size")?;
        self.check_len(tag, what, n, limit, min_element_size)
    }

    #[inline]
    fn check_len(
        &self,
        tag: u8,
        what: &'static str,
        len: i64,
        limit: usize,
        min_element_size: usize,
    ) -> Result<usize, DecodeError> {
        if len < 0 {
            return Err(DecodeError::NegativeLength { tag, len });
        }
        let len_u = len as u64;
        if len_u > limit as u64 {
            return Err(DecodeError::LengthTooLarge {
                tag,
                what,
                len: len_u,
                limit: limit as u64,
            });
        }
        let room = (self.remaining() / min_element_size.max(1)) as u64;
        if len_u > room {
            return Err(DecodeError::LengthTooLarge {
                tag,
                what,
                len: len_u,
                limit: room,
            });
        }
        Ok(len as usize)
    }

    /// Reads the payload of a `SIMPLE_LIST` whose head has been consumed, as a [`Bytes`]
    /// (sliced from a shared source, else a copy charged against the memory budget).
    #[inline]
    pub fn read_simple_list(&mut self, tag: u8) -> Result<Bytes, DecodeError> {
        let n = self.read_simple_list_len(tag)?;
        self.take_bytes_for(tag, "byte vector", n)
    }

    /// Reads the payload of a `SIMPLE_LIST` whose head has been consumed, borrowed from the
    /// buffer (nothing is allocated or charged).
    #[inline]
    pub fn read_simple_list_slice(&mut self, tag: u8) -> Result<&'a [u8], DecodeError> {
        let n = self.read_simple_list_len(tag)?;
        self.take(n)
    }

    #[inline]
    fn read_simple_list_len(&mut self, tag: u8) -> Result<usize, DecodeError> {
        let head = self.read_head()?;
        if head.tag != 0 || head.ty != WireType::Int1 {
            return Err(DecodeError::MalformedSimpleList { tag });
        }
        self.read_size(tag, "bytes", self.limits.max_bytes_len, 1)
    }

    /// Enters one level of nesting, failing past the depth limit.
    #[inline]
    pub fn enter(&mut self) -> Result<(), DecodeError> {
        if self.depth >= self.limits.max_depth {
            return Err(DecodeError::TooDeep {
                limit: self.limits.max_depth,
            });
        }
        self.depth += 1;
        Ok(())
    }

    /// Leaves one level of nesting.
    #[inline]
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Skips the fields left in the current struct and consumes its `STRUCT_END`.
    pub fn skip_to_struct_end(&mut self, tag: u8) -> Result<(), DecodeError> {
        loop {
            let head = match self.read_head() {
                Ok(h) => h,
                Err(DecodeError::UnexpectedEof { .. }) => {
                    return Err(DecodeError::UnterminatedStruct { tag })
                }
                Err(e) => return Err(e),
            };
            if head.ty == WireType::StructEnd {
                return Ok(());
            }
            self.skip_value(head.tag, head.ty)?;
        }
    }

    /// Skips one value of wire type `ty` whose head has been consumed.
    pub fn skip_value(&mut self, tag: u8, ty: WireType) -> Result<(), DecodeError> {
        match ty {
            WireType::ZeroTag | WireType::StructEnd => Ok(()),
            WireType::Int1 => self.take(1).map(drop),
            WireType::Int2 => self.take(2).map(drop),
            WireType::Int4 | WireType::Float => self.take(4).map(drop),
            WireType::Int8 | WireType::Double => self.take(8).map(drop),
            WireType::String1 | WireType::String4 => self.read_string_bytes(tag, ty).map(drop),
            WireType::SimpleList => {
                let head = self.read_head()?;
                if head.tag != 0 || head.ty != WireType::Int1 {
                    return Err(DecodeError::MalformedSimpleList { tag });
                }
                let n = self.read_size(tag, "bytes", self.limits.max_bytes_len, 1)?;
                self.take(n).map(drop)
            }
            WireType::List | WireType::Map => {
                let per = if ty == WireType::Map { 2 } else { 1 };
                let what = if ty == WireType::Map { "map" } else { "list" };
                let n = self.read_size(tag, what, self.limits.max_collection_len, per)?;
                self.enter()?;
                for _ in 0..n * per {
                    let head = self.read_head()?;
                    self.skip_value(head.tag, head.ty)?;
                }
                self.leave();
                Ok(())
            }
            WireType::StructBegin => {
                self.enter()?;
                self.skip_to_struct_end(tag)?;
                self.leave();
                Ok(())
            }
        }
    }
}
