//! The symbol table: declarations by module and name, and the lookups that resolve type names
//! and enumerator references.
//!
//! Lookup rules (as in tars2cpp): an unqualified type name is looked up in the current module;
//! `Mod::Name` in module `Mod`. Every declaration of the program is visible (included files are
//! loaded first; declaration order does not matter). Enumerators may be written `A` (the
//! expected enum first, then every enum of the current module), `Enum::A`, `Mod::A` or
//! `Mod::Enum::A`.

use std::collections::HashMap;

use crate::ast::{
    ConstDef, EnumDef, InterfaceDef, Item, ScopedName, StructDef, TypeExpr, TypeExprKind,
};
use crate::diagnostic::ErrorKind;
use crate::model::{QualifiedName, Type};
use crate::source::{FileId, Span};

/// A failed lookup: where, what, and optional notes.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) span: Span,
    /// Boxed: keeps `Result<_, Failure>` small.
    pub(crate) kind: Box<ErrorKind>,
    pub(crate) notes: Vec<String>,
}

impl Failure {
    pub(crate) fn new(span: Span, kind: ErrorKind) -> Failure {
        Failure {
            span,
            kind: Box::new(kind),
            notes: Vec::new(),
        }
    }
}

/// A named declaration.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Decl<'a> {
    Struct(&'a StructDef),
    Enum(&'a EnumDef),
    Interface(&'a InterfaceDef),
    Const(&'a ConstDef),
}

impl Decl<'_> {
    fn span(&self) -> Span {
        match self {
            Decl::Struct(d) => d.name.span,
            Decl::Enum(d) => d.name.span,
            Decl::Interface(d) => d.name.span,
            Decl::Const(d) => d.name.span,
        }
    }
}

/// The declarations of one module name, merged over every `module` block.
#[derive(Debug)]
pub(crate) struct ModuleSyms<'a> {
    pub(crate) name: &'a str,
    /// First declaration of each name.
    decls: HashMap<&'a str, Decl<'a>>,
    /// Items in load order (duplicates left out; `key[]` statements included).
    pub(crate) items: Vec<&'a Item>,
    /// Enums in load order.
    pub(crate) enums: Vec<&'a EnumDef>,
}

/// An enumerator found by a lookup.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EnumeratorRef<'a> {
    pub(crate) module: &'a str,
    pub(crate) enum_def: &'a EnumDef,
    pub(crate) index: usize,
}

impl EnumeratorRef<'_> {
    pub(crate) fn enum_name(&self) -> QualifiedName {
        QualifiedName::new(self.module, &self.enum_def.name.name)
    }

    pub(crate) fn name(&self) -> &str {
        self.enum_def
            .members
            .get(self.index)
            .map_or("", |m| m.name.name.as_str())
    }
}

/// Every module's declarations.
#[derive(Debug, Default)]
pub(crate) struct Symbols<'a> {
    pub(crate) modules: Vec<ModuleSyms<'a>>,
    index: HashMap<&'a str, usize>,
}

/// A duplicate definition: the second one's span, its name and module, the first one's span.
pub(crate) struct Duplicate<'a> {
    pub(crate) span: Span,
    pub(crate) name: &'a str,
    pub(crate) module: &'a str,
    pub(crate) previous: Span,
}

