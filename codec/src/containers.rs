//! [`TarsValue`] for lists, maps and byte vectors.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash};

use bytes::Bytes;

use super::error::DecodeError;
use super::reader::Reader;
use super::value::{TarsValue, TupTypeStyle};
use super::wire::WireType;
use super::writer::Writer;

/// `vector<T>`: a `LIST`, or a `SIMPLE_LIST` when `T` is `i8` (IDL `byte`).
impl<T: TarsValue> TarsValue for Vec<T> {
    const TYPE_NAME: &'static str = "vector";

    fn tup_type_name(out: &mut String, style: TupTypeStyle) {
        T::tup_list_type_name(out, style);
    }

    #[inline]
    fn write_field(&self, w: &mut Writer, tag: u8) {
        T::write_vec(self, w, tag);
    }

    #[inline]
    fn read_value(r: &mut Reader<'_>, tag: u8, ty: WireType) -> Result<Self, DecodeError> {
        T::read_vec(r, tag, ty)
    }

    fn tars_default() -> Self {
        Vec::new()
    }

    fn skip_optional(&self, _explicit_default: Option<&Self>) -> bool {
        self.is_empty()
    }
}

/// `vector<byte>` as a shared, cheaply clonable buffer: written as a `SIMPLE_LIST`; a `LIST`
/// of bytes is accepted when reading. Decoding from [`Reader::from_bytes`] does not copy.
impl TarsValue for Bytes {
    const TYPE_NAME: &'static str = "vector<byte>";

    fn tup_type_name(out: &mut String, _style: TupTypeStyle) {
        out.push_str("list<char>");
    }

    #[inline]
    fn write_field(&self, w: &mut Writer, tag: u8) {
        w.write_bytes(tag, self);
    }

    #[inline]
    fn read_value(r: &mut Reader<'_>, tag: u8, ty: WireType) -> Result<Self, DecodeError> {
        match ty {
            WireType::SimpleList => r.read_simple_list(tag),
            WireType::List => {
                let v: Vec<i8> = super::value::read_list_elements(r, tag, ty)?;
                r.charge(tag, "byte vector", v.len())?;
                Ok(v.into_iter().map(|b| b as u8).collect())
            }
            _ => Err(DecodeError::TypeMismatch {
                tag,
                expected: Self::TYPE_NAME,
                found: ty,
            }),
        }
    }

    fn tars_default() -> Self {
        Bytes::new()
    }

    fn skip_optional(&self, _explicit_default: Option<&Self>) -> bool {
        self.is_empty()
    }
}

/// `map<K,V>`, as every TUP v2 peer spells it.
fn map_type_name<K: TarsValue, V: TarsValue>(out: &mut String, style: TupTypeStyle) {
    out.push_str("map<");
    K::tup_type_name(out, style);
    out.push(',');
    V::tup_type_name(out, style);
    out.push('>');
}

/// Writes a map from an iterator of entries.
pub fn write_map<'a, K, V, I>(w: &mut Writer, tag: u8, len: usize, entries: I)
where
    K: TarsValue + 'a,
    V: TarsValue + 'a,
    I: IntoIterator<Item = (&'a K, &'a V)>,
{
    w.write_map_header(tag, len);
    for (k, v) in entries {
        k.write_field(w, 0);
        v.write_field(w, 1);
    }
}

/// Reads the entries of a `MAP` whose head has been consumed, handing each to `insert`.
/// Returns the number of entries. The caller charges what it allocates for them
/// ([`Reader::charge`]).
pub fn read_map<K, V>(
    r: &mut Reader<'_>,
    tag: u8,
    ty: WireType,
    mut insert: impl FnMut(K, V),
) -> Result<usize, DecodeError>
where
    K: TarsValue,
    V: TarsValue,
{
    let mut n = 0;
    read_map_into(
        r,
        tag,
        ty,
        |_, len| {
            n = len;
            Ok(())
        },
        |_, k, v| insert(k, v),
    )?;
    Ok(n)
}

