//! Text → [`ast::File`]: runs the pest grammar, turns pest errors into readable diagnostics
//! and builds the syntax tree (decoding literals, rejecting keywords used as names).

use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::Parser as _;

use crate::ast::*;
use crate::diagnostic::{Diagnostic, ErrorKind};
use crate::doc::doc_for;
use crate::source::{FileId, Source, Span};

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
struct IdlParser;

/// The reserved words of the IDL (they cannot name anything).
pub const KEYWORDS: &[&str] = &[
    "void",
    "struct",
    "bool",
    "byte",
    "short",
    "int",
    "double",
    "float",
    "long",
    "string",
    "vector",
    "map",
    "key",
    "routekey",
    "module",
    "interface",
    "out",
    "require",
    "optional",
    "false",
    "true",
    "enum",
    "const",
    "unsigned",
];

/// Deepest `<` nesting accepted (keeps the recursive descent far from the stack limit).
pub const MAX_TYPE_NESTING: usize = 64;

/// Parses one file. On failure returns every error found (a syntax error stops at the first).
pub(crate) fn parse_file(source: &Source, file: FileId) -> Result<File, Vec<Diagnostic>> {
    if let Some(offset) = too_deep(&source.text) {
        let span = source.span(file, offset, offset + 1);
        return Err(vec![Diagnostic::at(
            source,
            span,
            ErrorKind::NestingTooDeep {
                limit: MAX_TYPE_NESTING,
            },
        )]);
    }
    let mut pairs = match IdlParser::parse(Rule::file, &source.text) {
        Ok(p) => p,
        Err(e) => return Err(vec![syntax_error(source, file, &e)]),
    };
    let mut b = Builder {
        source,
        file,
        errors: Vec::new(),
    };
    let ast = match pairs.next() {
        Some(root) => b.file(root),
        None => {
            b.internal(0, "the parser returned no tree");
            File::default()
        }
    };
    if b.errors.is_empty() {
        Ok(ast)
    } else {
        Err(b.errors)
    }
}

/// Offset of the first `<` nested more than [`MAX_TYPE_NESTING`] deep (comments and strings
/// skipped; `;`, `{` and `}` reset the depth).
fn too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 1;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'<' => {
                depth += 1;
                if depth > MAX_TYPE_NESTING {
                    return Some(i);
                }
            }
            b'>' => depth = depth.saturating_sub(1),
            b';' | b'{' | b'}' => depth = 0,
            _ => {}
        }
        i += 1;
    }
    None
}

// -------------------------------------------------------------------------------------------
// Syntax errors

/// What a rule is called in "expected ..." messages; `None` for rules never worth naming.
fn rule_label(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of file",
        // Reported instead of its alternatives when nothing at all could be parsed.
        Rule::file => "`#include` or `module`",
        Rule::include | Rule::hash_include => "`#include`",
        Rule::include_path => "a quoted file name",
        Rule::kw_module => "`module`",
        Rule::kw_struct => "`struct`",
        Rule::kw_enum => "`enum`",
        Rule::kw_const => "`const`",
        Rule::kw_interface => "`interface`",
        Rule::kw_key => "`key`",
        Rule::kw_require => "`require`",
        Rule::kw_optional => "`optional`",
        Rule::kw_void => "`void`",
        Rule::kw_out => "`out`",
        Rule::kw_routekey => "`routekey`",
        Rule::kw_true => "`true`",
        Rule::kw_false => "`false`",
        Rule::kw_bool => "`bool`",
        Rule::kw_byte => "`byte`",
        Rule::kw_short => "`short`",
        Rule::kw_int => "`int`",
        Rule::kw_long => "`long`",
        Rule::kw_float => "`float`",
        Rule::kw_double => "`double`",
        Rule::kw_string => "`string`",
        Rule::kw_unsigned => "`unsigned`",
        Rule::kw_vector => "`vector`",
        Rule::kw_map => "`map`",
        Rule::name | Rule::ident | Rule::scoped_name => "identifier",
        Rule::int_lit => "integer",
        Rule::float_lit => "number",
        Rule::string_lit => "string literal",
        Rule::value => "value",
        Rule::type_ => "type",
        Rule::field => "field",
        Rule::enumerator => "enumerator",
        Rule::operation => "operation",
        Rule::param => "parameter",
        Rule::lbrace => "`{`",
        Rule::rbrace => "`}`",
        Rule::lparen => "`(`",
        Rule::rparen => "`)`",
        Rule::lbracket => "`[`",
        Rule::rbracket => "`]`",
        Rule::langle => "`<`",
        Rule::rangle => "`>`",
        Rule::semi => "`;`",
        Rule::comma => "`,`",
        Rule::assign => "`=`",
        Rule::scope => "`::`",
        _ => return None,
    })
}

