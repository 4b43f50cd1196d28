//! Decoder limits that bound memory and recursion for untrusted input.

/// Bounds applied while decoding. Every size read from the wire is also checked against the
/// bytes that remain in the buffer, so these limits only tighten that natural bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Longest string accepted, in bytes (default 100 MiB, as in TarsCpp).
    pub max_string_len: usize,
    /// Longest byte vector (`vector<byte>`) accepted, in bytes (default 100 MiB).
    pub max_bytes_len: usize,
    /// Most elements accepted in one list or map (default 16 Mi).
    pub max_collection_len: usize,
    /// Deepest nesting of structs, lists and maps (default 64).
    pub max_depth: usize,
}

impl DecodeLimits {
    /// The default limits.
    pub const DEFAULT: DecodeLimits = DecodeLimits {
        max_string_len: 100 * 1024 * 1024,
        max_bytes_len: 100 * 1024 * 1024,
        max_collection_len: 16 * 1024 * 1024,
        max_depth: 64,
    };
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits::DEFAULT
    }
}
