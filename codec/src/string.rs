//! [`TarsString`]: a Tars `string` kept as the bytes the peer sent.
//!
//! TarsCpp, TarsGo and the Node peers treat a Tars `string` as bytes, and services in the field
//! send GBK and other non-UTF-8 encodings. A `TarsString` decodes any of them without loss and
//! writes them back byte for byte, while a UTF-8 string (the common case) reads like a `&str`.
//!
//! A `TarsString` takes three words, like a `String`. A short string (up to 22 bytes: most
//! names, keys and ids) is kept inline, so decoding it allocates nothing; a longer one decoded
//! from a shared frame ([`Reader::from_bytes`](crate::Reader::from_bytes)) is a slice of that
//! frame (its bytes are not copied; a small shared handle is allocated).

use std::borrow::{Borrow, Cow};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::DecodeError;
use crate::reader::Reader;
use crate::value::TarsValue;
use crate::wire::WireType;
use crate::writer::Writer;

/// A Tars `string`: the exact bytes on the wire, readable as text.
///
/// - A valid UTF-8 string dereferences to that `&str` ([`as_str`](Self::as_str)), compares
///   equal to `&str` and `String`, and works as a map key looked up by `&str`.
/// - A string that is not UTF-8 (GBK from an older service, say) keeps its bytes
///   ([`as_bytes`](Self::as_bytes)) and is encoded again unchanged. As text it reads as its
///   lossy UTF-8 conversion (invalid sequences become U+FFFD); [`to_str`](Self::to_str) returns
///   `None` and [`is_utf8`](Self::is_utf8) `false` for it.
///
/// Equality is byte equality: two different GBK strings never compare equal, even though both
/// read as replacement characters. [`len`](Self::len) is the length in bytes on the wire.
///
/// ```
/// use tars_codec::TarsString;
///
/// let name = TarsString::from("tars");
/// assert_eq!(name, "tars");
/// assert!(name.starts_with("ta")); // any &str method, through Deref
///
/// let gbk = TarsString::from_bytes(&b"\xc4\xe3\xba\xc3"[..]); // "你好" in GBK
/// assert!(!gbk.is_utf8());
/// assert_eq!(gbk.as_bytes(), b"\xc4\xe3\xba\xc3");
/// assert_eq!(gbk.to_str(), None);
/// ```
#[derive(Clone)]
pub struct TarsString(Repr);

#[derive(Clone)]
enum Repr {
    /// Valid UTF-8 of at most [`INLINE_CAP`] bytes, kept inline: no allocation, no reference
    /// count to touch when it is decoded, cloned or dropped.
    Inline { len: u8, buf: [u8; INLINE_CAP] },
    /// Valid UTF-8 longer than [`INLINE_CAP`] and at most [`COPY_MAX`] bytes: an owned copy
    /// (one allocation, no reference count; cheaper than sharing at this size).
    Owned(Box<str>),
    /// Valid UTF-8 longer than [`COPY_MAX`] (checked once, when the string was made): shared
    /// with the buffer it was decoded from, not copied.
    Utf8(Arc<Bytes>),
    /// Not UTF-8: the bytes as received, and their lossy text for reading.
    Raw(Arc<RawString>),
}

/// The longest string kept inline; with its length and the variant tag it fills the three
/// words a `TarsString` takes.
const INLINE_CAP: usize = 22;

/// The longest string decoded as a copy; longer ones share the frame they came in.
const COPY_MAX: usize = 1024;

struct RawString {
    bytes: Bytes,
    text: Box<str>,
}

impl TarsString {
    /// The empty string.
    pub const fn new() -> TarsString {
        TarsString(Repr::Inline {
            len: 0,
            buf: [0; INLINE_CAP],
        })
    }

    /// Bytes known to be valid UTF-8: inline when short, a copy up to [`COPY_MAX`], else
    /// shared (`shared` gives them as a [`Bytes`], without copying when it can).
    #[inline]
    fn utf8(bytes: &[u8], shared: impl FnOnce() -> Bytes) -> TarsString {
        if bytes.len() <= INLINE_CAP {
            let mut buf = [0; INLINE_CAP];
            buf[..bytes.len()].copy_from_slice(bytes);
            TarsString(Repr::Inline {
                len: bytes.len() as u8,
                buf,
            })
        } else if bytes.len() <= COPY_MAX {
            // SAFETY: the caller checked that `bytes` are UTF-8.
            let text = unsafe { std::str::from_utf8_unchecked(bytes) };
            TarsString(Repr::Owned(Box::from(text)))
        } else {
            TarsString(Repr::Utf8(Arc::new(shared())))
        }
    }