/// Rules that can start a type: when several are expected they are reported as "type".
const TYPE_START: &[Rule] = &[
    Rule::kw_bool,
    Rule::kw_byte,
    Rule::kw_short,
    Rule::kw_int,
    Rule::kw_long,
    Rule::kw_float,
    Rule::kw_double,
    Rule::kw_string,
    Rule::kw_unsigned,
    Rule::kw_vector,
    Rule::kw_map,
    Rule::ident,
    Rule::scoped_name,
];

/// Rules that can start a value: reported together as "value".
const VALUE_START: &[Rule] = &[
    Rule::float_lit,
    Rule::int_lit,
    Rule::string_lit,
    Rule::kw_true,
    Rule::kw_false,
    Rule::ident,
    Rule::scoped_name,
];

/// "`a`, `b` or `c`" for the expected rules.
fn expected_list(positives: &[Rule]) -> String {
    let is_type = positives.contains(&Rule::kw_bool);
    let is_value = positives.contains(&Rule::string_lit);
    let mut labels: Vec<&str> = Vec::new();
    for &r in positives {
        let label = if is_type && TYPE_START.contains(&r) {
            Some("type")
        } else if is_value && VALUE_START.contains(&r) {
            Some("value")
        } else {
            rule_label(r)
        };
        if let Some(l) = label {
            if !labels.contains(&l) {
                labels.push(l);
            }
        }
    }
    // "end of file" reads best last.
    if let Some(i) = labels.iter().position(|l| *l == "end of file") {
        let eof = labels.remove(i);
        labels.push(eof);
    }
    match labels.len() {
        0 => String::new(),
        1 => labels[0].to_owned(),
        n => format!("{} or {}", labels[..n - 1].join(", "), labels[n - 1]),
    }
}

/// What the text at `pos` is, for "found ..." in messages.
fn describe_found(text: &str, pos: usize) -> String {
    let rest = text.get(pos..).unwrap_or("");
    let Some(c) = rest.chars().next() else {
        return "end of file".to_owned();
    };
    if c == '\n' || c == '\r' {
        return "end of line".to_owned();
    }
    if c == '"' {
        return "string literal".to_owned();
    }
    let word: String = if c.is_alphanumeric() || c == '_' {
        rest.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .take(40)
            .collect()
    } else if rest.starts_with("::") {
        "::".to_owned()
    } else {
        c.to_string()
    };
    format!("`{word}`")
}

/// Whether `rest` starts with a `"` that is not closed on its line.
fn unterminated_string(rest: &str) -> bool {
    let Some(body) = rest.strip_prefix('"') else {
        return false;
    };
    let mut escaped = false;
    for c in body.chars() {
        match c {
            '\n' => return true,
            '"' if !escaped => return false,
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
    }
    true
}

/// Whether only whitespace and comments follow `pos`.
fn at_end_of_text(text: &str, pos: usize) -> bool {
    let mut rest = text.get(pos..).unwrap_or("");
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |e| &after[e..]);
        } else if let Some(after) = rest.strip_prefix("/*") {
            match after.find("*/") {
                Some(e) => rest = &after[e + 2..],
                None => return false,
            }
        } else {
            return rest.is_empty();
        }
    }
}

