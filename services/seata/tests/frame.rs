//! The frame decoder: several frames per read, frames split across reads, heartbeats, the
//! head map, and every header error.

mod common;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tars_seata::frame::{DEFAULT_MAX_FRAME, HEADER_LEN};
use tars_seata::message::GlobalBeginRequest;
use tars_seata::{Frame, FrameDecoder, HeadEntry, Message, MessageType, SeataError};

fn decode_all(decoder: &mut FrameDecoder, buf: &mut BytesMut) -> Vec<Frame> {
    let mut out = Vec::new();
    while let Some(frame) = decoder.decode(buf).expect("valid frames") {
        out.push(frame);
    }
    out
}

fn frame_vectors() -> Vec<(String, Vec<u8>)> {
    common::vectors()
        .into_iter()
        .filter(|(n, _)| n.starts_with("frame_"))
        .collect()
}

#[test]
fn hand_written_frames_decode_field_by_field_and_reencode() {
    let mut d = FrameDecoder::new();

    let ping = common::vector("frame_ping");
    assert_eq!(ping.len(), HEADER_LEN);
    let f = d.decode(&mut BytesMut::from(&ping[..])).unwrap().unwrap();
    assert_eq!(f, Frame::ping(1));
    assert!(f.is_heartbeat());
    assert_eq!(f.message(), Ok(None));

    let pong = common::vector("frame_pong");
    let f = d.decode(&mut BytesMut::from(&pong[..])).unwrap().unwrap();
    assert_eq!(f, Frame::pong(1));

    let begin = common::vector("frame_begin");
    let f = d.decode(&mut BytesMut::from(&begin[..])).unwrap().unwrap();
    assert_eq!(f.message_type, MessageType::Request);
    assert_eq!((f.codec, f.compressor, f.request_id), (1, 0, 5));
    assert!(f.head_map.is_empty());
    assert_eq!(
        f.message().unwrap(),
        Some(Message::GlobalBeginRequest(GlobalBeginRequest {
            timeout: 60_000,
            transaction_name: "name".into(),
        }))
    );

    let head = common::vector("frame_head_map");
    let f = d.decode(&mut BytesMut::from(&head[..])).unwrap().unwrap();
    assert_eq!(f.message_type, MessageType::Response);
    assert_eq!(f.request_id, i32::MAX);
    assert_eq!(
        f.head_map,
        vec![
            HeadEntry {
                key: Some("k".into()),
                value: None
            },
            HeadEntry {
                key: Some(String::new()),
                value: Some("v".into())
            },
        ]
    );
    assert_eq!(f.body, Bytes::from(common::unhex("0008 01 00 09")));

    for (name, bytes) in frame_vectors() {
        let f = Frame::parse(Bytes::from(bytes.clone())).unwrap();
        assert_eq!(f.encoded_len(), bytes.len(), "{name}");
        let mut again = BytesMut::new();
        f.encode(&mut again).unwrap();
        assert_eq!(&again[..], &bytes[..], "{name} re-encoded");
    }
}

#[test]
fn several_frames_in_one_buffer() {
    let all: Vec<u8> = frame_vectors().into_iter().flat_map(|(_, b)| b).collect();
    let mut buf = BytesMut::from(&all[..]);
    let mut d = FrameDecoder::new();
    let frames = decode_all(&mut d, &mut buf);
    assert_eq!(frames.len(), 4);
    assert!(buf.is_empty());
    let ids: Vec<i32> = frames.iter().map(|f| f.request_id).collect();
    assert_eq!(ids, vec![1, 1, 5, i32::MAX]);
}

#[test]
fn frames_split_byte_by_byte() {
    let all: Vec<u8> = frame_vectors().into_iter().flat_map(|(_, b)| b).collect();
    let mut whole = BytesMut::from(&all[..]);
    let want = decode_all(&mut FrameDecoder::new(), &mut whole);
    let mut d = FrameDecoder::new();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for b in &all {
        buf.extend_from_slice(&[*b]);
        got.extend(decode_all(&mut d, &mut buf));
    }
    assert_eq!(got, want);
    assert!(buf.is_empty());
}

#[test]
fn every_strict_prefix_of_a_frame_is_incomplete_not_an_error() {
    for (name, bytes) in frame_vectors() {
        for len in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..len]);
            assert_eq!(
                FrameDecoder::new().decode(&mut buf),
                Ok(None),
                "{name} at {len}"
            );
            assert_eq!(buf.len(), len, "the decoder consumed an incomplete frame");
            // As a complete frame, a prefix is an error.
            assert!(Frame::parse(Bytes::copy_from_slice(&bytes[..len])).is_err());
        }
    }
}

fn header(full: i32, head: i16) -> Vec<u8> {
    let mut v = vec![0xDA, 0xDA, 1];
    v.extend_from_slice(&full.to_be_bytes());
    v.extend_from_slice(&head.to_be_bytes());
    v.extend_from_slice(&[0, 1, 0, 0, 0, 0, 1]);
    v
}

fn first_error(bytes: &[u8]) -> SeataError {
    let mut buf = BytesMut::from(bytes);
    FrameDecoder::new().decode(&mut buf).expect_err("an error")
}

