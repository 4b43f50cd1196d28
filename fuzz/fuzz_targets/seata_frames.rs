//! Arbitrary bytes as a Seata v1 TCP stream: fed to the frame decoder in chunks (the first
//! byte picks the chunk size), every frame's body decoded. Whatever decodes must encode and
//! decode back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tars_seata::bytes::BytesMut;
use tars_seata::{Frame, FrameDecoder, Message};

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 32) + 1;
    let mut decoder = FrameDecoder::with_max_frame(64 * 1024);
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => check(&frame),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});

fn check(frame: &Frame) {
    let mut again = BytesMut::new();
    frame.encode(&mut again).expect("a decoded frame encodes");
    let reparsed = Frame::parse(again.freeze()).expect("an encoded frame parses");
    assert_eq!(&reparsed, frame);
    if let Ok(Some(msg)) = frame.message() {
        let body = msg.to_bytes().expect("a decoded message encodes");
        assert_eq!(
            Message::decode(&body).expect("an encoded message decodes"),
            msg
        );
    }
}