/// End offset of the last token (not whitespace or comment) that ends at or before `pos`.
fn prev_token_end(text: &str, pos: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut last = None;
    while i < pos.min(bytes.len()) {
        let b = bytes[i];
        // `i` can land inside a character after an escape; step to the next boundary.
        let Some(rest) = text.get(i..) else {
            i += 1;
            continue;
        };
        if b.is_ascii_whitespace() {
            i += 1;
        } else if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if let Some(body) = rest.strip_prefix("/*") {
            i += body.find("*/").map_or(rest.len(), |e| e + 4);
        } else {
            let start = i;
            if b == b'"' {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            } else if b.is_ascii_alphanumeric() || b == b'_' {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
            } else {
                i += rest.chars().next().map_or(1, char::len_utf8);
            }
            i = i.min(bytes.len());
            if i <= pos && start < pos {
                last = Some(i);
            }
        }
    }
    last
}

fn syntax_error(source: &Source, file: FileId, e: &pest::error::Error<Rule>) -> Diagnostic {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let rest = source.text.get(pos..).unwrap_or("");
    let message = match &e.variant {
        _ if rest.starts_with("/*") => "unterminated block comment".to_owned(),
        _ if unterminated_string(rest) => "unterminated string literal".to_owned(),
        ErrorVariant::ParsingError { positives, .. } => {
            let expected = expected_list(positives);
            let found = describe_found(&source.text, pos);
            if expected.is_empty() {
                format!("unexpected {found}")
            } else {
                format!("expected {expected}, found {found}")
            }
        }
        ErrorVariant::CustomError { message } => message.clone(),
    };
    // A missing `;` is noticed at the next token; when that one starts a new line, point at the
    // end of the previous token instead (where the `;` belongs), as rustc does.
    let mut at = pos;
    let expects_semi = matches!(&e.variant, ErrorVariant::ParsingError { positives, .. } if positives.contains(&Rule::semi));
    if at_end_of_text(&source.text, pos) && !message.starts_with("unterminated") {
        // Nothing but whitespace and comments follows: the caret would sit on an empty last
        // line. Point just after the last token instead, where the missing text belongs.
        if let Some(end) = prev_token_end(&source.text, pos) {
            at = end;
        }
    } else if expects_semi && !message.starts_with("unterminated") {
        if let Some(end) = prev_token_end(&source.text, pos) {
            if source
                .text
                .get(end..pos)
                .is_some_and(|gap| gap.contains('\n'))
            {
                at = end;
            }
        }
    }
    Diagnostic::at(
        source,
        source.span(file, at, at),
        ErrorKind::Syntax { message },
    )
}

// -------------------------------------------------------------------------------------------
// Tree building

struct Builder<'s> {
    source: &'s Source,
    file: FileId,
    errors: Vec<Diagnostic>,
}

/// Punctuation carries no information once parsed.
fn is_punct(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::lbrace
            | Rule::rbrace
            | Rule::lparen
            | Rule::rparen
            | Rule::lbracket
            | Rule::rbracket
            | Rule::langle
            | Rule::rangle
            | Rule::semi
            | Rule::comma
            | Rule::assign
            | Rule::scope
            | Rule::EOI
    )
}

/// The meaningful children of `pair`.
fn children<'i>(pair: Pair<'i, Rule>) -> Vec<Pair<'i, Rule>> {
    pair.into_inner()
        .filter(|p| !is_punct(p.as_rule()))
        .collect()
}

impl<'s> Builder<'s> {
    fn span(&self, p: &Pair<'_, Rule>) -> Span {
        let s = p.as_span();
        self.source.span(self.file, s.start(), s.end())
    }

