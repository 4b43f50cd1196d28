//! Behaviour of `#[derive(TarsStruct)]` / `#[derive(TarsEnum)]` on the wire.

use std::collections::BTreeMap;

use tars_codec::bytes::Bytes;
use tars_codec::{DecodeError, Reader, Writer};
use tars_codec::{TarsEnum, TarsStruct, TarsValue};

#[derive(Debug, Clone, Copy, PartialEq, TarsEnum)]
#[tars(name = "Demo.Color")]
enum Color {
    Red = 1,
    Green = 2,
    Blue = -7,
}

#[derive(Debug, Clone, PartialEq, TarsStruct)]
#[tars(class = "Demo.Inner")]
struct Inner {
    #[tars(tag = 0, require)]
    a: i32,
    #[tars(tag = 1, require)]
    b: String,
}

#[derive(Debug, Clone, PartialEq, TarsStruct)]
#[tars(class = "Demo.Outer")]
struct Outer {
    // Declared out of order on purpose: encoding follows tag order.
    #[tars(tag = 2, require)]
    color: Color,
    #[tars(tag = 0, require)]
    id: i64,
    #[tars(tag = 1, default = 7)]
    n: i32,
    #[tars(tag = 3, default = "x")]
    s: String,
    #[tars(tag = 4)]
    list: Vec<i32>,
    #[tars(tag = 5, default = true)]
    flag: bool,
    #[tars(tag = 6, optional)]
    inner: Inner,
    #[tars(tag = 20)]
    blob: Bytes,
    #[tars(tag = 255)]
    map: BTreeMap<String, Inner>,
}

fn sample() -> Outer {
    let mut map = BTreeMap::new();
    map.insert(
        "k".to_owned(),
        Inner {
            a: -1,
            b: "v".into(),
        },
    );
    Outer {
        color: Color::Blue,
        id: 1 << 40,
        n: 9,
        s: "hello".into(),
        list: vec![1, 300, 70000],
        flag: false,
        inner: Inner {
            a: 5,
            b: "in".into(),
        },
        blob: Bytes::from_static(b"\x00\x01\x02"),
        map,
    }
}

#[test]
fn struct_round_trips() {
    let v = sample();
    let bytes = v.encode_to_bytes();
    assert_eq!(Outer::decode_from(&bytes).unwrap(), v);
}

#[test]
fn optional_fields_equal_to_defaults_are_skipped_like_tars2cpp() {
    let v = Outer {
        n: 7,
        s: "x".into(),
        list: vec![],
        flag: true,
        ..sample()
    };
    let bytes = v.encode_to_bytes();
    // id (tag 0, INT8 2^40) then color (tag 2, INT1 -7): tag 1 (n == default) is skipped.
    assert_eq!(&bytes[..9], &[0x03, 0, 0, 1, 0, 0, 0, 0, 0]);
    assert_eq!(&bytes[9..11], &[0x20, 0xf9]);
    let decoded = Outer::decode_from(&bytes).unwrap();
    assert_eq!(decoded, v, "skipped fields decode to their defaults");
    // tag 3 (s == "x") and tag 4 (empty list) are absent; bool is always written.
    let mut r = Reader::new(&bytes);
    assert_eq!(r.read_optional::<String>(3).unwrap(), None);
    assert_eq!(r.read_optional::<Vec<i32>>(4).unwrap(), None);
    assert_eq!(r.read_optional::<bool>(5).unwrap(), Some(true));
}

#[test]
fn absent_required_field_is_an_error_naming_it() {
    let mut w = Writer::new();
    w.write_i64(0, 1);
    // tag 2 (color) missing
    let err = Outer::decode_from(w.as_slice()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::MissingRequired {
            tag: 2,
            field: "color"
        }
    );
    assert_eq!(err.to_string(), "required field color (tag 2) is missing");
}

#[test]
fn absent_optional_fields_take_declared_defaults() {
    let mut w = Writer::new();
    w.write_i64(0, 1);
    w.write_i32(2, 1);
    let v = Outer::decode_from(w.as_slice()).unwrap();
    assert_eq!(v.n, 7);
    assert_eq!(v.s, "x");
    assert!(v.flag);
    assert_eq!(v.color, Color::Red);
    assert_eq!(
        v.inner,
        Inner {
            a: 0,
            b: String::new()
        }
    );
}

#[test]
fn unknown_enum_value_is_an_error() {
    let mut w = Writer::new();
    w.write_i64(0, 1);
    w.write_i32(2, 3);
    let err = Outer::decode_from(w.as_slice()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::UnknownEnumValue {
            tag: 2,
            name: "Demo.Color",
            value: 3
        }
    );
}

#[test]
fn newer_peer_fields_are_skipped_in_nested_structs() {
    // An Inner from a newer peer with extra fields 2 (list) and 9 (struct) must still decode.
    let mut w = Writer::new();
    w.write_struct_begin(0);
    w.write_i32(0, 5);
    w.write_string(1, "in");
    vec![1i32, 2, 3].write_field(&mut w, 2);
    w.write_struct_begin(9);
    w.write_string(0, "deep");
    w.write_struct_end();
    w.write_struct_end();
    w.write_i32(1, 42);
    let mut r = Reader::new(w.as_slice());
    let inner: Inner = r.read_required(0, "inner").unwrap();
    assert_eq!(
        inner,
        Inner {
            a: 5,
            b: "in".into()
        }
    );
    assert_eq!(r.read_required::<i32>(1, "after").unwrap(), 42);
}

#[test]
fn enum_conversions() {
    assert_eq!(i32::from(Color::Blue), -7);
    assert_eq!(
        <Color as tars_codec::TarsEnum>::from_i32(2),
        Some(Color::Green)
    );
    assert_eq!(<Color as tars_codec::TarsEnum>::from_i32(0), None);
}

/// An open enum: values no enumerator names are kept, as TarsCpp and TarsGo (which read enums
/// as plain ints) keep them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, tars_codec::TarsEnum)]
#[tars(name = "Demo.Level")]
enum Level {
    #[tars(value = 1)]
    Low,
    #[tars(value = 7)]
    High,
    #[tars(unknown)]
    Other(i32),
}

#[derive(Debug, Clone, PartialEq, tars_codec::TarsStruct)]
struct WithLevel {
    #[tars(tag = 0, require)]
    level: Level,
    #[tars(tag = 1, default = Level::High)]
    fallback: Level,
}

#[test]
fn open_enums_keep_unknown_values_and_write_them_back() {
    // level = 99 (unknown here), fallback = 1.
    let wire = [0x00, 0x63, 0x10, 0x01];
    let v = WithLevel::decode_from(&wire).unwrap();
    assert_eq!(v.level, Level::Other(99));
    assert_eq!(v.fallback, Level::Low);
    assert_eq!(&v.encode_to_bytes()[..], &wire);
    // Known values never end up in the catch-all, so equality stays meaningful.
    assert_eq!(Level::from(7), Level::High);
    assert_eq!(Level::from(-3), Level::Other(-3));
    assert_eq!(i32::from(Level::Other(-3)), -3);
    assert_eq!(
        <Level as tars_codec::TarsEnum>::from_i32(1),
        Some(Level::Low)
    );
    assert_eq!(
        tars_codec::tup_type_name::<Level>(tars_codec::TupTypeStyle::Cpp),
        "int32"
    );
    // The default is the first enumerator, not the catch-all.
    assert_eq!(<Level as tars_codec::TarsValue>::tars_default(), Level::Low);
}
