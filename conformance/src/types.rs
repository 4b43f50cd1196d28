//! From a type expression (IDL spelling, as in the vectors) to the Rust type implementing it.

use std::collections::BTreeMap;
use std::fmt::Debug;

use serde_json::Value;
use tars::bytes::Bytes;
use tars::codec::{Reader, TarsValue, Writer};

use crate::json::Json;
use crate::model::{HighTags, Mid, Nested, Small, WithOptional};

/// A type usable in conformance cases.
pub trait CaseType: TarsValue + Json + Debug {}
impl<T: TarsValue + Json + Debug> CaseType for T {}

/// An operation generic over the case type.
pub trait Visitor {
    /// What the operation returns.
    type Out;
    /// Runs the operation for type `T`.
    fn visit<T: CaseType>(self) -> Self::Out;
}

/// Runs `v` with the Rust type of type expression `ty`.
pub fn dispatch<V: Visitor>(ty: &str, v: V) -> Result<V::Out, String> {
    Ok(match ty {
        "bool" => v.visit::<bool>(),
        "byte" => v.visit::<i8>(),
        "short" => v.visit::<i16>(),
        "int" => v.visit::<i32>(),
        "long" => v.visit::<i64>(),
        "unsigned byte" => v.visit::<u8>(),
        "unsigned short" => v.visit::<u16>(),
        "unsigned int" => v.visit::<u32>(),
        "float" => v.visit::<f32>(),
        "double" => v.visit::<f64>(),
        "string" => v.visit::<String>(),
        "vector<byte>" => v.visit::<Bytes>(),
        "vector<int>" => v.visit::<Vec<i32>>(),
        "vector<string>" => v.visit::<Vec<String>>(),
        "vector<long>" => v.visit::<Vec<i64>>(),
        "vector<bool>" => v.visit::<Vec<bool>>(),
        "vector<double>" => v.visit::<Vec<f64>>(),
        "vector<float>" => v.visit::<Vec<f32>>(),
        "vector<short>" => v.visit::<Vec<i16>>(),
        "vector<unsigned byte>" => v.visit::<Vec<u8>>(),
        "vector<unsigned short>" => v.visit::<Vec<u16>>(),
        "vector<unsigned int>" => v.visit::<Vec<u32>>(),
        "vector<vector<int>>" => v.visit::<Vec<Vec<i32>>>(),
        "vector<vector<vector<int>>>" => v.visit::<Vec<Vec<Vec<i32>>>>(),
        "vector<vector<byte>>" => v.visit::<Vec<Bytes>>(),
        "vector<map<string,int>>" => v.visit::<Vec<BTreeMap<String, i32>>>(),
        "map<string,int>" => v.visit::<BTreeMap<String, i32>>(),
        "map<int,string>" => v.visit::<BTreeMap<i32, String>>(),
        "map<int,vector<string>>" => v.visit::<BTreeMap<i32, Vec<String>>>(),
        "map<string,vector<byte>>" => v.visit::<BTreeMap<String, Bytes>>(),
        "map<string,map<string,string>>" => v.visit::<BTreeMap<String, BTreeMap<String, String>>>(),
        "map<long,double>" => v.visit::<BTreeMap<i64, f64>>(),
        "struct:Conf.Small" => v.visit::<Small>(),
        "struct:Conf.Mid" => v.visit::<Mid>(),
        "struct:Conf.HighTags" => v.visit::<HighTags>(),
        "struct:Conf.Nested" => v.visit::<Nested>(),
        "struct:Conf.WithOptional" => v.visit::<WithOptional>(),
        "vector<struct:Conf.Small>" => v.visit::<Vec<Small>>(),
        "vector<struct:Conf.Mid>" => v.visit::<Vec<Mid>>(),
        "map<string,struct:Conf.Small>" => v.visit::<BTreeMap<String, Small>>(),
        "map<int,struct:Conf.HighTags>" => v.visit::<BTreeMap<i32, HighTags>>(),
        other => {
            return Err(format!(
                "type expression {other:?} has no Rust mapping in conformance/src/types.rs"
            ))
        }
    })
}

/// Encodes the JSON `value` of type `ty` at `tag` with our encoder.
pub fn encode(ty: &str, tag: u8, value: &Value) -> Result<Vec<u8>, String> {
    struct Enc<'a>(u8, &'a Value);
    impl Visitor for Enc<'_> {
        type Out = Result<Vec<u8>, String>;
        fn visit<T: CaseType>(self) -> Self::Out {
            let v = T::from_json(self.1)?;
            let mut w = Writer::new();
            v.write_field(&mut w, self.0);
            Ok(w.as_slice().to_vec())
        }
    }
    dispatch(ty, Enc(tag, value))?
}

/// The canonical JSON form of `value` as type `ty`: what our decoder's JSON must equal (maps in
/// key order, integers and floats normalised).
pub fn canonical_json(ty: &str, value: &Value) -> Result<Value, String> {
    struct Canon<'a>(&'a Value);
    impl Visitor for Canon<'_> {
        type Out = Result<Value, String>;
        fn visit<T: CaseType>(self) -> Self::Out {
            Ok(T::from_json(self.0)?.to_json())
        }
    }
    dispatch(ty, Canon(value))?
}

/// What our decoder made of some bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The value, in JSON form.
    pub json: Value,
    /// The value re-encoded by our encoder (a canonical form for comparisons).
    pub reencoded: Vec<u8>,
}

/// Decodes field `tag` of type `ty` from `bytes` with our decoder.
pub fn decode(ty: &str, tag: u8, bytes: &[u8]) -> Result<Decoded, String> {
    struct Dec<'a>(u8, &'a [u8]);
    impl Visitor for Dec<'_> {
        type Out = Result<Decoded, String>;
        fn visit<T: CaseType>(self) -> Self::Out {
            let mut r = Reader::new(self.1);
            let v: T = r
                .read_required(self.0, "value")
                .map_err(|e| e.to_string())?;
            if !r.is_at_end() {
                return Err(format!(
                    "{} trailing byte(s) after the value",
                    r.remaining()
                ));
            }
            let mut w = Writer::new();
            v.write_field(&mut w, self.0);
            Ok(Decoded {
                json: v.to_json(),
                reencoded: w.as_slice().to_vec(),
            })
        }
    }
    dispatch(ty, Dec(tag, bytes))?
}