    fn error(&mut self, span: Span, kind: ErrorKind) {
        self.errors.push(Diagnostic::at(self.source, span, kind));
    }

    fn internal(&mut self, offset: usize, what: &str) {
        let span = self.source.span(self.file, offset, offset);
        self.error(
            span,
            ErrorKind::Internal {
                message: what.to_owned(),
            },
        );
    }

    /// Reports a tree shape the grammar should make impossible.
    fn unexpected<T>(&mut self, p: &Pair<'_, Rule>) -> Option<T> {
        let what = format!("unexpected {:?} in the parse tree", p.as_rule());
        self.internal(p.as_span().start(), &what);
        None
    }

    fn missing<T>(&mut self, parent_start: usize, what: &str) -> Option<T> {
        self.internal(parent_start, &format!("missing {what} in the parse tree"));
        None
    }

    fn doc(&self, p: &Pair<'_, Rule>) -> Option<String> {
        // A pair's span can include whitespace and comments skipped after its last token
        // (`A /* doc */,` in an enum): the trailing comment starts after the last token.
        let end = p
            .clone()
            .into_inner()
            .last()
            .map_or(p.as_span().end(), |c| c.as_span().end());
        doc_for(&self.source.text, p.as_span().start(), end)
    }

    fn file(&mut self, root: Pair<'_, Rule>) -> File {
        let mut file = File::default();
        for p in children(root) {
            match p.as_rule() {
                Rule::include => {
                    if let Some(i) = self.include(p) {
                        file.includes.push(i);
                    }
                }
                Rule::module_def => {
                    if let Some(m) = self.module(p) {
                        file.modules.push(m);
                    }
                }
                _ => {
                    self.unexpected::<()>(&p);
                }
            }
        }
        file
    }

    fn include(&mut self, p: Pair<'_, Rule>) -> Option<Include> {
        let span = self.span(&p);
        let path = p
            .into_inner()
            .find(|c| c.as_rule() == Rule::include_path)
            .and_then(|c| c.into_inner().next())
            .map(|c| c.as_str().to_owned());
        match path {
            Some(path) => Some(Include { path, span }),
            None => self.missing(span.start, "include path"),
        }
    }

    /// A declared name; keywords are reported (the name is still returned so building goes on).
    fn name(
        &mut self,
        p: Option<Pair<'_, Rule>>,
        role: &'static str,
        parent: usize,
    ) -> Option<Ident> {
        let Some(p) = p else {
            return self.missing(parent, "name");
        };
        if p.as_rule() != Rule::name {
            return self.unexpected(&p);
        }
        let ident = Ident {
            name: p.as_str().to_owned(),
            span: self.span(&p),
        };
        if KEYWORDS.contains(&ident.name.as_str()) {
            self.error(
                ident.span,
                ErrorKind::KeywordAsIdentifier {
                    word: ident.name.clone(),
                    role,
                },
            );
        }
        Some(ident)
    }

    fn module(&mut self, p: Pair<'_, Rule>) -> Option<ModuleDef> {
        let start = p.as_span().start();
        let mut it = children(p).into_iter().skip(1); // kw_module
        let name = self.name(it.next(), "a module name", start)?;
        let mut items = Vec::new();
        for c in it {
            let item = match c.as_rule() {
                Rule::struct_def => self.struct_def(c).map(Item::Struct),
                Rule::enum_def => self.enum_def(c).map(Item::Enum),
                Rule::const_def => self.const_def(c).map(Item::Const),
                Rule::interface_def => self.interface_def(c).map(Item::Interface),
                Rule::key_def => self.key_def(c).map(Item::Key),
                _ => self.unexpected(&c),
            };
            items.extend(item);
        }
        Some(ModuleDef { name, items })
    }

    fn struct_def(&mut self, p: Pair<'_, Rule>) -> Option<StructDef> {
        let start = p.as_span().start();
        let doc = self.doc(&p);
        let mut it = children(p).into_iter().skip(1); // kw_struct
        let name = self.name(it.next(), "a struct name", start)?;
        let fields = it.filter_map(|f| self.field(f)).collect();
        Some(StructDef { name, fields, doc })
    }

