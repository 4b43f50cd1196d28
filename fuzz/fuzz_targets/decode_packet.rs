//! Arbitrary bytes as request/response packets and TUP bodies (v3 and v2): must never panic,
//! and whatever decodes must re-encode to something that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tars_codec::bytes::Bytes;
use tars_codec::packet::{RequestPacket, ResponsePacket, TupVersion, UniAttribute};
use tars_codec::{DecodeLimits, TarsStruct};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = RequestPacket::decode_from(data) {
        let again = RequestPacket::decode_from(&p.encode_to_bytes()).expect("re-decode request");
        assert_eq!(again, p);
    }
    if let Ok(p) = ResponsePacket::decode_from(data) {
        let again = ResponsePacket::decode_from(&p.encode_to_bytes()).expect("re-decode response");
        assert_eq!(again, p);
    }
    let shared = Bytes::copy_from_slice(data);
    let _ = ResponsePacket::decode_any(&shared, DecodeLimits::DEFAULT);
    for version in [TupVersion::Simple, TupVersion::Complex] {
        if let Ok(attrs) = UniAttribute::decode_version(&shared, version, DecodeLimits::DEFAULT) {
            let again = UniAttribute::decode_version(&attrs.encode(), version, DecodeLimits::DEFAULT)
                .expect("re-decode attributes");
            assert_eq!(again.names().collect::<Vec<_>>(), attrs.names().collect::<Vec<_>>());
        }
    }
});
