// Shared by the `decode_values` fuzz target (fuzz/fuzz_targets/decode_values.rs, through
// `include!`) and the replay of its regressions (tests/fuzz_regressions.rs).

use std::collections::{BTreeMap, HashMap};

use tars_codec::bytes::Bytes;
use tars_codec::{DecodeLimits, MapVec, Reader, TarsString, TarsStruct};

#[derive(Debug, Clone, Copy, PartialEq, tars_codec::TarsEnum)]
enum Open {
    #[tars(value = 1)]
    A,
    #[tars(value = -7)]
    B,
    #[tars(unknown)]
    Other(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, tars_codec::TarsEnum)]
enum Closed {
    X = 0,
    Y = 3,
}

#[derive(Debug, Clone, PartialEq, tars_codec::TarsStruct)]
struct Inner {
    #[tars(tag = 0)]
    s: TarsString,
    #[tars(tag = 1)]
    e: Open,
    #[tars(tag = 2)]
    b: Bytes,
}

#[derive(Debug, Clone, PartialEq, tars_codec::TarsStruct)]
pub struct Values {
    #[tars(tag = 0)]
    name: TarsString,
    #[tars(tag = 1)]
    open: Open,
    #[tars(tag = 2)]
    closed: Closed,
    #[tars(tag = 3)]
    texts: Vec<TarsString>,
    #[tars(tag = 4)]
    attrs: BTreeMap<TarsString, TarsString>,
    #[tars(tag = 5)]
    counts: HashMap<i64, Vec<i16>>,
    #[tars(tag = 6)]
    inner: Vec<Inner>,
    #[tars(tag = 7)]
    blob: Bytes,
    #[tars(tag = 8)]
    legacy: String,
    #[tars(tag = 9)]
    by_float: MapVec<f32, u8>,
    #[tars(tag = 10)]
    signed: Vec<i8>,
    #[tars(tag = 11)]
    flags: Vec<bool>,
    #[tars(tag = 12)]
    wide: Vec<u32>,
}

/// Equal values, comparing the float map's keys by their bits: a NaN key is unequal to itself
/// under `==`. (Not by encoding: a `HashMap` encodes in no fixed order.)
pub fn same(a: &Values, b: &Values) -> bool {
    let bits = |v: &Values| -> Vec<(u32, u8)> {
        v.by_float.0.iter().map(|(k, x)| (k.to_bits(), *x)).collect()
    };
    let (mut a2, mut b2) = (a.clone(), b.clone());
    a2.by_float.0.clear();
    b2.by_float.0.clear();
    a2 == b2 && bits(a) == bits(b)
}

/// The checks of the `decode_values` fuzz target: never panic, stay in budget, both readers
/// agree, and whatever decodes re-encodes to the same value.
pub fn check_decode_values(data: &[u8]) {
    let limits = DecodeLimits {
        memory_factor: 8,
        memory_allowance: 64 * 1024,
        ..DecodeLimits::DEFAULT
    };
    let shared = Bytes::copy_from_slice(data);
    let by_slice = Values::read_fields(&mut Reader::with_limits(data, limits));
    let by_shared = Values::read_fields(&mut Reader::from_bytes(&shared, limits));
    if let (Ok(a), Ok(b)) = (&by_slice, &by_shared) {
        assert!(same(a, b), "{a:?} != {b:?}");
    }
    if let Ok(v) = by_shared {
        let again = Values::decode_from(&v.encode_to_bytes()).expect("re-decode");
        assert!(same(&again, &v), "{again:?} != {v:?}");
        for s in &v.texts {
            assert_eq!(TarsString::from_bytes(Bytes::copy_from_slice(s.as_bytes())), *s);
        }
    }
}