    fn field(&mut self, p: Pair<'_, Rule>) -> Option<FieldDef> {
        if p.as_rule() != Rule::field {
            return self.unexpected(&p);
        }
        let start = p.as_span().start();
        let doc = self.doc(&p);
        let mut it = children(p).into_iter();
        let tag = match it.next() {
            Some(t) => self.int_lit(t)?,
            None => return self.missing(start, "tag"),
        };
        let require = match it.next() {
            Some(r) => r.as_rule() == Rule::kw_require,
            None => return self.missing(start, "requiredness"),
        };
        let ty = self.type_expr(it.next(), start)?;
        let name = self.name(it.next(), "a field name", start)?;
        let default = match it.next() {
            Some(v) => Some(self.value(v)?),
            None => None,
        };
        Some(FieldDef {
            tag,
            require,
            ty,
            name,
            default,
            doc,
        })
    }

    fn enum_def(&mut self, p: Pair<'_, Rule>) -> Option<EnumDef> {
        let start = p.as_span().start();
        let doc = self.doc(&p);
        let mut it = children(p).into_iter().skip(1); // kw_enum
        let name = self.name(it.next(), "an enum name", start)?;
        let mut members = Vec::new();
        for e in it {
            if e.as_rule() != Rule::enumerator {
                return self.unexpected(&e);
            }
            let start = e.as_span().start();
            let doc = self.doc(&e);
            let mut parts = children(e).into_iter();
            let name = self.name(parts.next(), "an enumerator name", start)?;
            let value = match parts.next() {
                Some(v) => Some(self.value(v)?),
                None => None,
            };
            members.push(EnumeratorDef { name, value, doc });
        }
        Some(EnumDef { name, members, doc })
    }

    fn const_def(&mut self, p: Pair<'_, Rule>) -> Option<ConstDef> {
        let start = p.as_span().start();
        let doc = self.doc(&p);
        let mut it = children(p).into_iter().skip(1); // kw_const
        let ty = self.type_expr(it.next(), start)?;
        let name = self.name(it.next(), "a const name", start)?;
        let value = match it.next() {
            Some(v) => self.value(v)?,
            None => return self.missing(start, "const value"),
        };
        Some(ConstDef {
            ty,
            name,
            value,
            doc,
        })
    }

    fn interface_def(&mut self, p: Pair<'_, Rule>) -> Option<InterfaceDef> {
        let start = p.as_span().start();
        let doc = self.doc(&p);
        let mut it = children(p).into_iter().skip(1); // kw_interface
        let name = self.name(it.next(), "an interface name", start)?;
        let operations = it.filter_map(|o| self.operation(o)).collect();
        Some(InterfaceDef {
            name,
            operations,
            doc,
        })
    }

    fn operation(&mut self, p: Pair<'_, Rule>) -> Option<OperationDef> {
        if p.as_rule() != Rule::operation {
            return self.unexpected(&p);
        }
        let start = p.as_span().start();
        let doc = self.doc(&p);
        let mut it = children(p).into_iter();
        let ret = match it.next() {
            Some(r) if r.as_rule() == Rule::return_type => {
                let start = r.as_span().start();
                match r.into_inner().next() {
                    Some(v) if v.as_rule() == Rule::kw_void => None,
                    other => Some(self.type_expr(other, start)?),
                }
            }
            Some(r) => return self.unexpected(&r),
            None => return self.missing(start, "return type"),
        };
        let name = self.name(it.next(), "an operation name", start)?;
        let mut params = Vec::new();
        for param in it {
            let start = param.as_span().start();
            let mut parts = children(param).into_iter().peekable();
            let (is_out, is_routekey) = match parts.peek().map(|q| q.as_rule()) {
                Some(Rule::kw_out) => (true, false),
                Some(Rule::kw_routekey) => (false, true),
                _ => (false, false),
            };
            if is_out || is_routekey {
                parts.next();
            }
            let ty = self.type_expr(parts.next(), start)?;
            let name = self.name(parts.next(), "a parameter name", start)?;
            params.push(ParamDef {
                is_out,
                is_routekey,
                ty,
                name,
            });
        }
        Some(OperationDef {
            ret,
            name,
            params,
            doc,
        })
    }

