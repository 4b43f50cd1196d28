//! Schema-driven conversion between JSON and Tars bytes, for `idlc encode` / `idlc decode`.
//!
//! JSON forms: integers and floats as numbers (`"NaN"`, `"Infinity"`, `"-Infinity"` as
//! strings), strings as strings, `vector<byte>` as a hex string, vectors as arrays, maps with
//! string keys as objects and other maps as arrays of `[key, value]` pairs, structs as objects
//! keyed by IDL field name, enums by enumerator name (a number is accepted too).

use std::collections::BTreeMap;

use serde_json::{json, Map, Number, Value};
use tars_codec::bytes::Bytes;
use tars_codec::{DecodeError, Reader, WireType, Writer};

use crate::codegen::ir::{REnum, RModule, RStruct, RType};

/// Why a conversion failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    /// The JSON does not fit the type.
    #[error("{path}: {message}")]
    Json {
        /// Where in the value (`$.field[2]`).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The bytes did not decode.
    #[error("{path}: {source}")]
    Decode {
        /// Where in the value.
        path: String,
        /// The decoder's error.
        source: DecodeError,
    },
    /// The bytes lack a required field of a struct.
    #[error("{path}: required field `{field}` (tag {tag}) of {strukt} is missing")]
    MissingRequired {
        /// Where the struct is in the value (`$`, `$.inner`).
        path: String,
        /// The field's IDL name.
        field: String,
        /// The field's tag.
        tag: u8,
        /// The struct, `Module.Name`.
        strukt: String,
    },
    /// A named type is not declared.
    #[error("unknown type {0}")]
    UnknownType(String),
}

/// The declared types a conversion can refer to.
pub struct Schema<'a> {
    structs: BTreeMap<(Vec<String>, String), &'a RStruct>,
    enums: BTreeMap<(Vec<String>, String), &'a REnum>,
}

impl<'a> Schema<'a> {
    /// Indexes the types of `modules`.
    pub fn new(modules: &'a [RModule]) -> Schema<'a> {
        let mut structs = BTreeMap::new();
        let mut enums = BTreeMap::new();
        for m in modules {
            for s in &m.structs {
                structs.insert((m.path.clone(), s.name.clone()), s);
            }
            for e in &m.enums {
                enums.insert((m.path.clone(), e.name.clone()), e);
            }
        }
        Schema { structs, enums }
    }

    /// Looks up `Mod::Name` (or `Mod.Name`) as a struct type.
    pub fn struct_type(&self, qualified: &str) -> Result<RType, ConvertError> {
        let parts: Vec<&str> = qualified
            .split(['.', ':'])
            .filter(|s| !s.is_empty())
            .collect();
        let (name, path) = parts
            .split_last()
            .ok_or_else(|| ConvertError::UnknownType(qualified.to_owned()))?;
        let key = (
            path.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            name.to_string(),
        );
        if self.structs.contains_key(&key) {
            Ok(RType::Struct(key.0, key.1))
        } else {
            Err(ConvertError::UnknownType(qualified.to_owned()))
        }
    }

    fn get_struct(&self, path: &[String], name: &str) -> Result<&'a RStruct, ConvertError> {
        self.structs
            .get(&(path.to_vec(), name.to_owned()))
            .copied()
            .ok_or_else(|| ConvertError::UnknownType(format!("{}::{name}", path.join("::"))))
    }

