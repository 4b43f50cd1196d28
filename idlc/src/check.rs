//! Semantic checks over parsed files, producing the resolved [`model`](crate::model).
//!
//! Duplicate names, tags (range and uniqueness), empty structs and enums, defaults (only on
//! builtin and enum fields, matching the type), const types and values, `key[...]`, parameter
//! and operation names, and structs that contain themselves.

use std::collections::{HashMap, HashSet};

use crate::ast::{self, Item};
use crate::diagnostic::{Diagnostic, ErrorKind};
use crate::model::{
    Const, Enum, Enumerator, Field, Interface, Module, Operation, Param, QualifiedName, Struct,
    Type,
};
use crate::resolve::{Failure, Symbols};
use crate::source::{FileId, Source, Span};
use crate::values::{check_value, EnumValues};

/// Checks `files` (parsed, in load order) and builds the merged modules.
pub(crate) fn check(
    sources: &[Source],
    files: &[(FileId, &ast::File)],
) -> Result<Vec<Module>, Vec<Diagnostic>> {
    let mut c = Checker {
        sources,
        errors: Vec::new(),
    };
    let (symbols, dups) = Symbols::build(files);
    for d in dups {
        let kind = ErrorKind::DuplicateDefinition {
            name: d.name.to_owned(),
            module: d.module.to_owned(),
        };
        let note = format!("previous definition at {}", c.position(d.previous));
        c.error(d.span, kind, vec![note]);
    }
    let (enums, failures) = EnumValues::compute(&symbols);
    for f in failures {
        c.fail(f);
    }
    let cx = Context {
        symbols: &symbols,
        enums: &enums,
    };
    let mut modules = Vec::new();
    let mut keys = Vec::new();
    for ms in &symbols.modules {
        let mut module = Module {
            name: ms.name.to_owned(),
            ..Module::default()
        };
        for item in &ms.items {
            match item {
                Item::Struct(s) => module.structs.extend(c.struct_def(&cx, ms.name, s)),
                Item::Enum(e) => module.enums.push(c.enum_def(&cx, ms.name, e)),
                Item::Const(k) => module.consts.extend(c.const_def(&cx, ms.name, k)),
                Item::Interface(i) => module.interfaces.push(c.interface_def(&cx, ms.name, i)),
                Item::Key(k) => keys.push((ms.name, k)),
            }
        }
        modules.push(module);
    }
    for (module, k) in keys {
        c.key_def(&cx, &mut modules, module, k);
    }
    c.recursive_structs(&modules);
    if c.errors.is_empty() {
        Ok(modules)
    } else {
        Err(c.errors)
    }
}

struct Context<'c, 'a> {
    symbols: &'c Symbols<'a>,
    enums: &'c EnumValues<'a>,
}