    fn key_def(&mut self, p: Pair<'_, Rule>) -> Option<KeyDef> {
        let span = self.span(&p);
        let mut it = children(p).into_iter().skip(1); // kw_key
        let target = match it.next() {
            Some(t) => self.scoped_name(t)?,
            None => return self.missing(span.start, "key struct"),
        };
        let mut fields = Vec::new();
        for f in it {
            fields.push(self.name(Some(f), "a key field name", span.start)?);
        }
        Some(KeyDef {
            target,
            fields,
            span,
        })
    }

    fn scoped_name(&mut self, p: Pair<'_, Rule>) -> Option<ScopedName> {
        if p.as_rule() != Rule::scoped_name {
            return self.unexpected(&p);
        }
        let span = self.span(&p);
        let segments = children(p)
            .into_iter()
            .map(|s| Ident {
                name: s.as_str().to_owned(),
                span: self.span(&s),
            })
            .collect();
        Some(ScopedName { segments, span })
    }

    fn type_expr(&mut self, p: Option<Pair<'_, Rule>>, parent: usize) -> Option<TypeExpr> {
        let Some(p) = p else {
            return self.missing(parent, "type");
        };
        if p.as_rule() != Rule::type_ {
            return self.unexpected(&p);
        }
        let span = self.span(&p);
        let Some(inner) = p.into_inner().next() else {
            return self.missing(span.start, "type");
        };
        let kind = match inner.as_rule() {
            Rule::kw_bool => TypeExprKind::Bool,
            Rule::kw_byte => TypeExprKind::Byte,
            Rule::kw_short => TypeExprKind::Short,
            Rule::kw_int => TypeExprKind::Int,
            Rule::kw_long => TypeExprKind::Long,
            Rule::kw_float => TypeExprKind::Float,
            Rule::kw_double => TypeExprKind::Double,
            Rule::kw_string => TypeExprKind::String,
            Rule::unsigned_type => match children(inner).get(1).map(|p| p.as_rule()) {
                Some(Rule::kw_byte) => TypeExprKind::UnsignedByte,
                Some(Rule::kw_short) => TypeExprKind::UnsignedShort,
                Some(Rule::kw_int) => TypeExprKind::UnsignedInt,
                _ => return self.missing(span.start, "unsigned type"),
            },
            Rule::vector_type => {
                let start = inner.as_span().start();
                let elem = children(inner).into_iter().nth(1);
                TypeExprKind::Vector(Box::new(self.type_expr(elem, start)?))
            }
            Rule::map_type => {
                let start = inner.as_span().start();
                let mut it = children(inner).into_iter().skip(1);
                let k = self.type_expr(it.next(), start)?;
                let v = self.type_expr(it.next(), start)?;
                TypeExprKind::Map(Box::new(k), Box::new(v))
            }
            Rule::scoped_name => TypeExprKind::Named(self.scoped_name(inner)?),
            _ => return self.unexpected(&inner),
        };
        Some(TypeExpr { kind, span })
    }