    fn get_enum(&self, path: &[String], name: &str) -> Result<&'a REnum, ConvertError> {
        self.enums
            .get(&(path.to_vec(), name.to_owned()))
            .copied()
            .ok_or_else(|| ConvertError::UnknownType(format!("{}::{name}", path.join("::"))))
    }

    /// Encodes `value` of struct type `ty` as a top-level buffer (no STRUCT_BEGIN wrapper).
    pub fn encode_struct(&self, ty: &RType, value: &Value) -> Result<Bytes, ConvertError> {
        let RType::Struct(path, name) = ty else {
            return Err(ConvertError::UnknownType(format!("{ty:?} is not a struct")));
        };
        let s = self.get_struct(path, name)?;
        let mut w = Writer::new();
        self.write_fields(&mut w, s, value, "$")?;
        Ok(w.into_bytes())
    }

    /// Decodes a top-level buffer of struct type `ty` to JSON.
    pub fn decode_struct(&self, ty: &RType, bytes: &[u8]) -> Result<Value, ConvertError> {
        let RType::Struct(path, name) = ty else {
            return Err(ConvertError::UnknownType(format!("{ty:?} is not a struct")));
        };
        let s = self.get_struct(path, name)?;
        let mut r = Reader::new(bytes);
        self.read_fields(&mut r, path, s, "$")
    }

    fn write_fields(
        &self,
        w: &mut Writer,
        s: &RStruct,
        value: &Value,
        at: &str,
    ) -> Result<(), ConvertError> {
        let obj = value
            .as_object()
            .ok_or_else(|| json_err(at, "expected an object"))?;
        for key in obj.keys() {
            if !s.fields.iter().any(|f| &f.idl_name == key) {
                return Err(json_err(at, &format!("{} has no field {key:?}", s.name)));
            }
        }
        for f in &s.fields {
            let path = format!("{at}.{}", f.idl_name);
            match obj.get(&f.idl_name) {
                Some(v) => self.write_value(w, &f.ty, f.tag, v, &path)?,
                None if f.require => return Err(json_err(&path, "required field is missing")),
                None => {}
            }
        }
        Ok(())
    }

    fn write_value(
        &self,
        w: &mut Writer,
        ty: &RType,
        tag: u8,
        v: &Value,
        at: &str,
    ) -> Result<(), ConvertError> {
        match ty {
            RType::Bool => w.write_bool(
                tag,
                v.as_bool().ok_or_else(|| json_err(at, "expected a bool"))?,
            ),
            RType::I8 => w.write_i8(tag, int_in(v, at, i8::MIN as i64, i8::MAX as i64)? as i8),
            RType::I16 => w.write_i16(tag, int_in(v, at, i16::MIN as i64, i16::MAX as i64)? as i16),
            RType::I32 => w.write_i32(tag, int_in(v, at, i32::MIN as i64, i32::MAX as i64)? as i32),
            RType::I64 => w.write_i64(tag, int_in(v, at, i64::MIN, i64::MAX)?),
            RType::U8 => w.write_i16(tag, int_in(v, at, 0, u8::MAX as i64)? as i16),
            RType::U16 => w.write_i32(tag, int_in(v, at, 0, u16::MAX as i64)? as i32),
            RType::U32 => w.write_i64(tag, int_in(v, at, 0, u32::MAX as i64)?),
            RType::F32 => w.write_f32(tag, float(v, at)? as f32),
            RType::F64 => w.write_f64(tag, float(v, at)?),
            RType::String => w.write_string(
                tag,
                v.as_str()
                    .ok_or_else(|| json_err(at, "expected a string"))?,
            ),
            RType::Bytes => {
                let s = v
                    .as_str()
                    .ok_or_else(|| json_err(at, "expected a hex string"))?;
                let bytes = hex::decode(s).map_err(|e| json_err(at, &format!("bad hex: {e}")))?;
                w.write_bytes(tag, &bytes);
            }
            RType::Vec(inner) => {
                let items = v
                    .as_array()
                    .ok_or_else(|| json_err(at, "expected an array"))?;
                w.write_list_header(tag, items.len());
                for (i, item) in items.iter().enumerate() {
                    self.write_value(w, inner, 0, item, &format!("{at}[{i}]"))?;
                }
            }
            RType::Map(k, val) => {
                let entries = map_entries(v, k, at)?;
                w.write_map_header(tag, entries.len());
                for (i, (key, value)) in entries.iter().enumerate() {
                    self.write_value(w, k, 0, key, &format!("{at}{{key {i}}}"))?;
                    self.write_value(w, val, 1, value, &format!("{at}{{value {i}}}"))?;
                }
            }
            RType::Struct(path, name) => {
                let s = self.get_struct(path, name)?;
                w.write_struct_begin(tag);
                self.write_fields(w, s, v, at)?;
                w.write_struct_end();
            }
            RType::Enum(path, name) => {
                let e = self.get_enum(path, name)?;
                let n = match v {
                    Value::String(s) => e
                        .members
                        .iter()
                        .find(|(m, _, _)| m == s)
                        .map(|(_, n, _)| *n)
                        .ok_or_else(|| {
                            json_err(at, &format!("{s:?} is not an enumerator of {}", e.name))
                        })?,
                    _ => int_in(v, at, i32::MIN as i64, i32::MAX as i64)? as i32,
                };
                w.write_i32(tag, n);
            }
        }
        Ok(())
    }

    fn read_fields(
        &self,
        r: &mut Reader<'_>,
        module: &[String],
        s: &RStruct,
        at: &str,
    ) -> Result<Value, ConvertError> {
        let mut obj = Map::new();
        for f in &s.fields {
            let path = format!("{at}.{}", f.idl_name);
            match r.find_field(f.tag).map_err(|e| dec_err(&path, e))? {
                Some(wt) => {
                    obj.insert(
                        f.idl_name.clone(),
                        self.read_value(r, &f.ty, f.tag, wt, &path)?,
                    );
                }
                // Not DecodeError::MissingRequired: its field name is a static string, and
                // this one comes from the IDL.
                None if f.require => {
                    return Err(ConvertError::MissingRequired {
                        path: at.to_owned(),
                        field: f.idl_name.clone(),
                        tag: f.tag,
                        strukt: format!("{}.{}", module.join("."), s.name),
                    })
                }
                None => {}
            }
        }
        Ok(Value::Object(obj))
    }

    fn read_value(
        &self,
        r: &mut Reader<'_>,
        ty: &RType,
        tag: u8,
        wt: WireType,
        at: &str,
    ) -> Result<Value, ConvertError> {
        use tars_codec::TarsValue;
        let e = |err| dec_err(at, err);
        Ok(match ty {
            RType::Bool => json!(bool::read_value(r, tag, wt).map_err(e)?),
            RType::I8 => json!(i8::read_value(r, tag, wt).map_err(e)?),
            RType::I16 => json!(i16::read_value(r, tag, wt).map_err(e)?),
            RType::I32 => json!(i32::read_value(r, tag, wt).map_err(e)?),
            RType::I64 => json!(i64::read_value(r, tag, wt).map_err(e)?),
            RType::U8 => json!(u8::read_value(r, tag, wt).map_err(e)?),
            RType::U16 => json!(u16::read_value(r, tag, wt).map_err(e)?),
            RType::U32 => json!(u32::read_value(r, tag, wt).map_err(e)?),
            RType::F32 => float_json(f32::read_value(r, tag, wt).map_err(e)? as f64),
            RType::F64 => float_json(f64::read_value(r, tag, wt).map_err(e)?),
            RType::String => json!(String::read_value(r, tag, wt).map_err(e)?),
            RType::Bytes => json!(hex::encode(Bytes::read_value(r, tag, wt).map_err(e)?)),
            RType::Vec(inner) => {
                let n = open_container(r, tag, wt, WireType::List, at)?;
                let mut items = Vec::with_capacity(n);
                for i in 0..n {
                    let p = format!("{at}[{i}]");
                    let ewt = element(r, 0, tag, "list element is missing", &p)?;
                    items.push(self.read_value(r, inner, 0, ewt, &p)?);
                }
                r.leave();
                Value::Array(items)
            }
            RType::Map(k, v) => {
                let n = open_container(r, tag, wt, WireType::Map, at)?;
                let mut pairs = Vec::with_capacity(n);
                for i in 0..n {
                    let p = format!("{at}{{entry {i}}}");
                    let kwt = element(r, 0, tag, "map key is missing", &p)?;
                    let key = self.read_value(r, k, 0, kwt, &p)?;
                    let vwt = element(r, 1, tag, "map value is missing", &p)?;
                    pairs.push((key, self.read_value(r, v, 1, vwt, &p)?));
                }
                r.leave();
                if matches!(**k, RType::String) {
                    Value::Object(
                        pairs
                            .into_iter()
                            .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), v))
                            .collect(),
                    )
                } else {
                    Value::Array(pairs.into_iter().map(|(k, v)| json!([k, v])).collect())
                }
            }
            RType::Struct(path, name) => {
                let s = self.get_struct(path, name)?;
                if wt != WireType::StructBegin {
                    return Err(dec_err(
                        at,
                        DecodeError::TypeMismatch {
                            tag,
                            expected: "struct",
                            found: wt,
                        },
                    ));
                }
                r.enter().map_err(e)?;
                let v = self.read_fields(r, path, s, at)?;
                r.skip_to_struct_end(tag).map_err(e)?;
                r.leave();
                v
            }
            RType::Enum(path, name) => {
                let en = self.get_enum(path, name)?;
                let n = i32::read_value(r, tag, wt).map_err(e)?;
                match en.members.iter().find(|(_, v, _)| *v == n) {
                    Some((m, _, _)) => json!(m),
                    None => json!(n),
                }
            }
        })
    }
}

