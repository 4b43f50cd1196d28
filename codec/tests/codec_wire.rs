//! Exact wire forms written by `Writer` and the forms `Reader` accepts and rejects.

use std::collections::BTreeMap;

use tars_codec::bytes::Bytes;
use tars_codec::{DecodeError, DecodeLimits, Reader, TarsValue, WireType, Writer};

fn enc<T: TarsValue>(v: &T, tag: u8) -> Vec<u8> {
    let mut w = Writer::new();
    v.write_field(&mut w, tag);
    w.as_slice().to_vec()
}

fn dec<T: TarsValue>(buf: &[u8], tag: u8) -> Result<T, DecodeError> {
    Reader::new(buf).read_required(tag, "f")
}

#[test]
fn integers_narrow_to_smallest_form() {
    assert_eq!(enc(&0i32, 0), [0x0c]);
    assert_eq!(enc(&1i64, 0), [0x00, 0x01]);
    assert_eq!(enc(&-128i32, 0), [0x00, 0x80]);
    assert_eq!(enc(&127i16, 1), [0x10, 0x7f]);
    assert_eq!(enc(&128i16, 1), [0x11, 0x00, 0x80]);
    assert_eq!(enc(&-129i32, 0), [0x01, 0xff, 0x7f]);
    assert_eq!(enc(&32767i64, 0), [0x01, 0x7f, 0xff]);
    assert_eq!(enc(&32768i32, 0), [0x02, 0x00, 0x00, 0x80, 0x00]);
    assert_eq!(enc(&i32::MIN, 0), [0x02, 0x80, 0, 0, 0]);
    assert_eq!(
        enc(&(i32::MAX as i64 + 1), 0),
        [0x03, 0, 0, 0, 0, 0x80, 0, 0, 0]
    );
    assert_eq!(enc(&i64::MIN, 0), [0x03, 0x80, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn unsigned_types_widen() {
    // unsigned byte 255 does not fit INT1: written as INT2.
    assert_eq!(enc(&255u8, 0), [0x01, 0x00, 0xff]);
    assert_eq!(enc(&65535u16, 0), [0x02, 0x00, 0x00, 0xff, 0xff]);
    assert_eq!(
        enc(&u32::MAX, 0),
        [0x03, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]
    );
    assert_eq!(dec::<u8>(&enc(&255u8, 0), 0).unwrap(), 255);
    assert_eq!(dec::<u32>(&enc(&u32::MAX, 0), 0).unwrap(), u32::MAX);
    // A negative value for an unsigned type is rejected, not wrapped.
    assert_eq!(
        dec::<u8>(&[0x00, 0xff], 0),
        Err(DecodeError::OutOfRange {
            tag: 0,
            expected: "unsigned byte",
            value: -1
        })
    );
    assert!(matches!(
        dec::<u8>(&[0x01, 0x01, 0x00], 0),
        Err(DecodeError::OutOfRange { value: 256, .. })
    ));
}

#[test]
fn bools_and_floats() {
    assert_eq!(enc(&true, 0), [0x00, 0x01]);
    assert_eq!(enc(&false, 0), [0x0c]);
    assert_eq!(enc(&0.0f32, 0), [0x04, 0, 0, 0, 0], "0.0 is not ZERO_TAG");
    assert_eq!(enc(&1.5f64, 0), [0x05, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
    assert_eq!(enc(&1.5f32, 2), [0x24, 0x3f, 0xc0, 0, 0]);
    assert!(dec::<f64>(&enc(&f64::NAN, 0), 0).unwrap().is_nan());
    assert_eq!(
        dec::<f64>(&enc(&f64::NEG_INFINITY, 0), 0).unwrap(),
        f64::NEG_INFINITY
    );
    // Double reads FLOAT and ZERO_TAG; float does not read DOUBLE.
    assert_eq!(dec::<f64>(&[0x04, 0x3f, 0xc0, 0, 0], 0).unwrap(), 1.5);
    assert_eq!(dec::<f64>(&[0x0c], 0).unwrap(), 0.0);
    assert_eq!(dec::<f32>(&[0x0c], 0).unwrap(), 0.0);
    assert_eq!(
        dec::<f32>(&enc(&1.5f64, 0), 0),
        Err(DecodeError::TypeMismatch {
            tag: 0,
            expected: "float",
            found: WireType::Double
        })
    );
}

#[test]
fn readers_accept_narrower_and_reject_wider_integers() {
    for buf in [
        &[0x0c][..],
        &[0x00, 0x05],
        &[0x01, 0x00, 0x05],
        &[0x02, 0, 0, 0, 5],
        &[0x03, 0, 0, 0, 0, 0, 0, 0, 5],
    ] {
        let want = if buf.len() == 1 { 0 } else { 5 };
        assert_eq!(dec::<i64>(buf, 0).unwrap(), want);
    }
    assert_eq!(
        dec::<i32>(&[0x03, 0, 0, 0, 0, 0, 0, 0, 5], 0),
        Err(DecodeError::TypeMismatch {
            tag: 0,
            expected: "int",
            found: WireType::Int8
        })
    );
    assert!(matches!(
        dec::<i16>(&[0x02, 0, 0, 0, 5], 0),
        Err(DecodeError::TypeMismatch { .. })
    ));
    assert!(matches!(
        dec::<i8>(&[0x01, 0, 5], 0),
        Err(DecodeError::TypeMismatch { .. })
    ));
    assert!(matches!(
        dec::<bool>(&[0x06, 0x00], 0),
        Err(DecodeError::TypeMismatch { .. })
    ));
}

#[test]
fn strings_switch_to_string4_above_255_bytes() {
    let s255 = "a".repeat(255);
    let s256 = "a".repeat(256);
    let e255 = enc(&s255, 0);
    assert_eq!(&e255[..2], &[0x06, 0xff]);
    assert_eq!(e255.len(), 257);
    let e256 = enc(&s256, 0);
    assert_eq!(&e256[..5], &[0x07, 0x00, 0x00, 0x01, 0x00]);
    assert_eq!(dec::<String>(&e256, 0).unwrap(), s256);
    assert_eq!(enc(&String::new(), 3), [0x36, 0x00]);
    assert_eq!(enc(&"é".to_string(), 0), [0x06, 0x02, 0xc3, 0xa9]);
    assert_eq!(
        dec::<String>(&[0x06, 0x01, 0xff], 0),
        Err(DecodeError::InvalidUtf8 { tag: 0 })
    );
}

#[test]
fn byte_vectors_are_simple_lists() {
    let b = Bytes::from_static(&[1, 2, 3]);
    assert_eq!(enc(&b, 0), [0x0d, 0x00, 0x00, 0x03, 1, 2, 3]);
    assert_eq!(enc(&vec![1i8, 2, 3], 0), [0x0d, 0x00, 0x00, 0x03, 1, 2, 3]);
    assert_eq!(enc(&Bytes::new(), 1), [0x1d, 0x00, 0x0c]);
    // A LIST of bytes is accepted too.
    let as_list = [0x09, 0x00, 0x03, 0x00, 0x01, 0x00, 0x02, 0x00, 0x03];
    assert_eq!(dec::<Bytes>(&as_list, 0).unwrap(), b);
    assert_eq!(dec::<Vec<i8>>(&as_list, 0).unwrap(), vec![1, 2, 3]);
    // unsigned byte vectors are lists of shorts.
    assert_eq!(
        enc(&vec![1u8, 255], 0),
        [0x09, 0x00, 0x02, 0x00, 0x01, 0x01, 0x00, 0xff]
    );
}

#[test]
fn lists_and_maps() {
    assert_eq!(enc(&Vec::<i32>::new(), 0), [0x09, 0x0c]);
    assert_eq!(enc(&BTreeMap::<i32, i32>::new(), 0), [0x08, 0x0c]);
    assert_eq!(
        enc(&vec![1i32, 2], 0),
        [0x09, 0x00, 0x02, 0x00, 0x01, 0x00, 0x02]
    );
    let mut m = BTreeMap::new();
    m.insert("a".to_string(), 1i32);
    assert_eq!(enc(&m, 2), [0x28, 0x00, 0x01, 0x06, 0x01, b'a', 0x10, 0x01]);
    let nested = vec![vec!["x".to_string()], vec![]];
    assert_eq!(
        dec::<Vec<Vec<String>>>(&enc(&nested, 0), 0).unwrap(),
        nested
    );
}

#[test]
fn high_tags_use_two_byte_heads() {
    assert_eq!(enc(&1i32, 14), [0xe0, 0x01]);
    assert_eq!(enc(&1i32, 15), [0xf0, 0x0f, 0x01]);
    assert_eq!(enc(&1i32, 255), [0xf0, 0xff, 0x01]);
    assert_eq!(dec::<i32>(&[0xf0, 0xff, 0x01], 255).unwrap(), 1);
}

#[test]
fn unknown_fields_with_smaller_tags_are_skipped_and_greater_tags_mean_absent() {
    let mut w = Writer::new();
    w.write_string(0, "skip me");
    BTreeMap::from([(1i32, vec![1.5f64])]).write_field(&mut w, 1);
    w.write_struct_begin(2);
    w.write_bytes(0, b"zz");
    w.write_struct_end();
    w.write_i32(5, 9);
    w.write_i32(7, 11);
    let mut r = Reader::new(w.as_slice());
    assert_eq!(
        r.read_optional::<i32>(3).unwrap(),
        None,
        "tag 5 comes first: 3 is absent"
    );
    assert_eq!(r.read_optional::<i32>(5).unwrap(), Some(9));
    assert_eq!(r.read_optional::<i32>(6).unwrap(), None);
    assert_eq!(r.read_optional::<i32>(7).unwrap(), Some(11));
    assert_eq!(
        r.read_optional::<i32>(8).unwrap(),
        None,
        "end of buffer: absent"
    );
    assert_eq!(
        Reader::new(w.as_slice()).read_required::<i32>(6, "six"),
        Err(DecodeError::MissingRequired {
            tag: 6,
            field: "six"
        })
    );
}

#[test]
fn truncated_input_is_an_error_at_every_cut() {
    let mut w = Writer::new();
    w.write_string(0, "hello");
    vec![1i64 << 40, 2].write_field(&mut w, 1);
    Bytes::from_static(b"abc").write_field(&mut w, 2);
    let full = w.as_slice().to_vec();
    for cut in 1..full.len() {
        let mut r = Reader::new(&full[..cut]);
        let res = (|| -> Result<(), DecodeError> {
            r.read_required::<String>(0, "s")?;
            r.read_required::<Vec<i64>>(1, "l")?;
            r.read_required::<Bytes>(2, "b")?;
            Ok(())
        })();
        assert!(res.is_err(), "cut at {cut} must fail");
    }
}

#[test]
fn invalid_wire_types_are_rejected() {
    assert_eq!(
        dec::<i32>(&[0x0e], 0),
        Err(DecodeError::InvalidWireType {
            code: 14,
            offset: 0
        })
    );
    assert!(matches!(
        dec::<i32>(&[0x1f], 1),
        Err(DecodeError::InvalidWireType { code: 15, .. })
    ));
}

#[test]
fn sizes_are_checked_before_allocating() {
    // A list claiming 2^31-1 elements in a 7-byte buffer.
    let huge = [0x09, 0x02, 0x7f, 0xff, 0xff, 0xff, 0x0c];
    assert!(matches!(
        dec::<Vec<i32>>(&huge, 0),
        Err(DecodeError::LengthTooLarge { what: "list", .. })
    ));
    // A negative size.
    assert_eq!(
        dec::<Vec<i32>>(&[0x09, 0x00, 0xff], 0),
        Err(DecodeError::NegativeLength { tag: 0, len: -1 })
    );
    // A STRING4 claiming 4 GiB.
    assert!(matches!(
        dec::<String>(&[0x07, 0xff, 0xff, 0xff, 0xff, b'a'], 0),
        Err(DecodeError::LengthTooLarge { what: "string", .. })
    ));
    // A map whose size needs more bytes than remain.
    assert!(matches!(
        dec::<BTreeMap<i32, i32>>(&[0x08, 0x00, 0x02, 0x0c, 0x1c], 0),
        Err(DecodeError::LengthTooLarge { what: "map", .. })
    ));
}

#[test]
fn configured_limits_apply() {
    let limits = DecodeLimits {
        max_string_len: 4,
        max_collection_len: 2,
        max_bytes_len: 3,
        max_depth: 2,
        ..DecodeLimits::DEFAULT
    };
    let read = |buf: &[u8]| -> Result<(), DecodeError> {
        let mut r = Reader::with_limits(buf, limits);
        r.find_field(0)?.map(|ty| r.skip_value(0, ty)).transpose()?;
        Ok(())
    };
    assert!(read(&enc(&"abcd".to_string(), 0)).is_ok());
    assert!(matches!(
        read(&enc(&"abcde".to_string(), 0)),
        Err(DecodeError::LengthTooLarge { limit: 4, .. })
    ));
    assert!(matches!(
        read(&enc(&vec![1i32, 2, 3], 0)),
        Err(DecodeError::LengthTooLarge { limit: 2, .. })
    ));
    assert!(matches!(
        read(&enc(&Bytes::from_static(b"abcd"), 0)),
        Err(DecodeError::LengthTooLarge { limit: 3, .. })
    ));
    assert!(read(&enc(&vec![vec![1i32]], 0)).is_ok());
    assert_eq!(
        read(&enc(&vec![vec![vec![1i32]]], 0)),
        Err(DecodeError::TooDeep { limit: 2 })
    );
}

#[test]
fn deep_nesting_is_bounded_not_a_stack_overflow() {
    // 100k nested STRUCT_BEGIN heads.
    let buf = vec![0x0a; 100_000];
    let mut r = Reader::new(&buf);
    let ty = r.find_field(0).unwrap().unwrap();
    assert_eq!(r.skip_value(0, ty), Err(DecodeError::TooDeep { limit: 64 }));
    // 100k nested lists of one element.
    let mut buf = Vec::new();
    for _ in 0..100_000 {
        buf.extend_from_slice(&[0x09, 0x00, 0x01]);
    }
    let mut r = Reader::new(&buf);
    // The typed read stops at the declared depth with a type error.
    assert!(matches!(
        r.read_required::<Vec<Vec<Vec<i32>>>>(0, "x"),
        Err(DecodeError::TypeMismatch {
            expected: "int",
            found: WireType::List,
            ..
        })
    ));
    let mut r = Reader::new(&buf);
    let ty = r.find_field(0).unwrap().unwrap();
    assert_eq!(r.skip_value(0, ty), Err(DecodeError::TooDeep { limit: 64 }));
}

#[test]
fn unterminated_nested_struct_is_an_error() {
    let buf = [0x0a, 0x00, 0x01]; // STRUCT_BEGIN, one field, no STRUCT_END
    let mut r = Reader::new(&buf);
    let ty = r.find_field(0).unwrap().unwrap();
    assert_eq!(
        r.skip_value(0, ty),
        Err(DecodeError::UnterminatedStruct { tag: 0 })
    );
}

#[test]
fn malformed_simple_list_is_an_error() {
    assert_eq!(
        dec::<Bytes>(&[0x0d, 0x10, 0x00], 0),
        Err(DecodeError::MalformedSimpleList { tag: 0 })
    );
}

#[test]
fn zero_copy_bytes_share_the_source_buffer() {
    let src = Bytes::from(enc(&Bytes::from_static(b"payload"), 0));
    let mut r = Reader::from_bytes(&src, DecodeLimits::DEFAULT);
    let got: Bytes = r.read_required(0, "b").unwrap();
    assert_eq!(&got[..], b"payload");
    let range = src.as_ptr() as usize..src.as_ptr() as usize + src.len();
    assert!(range.contains(&(got.as_ptr() as usize)), "no copy was made");
}

#[test]
fn map_vec_encodes_like_a_map_and_keeps_float_keys() {
    use tars_codec::MapVec;
    let m = MapVec(vec![(1.5f32, "a".to_string()), (-0.5f32, "b".to_string())]);
    let bytes = enc(&m, 1);
    assert_eq!(&bytes[..3], &[0x18, 0x00, 0x02]);
    let back: MapVec<f32, String> = dec(&bytes, 1).unwrap();
    assert_eq!(back, m, "entries keep their order");
    // Readable as an ordinary map of the same wire shape.
    let via_btree: BTreeMap<String, i32> =
        dec(&enc(&MapVec(vec![("k".to_string(), 7i32)]), 0), 0).unwrap();
    assert_eq!(via_btree.get("k"), Some(&7));
    assert!(MapVec::<i32, i32>::new().is_empty());
}

#[test]
fn param_writer_write_str_matches_owned_strings() {
    use tars_codec::packet::ParamWriter;
    let mut a = ParamWriter::tars();
    a.write_str(1, "s", "hello");
    let mut b = ParamWriter::tars();
    b.write(1, "s", &"hello".to_string());
    assert_eq!(a.into_body(), b.into_body());
    let mut t = ParamWriter::tup();
    t.write_str(1, "s", "x");
    let attrs = tars_codec::packet::UniAttribute::decode(&t.into_body()).unwrap();
    assert_eq!(attrs.get::<String>("s").unwrap(), "x");
}