    fn value(&mut self, p: Pair<'_, Rule>) -> Option<ValueExpr> {
        if p.as_rule() != Rule::value {
            return self.unexpected(&p);
        }
        let span = self.span(&p);
        let Some(inner) = p.into_inner().next() else {
            return self.missing(span.start, "value");
        };
        let kind = match inner.as_rule() {
            Rule::int_lit => ValueExprKind::Int(self.int_lit(inner)?.value),
            Rule::float_lit => {
                let text = inner.as_str();
                let digits = text.trim_end_matches(['f', 'F']);
                match digits.parse::<f64>() {
                    Ok(v) if v.is_finite() => ValueExprKind::Float(v),
                    _ => {
                        self.error(
                            span,
                            ErrorKind::FloatLiteralOutOfRange {
                                literal: text.to_owned(),
                            },
                        );
                        return None;
                    }
                }
            }
            Rule::string_lit => ValueExprKind::Str(self.string_lit(inner)?),
            Rule::kw_true => ValueExprKind::Bool(true),
            Rule::kw_false => ValueExprKind::Bool(false),
            Rule::scoped_name => ValueExprKind::Name(self.scoped_name(inner)?),
            _ => return self.unexpected(&inner),
        };
        Some(ValueExpr { kind, span })
    }

    fn int_lit(&mut self, p: Pair<'_, Rule>) -> Option<IntLit> {
        if p.as_rule() != Rule::int_lit {
            return self.unexpected(&p);
        }
        let span = self.span(&p);
        let text = p.as_str().to_owned();
        match parse_int(&text) {
            Ok(value) => Some(IntLit { value, text, span }),
            Err(kind) => {
                self.error(span, kind);
                None
            }
        }
    }

    fn string_lit(&mut self, p: Pair<'_, Rule>) -> Option<String> {
        let Some(body) = p.into_inner().next() else {
            return Some(String::new());
        };
        let base = body.as_span().start();
        match unescape(body.as_str()) {
            Ok(s) => Some(s),
            Err((offset, kind)) => {
                let at = base + offset;
                let span = self.source.span(self.file, at, at + 1);
                self.error(span, kind);
                None
            }
        }
    }
}

/// Value of an integer literal: `[+-]` then `0x` hex, `0` octal or decimal digits.
pub(crate) fn parse_int(text: &str) -> Result<i128, ErrorKind> {
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let out_of_range = || ErrorKind::IntLiteralOutOfRange {
        literal: text.to_owned(),
    };
    let magnitude = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        u128::from_str_radix(hex, 16).map_err(|_| out_of_range())?
    } else if body.len() > 1 && body.starts_with('0') {
        if !body.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return Err(ErrorKind::InvalidOctal {
                literal: text.to_owned(),
            });
        }
        u128::from_str_radix(body, 8).map_err(|_| out_of_range())?
    } else {
        body.parse::<u128>().map_err(|_| out_of_range())?
    };
    let v = i128::try_from(magnitude).map_err(|_| out_of_range())?;
    Ok(if negative { -v } else { v })
}