impl<'a> Symbols<'a> {
    /// Collects declarations of `files` (in load order); reports names declared twice in a module.
    pub(crate) fn build(
        files: &[(FileId, &'a crate::ast::File)],
    ) -> (Symbols<'a>, Vec<Duplicate<'a>>) {
        let mut syms = Symbols::default();
        let mut dups = Vec::new();
        for &(_, file) in files {
            for m in &file.modules {
                let idx = match syms.index.get(m.name.name.as_str()) {
                    Some(&i) => i,
                    None => {
                        syms.modules.push(ModuleSyms {
                            name: &m.name.name,
                            decls: HashMap::new(),
                            items: Vec::new(),
                            enums: Vec::new(),
                        });
                        syms.index.insert(&m.name.name, syms.modules.len() - 1);
                        syms.modules.len() - 1
                    }
                };
                let ms = &mut syms.modules[idx];
                for item in &m.items {
                    let decl = match item {
                        Item::Struct(d) => Decl::Struct(d),
                        Item::Enum(d) => Decl::Enum(d),
                        Item::Interface(d) => Decl::Interface(d),
                        Item::Const(d) => Decl::Const(d),
                        Item::Key(_) => {
                            ms.items.push(item);
                            continue;
                        }
                    };
                    let (name, span) = match decl {
                        Decl::Struct(d) => (&d.name.name, d.name.span),
                        Decl::Enum(d) => (&d.name.name, d.name.span),
                        Decl::Interface(d) => (&d.name.name, d.name.span),
                        Decl::Const(d) => (&d.name.name, d.name.span),
                    };
                    if let Some(prev) = ms.decls.get(name.as_str()) {
                        dups.push(Duplicate {
                            span,
                            name,
                            module: ms.name,
                            previous: prev.span(),
                        });
                        continue;
                    }
                    ms.decls.insert(name.as_str(), decl);
                    ms.items.push(item);
                    if let Decl::Enum(e) = decl {
                        ms.enums.push(e);
                    }
                }
            }
        }
        (syms, dups)
    }

    fn module(&self, name: &str) -> Option<&ModuleSyms<'a>> {
        self.index.get(name).and_then(|&i| self.modules.get(i))
    }

    /// The declaration a (type) name refers to, with its module.
    fn lookup(&self, module: &str, name: &ScopedName) -> Option<(&'a str, Decl<'a>)> {
        let (m, n) = match name.segments.as_slice() {
            [n] => (self.module(module)?, n),
            [m, n] => (self.module(&m.name)?, n),
            _ => return None,
        };
        m.decls.get(n.name.as_str()).map(|d| (m.name, *d))
    }

    /// Resolves a type expression written in `module`.
    pub(crate) fn resolve_type(&self, module: &str, t: &TypeExpr) -> Result<Type, Failure> {
        Ok(match &t.kind {
            TypeExprKind::Bool => Type::Bool,
            TypeExprKind::Byte => Type::Byte,
            TypeExprKind::Short => Type::Short,
            TypeExprKind::Int => Type::Int,
            TypeExprKind::Long => Type::Long,
            TypeExprKind::UnsignedByte => Type::UnsignedByte,
            TypeExprKind::UnsignedShort => Type::UnsignedShort,
            TypeExprKind::UnsignedInt => Type::UnsignedInt,
            TypeExprKind::Float => Type::Float,
            TypeExprKind::Double => Type::Double,
            TypeExprKind::String => Type::String,
            TypeExprKind::Vector(e) => Type::Vector(Box::new(self.resolve_type(module, e)?)),
            TypeExprKind::Map(k, v) => Type::Map(
                Box::new(self.resolve_type(module, k)?),
                Box::new(self.resolve_type(module, v)?),
            ),
            TypeExprKind::Named(name) => self.resolve_named(module, name)?,
        })
    }

    fn resolve_named(&self, module: &str, name: &ScopedName) -> Result<Type, Failure> {
        match self.lookup(module, name) {
            Some((m, Decl::Struct(s))) => Ok(Type::Struct(QualifiedName::new(m, &s.name.name))),
            Some((m, Decl::Enum(e))) => Ok(Type::Enum(QualifiedName::new(m, &e.name.name))),
            Some((_, Decl::Interface(_))) => Err(Failure::new(
                name.span,
                ErrorKind::NotAType {
                    name: name.text(),
                    what: "an interface",
                },
            )),
            Some((_, Decl::Const(_))) => Err(Failure::new(
                name.span,
                ErrorKind::NotAType {
                    name: name.text(),
                    what: "a const",
                },
            )),
            None => {
                let mut f = Failure::new(name.span, ErrorKind::UndefinedType { name: name.text() });
                if let [n] = name.segments.as_slice() {
                    let candidates: Vec<String> = self
                        .modules
                        .iter()
                        .filter(|m| {
                            matches!(
                                m.decls.get(n.name.as_str()),
                                Some(Decl::Struct(_) | Decl::Enum(_))
                            )
                        })
                        .map(|m| format!("`{}::{}`", m.name, n.name))
                        .take(3)
                        .collect();
                    if !candidates.is_empty() {
                        f.notes
                            .push(format!("did you mean {}?", candidates.join(" or ")));
                    }
                }
                Err(f)
            }
        }
    }

    /// The struct `name` refers to (for `key[...]`), with its module.
    pub(crate) fn resolve_struct(
        &self,
        module: &str,
        name: &ScopedName,
    ) -> Result<(&'a str, &'a StructDef), Failure> {
        match self.lookup(module, name) {
            Some((m, Decl::Struct(s))) => Ok((m, s)),
            _ => Err(Failure::new(
                name.span,
                ErrorKind::KeyNotStruct { name: name.text() },
            )),
        }
    }

    /// The enumerator `name` written in `module`; `prefer` (the expected enum) is searched first
    /// for unqualified names.
    pub(crate) fn resolve_enumerator(
        &self,
        module: &str,
        name: &ScopedName,
        prefer: Option<(&'a str, &'a EnumDef)>,
    ) -> Result<EnumeratorRef<'a>, Failure> {
        let undefined = || {
            Failure::new(
                name.span,
                ErrorKind::UndefinedEnumerator { name: name.text() },
            )
        };
        let member_of = |m: &'a str, e: &'a EnumDef, n: &str| {
            e.members
                .iter()
                .position(|x| x.name.name == n)
                .map(|index| EnumeratorRef {
                    module: m,
                    enum_def: e,
                    index,
                })
        };
        // The enumerator `n` of any enum of module `ms`: must be unique.
        let in_module = |ms: &ModuleSyms<'a>, n: &str| -> Result<EnumeratorRef<'a>, Failure> {
            let found: Vec<EnumeratorRef<'a>> = ms
                .enums
                .iter()
                .filter_map(|e| member_of(ms.name, e, n))
                .collect();
            match found.as_slice() {
                [one] => Ok(*one),
                [] => Err(undefined()),
                many => {
                    let mut f = Failure::new(
                        name.span,
                        ErrorKind::AmbiguousEnumerator { name: name.text() },
                    );
                    let list: Vec<String> = many
                        .iter()
                        .map(|r| format!("`{}::{}`", r.enum_name(), n))
                        .collect();
                    f.notes.push(format!("candidates: {}", list.join(", ")));
                    Err(f)
                }
            }
        };
        match name.segments.as_slice() {
            [n] => {
                if let Some(found) = prefer.and_then(|(m, e)| member_of(m, e, &n.name)) {
                    return Ok(found);
                }
                in_module(self.module(module).ok_or_else(undefined)?, &n.name)
            }
            [a, n] => {
                let current = self.module(module).ok_or_else(undefined)?;
                if let Some(Decl::Enum(e)) = current.decls.get(a.name.as_str()) {
                    return member_of(current.name, e, &n.name).ok_or_else(undefined);
                }
                in_module(self.module(&a.name).ok_or_else(undefined)?, &n.name)
            }
            [m, e, n] => {
                let ms = self.module(&m.name).ok_or_else(undefined)?;
                match ms.decls.get(e.name.as_str()) {
                    Some(Decl::Enum(ed)) => member_of(ms.name, ed, &n.name).ok_or_else(undefined),
                    _ => Err(undefined()),
                }
            }
            _ => Err(undefined()),
        }
    }

    /// The enum declaration named by a resolved type.
    pub(crate) fn enum_def(&self, name: &QualifiedName) -> Option<(&'a str, &'a EnumDef)> {
        let ms = self.module(&name.module)?;
        match ms.decls.get(name.name.as_str()) {
            Some(Decl::Enum(e)) => Some((ms.name, e)),
            _ => None,
        }
    }
}
