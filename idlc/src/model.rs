//! The checked, resolved program: what a code generator consumes.
//!
//! Every type reference is resolved to a [`Type`] naming its module, enum values are computed,
//! defaults and consts are typed [`Value`]s, struct fields are sorted by tag. Modules opened
//! several times (in one or several files) are merged; declarations keep load order (included
//! files first, then source order). Every declaration has a [`Span`] whose `file` tells which
//! [`SourceFile`] it comes from.

use std::fmt;
use std::path::PathBuf;

use crate::source::{FileId, Span};

/// A whole checked program: the files read and the merged modules.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// Every file loaded, indexed by [`FileId`].
    pub files: Vec<SourceFile>,
    /// Modules in order of first appearance.
    pub modules: Vec<Module>,
    /// Every path read, in reading order (for cargo `rerun-if-changed`).
    pub files_read: Vec<PathBuf>,
}

impl Program {
    /// The file with id `id`.
    pub fn file(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.index())
    }

    /// The files given to the loader as roots (not only included).
    pub fn roots(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.iter().filter(|f| f.is_root)
    }

    /// Whether a declaration at `span` comes from a root file (not only from an include):
    /// what a generator emits when included modules are provided elsewhere.
    pub fn in_root(&self, span: Span) -> bool {
        self.file(span.file).is_some_and(|f| f.is_root)
    }

    /// The module named `name`.
    pub fn module(&self, name: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.name == name)
    }

    /// The struct `name`.
    pub fn find_struct(&self, name: &QualifiedName) -> Option<&Struct> {
        self.module(&name.module)?
            .structs
            .iter()
            .find(|s| s.name == name.name)
    }

    /// The enum `name`.
    pub fn find_enum(&self, name: &QualifiedName) -> Option<&Enum> {
        self.module(&name.module)?
            .enums
            .iter()
            .find(|e| e.name == name.name)
    }

    /// The interface `name`.
    pub fn find_interface(&self, name: &QualifiedName) -> Option<&Interface> {
        self.module(&name.module)?
            .interfaces
            .iter()
            .find(|i| i.name == name.name)
    }
}

/// A file that was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Its id (its index in [`Program::files`]).
    pub id: FileId,
    /// The path it was read from.
    pub path: PathBuf,
    /// The files its `#include` lines resolved to, in order.
    pub includes: Vec<FileId>,
    /// Whether it was given as a root (rather than only reached through `#include`).
    pub is_root: bool,
}

/// `Module::Name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QualifiedName {
    /// The module.
    pub module: String,
    /// The name inside the module.
    pub name: String,
}

impl QualifiedName {
    /// `module::name`.
    pub fn new(module: impl Into<String>, name: impl Into<String>) -> QualifiedName {
        QualifiedName {
            module: module.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{}", self.module, self.name)
    }
}

/// Everything declared under one module name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Module {
    /// The module name.
    pub name: String,
    /// Enums, in load order.
    pub enums: Vec<Enum>,
    /// Constants, in load order.
    pub consts: Vec<Const>,
    /// Structs, in load order.
    pub structs: Vec<Struct>,
    /// Interfaces, in load order.
    pub interfaces: Vec<Interface>,
}

/// A resolved type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    /// `bool`
    Bool,
    /// `byte` (signed 8 bits)
    Byte,
    /// `short`
    Short,
    /// `int`
    Int,
    /// `long`
    Long,
    /// `unsigned byte` (0..=255; a short on the wire)
    UnsignedByte,
    /// `unsigned short` (an int on the wire)
    UnsignedShort,
    /// `unsigned int` (a long on the wire)
    UnsignedInt,
    /// `float`
    Float,
    /// `double`
    Double,
    /// `string`
    String,
    /// `vector<T>` (`vector<byte>` is the SIMPLE_LIST byte buffer on the wire).
    Vector(Box<Type>),
    /// `map<K, V>`
    Map(Box<Type>, Box<Type>),
    /// A user struct.
    Struct(QualifiedName),
    /// A user enum (an int on the wire).
    Enum(QualifiedName),
}

impl Type {
    /// Whether this is a builtin scalar or `string` (not vector, map, struct or enum).
    pub fn is_builtin(&self) -> bool {
        !matches!(
            self,
            Type::Vector(_) | Type::Map(..) | Type::Struct(_) | Type::Enum(_)
        )
    }

    /// Whether this is one of the integer types (signed or unsigned; not bool, not enum).
    pub fn is_integer(&self) -> bool {
        self.int_range().is_some()
    }

    /// Inclusive value range of an integer type; `None` for other types.
    pub fn int_range(&self) -> Option<(i64, i64)> {
        Some(match self {
            Type::Byte => (i8::MIN.into(), i8::MAX.into()),
            Type::Short => (i16::MIN.into(), i16::MAX.into()),
            Type::Int => (i32::MIN.into(), i32::MAX.into()),
            Type::Long => (i64::MIN, i64::MAX),
            Type::UnsignedByte => (0, u8::MAX.into()),
            Type::UnsignedShort => (0, u16::MAX.into()),
            Type::UnsignedInt => (0, u32::MAX.into()),
            _ => return None,
        })
    }