    /// A string borrowing a static `&str`, without allocating.
    pub fn from_static(s: &'static str) -> TarsString {
        TarsString::utf8(s.as_bytes(), || Bytes::from_static(s.as_bytes()))
    }

    /// A string kept in one shared buffer whatever its length, so that cloning it only
    /// increments a reference count — for a value cloned into many packets, such as the object
    /// name of a proxy's requests.
    pub fn shared(s: &str) -> TarsString {
        if s.len() <= INLINE_CAP {
            return TarsString::from(s);
        }
        TarsString(Repr::Utf8(Arc::new(Bytes::copy_from_slice(s.as_bytes()))))
    }

    /// A string of arbitrary bytes, kept exactly: valid UTF-8 reads as that text, anything
    /// else reads lossily but is encoded unchanged.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> TarsString {
        let bytes = bytes.into();
        if !is_utf8(&bytes) {
            return TarsString::raw(bytes);
        }
        if bytes.len() > COPY_MAX {
            // Long: keep the buffer itself (`utf8` would only ask for it).
            return TarsString(Repr::Utf8(Arc::new(bytes)));
        }
        TarsString::utf8(&bytes, Bytes::new)
    }

    /// A string of bytes known not to be UTF-8.
    fn raw(bytes: Bytes) -> TarsString {
        let text = String::from_utf8_lossy(&bytes)
            .into_owned()
            .into_boxed_str();
        TarsString(Repr::Raw(Arc::new(RawString { bytes, text })))
    }

    /// The text: the string itself when it is UTF-8, else its lossy conversion.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // SAFETY: `Inline` and `Utf8` are only built from bytes that passed UTF-8
            // validation (or from a `&str` / `String`), and neither is mutated afterwards.
            Repr::Inline { len, buf } => unsafe {
                std::str::from_utf8_unchecked(&buf[..usize::from(*len)])
            },
            Repr::Owned(s) => s,
            Repr::Utf8(b) => unsafe { std::str::from_utf8_unchecked(b) },
            Repr::Raw(r) => &r.text,
        }
    }

    /// The string as `&str` if it is valid UTF-8, `None` otherwise.
    #[inline]
    pub fn to_str(&self) -> Option<&str> {
        match &self.0 {
            Repr::Inline { .. } | Repr::Owned(_) | Repr::Utf8(_) => Some(self.as_str()),
            Repr::Raw(_) => None,
        }
    }

    /// Whether the bytes are valid UTF-8.
    #[inline]
    pub fn is_utf8(&self) -> bool {
        !matches!(self.0, Repr::Raw(_))
    }

    /// The bytes exactly as they travel on the wire.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf } => &buf[..usize::from(*len)],
            Repr::Owned(s) => s.as_bytes(),
            Repr::Utf8(b) => b,
            Repr::Raw(r) => &r.bytes,
        }
    }

    /// The bytes as a [`Bytes`] (a copy of an inline string, else the shared buffer).
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            Repr::Inline { .. } | Repr::Owned(_) => Bytes::copy_from_slice(self.as_bytes()),
            Repr::Utf8(b) => Bytes::clone(b),
            Repr::Raw(r) => r.bytes.clone(),
        }
    }

    /// The length in bytes on the wire (for a UTF-8 string, its `str::len`).
    #[inline]
    #[allow(clippy::len_without_is_empty)] // is_empty below; clippy sees str's through Deref
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the string has no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// Makes the string empty.
    pub fn clear(&mut self) {
        *self = TarsString::new();
    }

    /// The text as an owned `String` (lossy for a string that is not UTF-8).
    pub fn into_string_lossy(self) -> String {
        self.as_str().to_owned()
    }
}

/// ASCII is checked word by word and is the common case; the general validator is slower on
/// the short strings typical of Tars messages.
#[inline]
fn is_utf8(bytes: &[u8]) -> bool {
    bytes.is_ascii() || std::str::from_utf8(bytes).is_ok()
}

/// The heap a long UTF-8 string takes besides its bytes: the shared handle.
const SHARED_HEAP_BYTES: usize = std::mem::size_of::<Bytes>() + 16;

/// What the lossy text of `len` bytes that are not UTF-8 may take on the heap: the shared
/// header and up to three bytes of text (U+FFFD) per byte.
const fn raw_heap_bytes(len: usize) -> usize {
    std::mem::size_of::<RawString>() + 16 + len.saturating_mul(3)
}

impl Default for TarsString {
    fn default() -> Self {
        TarsString::new()
    }
}

