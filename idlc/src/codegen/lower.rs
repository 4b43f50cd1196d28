//! Lowering the checked model into the code generator's IR.

use super::ir::{RConst, REnum, RField, RInterface, RModule, ROp, RParam, RStruct, RType, RValue};
use crate::model::{Program, Type, Value};

/// Converts every module of `program` (including those only reached through includes).
pub fn lower(program: &Program) -> Vec<RModule> {
    program
        .modules
        .iter()
        .map(|m| RModule {
            path: vec![m.name.clone()],
            enums: m
                .enums
                .iter()
                .map(|e| REnum {
                    name: e.name.clone(),
                    members: e
                        .members
                        .iter()
                        .map(|x| (x.name.clone(), x.value, x.doc.clone()))
                        .collect(),
                    doc: e.doc.clone(),
                    from_root: program.in_root(e.span),
                })
                .collect(),
            consts: m
                .consts
                .iter()
                .map(|c| RConst {
                    name: c.name.clone(),
                    ty: ty(&c.ty),
                    value: value(&c.value),
                    from_root: program.in_root(c.span),
                })
                .collect(),
            structs: m
                .structs
                .iter()
                .map(|s| {
                    let mut fields: Vec<RField> = s
                        .fields
                        .iter()
                        .map(|f| RField {
                            idl_name: f.name.clone(),
                            tag: f.tag,
                            require: f.require,
                            ty: ty(&f.ty),
                            default: f.default.as_ref().map(value),
                            doc: f.doc.clone(),
                        })
                        .collect();
                    fields.sort_by_key(|f| f.tag);
                    RStruct {
                        name: s.name.clone(),
                        fields,
                        key: s.key.clone(),
                        doc: s.doc.clone(),
                        from_root: program.in_root(s.span),
                    }
                })
                .collect(),
            interfaces: m
                .interfaces
                .iter()
                .map(|i| RInterface {
                    name: i.name.clone(),
                    ops: i
                        .operations
                        .iter()
                        .map(|o| ROp {
                            name: o.name.clone(),
                            ret: o.ret.as_ref().map(ty),
                            params: o
                                .params
                                .iter()
                                .map(|p| RParam {
                                    name: p.name.clone(),
                                    ty: ty(&p.ty),
                                    out: p.is_out,
                                    routekey: p.is_routekey,
                                })
                                .collect(),
                        })
                        .collect(),
                    from_root: program.in_root(i.span),
                })
                .collect(),
        })
        .collect()
}

/// The Rust-side type of an IDL type.
pub fn ty(t: &Type) -> RType {
    match t {
        Type::Bool => RType::Bool,
        Type::Byte => RType::I8,
        Type::Short => RType::I16,
        Type::Int => RType::I32,
        Type::Long => RType::I64,
        Type::UnsignedByte => RType::U8,
        Type::UnsignedShort => RType::U16,
        Type::UnsignedInt => RType::U32,
        Type::Float => RType::F32,
        Type::Double => RType::F64,
        Type::String => RType::String,
        Type::Vector(inner) if **inner == Type::Byte => RType::Bytes,
        Type::Vector(inner) => RType::Vec(Box::new(ty(inner))),
        Type::Map(k, v) => RType::Map(Box::new(ty(k)), Box::new(ty(v))),
        Type::Struct(q) => RType::Struct(vec![q.module.clone()], q.name.clone()),
        Type::Enum(q) => RType::Enum(vec![q.module.clone()], q.name.clone()),
    }
}

fn value(v: &Value) -> RValue {
    match v {
        Value::Bool(b) => RValue::Bool(*b),
        Value::Int(i) => RValue::Int(i128::from(*i)),
        Value::Float(f) => RValue::Float(*f),
        Value::String(s) => RValue::Str(s.clone()),
        Value::Enumerator {
            enum_name, name, ..
        } => RValue::Enumerator(
            vec![enum_name.module.clone()],
            enum_name.name.clone(),
            name.clone(),
        ),
    }
}
