//! Arbitrary bytes as a TCP stream fed to the server's packet codec in small chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tars_codec::bytes::BytesMut;
use tars_codec::packet::{PacketCodec, RequestPacket, ResponsePacket};

fuzz_target!(|data: &[u8]| {
    let mut codec = PacketCodec::<RequestPacket, ResponsePacket>::with_limits(
        64 * 1024,
        tars_codec::DecodeLimits::DEFAULT,
    );
    let mut buf = BytesMut::new();
    for chunk in data.chunks(7) {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode_packet(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