impl Deref for TarsString {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for TarsString {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for TarsString {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// Lookups by `&str` in maps keyed by `TarsString` find the UTF-8 keys; hashing and ordering
/// follow the text first, so they agree with `str`'s for every UTF-8 string.
impl Borrow<str> for TarsString {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for TarsString {
    fn from(s: &str) -> Self {
        TarsString::utf8(s.as_bytes(), || Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&String> for TarsString {
    fn from(s: &String) -> Self {
        TarsString::from(s.as_str())
    }
}

impl From<String> for TarsString {
    fn from(s: String) -> Self {
        if s.len() <= INLINE_CAP {
            return TarsString::from(s.as_str());
        }
        if s.len() <= COPY_MAX {
            return TarsString(Repr::Owned(s.into_boxed_str()));
        }
        TarsString(Repr::Utf8(Arc::new(Bytes::from(s.into_bytes()))))
    }
}

impl From<Box<str>> for TarsString {
    fn from(s: Box<str>) -> Self {
        TarsString::from(String::from(s))
    }
}

impl From<Cow<'_, str>> for TarsString {
    fn from(s: Cow<'_, str>) -> Self {
        TarsString::from(s.into_owned())
    }
}

impl From<&TarsString> for TarsString {
    fn from(s: &TarsString) -> Self {
        s.clone()
    }
}

impl std::str::FromStr for TarsString {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(TarsString::from(s))
    }
}

impl FromIterator<char> for TarsString {
    fn from_iter<I: IntoIterator<Item = char>>(iter: I) -> Self {
        TarsString::from(iter.into_iter().collect::<String>())
    }
}

impl PartialEq for TarsString {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for TarsString {}

impl PartialEq<str> for TarsString {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for TarsString {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<String> for TarsString {
    fn eq(&self, other: &String) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<TarsString> for str {
    fn eq(&self, other: &TarsString) -> bool {
        other == self
    }
}

impl PartialEq<TarsString> for &str {
    fn eq(&self, other: &TarsString) -> bool {
        other == *self
    }
}

impl PartialEq<TarsString> for String {
    fn eq(&self, other: &TarsString) -> bool {
        other == self
    }
}

/// Orders by the text, then by the bytes: UTF-8 strings order exactly as `str` does (byte
/// order), and strings that read alike but differ in bytes still order deterministically.
impl Ord for TarsString {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        if let (Repr::Inline { len: a, buf: x }, Repr::Inline { len: b, buf: y }) =
            (&self.0, &other.0)
        {
            // Short UTF-8 strings: the text is the bytes (the common case, map keys).
            return x[..usize::from(*a)].cmp(&y[..usize::from(*b)]);
        }
        self.as_str()
            .cmp(other.as_str())
            .then_with(|| self.as_bytes().cmp(other.as_bytes()))
    }
}

impl PartialOrd for TarsString {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Hashes the text, as `str` does, so `HashMap<TarsString, _>` can be queried by `&str`.
/// Equal strings have equal bytes, hence equal text and equal hashes.
impl Hash for TarsString {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Display for TarsString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

/// UTF-8 strings print like `&str` (`"text"`); others as escaped bytes (`b"\xc4\xe3"`).
impl fmt::Debug for TarsString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Inline { .. } | Repr::Owned(_) | Repr::Utf8(_) => {
                fmt::Debug::fmt(self.as_str(), f)
            }
            Repr::Raw(r) => write!(f, "b\"{}\"", r.bytes.escape_ascii()),
        }
    }
}

/// The general way to read a string value: long (a slice of a shared frame, or a charged copy)
/// or not UTF-8 (its lossy text charged against the memory budget).
#[inline(never)]
fn read_string_value(r: &mut Reader<'_>, tag: u8, ty: WireType) -> Result<TarsString, DecodeError> {
    let (start, raw) = r.read_string_at(tag, ty)?;
    let utf8 = is_utf8(raw);
    if utf8 && raw.len() <= COPY_MAX {
        if raw.len() > INLINE_CAP {
            r.charge(tag, "string", raw.len())?;
        }
        return Ok(TarsString::utf8(raw, Bytes::new));
    }
    r.charge(
        tag,
        "string",
        if utf8 {
            SHARED_HEAP_BYTES
        } else {
            raw_heap_bytes(raw.len())
        },
    )?;
    let bytes = r.shared_slice(tag, "string", start, raw.len())?;
    Ok(if utf8 {
        TarsString(Repr::Utf8(Arc::new(bytes)))
    } else {
        TarsString::raw(bytes)
    })
}

/// `string`: `STRING1` / `STRING4`, bytes kept as sent.
impl TarsValue for TarsString {
    const TYPE_NAME: &'static str = "string";

    #[inline]
    fn write_field(&self, w: &mut Writer, tag: u8) {
        w.write_string_bytes(tag, self.as_bytes());
    }

