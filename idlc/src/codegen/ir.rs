//! The code generator's input: a Rust-oriented view of a checked IDL program.
//!
//! The front end's model is converted into this IR (see `lower.rs`); the generator never looks
//! at IDL syntax, only at resolved types and values.

/// A type as it appears in generated Rust.
#[derive(Debug, Clone, PartialEq)]
pub enum RType {
    /// `bool`
    Bool,
    /// IDL `byte` → `i8`
    I8,
    /// IDL `short` → `i16`
    I16,
    /// IDL `int` → `i32`
    I32,
    /// IDL `long` → `i64`
    I64,
    /// IDL `unsigned byte` → `u8`
    U8,
    /// IDL `unsigned short` → `u16`
    U16,
    /// IDL `unsigned int` → `u32`
    U32,
    /// IDL `float` → `f32`
    F32,
    /// IDL `double` → `f64`
    F64,
    /// IDL `string` → `String`
    String,
    /// IDL `vector<byte>` → `tars::bytes::Bytes`
    Bytes,
    /// IDL `vector<T>` → `Vec<T>`
    Vec(Box<RType>),
    /// IDL `map<K, V>`.
    Map(Box<RType>, Box<RType>),
    /// A user struct: module path and name.
    Struct(Vec<String>, String),
    /// A user enum: module path and name.
    Enum(Vec<String>, String),
}

impl RType {
    /// Whether the type is passed by value in generated proxies (cheap `Copy` types).
    pub fn is_copy(&self) -> bool {
        matches!(
            self,
            RType::Bool
                | RType::I8
                | RType::I16
                | RType::I32
                | RType::I64
                | RType::U8
                | RType::U16
                | RType::U32
                | RType::F32
                | RType::F64
                | RType::Enum(..)
        )
    }

    /// Whether values can be keys of a `BTreeMap` (total order available).
    pub fn is_ordered_key(&self, structs_with_key: &dyn Fn(&[String], &str) -> bool) -> bool {
        match self {
            RType::F32 | RType::F64 | RType::Map(..) => false,
            RType::Vec(inner) => inner.is_ordered_key(structs_with_key),
            RType::Struct(path, name) => structs_with_key(path, name),
            _ => true,
        }
    }
}

/// A literal value (defaults and consts), already checked against its type.
#[derive(Debug, Clone, PartialEq)]
pub enum RValue {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// An enumerator: enum module path, enum name, enumerator name.
    Enumerator(Vec<String>, String, String),
}

/// A struct field.
#[derive(Debug, Clone, PartialEq)]
pub struct RField {
    /// IDL name (used for TUP names and diagnostics).
    pub idl_name: String,
    /// Tag.
    pub tag: u8,
    /// Whether `require`.
    pub require: bool,
    /// Type.
    pub ty: RType,
    /// Declared default.
    pub default: Option<RValue>,
    /// Doc comment from the IDL, if any.
    pub doc: Option<String>,
}

/// A struct.
#[derive(Debug, Clone, PartialEq)]
pub struct RStruct {
    /// IDL name.
    pub name: String,
    /// Fields in tag order.
    pub fields: Vec<RField>,
    /// `key[...]` fields (IDL names), empty when none.
    pub key: Vec<String>,
    /// Doc comment.
    pub doc: Option<String>,
    /// Whether a root file declares it (rather than only an included file).
    pub from_root: bool,
}

/// An enum.
#[derive(Debug, Clone, PartialEq)]
pub struct REnum {
    /// IDL name.
    pub name: String,
    /// Enumerators (name, computed value, doc comment), in declaration order.
    pub members: Vec<(String, i32, Option<String>)>,
    /// Doc comment.
    pub doc: Option<String>,
    /// Whether a root file declares it (rather than only an included file).
    pub from_root: bool,
}

/// A constant.
#[derive(Debug, Clone, PartialEq)]
pub struct RConst {
    /// IDL name.
    pub name: String,
    /// Type.
    pub ty: RType,
    /// Value.
    pub value: RValue,
    /// Whether a root file declares it (rather than only an included file).
    pub from_root: bool,
}

/// An operation parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct RParam {
    /// IDL name.
    pub name: String,
    /// Type.
    pub ty: RType,
    /// `out` parameter.
    pub out: bool,
    /// `routekey` parameter (fills the grid key status).
    pub routekey: bool,
}

/// An interface operation.
#[derive(Debug, Clone, PartialEq)]
pub struct ROp {
    /// IDL name (also the wire function name).
    pub name: String,
    /// Return type; `None` for `void`.
    pub ret: Option<RType>,
    /// Parameters in declaration order (tags 1..N).
    pub params: Vec<RParam>,
}

/// An interface.
#[derive(Debug, Clone, PartialEq)]
pub struct RInterface {
    /// IDL name.
    pub name: String,
    /// Operations in declaration order.
    pub ops: Vec<ROp>,
    /// Whether a root file declares it (rather than only an included file).
    pub from_root: bool,
}

/// A module: everything declared under one IDL module name (reopenings merged).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RModule {
    /// Module path (`["Mod"]`, or nested).
    pub path: Vec<String>,
    /// Enums.
    pub enums: Vec<REnum>,
    /// Constants.
    pub consts: Vec<RConst>,
    /// Structs.
    pub structs: Vec<RStruct>,
    /// Interfaces.
    pub interfaces: Vec<RInterface>,
}
