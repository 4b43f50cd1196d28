//! Arbitrary bytes as typed values — strings kept as bytes (inline and shared), open and
//! closed enums, every container — through both readers (shared and copying) under a tight
//! memory budget: must never panic, never allocate past the budget (the decode fails
//! instead), and whatever decodes must re-encode to bytes that decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The value types and the checks, shared with codec/tests/fuzz_regressions.rs.
include!("../../codec/tests/common/decode_values.rs");

fuzz_target!(|data: &[u8]| check_decode_values(data));