    /// Whether this is `vector<byte>` (encoded as a byte buffer).
    pub fn is_byte_vector(&self) -> bool {
        matches!(self, Type::Vector(inner) if **inner == Type::Byte)
    }
}

/// IDL syntax: `vector<map<string, int>>`, `unsigned short`, `Mod::Name`.
impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::Byte => f.write_str("byte"),
            Type::Short => f.write_str("short"),
            Type::Int => f.write_str("int"),
            Type::Long => f.write_str("long"),
            Type::UnsignedByte => f.write_str("unsigned byte"),
            Type::UnsignedShort => f.write_str("unsigned short"),
            Type::UnsignedInt => f.write_str("unsigned int"),
            Type::Float => f.write_str("float"),
            Type::Double => f.write_str("double"),
            Type::String => f.write_str("string"),
            Type::Vector(t) => write!(f, "vector<{t}>"),
            Type::Map(k, v) => write!(f, "map<{k}, {v}>"),
            Type::Struct(n) | Type::Enum(n) => write!(f, "{n}"),
        }
    }
}

/// A checked value (field default or const), already converted to its type's kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// For `bool`.
    Bool(bool),
    /// For integer types; in range for the type.
    Int(i64),
    /// For `float` / `double` (integer literals are converted).
    Float(f64),
    /// For `string`, escapes decoded.
    String(String),
    /// For enum types: the enumerator, with its value.
    Enumerator {
        /// The enum.
        enum_name: QualifiedName,
        /// The enumerator.
        name: String,
        /// Its value.
        value: i32,
    },
}

/// `enum`.
#[derive(Debug, Clone, PartialEq)]
pub struct Enum {
    /// Module it is declared in.
    pub module: String,
    /// Name.
    pub name: String,
    /// Enumerators in declaration order, with computed values (values may repeat).
    pub members: Vec<Enumerator>,
    /// Documentation comment.
    pub doc: Option<String>,
    /// Position of the name.
    pub span: Span,
}

impl Enum {
    /// `module::name`.
    pub fn qualified_name(&self) -> QualifiedName {
        QualifiedName::new(&self.module, &self.name)
    }

    /// The enumerator named `name`.
    pub fn member(&self, name: &str) -> Option<&Enumerator> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// One enumerator.
#[derive(Debug, Clone, PartialEq)]
pub struct Enumerator {
    /// Name.
    pub name: String,
    /// Value (implicit ones are previous + 1, the first 0).
    pub value: i32,
    /// Documentation comment.
    pub doc: Option<String>,
    /// Position of the name.
    pub span: Span,
}

/// `const`.
#[derive(Debug, Clone, PartialEq)]
pub struct Const {
    /// Module it is declared in.
    pub module: String,
    /// Name.
    pub name: String,
    /// Type (a builtin or an enum).
    pub ty: Type,
    /// Value, checked against `ty`.
    pub value: Value,
    /// Documentation comment.
    pub doc: Option<String>,
    /// Position of the name.
    pub span: Span,
}

/// `struct`.
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    /// Module it is declared in.
    pub module: String,
    /// Name.
    pub name: String,
    /// Fields sorted by tag (tags are unique).
    pub fields: Vec<Field>,
    /// Field names from `key[...]`, in key order; empty when there is none.
    pub key: Vec<String>,
    /// Documentation comment.
    pub doc: Option<String>,
    /// Position of the name.
    pub span: Span,
}

impl Struct {
    /// `module::name`.
    pub fn qualified_name(&self) -> QualifiedName {
        QualifiedName::new(&self.module, &self.name)
    }

    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// A struct field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Name.
    pub name: String,
    /// Tag (0..=255).
    pub tag: u8,
    /// `require` (else `optional`).
    pub require: bool,
    /// Type.
    pub ty: Type,
    /// Declared default (only builtin and enum fields can have one).
    pub default: Option<Value>,
    /// Documentation comment.
    pub doc: Option<String>,
    /// Position of the name.
    pub span: Span,
}

/// `interface`.
#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    /// Module it is declared in.
    pub module: String,
    /// Name.
    pub name: String,
    /// Operations in declaration order (names unique).
    pub operations: Vec<Operation>,
    /// Documentation comment.
    pub doc: Option<String>,
    /// Position of the name.
    pub span: Span,
}

impl Interface {
    /// `module::name`.
    pub fn qualified_name(&self) -> QualifiedName {
        QualifiedName::new(&self.module, &self.name)
    }

    /// The operation named `name`.
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.name == name)
    }
}

/// An interface operation. On the wire the return value has tag 0 and parameters (in and out)
/// tags 1..=N in declaration order.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// Name (also the wire function name).
    pub name: String,
    /// Return type; `None` for `void`.
    pub ret: Option<Type>,
    /// Parameters in declaration order.
    pub params: Vec<Param>,
    /// Documentation comment.
    pub doc: Option<String>,
    /// Position of the name.
    pub span: Span,
}

/// An operation parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Name.
    pub name: String,
    /// Type.
    pub ty: Type,
    /// `out`: filled by the server.
    pub is_out: bool,
    /// `routekey`: used by the client as the routing (grid/hash) key.
    pub is_routekey: bool,
    /// Position of the name.
    pub span: Span,
}
