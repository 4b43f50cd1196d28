//! Decoder limits that bound memory and recursion for untrusted input.

/// Bounds applied while decoding. Every size read from the wire is also checked against the
/// bytes that remain in the buffer, so these limits only tighten that natural bound.
///
/// Memory: a decode may allocate at most `memory_factor` bytes per input byte plus
/// `memory_allowance` ([`budget_for`](Self::budget_for)). Decoded values can be much larger
/// than their encoding (an empty struct is two bytes on the wire and may be a hundred in
/// memory), so without this bound a small frame could claim gigabytes. Every container,
/// string and byte vector is charged its heap size before it is allocated; a decode that would
/// go over fails with [`DecodeError::MemoryBudget`](crate::DecodeError::MemoryBudget).
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
    /// Heap bytes a decode may allocate per byte of input (default 8).
    pub memory_factor: usize,
    /// Heap bytes a decode may allocate on top of `memory_factor` × input (default 16 MiB),
    /// so small messages with large in-memory forms always decode.
    pub memory_allowance: usize,
}

impl DecodeLimits {
    /// The default limits.
    pub const DEFAULT: DecodeLimits = DecodeLimits {
        max_string_len: 100 * 1024 * 1024,
        max_bytes_len: 100 * 1024 * 1024,
        max_collection_len: 16 * 1024 * 1024,
        max_depth: 64,
        memory_factor: 8,
        memory_allowance: 16 * 1024 * 1024,
    };

    /// The heap bytes a decode of `input_len` bytes may allocate.
    pub const fn budget_for(&self, input_len: usize) -> usize {
        input_len
            .saturating_mul(self.memory_factor)
            .saturating_add(self.memory_allowance)
    }
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits::DEFAULT
    }
}
