//! The syntax tree of one `.tars` file, as written (names unresolved), with spans.
//!
//! Produced by [`parse`](crate::parse()); most users want the checked
//! [`Program`](crate::Program) instead.

use crate::source::Span;

/// A name with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it is written.
    pub span: Span,
}

/// `A`, `Mod::A` or `Mod::Enum::A`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopedName {
    /// The `::`-separated parts (at least one).
    pub segments: Vec<Ident>,
    /// The whole name.
    pub span: Span,
}

impl ScopedName {
    /// The name as written, parts joined with `::`.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self.segments.iter().map(|s| s.name.as_str()).collect();
        parts.join("::")
    }
}

/// One parsed file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    /// `#include "..."` lines, in order.
    pub includes: Vec<Include>,
    /// Modules, in order (a module name may appear several times).
    pub modules: Vec<ModuleDef>,
}

/// `#include "path"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Include {
    /// The path as written between the quotes.
    pub path: String,
    /// The whole directive.
    pub span: Span,
}

/// `module Name { ... };`
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleDef {
    /// The module name.
    pub name: Ident,
    /// Declarations in source order.
    pub items: Vec<Item>,
}

/// A declaration inside a module.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `struct`.
    Struct(StructDef),
    /// `enum`.
    Enum(EnumDef),
    /// `const`.
    Const(ConstDef),
    /// `interface`.
    Interface(InterfaceDef),
    /// `key[...]`.
    Key(KeyDef),
}

/// `struct Name { fields };`
#[derive(Debug, Clone, PartialEq)]
pub struct StructDef {
    /// The struct name.
    pub name: Ident,
    /// Fields in source order.
    pub fields: Vec<FieldDef>,
    /// Documentation comment, if any.
    pub doc: Option<String>,
}

/// `TAG require|optional TYPE NAME [= DEFAULT];`
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    /// The tag as written (range-checked later).
    pub tag: IntLit,
    /// `require` (else `optional`).
    pub require: bool,
    /// The type.
    pub ty: TypeExpr,
    /// The field name.
    pub name: Ident,
    /// The default value.
    pub default: Option<ValueExpr>,
    /// Documentation comment, if any.
    pub doc: Option<String>,
}

/// An integer literal: its value (if it fits in `i128`) and text.
#[derive(Debug, Clone, PartialEq)]
pub struct IntLit {
    /// The value.
    pub value: i128,
    /// The literal as written.
    pub text: String,
    /// Where.
    pub span: Span,
}

/// `enum Name { A, B = 3, C = A, };`
#[derive(Debug, Clone, PartialEq)]
pub struct EnumDef {
    /// The enum name.
    pub name: Ident,
    /// Enumerators in source order.
    pub members: Vec<EnumeratorDef>,
    /// Documentation comment, if any.
    pub doc: Option<String>,
}

/// `NAME [= VALUE]` inside an enum.
#[derive(Debug, Clone, PartialEq)]
pub struct EnumeratorDef {
    /// The enumerator name.
    pub name: Ident,
    /// The explicit value (an integer or another enumerator).
    pub value: Option<ValueExpr>,
    /// Documentation comment, if any.
    pub doc: Option<String>,
}

/// `const TYPE NAME = VALUE;`
#[derive(Debug, Clone, PartialEq)]
pub struct ConstDef {
    /// The type.
    pub ty: TypeExpr,
    /// The const name.
    pub name: Ident,
    /// The value.
    pub value: ValueExpr,
    /// Documentation comment, if any.
    pub doc: Option<String>,
}

/// `interface Name { operations };`
#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceDef {
    /// The interface name.
    pub name: Ident,
    /// Operations in source order.
    pub operations: Vec<OperationDef>,
    /// Documentation comment, if any.
    pub doc: Option<String>,
}

/// `RET name(params);`
#[derive(Debug, Clone, PartialEq)]
pub struct OperationDef {
    /// Return type; `None` for `void`.
    pub ret: Option<TypeExpr>,
    /// The operation name.
    pub name: Ident,
    /// Parameters in order.
    pub params: Vec<ParamDef>,
    /// Documentation comment, if any.
    pub doc: Option<String>,
}

/// `[out|routekey] TYPE NAME`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDef {
    /// `out` parameter.
    pub is_out: bool,
    /// `routekey` parameter.
    pub is_routekey: bool,
    /// The type.
    pub ty: TypeExpr,
    /// The parameter name.
    pub name: Ident,
}

/// `key[Struct, field, ...];`
#[derive(Debug, Clone, PartialEq)]
pub struct KeyDef {
    /// The struct.
    pub target: ScopedName,
    /// The fields, in order.
    pub fields: Vec<Ident>,
    /// The whole statement.
    pub span: Span,
}

/// A type as written.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    /// What type.
    pub kind: TypeExprKind,
    /// Where.
    pub span: Span,
}

/// The shapes of [`TypeExpr`].
#[derive(Debug, Clone, PartialEq)]
pub enum TypeExprKind {
    /// `bool`
    Bool,
    /// `byte`
    Byte,
    /// `short`
    Short,
    /// `int`
    Int,
    /// `long`
    Long,
    /// `unsigned byte`
    UnsignedByte,
    /// `unsigned short`
    UnsignedShort,
    /// `unsigned int`
    UnsignedInt,
    /// `float`
    Float,
    /// `double`
    Double,
    /// `string`
    String,
    /// `vector<T>`
    Vector(Box<TypeExpr>),
    /// `map<K, V>`
    Map(Box<TypeExpr>, Box<TypeExpr>),
    /// A struct or enum name, possibly `Mod::Name`.
    Named(ScopedName),
}

/// A literal or enumerator reference, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueExpr {
    /// What value.
    pub kind: ValueExprKind,
    /// Where.
    pub span: Span,
}

/// The shapes of [`ValueExpr`].
#[derive(Debug, Clone, PartialEq)]
pub enum ValueExprKind {
    /// An integer literal (decimal, `0x` hex or `0` octal, optionally signed).
    Int(i128),
    /// A floating-point literal.
    Float(f64),
    /// A string literal, escapes decoded.
    Str(String),
    /// `true` / `false`.
    Bool(bool),
    /// An enumerator: `A`, `Enum::A`, `Mod::A` or `Mod::Enum::A`.
    Name(ScopedName),
}

impl ValueExpr {
    /// A short description for type-mismatch messages: ``integer `5` ``, ``string `"x"` ``.
    pub fn describe(&self) -> String {
        match &self.kind {
            ValueExprKind::Int(v) => format!("integer `{v}`"),
            ValueExprKind::Float(v) => format!("floating-point number `{v}`"),
            ValueExprKind::Str(s) => format!("string `{s:?}`"),
            ValueExprKind::Bool(b) => format!("`{b}`"),
            ValueExprKind::Name(n) => format!("enumerator `{}`", n.text()),
        }
    }
}
