//! Arbitrary bytes as a TCP stream fed to the server's packet codec in small chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tars::bytes::BytesMut;
use tars::packet::{PacketCodec, RequestPacket, ResponsePacket};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut codec = PacketCodec::<RequestPacket, ResponsePacket>::with_limits(
        64 * 1024,
        tars::codec::DecodeLimits::DEFAULT,
    );
    let mut buf = BytesMut::new();
    for chunk in data.chunks(7) {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