/// Checks that a list or map starts here, reads its size and enters one nesting level.
fn open_container(
    r: &mut Reader<'_>,
    tag: u8,
    wt: WireType,
    expected: WireType,
    at: &str,
) -> Result<usize, ConvertError> {
    let (what, per) = if expected == WireType::Map {
        ("map", 2)
    } else {
        ("list", 1)
    };
    if wt != expected {
        return Err(dec_err(
            at,
            DecodeError::TypeMismatch {
                tag,
                expected: what,
                found: wt,
            },
        ));
    }
    let n = r
        .read_size(tag, what, r.limits().max_collection_len, per)
        .map_err(|e| dec_err(at, e))?;
    r.enter().map_err(|e| dec_err(at, e))?;
    Ok(n)
}

/// Finds the element of a container at `field` (0 for elements and keys, 1 for values).
fn element(
    r: &mut Reader<'_>,
    field: u8,
    tag: u8,
    missing: &'static str,
    at: &str,
) -> Result<WireType, ConvertError> {
    r.find_field(field)
        .map_err(|e| dec_err(at, e))?
        .ok_or_else(|| dec_err(at, DecodeError::Malformed { tag, what: missing }))
}

fn json_err(at: &str, message: &str) -> ConvertError {
    ConvertError::Json {
        path: at.to_owned(),
        message: message.to_owned(),
    }
}