#[test]
fn header_errors() {
    // Bad magic is reported after two bytes, bad version after three.
    assert_eq!(first_error(&[0xDA, 0xDB]), SeataError::BadMagic(0xDADB));
    assert_eq!(
        first_error(b"GET / HTTP/1.1\r\n"),
        SeataError::BadMagic(0x4745)
    );
    assert_eq!(first_error(&[0xDA, 0xDA, 2]), SeataError::BadVersion(2));
    // Full length below the header, negative, over the cap.
    assert!(matches!(
        first_error(&header(15, 16)[..7]),
        SeataError::BadLength {
            what: "full length",
            len: 15
        }
    ));
    assert!(matches!(
        first_error(&header(-1, 16)[..7]),
        SeataError::BadLength { len: -1, .. }
    ));
    assert_eq!(
        first_error(&header(DEFAULT_MAX_FRAME as i32 + 1, 16)[..7]),
        SeataError::FrameTooLarge {
            len: DEFAULT_MAX_FRAME as u64 + 1,
            max: DEFAULT_MAX_FRAME
        }
    );
    // Head length below 16, negative, over the full length.
    assert!(matches!(
        first_error(&header(16, 15)[..9]),
        SeataError::BadLength {
            what: "head length",
            len: 15
        }
    ));
    assert!(matches!(
        first_error(&header(16, -1)[..9]),
        SeataError::BadLength {
            what: "head length",
            len: -1
        }
    ));
    assert!(matches!(
        first_error(&header(20, 21)[..9]),
        SeataError::BadLength { len: 21, .. }
    ));
    // Unknown message type.
    let mut h = header(16, 16);
    h[9] = 5;
    assert_eq!(first_error(&h), SeataError::UnknownMessageType(5));
    // A head map that does not fill its head length.
    let mut h = header(19, 19);
    h.extend_from_slice(&[0, 5, b'k']);
    assert!(matches!(first_error(&h), SeataError::Truncated { .. }));
    // A head-map string of length -2.
    let mut h = header(20, 20);
    h.extend_from_slice(&[0xff, 0xfe, 0xff, 0xff]);
    assert!(matches!(first_error(&h), SeataError::BadLength { .. }));
}

#[test]
fn exactly_the_cap_is_accepted_and_a_smaller_cap_applies() {
    let mut d = FrameDecoder::with_max_frame(32);
    let body = vec![0u8; 16];
    let f = Frame::new(MessageType::OneWay, 3, Bytes::from(body));
    let mut buf = BytesMut::new();
    f.encode(&mut buf).unwrap();
    assert_eq!(d.decode(&mut buf.clone()).unwrap(), Some(f));
    let mut d = FrameDecoder::with_max_frame(31);
    assert!(matches!(
        d.decode(&mut buf),
        Err(SeataError::FrameTooLarge { len: 32, max: 31 })
    ));
}

#[test]
fn unsupported_codec_and_compressor() {
    let mut f = Frame::with_message(
        MessageType::Request,
        1,
        &Message::decode(&common::vector("global_commit_request")).unwrap(),
    )
    .unwrap();
    f.codec = 2;
    assert_eq!(f.message(), Err(SeataError::UnsupportedCodec(2)));
    f.codec = 1;
    f.compressor = 5;
    assert_eq!(f.message(), Err(SeataError::UnsupportedCompressor(5)));
    // A heartbeat's codec and body are not looked at.
    let mut ping = Frame::ping(2);
    ping.codec = 0x16;
    assert_eq!(ping.message(), Ok(None));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512),
                                   chunk in 1usize..64) {
        let mut d = FrameDecoder::with_max_frame(4096);
        let mut buf = BytesMut::new();
        'feed: for piece in data.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                match d.decode(&mut buf) {
                    Ok(Some(frame)) => { let _ = frame.message(); }
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
        }
    }

    #[test]
    fn valid_headers_with_arbitrary_rest_never_panic(
        full in 16i32..200, head in 16i16..64, kind in 0u8..6,
        rest in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut bytes = header(full, head);
        bytes[9] = kind;
        bytes.extend_from_slice(&rest);
        let mut buf = BytesMut::from(&bytes[..]);
        let mut d = FrameDecoder::new();
        while let Ok(Some(frame)) = d.decode(&mut buf) {
            let _ = frame.message();
        }
    }

    #[test]
    fn frames_round_trip(
        kind in 0u8..5, id in any::<i32>(), codec in any::<u8>(), compressor in any::<u8>(),
        head_map in proptest::collection::vec(
            (proptest::option::of(".{0,8}"), proptest::option::of(".{0,8}")), 0..4),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        split in any::<prop::sample::Index>(),
    ) {
        let frame = Frame {
            message_type: MessageType::from_code(kind).unwrap(),
            codec,
            compressor,
            request_id: id,
            head_map: head_map.into_iter().map(|(key, value)| HeadEntry { key, value }).collect(),
            body: Bytes::from(body),
        };
        let mut bytes = BytesMut::new();
        frame.encode(&mut bytes).unwrap();
        prop_assert_eq!(bytes.len(), frame.encoded_len());
        // Fed in two reads split anywhere.
        let at = split.index(bytes.len());
        let mut buf = BytesMut::from(&bytes[..at]);
        let mut d = FrameDecoder::new();
        prop_assert_eq!(d.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(&bytes[at..]);
        prop_assert_eq!(d.decode(&mut buf).unwrap(), Some(frame));
        prop_assert!(buf.is_empty());
    }
}
