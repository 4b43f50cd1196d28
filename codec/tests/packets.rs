//! Request/response packets, the frame codec and TUP.

use std::collections::BTreeMap;

use tars_codec::bytes::{BufMut, Bytes, BytesMut};
use tars_codec::packet::{
    status_key, version, FrameCodec, FrameError, PacketCodec, RequestPacket, ResponsePacket,
    RetCode, TupRequest, TupResponse, UniAttribute,
};
use tars_codec::{DecodeError, TarsStruct};

fn sample_request() -> RequestPacket {
    let mut req = RequestPacket::new(
        7,
        "Test.HelloServer.HelloObj",
        "echo",
        Bytes::from_static(b"\x06\x02hi"),
        3000,
    );
    req.context.insert("k".into(), "v".into());
    req
}

#[test]
fn request_packet_writes_every_field_in_tag_order() {
    let req = RequestPacket::new(1, "S", "f", Bytes::new(), 0);
    let bytes = req.encode_to_bytes();
    // iVersion=1, cPacketType=0 (ZERO), iMessageType=0, iRequestId=1, "S", "f",
    // empty SIMPLE_LIST, iTimeout=0, empty context, empty status.
    let expected: &[u8] = &[
        0x10, 0x01, 0x2c, 0x3c, 0x40, 0x01, 0x56, 0x01, b'S', 0x66, 0x01, b'f', 0x7d, 0x00, 0x0c,
        0x8c, 0x98, 0x0c, 0xa8, 0x0c,
    ];
    assert_eq!(&bytes[..], expected);
    assert_eq!(RequestPacket::decode_from(&bytes).unwrap(), req);
}

#[test]
fn request_missing_a_required_field_is_rejected() {
    let req = sample_request();
    let bytes = req.encode_to_bytes();
    // Drop everything from iTimeout (tag 8) on: status, context and timeout are missing.
    let cut = bytes
        .iter()
        .position(|&b| b == 0x81 || b == 0x82 || b == 0x80)
        .unwrap();
    let err = RequestPacket::decode_from(&bytes[..cut]).unwrap_err();
    assert_eq!(
        err,
        DecodeError::MissingRequired {
            tag: 8,
            field: "timeout"
        }
    );
}

#[test]
fn response_packet_has_request_id_before_message_type() {
    let req = sample_request();
    let mut resp = ResponsePacket::ok(&req, Bytes::from_static(b"\x0c"));
    resp.message_type = 2;
    let bytes = resp.encode_to_bytes();
    // iVersion 1, cPacketType 0, iRequestId 7 at tag 3, iMessageType 2 at tag 4.
    assert_eq!(&bytes[..7], &[0x10, 0x01, 0x2c, 0x30, 0x07, 0x40, 0x02]);
    let back = ResponsePacket::decode_from(&bytes).unwrap();
    assert_eq!(back, resp);
    // Optional sResultDesc/context are skipped when empty (tars2cpp rule for containers).
    let err = ResponsePacket::error(&req, RetCode::NoFunc, "no such function");
    let back = ResponsePacket::decode_from(&err.encode_to_bytes()).unwrap();
    assert_eq!(back.ret, -3);
    assert_eq!(back.result_desc, "no such function");
    assert_eq!(RetCode::from_code(back.ret), RetCode::NoFunc);
    assert_eq!(RetCode::from_code(-1000), RetCode::Unknown);
}

#[test]
fn frame_codec_splits_streams_at_any_chunking() {
    let mut codec = PacketCodec::<RequestPacket, RequestPacket>::new();
    let reqs: Vec<RequestPacket> = (0..5)
        .map(|i| {
            let mut r = sample_request();
            r.request_id = i;
            r.buffer = Bytes::from(vec![i as u8; (i * 100) as usize]);
            r
        })
        .collect();
    let mut wire = BytesMut::new();
    for r in &reqs {
        codec.encode_packet(r, &mut wire).unwrap();
    }
    let wire = wire.freeze();
    for chunk in [1usize, 3, 7, 64, wire.len()] {
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(p) = codec.decode_packet(&mut buf).unwrap() {
                got.push(p);
            }
        }
        assert_eq!(got, reqs, "chunk size {chunk}");
        assert!(buf.is_empty());
    }
}

#[test]
fn frame_length_includes_the_prefix() {
    let mut codec = FrameCodec::new();
    let mut out = BytesMut::new();
    codec.encode_frame(&b"\x0c"[..], &mut out).unwrap();
    assert_eq!(&out[..], &[0, 0, 0, 5, 0x0c]);
    let frame = codec.decode_frame(&mut out).unwrap().unwrap();
    assert_eq!(&frame[..], b"\x0c");
}