/// Decodes the escapes of a string literal body. On error: byte offset of the backslash and
/// the error.
pub(crate) fn unescape(body: &str) -> Result<String, (usize, ErrorKind)> {
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let Some((_, e)) = chars.next() else {
            return Err((
                i,
                ErrorKind::InvalidEscape {
                    escape: "\\".to_owned(),
                },
            ));
        };
        let byte = match e {
            '\\' => b'\\',
            '"' => b'"',
            '\'' => b'\'',
            '?' => b'?',
            'n' => b'\n',
            'r' => b'\r',
            't' => b'\t',
            'v' => 0x0b,
            'f' => 0x0c,
            'a' => 0x07,
            'b' => 0x08,
            '0'..='7' => {
                let mut v = e as u32 - '0' as u32;
                for _ in 0..2 {
                    match chars.peek() {
                        Some(&(_, d @ '0'..='7')) => {
                            v = v * 8 + (d as u32 - '0' as u32);
                            chars.next();
                        }
                        _ => break,
                    }
                }
                match u8::try_from(v) {
                    Ok(b) => b,
                    Err(_) => {
                        return Err((
                            i,
                            ErrorKind::InvalidString {
                                reason: "octal escape out of range (above \\377)",
                            },
                        ))
                    }
                }
            }
            'x' => {
                let mut v: u32 = 0;
                let mut n = 0;
                while let Some(&(_, d)) = chars.peek() {
                    let Some(x) = d.to_digit(16) else { break };
                    v = v.saturating_mul(16).saturating_add(x);
                    n += 1;
                    chars.next();
                }
                if n == 0 {
                    return Err((
                        i,
                        ErrorKind::InvalidEscape {
                            escape: "\\x".to_owned(),
                        },
                    ));
                }
                match u8::try_from(v) {
                    Ok(b) => b,
                    Err(_) => {
                        return Err((
                            i,
                            ErrorKind::InvalidString {
                                reason: "hex escape out of range (above \\xff)",
                            },
                        ))
                    }
                }
            }
            other => {
                return Err((
                    i,
                    ErrorKind::InvalidEscape {
                        escape: format!("\\{other}"),
                    },
                ))
            }
        };
        if byte == 0 {
            return Err((
                i,
                ErrorKind::InvalidString {
                    reason: "NUL character",
                },
            ));
        }
        out.push(byte);
    }
    String::from_utf8(out).map_err(|_| {
        (
            0,
            ErrorKind::InvalidString {
                reason: "escapes do not form valid UTF-8",
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_int("0"), Ok(0));
        assert_eq!(parse_int("42"), Ok(42));
        assert_eq!(parse_int("-42"), Ok(-42));
        assert_eq!(parse_int("+7"), Ok(7));
        assert_eq!(parse_int("0x1F"), Ok(31));
        assert_eq!(parse_int("0XfF"), Ok(255));
        assert_eq!(parse_int("-0x80"), Ok(-128));
        assert_eq!(parse_int("017"), Ok(15));
        assert_eq!(parse_int("-010"), Ok(-8));
        assert_eq!(
            parse_int("08"),
            Err(ErrorKind::InvalidOctal {
                literal: "08".into()
            })
        );
        assert!(matches!(
            parse_int("0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"),
            Err(ErrorKind::IntLiteralOutOfRange { .. })
        ));
    }

    #[test]
    fn string_escapes() {
        assert_eq!(unescape(r#"a\"b\\c\'d"#).unwrap(), "a\"b\\c'd");
        assert_eq!(
            unescape(r"\n\r\t\v\f\a\b\?").unwrap(),
            "\n\r\t\u{b}\u{c}\u{7}\u{8}?"
        );
        assert_eq!(unescape(r"\101\x42\7").unwrap(), "AB\u{7}");
        assert_eq!(unescape(r"\xe4\xbd\xa0").unwrap(), "你");
        assert_eq!(unescape("中文").unwrap(), "中文");
        assert_eq!(
            unescape(r"ab\q").unwrap_err(),
            (
                2,
                ErrorKind::InvalidEscape {
                    escape: "\\q".into()
                }
            )
        );
        assert!(matches!(
            unescape(r"\0").unwrap_err().1,
            ErrorKind::InvalidString { .. }
        ));
        assert!(matches!(
            unescape(r"\xff").unwrap_err().1,
            ErrorKind::InvalidString { .. }
        ));
        assert!(matches!(
            unescape(r"\777").unwrap_err().1,
            ErrorKind::InvalidString { .. }
        ));
        assert!(matches!(
            unescape(r"\x100").unwrap_err().1,
            ErrorKind::InvalidString { .. }
        ));
    }

    #[test]
    fn nesting_limit() {
        let deep = format!("{}int{}", "vector<".repeat(65), ">".repeat(65));
        assert!(too_deep(&deep).is_some());
        let ok = format!("{}int{}", "vector<".repeat(64), ">".repeat(64));
        assert!(too_deep(&ok).is_none());
        assert!(too_deep(&format!("// {}", "<".repeat(100))).is_none());
        assert!(too_deep(&format!("\"{}\"", "<".repeat(100))).is_none());
    }
}
