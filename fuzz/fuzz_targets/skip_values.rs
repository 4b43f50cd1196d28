//! Arbitrary bytes walked field by field with tight limits: skipping must terminate cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tars_codec::{DecodeLimits, Reader};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits {
        max_string_len: 1024,
        max_bytes_len: 1024,
        max_collection_len: 256,
        max_depth: 8,
        ..DecodeLimits::DEFAULT
    };
    let mut r = Reader::with_limits(data, limits);
    while !r.is_at_end() {
        let Ok(head) = r.read_head() else { return };
        if r.skip_value(head.tag, head.ty).is_err() {
            return;
        }
    }
});
