//! Values: computing enumerator values and checking defaults / const values against their type.

use std::collections::HashMap;

use crate::ast::{EnumDef, ValueExpr, ValueExprKind};
use crate::diagnostic::ErrorKind;
use crate::model::{QualifiedName, Type, Value};
use crate::resolve::{EnumeratorRef, Failure, Symbols};

/// Key of an enumerator: module, enum, index in the enum.
type Key<'a> = (&'a str, &'a str, usize);

/// The computed value of every enumerator.
#[derive(Debug, Default)]
pub(crate) struct EnumValues<'a> {
    values: HashMap<Key<'a>, i32>,
}

impl<'a> EnumValues<'a> {
    /// Value of a resolved enumerator (0 if it could not be computed: an error was reported).
    pub(crate) fn get(&self, r: &EnumeratorRef<'a>) -> i32 {
        self.values
            .get(&(r.module, r.enum_def.name.name.as_str(), r.index))
            .copied()
            .unwrap_or(0)
    }

    /// Computes every enumerator: explicit integers, references to other enumerators (of any
    /// enum, declared anywhere, before or after), implicit ones as previous + 1 (the first 0).
    ///
    /// A depth-first evaluation with an explicit stack (no recursion, so long reference chains
    /// cannot exhaust the call stack); meeting a member still being evaluated means a cycle.
    pub(crate) fn compute(symbols: &Symbols<'a>) -> (EnumValues<'a>, Vec<Failure>) {
        let enums: Vec<(&'a str, &'a EnumDef)> = symbols
            .modules
            .iter()
            .flat_map(|ms| ms.enums.iter().map(move |e| (ms.name, *e)))
            .collect();
        let index: HashMap<(&str, &str), usize> = enums
            .iter()
            .enumerate()
            .map(|(i, (m, e))| ((*m, e.name.name.as_str()), i))
            .collect();
        let mut state: Vec<Vec<State>> = enums
            .iter()
            .map(|(_, e)| vec![State::Todo; e.members.len()])
            .collect();
        let mut failures = Vec::new();

        // What member (enum index, member index) depends on.
        let dependency = |(ei, mi): (usize, usize), failures: &mut Vec<Failure>| -> Dep {
            let (module, e) = enums[ei];
            let member = &e.members[mi];
            match &member.value {
                None if mi == 0 => Dep::Value(0),
                None => Dep::Previous((ei, mi - 1)),
                Some(v) => match &v.kind {
                    ValueExprKind::Int(x) => Dep::Value(*x),
                    ValueExprKind::Name(n) => {
                        match symbols.resolve_enumerator(module, n, Some((module, e))) {
                            Ok(r) => match index.get(&(r.module, r.enum_def.name.name.as_str())) {
                                Some(&target) => Dep::Ref((target, r.index)),
                                None => Dep::Value(0),
                            },
                            Err(f) => {
                                failures.push(f);
                                Dep::Failed
                            }
                        }
                    }
                    _ => {
                        let kind = ErrorKind::TypeMismatch {
                            expected: "an integer or an enumerator".into(),
                            found: v.describe(),
                        };
                        failures.push(Failure::new(v.span, kind));
                        Dep::Failed
                    }
                },
            }
        };

        for ei in 0..enums.len() {
            for mi in 0..enums[ei].1.members.len() {
                if state[ei][mi] != State::Todo {
                    continue;
                }
                let mut stack = vec![((ei, mi), dependency((ei, mi), &mut failures))];
                state[ei][mi] = State::InProgress;
                while let Some(&(top, dep)) = stack.last() {
                    let (target, add) = match dep {
                        Dep::Value(v) => {
                            let value = in_i32(&enums, top, v, &mut failures);
                            state[top.0][top.1] = State::Done(value);
                            stack.pop();
                            continue;
                        }
                        Dep::Failed => {
                            state[top.0][top.1] = State::Done(0);
                            stack.pop();
                            continue;
                        }
                        Dep::Previous(t) => (t, 1),
                        Dep::Ref(t) => (t, 0),
                    };
                    match state[target.0][target.1] {
                        State::Done(v) => {
                            let value = in_i32(&enums, top, i128::from(v) + add, &mut failures);
                            state[top.0][top.1] = State::Done(value);
                            stack.pop();
                        }
                        State::InProgress => {
                            // A cycle: every member from `target` to the top of the stack.
                            let pos = stack.iter().position(|(k, _)| *k == target).unwrap_or(0);
                            let mut cycle: Vec<&crate::ast::EnumeratorDef> = stack[pos..]
                                .iter()
                                .filter(|(_, d)| matches!(d, Dep::Ref(_)))
                                .map(|((e, m), _)| &enums[*e].1.members[*m])
                                .collect();
                            cycle.sort_by_key(|m| (m.name.span.file, m.name.span.start));
                            for m in cycle {
                                let kind = ErrorKind::EnumValueCycle {
                                    name: m.name.name.clone(),
                                };
                                failures.push(Failure::new(m.name.span, kind));
                            }
                            for ((e, m), _) in stack.drain(pos..) {
                                state[e][m] = State::Done(0);
                            }
                        }
                        State::Todo => {
                            state[target.0][target.1] = State::InProgress;
                            stack.push((target, dependency(target, &mut failures)));
                        }
                    }
                }
            }
        }

        let mut values = HashMap::new();
        for (ei, (module, e)) in enums.iter().enumerate() {
            for (mi, s) in state[ei].iter().enumerate() {
                if let State::Done(v) = s {
                    values.insert((*module, e.name.name.as_str(), mi), *v);
                }
            }
        }
        (EnumValues { values }, failures)
    }
}

