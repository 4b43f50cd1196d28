//! Property tests: every value round-trips, and no byte string makes a decoder panic.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use tars_codec::bytes::{Bytes, BytesMut};
use tars_codec::packet::{FrameCodec, PacketCodec, RequestPacket, ResponsePacket, UniAttribute};
use tars_codec::{DecodeLimits, Reader, TarsStruct, Writer};
use tars_codec::{TarsEnum, TarsValue};

#[derive(Debug, Clone, Copy, PartialEq, TarsEnum)]
enum Kind {
    A = 0,
    B = 5,
    C = -3,
}

#[derive(Debug, Clone, PartialEq, tars_codec::TarsStruct)]
struct Leaf {
    #[tars(tag = 0, require)]
    n: i32,
    #[tars(tag = 1)]
    s: String,
}

#[derive(Debug, Clone, PartialEq, tars_codec::TarsStruct)]
struct Everything {
    #[tars(tag = 0, require)]
    b: bool,
    #[tars(tag = 1, require)]
    i8_: i8,
    #[tars(tag = 2, require)]
    i16_: i16,
    #[tars(tag = 3, require)]
    i32_: i32,
    #[tars(tag = 4, require)]
    i64_: i64,
    #[tars(tag = 5, require)]
    u8_: u8,
    #[tars(tag = 6, require)]
    u16_: u16,
    #[tars(tag = 7, require)]
    u32_: u32,
    #[tars(tag = 8, require)]
    f: f32,
    #[tars(tag = 9, require)]
    d: f64,
    #[tars(tag = 10, require)]
    s: String,
    #[tars(tag = 11)]
    bytes: Bytes,
    #[tars(tag = 12)]
    list: Vec<i64>,
    #[tars(tag = 13)]
    map: BTreeMap<String, Vec<Leaf>>,
    #[tars(tag = 14, require)]
    kind: Kind,
    #[tars(tag = 15, default = 3)]
    opt: i32,
    #[tars(tag = 200)]
    leaf: Leaf,
    #[tars(tag = 255)]
    hmap: HashMap<i32, Bytes>,
}

fn leaf() -> impl Strategy<Value = Leaf> {
    (any::<i32>(), ".{0,8}").prop_map(|(n, s)| Leaf { n, s })
}

fn everything() -> impl Strategy<Value = Everything> {
    (
        (
            any::<bool>(),
            any::<i8>(),
            any::<i16>(),
            any::<i32>(),
            any::<i64>(),
            any::<u8>(),
            any::<u16>(),
            any::<u32>(),
        ),
        (
            any::<f32>().prop_filter("NaN != NaN", |f| !f.is_nan()),
            any::<f64>().prop_filter("NaN", |f| !f.is_nan()),
        ),
        ".{0,300}",
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec(any::<i64>(), 0..20),
        proptest::collection::btree_map(".{0,4}", proptest::collection::vec(leaf(), 0..3), 0..4),
        prop_oneof![Just(Kind::A), Just(Kind::B), Just(Kind::C)],
        any::<i32>(),
        leaf(),
        proptest::collection::hash_map(
            any::<i32>(),
            proptest::collection::vec(any::<u8>(), 0..5),
            0..4,
        ),
    )
        .prop_map(
            |(
                (b, i8_, i16_, i32_, i64_, u8_, u16_, u32_),
                (f, d),
                s,
                bytes,
                list,
                map,
                kind,
                opt,
                leaf,
                hmap,
            )| Everything {
                b,
                i8_,
                i16_,
                i32_,
                i64_,
                u8_,
                u16_,
                u32_,
                f,
                d,
                s,
                bytes: Bytes::from(bytes),
                list,
                map,
                kind,
                opt,
                leaf,
                hmap: hmap.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect(),
            },
        )
}

/// Decodes `buf` every way a server or client would; must never panic.
fn decode_everything_way(buf: &[u8]) {
    let _ = Everything::decode_from(buf);
    let _ = RequestPacket::decode_from(buf);
    let _ = ResponsePacket::decode_from(buf);
    let _ = UniAttribute::decode(&Bytes::copy_from_slice(buf));
    let mut r = Reader::with_limits(
        buf,
        DecodeLimits {
            max_depth: 16,
            ..DecodeLimits::DEFAULT
        },
    );
    while let Ok(Some(head)) = r.read_head().map(Some) {
        if r.skip_value(head.tag, head.ty).is_err() {
            break;
        }
    }
    let mut frames = FrameCodec::with_max_frame(1 << 16);
    let mut b = BytesMut::from(buf);
    while let Ok(Some(_)) = frames.decode_frame(&mut b) {}
    let mut packets = PacketCodec::<RequestPacket, ResponsePacket>::new();
    let mut b = BytesMut::from(buf);
    while let Ok(Some(_)) = packets.decode_packet(&mut b) {}
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn structs_round_trip(v in everything()) {
        let bytes = v.encode_to_bytes();
        prop_assert_eq!(Everything::decode_from(&bytes).unwrap(), v.clone());
        // Also nested as a field and as a list element.
        let mut w = Writer::new();
        vec![v.clone(), v.clone()].write_field(&mut w, 3);
        let back: Vec<Everything> = Reader::new(w.as_slice()).read_required(3, "list").unwrap();
        prop_assert_eq!(back, vec![v.clone(), v]);
    }

    #[test]
    fn encoding_is_canonical(v in everything()) {
        // Entries of a HashMap come out in an order of its own, so keep at most one: then
        // there is exactly one canonical encoding and both passes must produce it.
        let mut v = v;
        if let Some(k) = v.hmap.keys().next().copied() {
            v.hmap.retain(|key, _| *key == k);
        }
        let once = v.encode_to_bytes();
        let decoded = Everything::decode_from(&once).unwrap();
        prop_assert_eq!(&decoded, &v);
        let again = decoded.encode_to_bytes();
        prop_assert_eq!(once, again);
    }

    #[test]
    fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_everything_way(&buf);
    }

    #[test]
    fn mutated_valid_encodings_never_panic(
        v in everything(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut buf = v.encode_to_bytes().to_vec();
        for (i, b) in flips {
            let i = i.index(buf.len());
            buf[i] = b;
        }
        decode_everything_way(&buf);
        let cut = cut.index(buf.len() + 1);
        decode_everything_way(&buf[..cut]);
    }

    #[test]
    fn decoded_packets_reencode_to_equal_packets(buf in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(p) = RequestPacket::decode_from(&buf) {
            prop_assert_eq!(RequestPacket::decode_from(&p.encode_to_bytes()).unwrap(), p);
        }
    }
}