    #[inline(always)]
    fn read_value(r: &mut Reader<'_>, tag: u8, ty: WireType) -> Result<Self, DecodeError> {
        if ty == WireType::String1 {
            let mut buf = [0; INLINE_CAP];
            if let Some(len) = r.read_short_string(&mut buf, is_utf8) {
                return Ok(TarsString(Repr::Inline {
                    len: len as u8,
                    buf,
                }));
            }
        }
        read_string_value(r, tag, ty)
    }

    fn tars_default() -> Self {
        TarsString::new()
    }

    fn skip_optional(&self, explicit_default: Option<&Self>) -> bool {
        explicit_default.is_some_and(|d| d == self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_three_words_like_string() {
        assert_eq!(
            std::mem::size_of::<TarsString>(),
            std::mem::size_of::<String>()
        );
    }

    #[test]
    fn short_strings_are_inline_and_long_ones_shared() {
        let short = TarsString::from("a".repeat(INLINE_CAP).as_str());
        assert!(matches!(short.0, Repr::Inline { .. }));
        assert_eq!(short.len(), INLINE_CAP);
        let long = TarsString::from("a".repeat(INLINE_CAP + 1));
        assert!(matches!(long.0, Repr::Owned(_)));
        assert_eq!(long, "a".repeat(INLINE_CAP + 1));
        let huge = TarsString::from_bytes(Bytes::from("b".repeat(COPY_MAX + 1)));
        assert!(matches!(huge.0, Repr::Utf8(_)));
        assert_eq!(huge.len(), COPY_MAX + 1);
        // Decoded from a shared frame, a huge string is a slice of it, not a copy.
        let mut w = Writer::new();
        huge.write_field(&mut w, 0);
        let frame = w.into_bytes();
        let back: TarsString = Reader::from_bytes(&frame, crate::DecodeLimits::DEFAULT)
            .read_required(0, "s")
            .unwrap();
        assert_eq!(back, huge);
        assert!(frame.as_ptr_range().contains(&back.as_bytes().as_ptr()));
        assert_eq!(TarsString::new(), "");
        assert_eq!(TarsString::from_static("static"), "static");
    }

    #[test]
    fn shared_strings_clone_without_copying_and_encode_the_same() {
        let name = "Test.HelloServer.HelloObj"; // longer than the inline capacity
        let shared = TarsString::shared(name);
        let copy = shared.clone();
        assert!(matches!(shared.0, Repr::Utf8(_)));
        match (&shared.0, &copy.0) {
            (Repr::Utf8(a), Repr::Utf8(b)) => assert!(Arc::ptr_eq(a, b)),
            _ => panic!("not shared"),
        }
        assert_eq!(copy, TarsString::from(name));
        assert_eq!(copy.as_str(), name);
        // Short ones stay inline.
        assert!(matches!(TarsString::shared("Obj").0, Repr::Inline { .. }));
    }

    #[test]
    fn non_utf8_keeps_its_bytes_and_reads_lossily() {
        let s = TarsString::from_bytes(&b"a\xc4\xe3"[..]);
        assert!(!s.is_utf8());
        assert_eq!(s.as_bytes(), b"a\xc4\xe3");
        assert_eq!(s.len(), 3);
        assert_eq!(s.as_str(), "a\u{fffd}\u{fffd}");
        assert_ne!(s, *"a\u{fffd}\u{fffd}");
        assert_eq!(format!("{s:?}"), r#"b"a\xc4\xe3""#);
        // Different bytes that read alike are different strings, in a stable order.
        let t = TarsString::from_bytes(&b"a\xba\xc3"[..]);
        assert_eq!(s.as_str(), t.as_str());
        assert_ne!(s, t);
        assert_eq!(s.cmp(&t), Ordering::Greater);
    }

    #[test]
    fn utf8_behaves_like_str() {
        let s = TarsString::from("héllo");
        assert!(s.is_utf8());
        assert_eq!(s, "héllo");
        assert_eq!("héllo", s);
        assert_eq!(s.to_str(), Some("héllo"));
        assert_eq!(format!("{s}|{s:?}"), "héllo|\"héllo\"");
        let mut m = std::collections::HashMap::new();
        m.insert(s.clone(), 1);
        assert_eq!(m.get("héllo"), Some(&1));
        let mut b = std::collections::BTreeMap::new();
        for k in ["b", "a", "é", "c"] {
            b.insert(TarsString::from(k), k);
        }
        assert_eq!(b.get("é"), Some(&"é"));
        let order: Vec<&str> = b.keys().map(|k| k.as_str()).collect();
        assert_eq!(order, ["a", "b", "c", "é"]);
    }
}