/// Evaluation state of an enumerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Todo,
    InProgress,
    Done(i32),
}

/// What an enumerator's value is computed from.
#[derive(Debug, Clone, Copy)]
enum Dep {
    /// A literal (or 0 at the start of an enum).
    Value(i128),
    /// The previous member, plus one.
    Previous((usize, usize)),
    /// Another enumerator's value.
    Ref((usize, usize)),
    /// The value expression was wrong (already reported).
    Failed,
}

/// `v` as an enumerator value of member `at`; out of 32 bits is reported and becomes 0.
fn in_i32(
    enums: &[(&str, &EnumDef)],
    at: (usize, usize),
    v: i128,
    failures: &mut Vec<Failure>,
) -> i32 {
    i32::try_from(v).unwrap_or_else(|_| {
        let member = &enums[at.0].1.members[at.1];
        let kind = ErrorKind::EnumValueOutOfRange {
            name: member.name.name.clone(),
            value: v.to_string(),
        };
        let span = member.value.as_ref().map_or(member.name.span, |v| v.span);
        failures.push(Failure::new(span, kind));
        0
    })
}

/// What values of `ty` look like, for mismatch messages.
fn expected(ty: &Type) -> String {
    match ty {
        Type::Bool => "`true` or `false`".into(),
        Type::Float | Type::Double => "a number".into(),
        Type::String => "a string".into(),
        Type::Enum(n) => format!("an enumerator of `{n}`"),
        t if t.is_integer() => "an integer".into(),
        t => format!("a value of type `{t}`"),
    }
}

/// Checks `v` (written in `module`) against `ty` and converts it.
pub(crate) fn check_value<'a>(
    symbols: &Symbols<'a>,
    enums: &EnumValues<'a>,
    module: &str,
    ty: &Type,
    v: &ValueExpr,
) -> Result<Value, Failure> {
    let mismatch = || {
        Failure::new(
            v.span,
            ErrorKind::TypeMismatch {
                expected: expected(ty),
                found: v.describe(),
            },
        )
    };
    match (ty, &v.kind) {
        (Type::Bool, ValueExprKind::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::String, ValueExprKind::Str(s)) => Ok(Value::String(s.clone())),
        (Type::Float | Type::Double, ValueExprKind::Int(i)) => float_in_range(ty, *i as f64, v),
        (Type::Float | Type::Double, ValueExprKind::Float(f)) => float_in_range(ty, *f, v),
        (Type::Enum(name), _) => {
            enum_value(symbols, enums, module, name, v).unwrap_or_else(|| Err(mismatch()))
        }
        (t, ValueExprKind::Int(i)) if t.is_integer() => int_in_range(t, *i, v),
        (t, ValueExprKind::Name(n)) if t.is_integer() => {
            let r = symbols.resolve_enumerator(module, n, None)?;
            int_in_range(t, enums.get(&r).into(), v)
        }
        _ => Err(mismatch()),
    }
}

fn int_in_range(ty: &Type, i: i128, v: &ValueExpr) -> Result<Value, Failure> {
    let (lo, hi) = ty.int_range().unwrap_or((i64::MIN, i64::MAX));
    if i < lo.into() || i > hi.into() {
        let kind = ErrorKind::ValueOutOfRange {
            value: i.to_string(),
            ty: ty.to_string(),
            range: format!("{lo}..={hi}"),
        };
        return Err(Failure::new(v.span, kind));
    }
    // In range of an i64 type, so the conversion cannot fail.
    Ok(Value::Int(i64::try_from(i).unwrap_or_default()))
}

fn float_in_range(ty: &Type, f: f64, v: &ValueExpr) -> Result<Value, Failure> {
    if matches!(ty, Type::Float) && f.abs() > f64::from(f32::MAX) {
        let kind = ErrorKind::ValueOutOfRange {
            value: format!("{f:e}"),
            ty: ty.to_string(),
            range: format!("-{0:e}..={0:e}", f32::MAX),
        };
        return Err(Failure::new(v.span, kind));
    }
    Ok(Value::Float(f))
}

/// A value for an enum-typed field or const: an enumerator of that enum, or an integer equal
/// to one of its enumerators' values. `None` for other kinds of value (a mismatch).
fn enum_value<'a>(
    symbols: &Symbols<'a>,
    enums: &EnumValues<'a>,
    module: &str,
    name: &QualifiedName,
    v: &ValueExpr,
) -> Option<Result<Value, Failure>> {
    let (em, ed) = symbols.enum_def(name)?;
    let not_member = |value: String| {
        Failure::new(
            v.span,
            ErrorKind::NotAnEnumeratorOf {
                value,
                enum_name: name.to_string(),
            },
        )
    };
    let found = match &v.kind {
        ValueExprKind::Name(n) => match symbols.resolve_enumerator(module, n, Some((em, ed))) {
            Ok(r) if r.enum_name() == *name => Ok(r),
            Ok(_) => Err(not_member(format!("`{}`", n.text()))),
            Err(f) => Err(f),
        },
        ValueExprKind::Int(i) => (0..ed.members.len())
            .map(|index| EnumeratorRef {
                module: em,
                enum_def: ed,
                index,
            })
            .find(|r| i128::from(enums.get(r)) == *i)
            .ok_or_else(|| not_member(format!("value {i}"))),
        _ => return None,
    };
    Some(found.map(|r| Value::Enumerator {
        enum_name: name.clone(),
        name: r.name().to_owned(),
        value: enums.get(&r),
    }))
}
