//! Errors: what went wrong ([`ErrorKind`]), where ([`Location`]), and their rendering as
//! `file:line:col: message` followed by the source line and a caret under the column.

use std::fmt;
use std::path::PathBuf;

use crate::source::{Source, Span};

/// What went wrong. The `Display` text is the diagnostic's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file could not be read.
    #[error("cannot read `{path}`: {message}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        message: String,
    },
    /// `#include "name"` found no file, neither next to the including file nor in an include dir.
    #[error("cannot find included file `{name}`")]
    IncludeNotFound {
        /// The name as written.
        name: String,
        /// Every path that was tried, in order.
        searched: Vec<PathBuf>,
    },
    /// A file includes itself, directly or through other files.
    #[error("include cycle: {cycle}")]
    IncludeCycle {
        /// The chain of files, `a.tars -> b.tars -> a.tars`.
        cycle: String,
    },
    /// `#include` chains longer than the loader accepts.
    #[error("includes nested too deeply (more than {limit} levels)")]
    IncludeTooDeep {
        /// The limit.
        limit: usize,
    },
    /// The text does not follow the grammar.
    #[error("{message}")]
    Syntax {
        /// What was expected and what was found.
        message: String,
    },
    /// `vector`/`map` nested deeper than the compiler accepts.
    #[error("types are nested too deeply (more than {limit} levels of `<`)")]
    NestingTooDeep {
        /// The limit.
        limit: usize,
    },
    /// A reserved word where a name is required (`int struct;`).
    #[error("keyword `{word}` cannot be used as {role}")]
    KeywordAsIdentifier {
        /// The keyword.
        word: String,
        /// What the name was for: "a field name", "a struct name", ...
        role: &'static str,
    },
    /// An integer literal that does not fit in 64 bits (or a tag that does not fit anywhere).
    #[error("integer literal `{literal}` is out of range")]
    IntLiteralOutOfRange {
        /// The literal as written.
        literal: String,
    },
    /// `08`, `019`: a leading zero makes the literal octal.
    #[error("invalid digit in octal literal `{literal}`")]
    InvalidOctal {
        /// The literal as written.
        literal: String,
    },
    /// A floating-point literal too large for `double`.
    #[error("floating-point literal `{literal}` is out of range")]
    FloatLiteralOutOfRange {
        /// The literal as written.
        literal: String,
    },
    /// A backslash escape the IDL does not define.
    #[error("unknown escape sequence `{escape}` in string literal")]
    InvalidEscape {
        /// The escape as written.
        escape: String,
    },
    /// A string literal whose escapes produce a NUL or bytes that are not UTF-8.
    #[error("invalid string literal: {reason}")]
    InvalidString {
        /// Why.
        reason: &'static str,
    },
    /// A type name that names nothing.
    #[error("undefined type `{name}`")]
    UndefinedType {
        /// The name as written.
        name: String,
    },
    /// A name that exists but is not a struct or enum (an interface or a const).
    #[error("`{name}` is {what}, not a type")]
    NotAType {
        /// The name as written.
        name: String,
        /// "an interface" or "a const".
        what: &'static str,
    },
    /// An enumerator reference that names nothing.
    #[error("undefined enumerator `{name}`")]
    UndefinedEnumerator {
        /// The name as written.
        name: String,
    },
    /// An unqualified enumerator found in several enums.
    #[error("enumerator `{name}` is ambiguous; qualify it with its enum")]
    AmbiguousEnumerator {
        /// The name as written.
        name: String,
    },
    /// Two structs/enums/interfaces/consts with one name in one module.
    #[error("`{name}` is already defined in module `{module}`")]
    DuplicateDefinition {
        /// The name.
        name: String,
        /// The module.
        module: String,
    },
    /// Two fields of a struct with one tag.
    #[error("duplicate tag {tag} in struct `{strukt}` (already used by field `{other}`)")]
    DuplicateTag {
        /// The tag.
        tag: u8,
        /// The struct.
        strukt: String,
        /// The field that has the tag first.
        other: String,
    },
    /// Two fields of a struct with one name.
    #[error("duplicate field `{name}` in struct `{strukt}`")]
    DuplicateField {
        /// The field name.
        name: String,
        /// The struct.
        strukt: String,
    },
    /// Two operations of an interface with one name.
    #[error("duplicate operation `{name}` in interface `{interface}`")]
    DuplicateOperation {
        /// The operation name.
        name: String,
        /// The interface.
        interface: String,
    },
    /// Two parameters of an operation with one name.
    #[error("duplicate parameter `{name}` in operation `{operation}`")]
    DuplicateParam {
        /// The parameter name.
        name: String,
        /// The operation.
        operation: String,
    },
    /// Two enumerators of an enum with one name.
    #[error("duplicate enumerator `{name}` in enum `{enum_name}`")]
    DuplicateEnumerator {
        /// The enumerator.
        name: String,
        /// The enum.
        enum_name: String,
    },
    /// A struct field tag outside 0..=255.
    #[error("tag {tag} is out of range (tags are 0..=255)")]
    TagOutOfRange {
        /// The tag as written.
        tag: String,
    },
    /// `struct S {};`
    #[error("struct `{name}` must have at least one member")]
    EmptyStruct {
        /// The struct.
        name: String,
    },
    /// `enum E {};`
    #[error("enum `{name}` must have at least one enumerator")]
    EmptyEnum {
        /// The enum.
        name: String,
    },
    /// A default value on a struct, vector or map field.
    #[error("field `{field}` of type `{ty}` cannot have a default value (only builtin and enum types can)")]
    DefaultOnNonBase {
        /// The field.
        field: String,
        /// Its type, in IDL syntax.
        ty: String,
    },
    /// A value of the wrong kind: a string for an `int`, an integer for a `bool`, ...
    #[error("mismatched types: expected {expected}, found {found}")]
    TypeMismatch {
        /// What the type accepts.
        expected: String,
        /// What was written.
        found: String,
    },
    /// A numeric value outside its type's range.
    #[error("value {value} is out of range for `{ty}` ({range})")]
    ValueOutOfRange {
        /// The value.
        value: String,
        /// The type.
        ty: String,
        /// The accepted range.
        range: String,
    },
    /// An enum-typed default or const naming an enumerator of another enum (or a value no
    /// enumerator has).
    #[error("{value} is not an enumerator of enum `{enum_name}`")]
    NotAnEnumeratorOf {
        /// The value as written.
        value: String,
        /// The expected enum.
        enum_name: String,
    },
    /// An enumerator value outside the 32-bit range enums have on the wire.
    #[error("enumerator `{name}` has value {value}, which does not fit in 32 bits")]
    EnumValueOutOfRange {
        /// The enumerator.
        name: String,
        /// Its value.
        value: String,
    },
    /// Enumerators whose values refer to each other in a cycle.
    #[error("the value of enumerator `{name}` depends on itself")]
    EnumValueCycle {
        /// The enumerator.
        name: String,
    },
    /// `const vector<int> X = ...;`
    #[error("a const cannot have type `{ty}` (only builtin and enum types can)")]
    ConstType {
        /// The type.
        ty: String,
    },
    /// `key[X, ...]` where `X` is not a struct.
    #[error("`{name}` in key[] is not a struct")]
    KeyNotStruct {
        /// The name as written.
        name: String,
    },
    /// `key[S, f]` where `S` has no field `f`.
    #[error("struct `{strukt}` has no field `{field}` (named in key[])")]
    KeyUnknownField {
        /// The field name.
        field: String,
        /// The struct.
        strukt: String,
    },
    /// A field named twice in `key[...]`.
    #[error("field `{field}` appears twice in key[] of struct `{strukt}`")]
    KeyDuplicateField {
        /// The field name.
        field: String,
        /// The struct.
        strukt: String,
    },
    /// A second `key[...]` for one struct.
    #[error("struct `{strukt}` already has a key[]")]
    KeyRedefined {
        /// The struct.
        strukt: String,
    },
    /// A struct that contains itself without a vector or map in between (infinite size).
    #[error(
        "struct `{name}` contains itself (a struct can refer to itself only through vector or map)"
    )]
    RecursiveStruct {
        /// The struct.
        name: String,
    },
    /// A bug in the compiler (never expected; reported rather than panicking).
    #[error("internal compiler error: {message}")]
    Internal {
        /// What went wrong.
        message: String,
    },
}