#[test]
fn bad_frame_lengths_are_rejected_without_allocating() {
    let mut codec = FrameCodec::with_max_frame(1024);
    let mut buf = BytesMut::from(&[0u8, 0, 0, 4][..]);
    assert!(matches!(
        codec.decode_frame(&mut buf),
        Err(FrameError::TooShort(4))
    ));
    let mut buf = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xff, 0][..]);
    assert!(matches!(
        codec.decode_frame(&mut buf),
        Err(FrameError::TooLong {
            len: 4294967295,
            max: 1024
        })
    ));
    assert!(buf.capacity() < 1024, "nothing reserved for a bogus length");
    // Partial frames wait for more bytes.
    let mut buf = BytesMut::from(&[0u8, 0, 0, 10, 1, 2][..]);
    assert!(codec.decode_frame(&mut buf).unwrap().is_none());
    let mut big = BytesMut::new();
    assert!(matches!(
        codec.encode_frame(&vec![0u8; 2000][..], &mut big),
        Err(FrameError::TooLong { .. })
    ));
}

#[test]
fn garbage_inside_a_frame_is_a_packet_error() {
    let mut codec = PacketCodec::<RequestPacket, ResponsePacket>::new();
    let mut buf = BytesMut::new();
    buf.put_u32(9);
    buf.put_slice(&[0x10, 0x01, 0x2f, 0xff, 0xff]);
    assert!(matches!(
        codec.decode_packet(&mut buf),
        Err(FrameError::Packet(DecodeError::InvalidWireType { .. }))
    ));
}

#[test]
fn uni_attribute_encodes_each_value_alone_at_tag_0() {
    let mut attrs = UniAttribute::new();
    attrs.put("a", &5i32);
    attrs.put("s", &"x".to_string());
    assert_eq!(&attrs.raw("a").unwrap()[..], &[0x00, 0x05]);
    let enc = attrs.encode();
    // map<string, vector<byte>> at tag 0 with 2 entries, sorted keys.
    assert_eq!(
        &enc[..],
        &[
            0x08, 0x00, 0x02, 0x06, 0x01, b'a', 0x1d, 0x00, 0x00, 0x02, 0x00, 0x05, 0x06, 0x01,
            b's', 0x1d, 0x00, 0x00, 0x03, 0x06, 0x01, b'x'
        ]
    );
    let back = UniAttribute::decode(&enc).unwrap();
    assert_eq!(back.get::<i32>("a").unwrap(), 5);
    assert_eq!(back.get::<String>("s").unwrap(), "x");
    assert!(matches!(
        back.get::<i32>("missing"),
        Err(tars_codec::packet::TupError::NotFound(_))
    ));
    assert_eq!(back.get_or::<i32>("missing", 9).unwrap(), 9);
    assert!(matches!(
        back.get::<i32>("s"),
        Err(tars_codec::packet::TupError::Decode { .. })
    ));
}

#[test]
fn tup_request_and_response_round_trip() {
    let mut req = TupRequest::new(42, "Test.Obj", "add");
    req.attrs.put("a", &1i32);
    req.attrs.put("b", &2i32);
    let packet = req.to_packet();
    assert_eq!(packet.version, version::TUP);
    let parsed =
        TupRequest::from_packet(&RequestPacket::decode_from(&packet.encode_to_bytes()).unwrap())
            .unwrap();
    assert_eq!(parsed, req);

    let mut resp = TupResponse::reply_to(&parsed, 0, "");
    resp.set_return(&3i32);
    let p = resp.to_packet();
    assert_eq!(
        p.status.get(status_key::RESULT_CODE).map(|s| s.as_str()),
        Some("0")
    );
    let back = TupResponse::from_packet(&RequestPacket::decode_from(&p.encode_to_bytes()).unwrap())
        .unwrap();
    assert_eq!(back.attrs.get::<i32>("").unwrap(), 3);
    assert_eq!(back.attrs.get::<i32>("tars_ret").unwrap(), 3);
    assert_eq!(back.request_id, 42);

    let v1 = RequestPacket::new(1, "S", "f", Bytes::new(), 0);
    assert!(matches!(
        TupRequest::from_packet(&v1),
        Err(tars_codec::packet::TupError::Version(1))
    ));
    let mut bad = p.clone();
    bad.status = BTreeMap::from([(status_key::RESULT_CODE.into(), "x".into())]);
    assert!(TupResponse::from_packet(&bad).is_err());
}

/// With the `tokio-codec` feature the codecs are `tokio_util` codecs that frame exactly as
/// their inherent methods do.
#[cfg(feature = "tokio-codec")]
#[test]
fn tokio_util_codecs_frame_like_the_inherent_methods() {
    use tokio_util::codec::{Decoder, Encoder};
    let req = sample_request();
    let mut codec = PacketCodec::<RequestPacket, RequestPacket>::new();
    let (mut by_trait, mut by_method) = (BytesMut::new(), BytesMut::new());
    Encoder::encode(&mut codec, &req, &mut by_trait).unwrap();
    codec.encode_packet(&req, &mut by_method).unwrap();
    assert_eq!(by_trait, by_method);
    assert_eq!(
        Decoder::decode(&mut codec, &mut by_trait).unwrap(),
        Some(req)
    );
    let mut frames = FrameCodec::new();
    let mut out = BytesMut::new();
    Encoder::encode(&mut frames, &b"\x0c"[..], &mut out).unwrap();
    assert_eq!(&out[..], &[0, 0, 0, 5, 0x0c]);
    assert_eq!(
        &Decoder::decode(&mut frames, &mut out).unwrap().unwrap()[..],
        b"\x0c"
    );
}
