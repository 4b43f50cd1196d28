//! JSON conventions shared with `node/schema.js`: 64-bit integers as decimal strings, floats as
//! numbers or `"NaN"`/`"Infinity"`/`"-Infinity"`, byte vectors as hex, maps as arrays of
//! `[key, value]` pairs, structs as objects keyed by IDL field name.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tars::bytes::Bytes;
use tars::TarsString;

/// Conversion between a Rust value and its JSON form.
pub trait Json: Sized {
    /// Builds the value from JSON.
    fn from_json(v: &Value) -> Result<Self, String>;
    /// The JSON form of the value.
    fn to_json(&self) -> Value;
}

fn int(v: &Value) -> Result<i128, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .ok_or_else(|| format!("{n} is not an integer")),
        Value::String(s) => s.parse::<i128>().map_err(|e| format!("{s:?}: {e}")),
        other => Err(format!("expected an integer, got {other}")),
    }
}

macro_rules! json_int {
    ($($t:ty => $string:expr),*) => {$(
        impl Json for $t {
            fn from_json(v: &Value) -> Result<Self, String> {
                let n = int(v)?;
                <$t>::try_from(n).map_err(|_| format!("{n} out of range for {}", stringify!($t)))
            }
            fn to_json(&self) -> Value {
                if $string { Value::String(self.to_string()) } else { json!(*self) }
            }
        }
    )*};
}

json_int!(i8 => false, i16 => false, i32 => false, u8 => false, u16 => false, i64 => true, u32 => true);

fn float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number")),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(format!("{s:?} is not a float")),
        },
        other => Err(format!("expected a float, got {other}")),
    }
}

fn float_json(f: f64) -> Value {
    if f.is_nan() {
        json!("NaN")
    } else if f.is_infinite() {
        json!(if f > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(f)
    }
}

impl Json for f64 {
    fn from_json(v: &Value) -> Result<Self, String> {
        float(v)
    }
    fn to_json(&self) -> Value {
        float_json(*self)
    }
}

impl Json for f32 {
    fn from_json(v: &Value) -> Result<Self, String> {
        let f = float(v)?;
        let narrowed = f as f32;
        if f.is_finite() && narrowed as f64 != f {
            return Err(format!("{f} is not exactly representable as f32"));
        }
        Ok(narrowed)
    }
    fn to_json(&self) -> Value {
        float_json(*self as f64)
    }
}

impl Json for bool {
    fn from_json(v: &Value) -> Result<Self, String> {
        v.as_bool()
            .ok_or_else(|| format!("expected a bool, got {v}"))
    }
    fn to_json(&self) -> Value {
        json!(*self)
    }
}

impl Json for String {
    fn from_json(v: &Value) -> Result<Self, String> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("expected a string, got {v}"))
    }
    fn to_json(&self) -> Value {
        json!(self)
    }
}

/// UTF-8 strings are JSON strings; other byte strings (GBK, say) are `{"hex": "..."}`.
impl Json for TarsString {
    fn from_json(v: &Value) -> Result<Self, String> {
        if let Some(s) = v.as_str() {
            return Ok(TarsString::from(s));
        }
        let hex_text = v
            .get("hex")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("expected a string or {{\"hex\": ...}}, got {v}"))?;
        let raw = hex::decode(hex_text).map_err(|e| format!("bad hex string {hex_text:?}: {e}"))?;
        Ok(TarsString::from_bytes(raw))
    }
    fn to_json(&self) -> Value {
        match self.to_str() {
            Some(s) => json!(s),
            None => json!({ "hex": hex::encode(self.as_bytes()) }),
        }
    }
}

impl Json for Bytes {
    fn from_json(v: &Value) -> Result<Self, String> {
        let s = v.as_str().ok_or_else(|| format!("expected hex, got {v}"))?;
        hex::decode(s)
            .map(Bytes::from)
            .map_err(|e| format!("bad hex {s:?}: {e}"))
    }
    fn to_json(&self) -> Value {
        json!(hex::encode(self))
    }
}

impl<T: Json> Json for Vec<T> {
    fn from_json(v: &Value) -> Result<Self, String> {
        v.as_array()
            .ok_or_else(|| format!("expected an array, got {v}"))?
            .iter()
            .map(T::from_json)
            .collect()
    }
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(Json::to_json).collect())
    }
}

impl<K: Json + Ord, V: Json> Json for BTreeMap<K, V> {
    fn from_json(v: &Value) -> Result<Self, String> {
        let pairs = v
            .as_array()
            .ok_or_else(|| format!("expected [[k, v], ...], got {v}"))?;
        pairs
            .iter()
            .map(|p| match p.as_array().map(Vec::as_slice) {
                Some([k, v]) => Ok((K::from_json(k)?, V::from_json(v)?)),
                _ => Err(format!("expected a [key, value] pair, got {p}")),
            })
            .collect()
    }
    fn to_json(&self) -> Value {
        Value::Array(
            self.iter()
                .map(|(k, v)| json!([k.to_json(), v.to_json()]))
                .collect(),
        )
    }
}

/// Reads field `name` of a JSON object.
pub fn field<T: Json>(obj: &Value, name: &str) -> Result<T, String> {
    let v = obj
        .get(name)
        .ok_or_else(|| format!("missing field {name:?} in {obj}"))?;
    T::from_json(v).map_err(|e| format!("field {name}: {e}"))
}