/// Reads a `MAP` whose head has been consumed: `make` gets the entry count (to charge and
/// allocate the container), then `insert` gets each entry.
fn read_map_into<K, V, C>(
    r: &mut Reader<'_>,
    tag: u8,
    ty: WireType,
    make: impl FnOnce(&mut Reader<'_>, usize) -> Result<C, DecodeError>,
    mut insert: impl FnMut(&mut C, K, V),
) -> Result<C, DecodeError>
where
    K: TarsValue,
    V: TarsValue,
{
    if ty != WireType::Map {
        return Err(DecodeError::TypeMismatch {
            tag,
            expected: "map",
            found: ty,
        });
    }
    let n = r.read_size(tag, "map", r.limits().max_collection_len, 2)?;
    let mut container = make(r, n)?;
    r.enter()?;
    for _ in 0..n {
        let kty = r.find_field(0)?.ok_or(DecodeError::Malformed {
            tag,
            what: "map key is missing",
        })?;
        let k = K::read_value(r, tag, kty)?;
        let vty = r.find_field(1)?.ok_or(DecodeError::Malformed {
            tag,
            what: "map value is missing",
        })?;
        let v = V::read_value(r, tag, vty)?;
        insert(&mut container, k, v);
    }
    r.leave();
    Ok(container)
}

/// An upper bound of the heap a `BTreeMap<K, V>` of `n` entries takes: nodes hold up to 11
/// entries and at least 5 (more when filled in order), internal nodes add 12 child pointers.
fn btree_map_bytes<K, V>(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let node = 11 * (std::mem::size_of::<K>() + std::mem::size_of::<V>()) + 16 + 12 * 8;
    (n / 5 + 2).saturating_mul(node)
}

/// The heap a `HashMap<K, V>` with capacity for `n` entries takes (hashbrown: a power of two
/// of buckets at most 7/8 full, one control byte per bucket plus a group).
fn hash_map_bytes<K, V>(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let buckets = if n < 4 {
        4
    } else if n < 8 {
        8
    } else {
        (n.saturating_mul(8) / 7).next_power_of_two()
    };
    buckets.saturating_mul(std::mem::size_of::<(K, V)>() + 1) + 16
}

/// `map<K, V>` with ordered keys; entries are written in key order.
impl<K: TarsValue + Ord, V: TarsValue> TarsValue for BTreeMap<K, V> {
    const TYPE_NAME: &'static str = "map";

    fn tup_type_name(out: &mut String, style: TupTypeStyle) {
        map_type_name::<K, V>(out, style);
    }

    fn write_field(&self, w: &mut Writer, tag: u8) {
        write_map(w, tag, self.len(), self);
    }

    fn read_value(r: &mut Reader<'_>, tag: u8, ty: WireType) -> Result<Self, DecodeError> {
        read_map_into(
            r,
            tag,
            ty,
            |r, n| {
                r.charge(tag, "map", btree_map_bytes::<K, V>(n))?;
                Ok(BTreeMap::new())
            },
            |m, k, v| {
                m.insert(k, v);
            },
        )
    }

    fn tars_default() -> Self {
        BTreeMap::new()
    }

    fn skip_optional(&self, _explicit_default: Option<&Self>) -> bool {
        self.is_empty()
    }
}

/// `map<K, V>` with hashed keys; entries are written in iteration order (map order is not
/// significant on the wire).
impl<K, V, S> TarsValue for HashMap<K, V, S>
where
    K: TarsValue + Eq + Hash,
    V: TarsValue,
    S: BuildHasher + Default,
{
    const TYPE_NAME: &'static str = "map";

    fn tup_type_name(out: &mut String, style: TupTypeStyle) {
        map_type_name::<K, V>(out, style);
    }

    fn write_field(&self, w: &mut Writer, tag: u8) {
        write_map(w, tag, self.len(), self);
    }

    fn read_value(r: &mut Reader<'_>, tag: u8, ty: WireType) -> Result<Self, DecodeError> {
        read_map_into(
            r,
            tag,
            ty,
            |r, n| {
                r.charge(tag, "map", hash_map_bytes::<K, V>(n))?;
                Ok(HashMap::with_capacity_and_hasher(n, S::default()))
            },
            |m, k, v| {
                m.insert(k, v);
            },
        )
    }

    fn tars_default() -> Self {
        HashMap::with_hasher(S::default())
    }

    fn skip_optional(&self, _explicit_default: Option<&Self>) -> bool {
        self.is_empty()
    }
}

/// A map kept as a list of entries, for key types without a total order (`float`, `double`,
/// structs without `key[...]`). Encoded exactly like any other `map<K, V>`, in list order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MapVec<K, V>(pub Vec<(K, V)>);

impl<K, V> MapVec<K, V> {
    /// An empty map.
    pub fn new() -> MapVec<K, V> {
        MapVec(Vec::new())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: TarsValue, V: TarsValue> TarsValue for MapVec<K, V> {
    const TYPE_NAME: &'static str = "map";

    fn tup_type_name(out: &mut String, style: TupTypeStyle) {
        map_type_name::<K, V>(out, style);
    }

    fn write_field(&self, w: &mut Writer, tag: u8) {
        write_map(w, tag, self.0.len(), self.0.iter().map(|(k, v)| (k, v)));
    }

    fn read_value(r: &mut Reader<'_>, tag: u8, ty: WireType) -> Result<Self, DecodeError> {
        read_map_into(
            r,
            tag,
            ty,
            |r, n| {
                r.charge(tag, "map", n.saturating_mul(std::mem::size_of::<(K, V)>()))?;
                Ok(Vec::with_capacity(n))
            },
            |entries, k, v| entries.push((k, v)),
        )
        .map(MapVec)
    }

    fn tars_default() -> Self {
        MapVec(Vec::new())
    }

    fn skip_optional(&self, _explicit_default: Option<&Self>) -> bool {
        self.0.is_empty()
    }
}
