//! The structs of `idl/Conformance.tars`, with their JSON forms.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tars::bytes::Bytes;
use tars::TarsStruct;

use crate::json::{field, Json};

/// `Conf.Small`.
#[derive(Debug, Clone, PartialEq, TarsStruct)]
#[tars(class = "Conf.Small")]
pub struct Small {
    /// tag 0
    #[tars(tag = 0, require)]
    pub a: i32,
    /// tag 1
    #[tars(tag = 1, require)]
    pub b: String,
}

/// `Conf.Mid`: the ~400-byte struct also used by the benchmarks.
#[derive(Debug, Clone, PartialEq, TarsStruct)]
#[tars(class = "Conf.Mid")]
pub struct Mid {
    /// tag 0
    #[tars(tag = 0, require)]
    pub id: i64,
    /// tag 1
    #[tars(tag = 1, require)]
    pub count: i32,
    /// tag 2
    #[tars(tag = 2, require)]
    pub level: i16,
    /// tag 3
    #[tars(tag = 3, require)]
    pub flag: bool,
    /// tag 4
    #[tars(tag = 4, require)]
    pub score: f64,
    /// tag 5
    #[tars(tag = 5, require)]
    pub ratio: f32,
    /// tag 6
    #[tars(tag = 6, require)]
    pub name: String,
    /// tag 7
    #[tars(tag = 7, require)]
    pub description: String,
    /// tag 8
    #[tars(tag = 8, require)]
    pub payload: Bytes,
    /// tag 9
    #[tars(tag = 9, require)]
    pub attrs: BTreeMap<String, String>,
    /// tag 10
    #[tars(tag = 10, require)]
    pub ids: Vec<i32>,
    /// tag 11
    #[tars(tag = 11, require)]
    pub inner: Small,
}

/// `Conf.HighTags`: tags that need the two-byte head.
#[derive(Debug, Clone, PartialEq, TarsStruct)]
#[tars(class = "Conf.HighTags")]
pub struct HighTags {
    /// tag 0
    #[tars(tag = 0, require)]
    pub a: i32,
    /// tag 14
    #[tars(tag = 14, require)]
    pub b: i32,
    /// tag 15
    #[tars(tag = 15, require)]
    pub c: i32,
    /// tag 200
    #[tars(tag = 200, require)]
    pub d: String,
    /// tag 255
    #[tars(tag = 255, require)]
    pub e: i64,
}

/// `Conf.Nested`: containers of structs and containers.
#[derive(Debug, Clone, PartialEq, TarsStruct)]
#[tars(class = "Conf.Nested")]
pub struct Nested {
    /// tag 0
    #[tars(tag = 0, require)]
    pub items: Vec<Small>,
    /// tag 1
    #[tars(tag = 1, require)]
    pub by_name: BTreeMap<String, Small>,
    /// tag 2
    #[tars(tag = 2, require)]
    pub rows: Vec<BTreeMap<i32, String>>,
    /// tag 3
    #[tars(tag = 3, require)]
    pub grid: Vec<Vec<String>>,
}

/// `Conf.WithOptional`: optional fields with and without defaults.
#[derive(Debug, Clone, PartialEq, TarsStruct)]
#[tars(class = "Conf.WithOptional")]
pub struct WithOptional {
    /// tag 0
    #[tars(tag = 0, require)]
    pub a: i32,
    /// tag 1, default 7
    #[tars(tag = 1, default = 7)]
    pub b: i32,
    /// tag 2, default "x"
    #[tars(tag = 2, default = "x")]
    pub c: String,
    /// tag 3
    #[tars(tag = 3)]
    pub d: Vec<i32>,
    /// tag 4, default true
    #[tars(tag = 4, default = true)]
    pub e: bool,
    /// tag 5
    #[tars(tag = 5)]
    pub f: Small,
}

impl Json for Small {
    fn from_json(v: &Value) -> Result<Self, String> {
        Ok(Small {
            a: field(v, "a")?,
            b: field(v, "b")?,
        })
    }
    fn to_json(&self) -> Value {
        json!({"a": self.a, "b": self.b})
    }
}

impl Json for Mid {
    fn from_json(v: &Value) -> Result<Self, String> {
        Ok(Mid {
            id: field(v, "id")?,
            count: field(v, "count")?,
            level: field(v, "level")?,
            flag: field(v, "flag")?,
            score: field(v, "score")?,
            ratio: field(v, "ratio")?,
            name: field(v, "name")?,
            description: field(v, "description")?,
            payload: field(v, "payload")?,
            attrs: field(v, "attrs")?,
            ids: field(v, "ids")?,
            inner: field(v, "inner")?,
        })
    }
    fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_json(), "count": self.count, "level": self.level, "flag": self.flag,
            "score": self.score.to_json(), "ratio": self.ratio.to_json(), "name": self.name,
            "description": self.description, "payload": self.payload.to_json(),
            "attrs": self.attrs.to_json(), "ids": self.ids, "inner": self.inner.to_json(),
        })
    }
}

impl Json for HighTags {
    fn from_json(v: &Value) -> Result<Self, String> {
        Ok(HighTags {
            a: field(v, "a")?,
            b: field(v, "b")?,
            c: field(v, "c")?,
            d: field(v, "d")?,
            e: field(v, "e")?,
        })
    }
    fn to_json(&self) -> Value {
        json!({"a": self.a, "b": self.b, "c": self.c, "d": self.d, "e": self.e.to_json()})
    }
}

impl Json for Nested {
    fn from_json(v: &Value) -> Result<Self, String> {
        Ok(Nested {
            items: field(v, "items")?,
            by_name: field(v, "byName")?,
            rows: field(v, "rows")?,
            grid: field(v, "grid")?,
        })
    }
    fn to_json(&self) -> Value {
        json!({"items": self.items.to_json(), "byName": self.by_name.to_json(), "rows": self.rows.to_json(), "grid": self.grid.to_json()})
    }
}

impl Json for WithOptional {
    fn from_json(v: &Value) -> Result<Self, String> {
        Ok(WithOptional {
            a: field(v, "a")?,
            b: field(v, "b")?,
            c: field(v, "c")?,
            d: field(v, "d")?,
            e: field(v, "e")?,
            f: field(v, "f")?,
        })
    }
    fn to_json(&self) -> Value {
        json!({"a": self.a, "b": self.b, "c": self.c, "d": self.d, "e": self.e, "f": self.f.to_json()})
    }
}
