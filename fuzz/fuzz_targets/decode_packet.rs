//! Arbitrary bytes as request/response packets and TUP bodies: must never panic, and whatever
//! decodes must re-encode to something that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tars::bytes::Bytes;
use tars::codec::TarsStruct;
use tars::packet::{RequestPacket, ResponsePacket, UniAttribute};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = RequestPacket::decode_from(data) {
        let again = RequestPacket::decode_from(&p.encode_to_bytes()).expect("re-decode request");
        assert_eq!(again, p);
    }
    if let Ok(p) = ResponsePacket::decode_from(data) {
        let again = ResponsePacket::decode_from(&p.encode_to_bytes()).expect("re-decode response");
        assert_eq!(again, p);
    }
    let _ = UniAttribute::decode(&Bytes::copy_from_slice(data));
});