struct Checker<'s> {
    sources: &'s [Source],
    errors: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn error(&mut self, span: Span, kind: ErrorKind, notes: Vec<String>) {
        let mut d = match self.sources.get(span.file.index()) {
            Some(src) => Diagnostic::at(src, span, kind),
            None => Diagnostic::new(kind),
        };
        d.notes = notes;
        self.errors.push(d);
    }

    fn fail(&mut self, f: Failure) {
        self.error(f.span, *f.kind, f.notes);
    }

    /// `path:line:col` of a span, for notes.
    fn position(&self, span: Span) -> String {
        let path = self
            .sources
            .get(span.file.index())
            .map(|s| s.path.display().to_string())
            .unwrap_or_default();
        format!("{}:{}:{}", path, span.line, span.col)
    }

    fn resolve(&mut self, cx: &Context<'_, '_>, module: &str, t: &ast::TypeExpr) -> Option<Type> {
        match cx.symbols.resolve_type(module, t) {
            Ok(t) => Some(t),
            Err(f) => {
                self.fail(f);
                None
            }
        }
    }

    fn enum_def(&mut self, cx: &Context<'_, '_>, module: &str, e: &ast::EnumDef) -> Enum {
        if e.members.is_empty() {
            self.error(
                e.name.span,
                ErrorKind::EmptyEnum {
                    name: e.name.name.clone(),
                },
                vec![],
            );
        }
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut members = Vec::new();
        for (index, m) in e.members.iter().enumerate() {
            if let Some(prev) = seen.insert(&m.name.name, m.name.span) {
                let kind = ErrorKind::DuplicateEnumerator {
                    name: m.name.name.clone(),
                    enum_name: e.name.name.clone(),
                };
                let note = format!("first defined at {}", self.position(prev));
                self.error(m.name.span, kind, vec![note]);
                // Keep the first one's position for further duplicates.
                seen.insert(&m.name.name, prev);
                continue;
            }
            let r = crate::resolve::EnumeratorRef {
                module,
                enum_def: e,
                index,
            };
            members.push(Enumerator {
                name: m.name.name.clone(),
                value: cx.enums.get(&r),
                doc: m.doc.clone(),
                span: m.name.span,
            });
        }
        Enum {
            module: module.to_owned(),
            name: e.name.name.clone(),
            members,
            doc: e.doc.clone(),
            span: e.name.span,
        }
    }

    fn const_def(
        &mut self,
        cx: &Context<'_, '_>,
        module: &str,
        k: &ast::ConstDef,
    ) -> Option<Const> {
        let ty = self.resolve(cx, module, &k.ty)?;
        if !(ty.is_builtin() || matches!(ty, Type::Enum(_))) {
            self.error(
                k.ty.span,
                ErrorKind::ConstType { ty: ty.to_string() },
                vec![],
            );
            return None;
        }
        let value = match check_value(cx.symbols, cx.enums, module, &ty, &k.value) {
            Ok(v) => v,
            Err(f) => {
                self.fail(f);
                return None;
            }
        };
        Some(Const {
            module: module.to_owned(),
            name: k.name.name.clone(),
            ty,
            value,
            doc: k.doc.clone(),
            span: k.name.span,
        })
    }

    fn struct_def(
        &mut self,
        cx: &Context<'_, '_>,
        module: &str,
        s: &ast::StructDef,
    ) -> Option<Struct> {
        if s.fields.is_empty() {
            self.error(
                s.name.span,
                ErrorKind::EmptyStruct {
                    name: s.name.name.clone(),
                },
                vec![],
            );
        }
        let mut names: HashMap<&str, Span> = HashMap::new();
        let mut tags: HashMap<u8, &str> = HashMap::new();
        let mut fields = Vec::new();
        let mut ok = true;
        for f in &s.fields {
            if let Some(prev) = names.get(f.name.name.as_str()) {
                let kind = ErrorKind::DuplicateField {
                    name: f.name.name.clone(),
                    strukt: s.name.name.clone(),
                };
                let note = format!("first defined at {}", self.position(*prev));
                self.error(f.name.span, kind, vec![note]);
                ok = false;
            } else {
                names.insert(&f.name.name, f.name.span);
            }
            let tag = match u8::try_from(f.tag.value) {
                Ok(t) => t,
                Err(_) => {
                    self.error(
                        f.tag.span,
                        ErrorKind::TagOutOfRange {
                            tag: f.tag.text.clone(),
                        },
                        vec![],
                    );
                    ok = false;
                    continue;
                }
            };
            if let Some(other) = tags.get(&tag) {
                let kind = ErrorKind::DuplicateTag {
                    tag,
                    strukt: s.name.name.clone(),
                    other: (*other).to_owned(),
                };
                self.error(f.tag.span, kind, vec![]);
                ok = false;
            } else {
                tags.insert(tag, &f.name.name);
            }
            let Some(ty) = self.resolve(cx, module, &f.ty) else {
                ok = false;
                continue;
            };
            let default = match &f.default {
                None => None,
                Some(_) if !(ty.is_builtin() || matches!(ty, Type::Enum(_))) => {
                    let kind = ErrorKind::DefaultOnNonBase {
                        field: f.name.name.clone(),
                        ty: ty.to_string(),
                    };
                    self.error(
                        f.default.as_ref().map_or(f.name.span, |d| d.span),
                        kind,
                        vec![],
                    );
                    ok = false;
                    continue;
                }
                Some(d) => match check_value(cx.symbols, cx.enums, module, &ty, d) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        self.fail(e);
                        ok = false;
                        continue;
                    }
                },
            };
            fields.push(Field {
                name: f.name.name.clone(),
                tag,
                require: f.require,
                ty,
                default,
                doc: f.doc.clone(),
                span: f.name.span,
            });
        }
        if !ok {
            return None;
        }
        fields.sort_by_key(|f| f.tag);
        Some(Struct {
            module: module.to_owned(),
            name: s.name.name.clone(),
            fields,
            key: Vec::new(),
            doc: s.doc.clone(),
            span: s.name.span,
        })
    }

    fn interface_def(
        &mut self,
        cx: &Context<'_, '_>,
        module: &str,
        i: &ast::InterfaceDef,
    ) -> Interface {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut operations = Vec::new();
        for op in &i.operations {
            if let Some(prev) = seen.get(op.name.name.as_str()) {
                let kind = ErrorKind::DuplicateOperation {
                    name: op.name.name.clone(),
                    interface: i.name.name.clone(),
                };
                let note = format!("first defined at {}", self.position(*prev));
                self.error(op.name.span, kind, vec![note]);
                continue;
            }
            seen.insert(&op.name.name, op.name.span);
            let ret = match &op.ret {
                Some(t) => self.resolve(cx, module, t),
                None => None,
            };
            let mut params = Vec::new();
            let mut names: HashSet<&str> = HashSet::new();
            for p in &op.params {
                if !names.insert(&p.name.name) {
                    let kind = ErrorKind::DuplicateParam {
                        name: p.name.name.clone(),
                        operation: op.name.name.clone(),
                    };
                    self.error(p.name.span, kind, vec![]);
                }
                if let Some(ty) = self.resolve(cx, module, &p.ty) {
                    params.push(Param {
                        name: p.name.name.clone(),
                        ty,
                        is_out: p.is_out,
                        is_routekey: p.is_routekey,
                        span: p.name.span,
                    });
                }
            }
            operations.push(Operation {
                name: op.name.name.clone(),
                ret,
                params,
                doc: op.doc.clone(),
                span: op.name.span,
            });
        }
        Interface {
            module: module.to_owned(),
            name: i.name.name.clone(),
            operations,
            doc: i.doc.clone(),
            span: i.name.span,
        }
    }

    /// Applies `key[S, f...]` to struct `S` (already built) after checking the fields exist.
    fn key_def(
        &mut self,
        cx: &Context<'_, '_>,
        modules: &mut [Module],
        module: &str,
        k: &ast::KeyDef,
    ) {
        let (m, def) = match cx.symbols.resolve_struct(module, &k.target) {
            Ok(found) => found,
            Err(f) => return self.fail(f),
        };
        let mut key = Vec::new();
        for f in &k.fields {
            if !def.fields.iter().any(|d| d.name.name == f.name) {
                let kind = ErrorKind::KeyUnknownField {
                    field: f.name.clone(),
                    strukt: def.name.name.clone(),
                };
                self.error(f.span, kind, vec![]);
            } else if key.contains(&f.name) {
                let kind = ErrorKind::KeyDuplicateField {
                    field: f.name.clone(),
                    strukt: def.name.name.clone(),
                };
                self.error(f.span, kind, vec![]);
            } else {
                key.push(f.name.clone());
            }
        }
        let target = modules
            .iter_mut()
            .find(|x| x.name == m)
            .and_then(|x| x.structs.iter_mut().find(|s| s.name == def.name.name));
        // The struct is missing from the model only if it had errors (already reported).
        if let Some(s) = target {
            if !s.key.is_empty() {
                self.error(
                    k.target.span,
                    ErrorKind::KeyRedefined {
                        strukt: def.name.name.clone(),
                    },
                    vec![],
                );
            } else {
                s.key = key;
            }
        }
    }

    /// Reports structs reachable from themselves through fields that are structs (not inside
    /// a vector or map): such a struct would have infinite size.
    fn recursive_structs(&mut self, modules: &[Module]) {
        let mut edges: HashMap<QualifiedName, Vec<QualifiedName>> = HashMap::new();
        let mut all = Vec::new();
        for m in modules {
            for s in &m.structs {
                let direct = s
                    .fields
                    .iter()
                    .filter_map(|f| match &f.ty {
                        Type::Struct(n) => Some(n.clone()),
                        _ => None,
                    })
                    .collect();
                edges.insert(s.qualified_name(), direct);
                all.push((s.qualified_name(), s.span));
            }
        }
        for (name, span) in all {
            let mut seen = HashSet::new();
            let mut stack: Vec<&QualifiedName> = edges
                .get(&name)
                .map(|v| v.iter().collect())
                .unwrap_or_default();
            let mut recursive = false;
            while let Some(n) = stack.pop() {
                if *n == name {
                    recursive = true;
                    break;
                }
                if seen.insert(n) {
                    stack.extend(edges.get(n).into_iter().flatten());
                }
            }
            if recursive {
                self.error(
                    span,
                    ErrorKind::RecursiveStruct {
                        name: name.name.clone(),
                    },
                    vec![],
                );
            }
        }
    }
}