fn dec_err(at: &str, source: DecodeError) -> ConvertError {
    ConvertError::Decode {
        path: at.to_owned(),
        source,
    }
}

fn int_in(v: &Value, at: &str, min: i64, max: i64) -> Result<i64, ConvertError> {
    let n = match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| json_err(at, &format!("{n} is not an integer in range")))?,
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| json_err(at, &format!("{s:?} is not an integer")))?,
        _ => return Err(json_err(at, "expected an integer")),
    };
    if n < min || n > max {
        return Err(json_err(at, &format!("{n} is out of range {min}..={max}")));
    }
    Ok(n)
}

fn float(v: &Value, at: &str) -> Result<f64, ConvertError> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| json_err(at, "expected a number")),
        Value::String(s) if s == "NaN" => Ok(f64::NAN),
        Value::String(s) if s == "Infinity" => Ok(f64::INFINITY),
        Value::String(s) if s == "-Infinity" => Ok(f64::NEG_INFINITY),
        _ => Err(json_err(at, "expected a number")),
    }
}

fn float_json(f: f64) -> Value {
    if f.is_nan() {
        json!("NaN")
    } else if f.is_infinite() {
        json!(if f > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

fn map_entries<'v>(
    v: &'v Value,
    key: &RType,
    at: &str,
) -> Result<Vec<(Value, &'v Value)>, ConvertError> {
    match v {
        Value::Object(m) if matches!(key, RType::String) => {
            Ok(m.iter().map(|(k, v)| (json!(k), v)).collect())
        }
        Value::Array(pairs) => pairs
            .iter()
            .enumerate()
            .map(|(i, p)| match p.as_array().map(Vec::as_slice) {
                Some([k, v]) => Ok((k.clone(), v)),
                _ => Err(json_err(
                    &format!("{at}[{i}]"),
                    "expected a [key, value] pair",
                )),
            })
            .collect(),
        _ => Err(json_err(
            at,
            "expected an object (string keys) or an array of [key, value] pairs",
        )),
    }
}