/// Where a diagnostic points: file, 1-based line and column, and the text of that line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as the loader found it (root path joined with include names).
    pub path: PathBuf,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
    /// The line's text without its terminator (shown under the message).
    pub source_line: String,
}

/// One error: its kind, where it is and optional notes (rendered as `note: ...` lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Where; `None` for errors about a whole file that has no text (it could not be read).
    pub location: Option<Location>,
    /// Extra lines: previous definitions, paths searched, suggestions.
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// A diagnostic without a location.
    pub fn new(kind: ErrorKind) -> Diagnostic {
        Diagnostic {
            kind,
            location: None,
            notes: Vec::new(),
        }
    }

    /// Adds a note line.
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// The message (the kind's text), without location.
    pub fn message(&self) -> String {
        self.kind.to_string()
    }

    /// The first rendered line: `file:line:col: message`.
    pub fn headline(&self) -> String {
        match &self.location {
            Some(l) => format!("{}:{}:{}: {}", l.path.display(), l.line, l.col, self.kind),
            None => format!("error: {}", self.kind),
        }
    }

    pub(crate) fn at(source: &Source, span: Span, kind: ErrorKind) -> Diagnostic {
        let source_line = source.lines.line_text(&source.text, span.line).to_owned();
        Diagnostic {
            kind,
            location: Some(Location {
                path: source.path.clone(),
                line: span.line,
                col: span.col,
                source_line,
            }),
            notes: Vec::new(),
        }
    }
}

/// The caret line for `line`: the same whitespace up to column `col` (tabs kept, so the caret
/// lines up in a terminal), then `^`.
fn caret_line(line: &str, col: u32) -> String {
    let mut out: String = line
        .chars()
        .take((col as usize).saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let shown = out.chars().count();
    // Columns past the end of the line (an error at end of file) still get their caret.
    out.push_str(&" ".repeat((col as usize).saturating_sub(1).saturating_sub(shown)));
    out.push('^');
    out
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline())?;
        if let Some(l) = &self.location {
            write!(
                f,
                "\n{}\n{}",
                l.source_line,
                caret_line(&l.source_line, l.col)
            )?;
        }
        for note in &self.notes {
            write!(f, "\nnote: {note}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// All errors found by one load/check, in the order they were found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The diagnostics.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_headline_source_line_and_caret() {
        let d = Diagnostic {
            kind: ErrorKind::UndefinedType { name: "Foo".into() },
            location: Some(Location {
                path: "a.tars".into(),
                line: 3,
                col: 9,
                source_line: "\t0 require Foo f;".into(),
            }),
            notes: vec!["did you mean `M::Foo`?".into()],
        };
        assert_eq!(
            d.to_string(),
            "a.tars:3:9: undefined type `Foo`\n\t0 require Foo f;\n\t       ^\nnote: did you mean `M::Foo`?"
        );
    }

    #[test]
    fn caret_past_end_of_line() {
        assert_eq!(caret_line("ab", 5), "    ^");
        assert_eq!(caret_line("", 1), "^");
    }
}
