//! Front end of the Tars IDL compiler: parses `.tars` files (with `#include`s), checks them and
//! produces a resolved [`Program`] for code generation.
//!
//! ```
//! let mut fs = tars_idlc::MemoryFs::new();
//! fs.insert("hello.tars", r#"
//!     module Demo {
//!         enum Color { Red, Green = 5, Blue };
//!         struct Point { 0 require int x; 1 optional int y = -1; 2 optional Color c = Blue; };
//!         interface Hello { int hello(Point p, out string reply); };
//!     };
//! "#);
//! let program = tars_idlc::load_with(fs, "hello.tars", &[] as &[&str]).unwrap();
//! let demo = program.module("Demo").unwrap();
//! assert_eq!(demo.enums[0].members[2].value, 6);
//! assert_eq!(demo.structs[0].fields[1].default, Some(tars_idlc::Value::Int(-1)));
//! assert!(demo.interfaces[0].operations[0].params[1].is_out);
//! ```
//!
//! Errors render as `file:line:col: message`, then the source line and a caret under the
//! column (then `note:` lines, if any):
//!
//! ```
//! let text = "module M {\n  struct S { 0 require Pointt p; };\n};\n";
//! let errors = tars_idlc::load_str("bad.tars", text).unwrap_err();
//! assert_eq!(
//!     errors.to_string(),
//!     "bad.tars:2:24: undefined type `Pointt`\n  struct S { 0 require Pointt p; };\n                       ^\n"
//! );
//! ```
//!
//! Build scripts use a [`Session`] to load several roots and to print `rerun-if-changed` for
//! [`Session::files_read`] even when checking fails.
//!
//! # Features
//!
//! - `cli` (off by default): the `idlc` command line and [`dynamic`] (JSON to Tars bytes and
//!   back, for `idlc encode` / `idlc decode`), with clap, anyhow, serde_json and hex. Without
//!   it, a build script that depends on tars-idlc compiles only pest, syn, quote,
//!   prettyplease and the codec.
#![deny(missing_docs)]

pub mod ast;
mod builder;
mod check;
pub mod codegen;
mod diagnostic;
mod doc;
#[cfg(feature = "cli")]
pub mod dynamic;
mod loader;
mod model;
mod parse;
mod resolve;
mod source;
mod values;

use std::path::Path;

pub use builder::{BuildError, Builder, Generated};
pub use diagnostic::{Diagnostic, Diagnostics, ErrorKind, Location};
pub use loader::{normalize, FileSystem, MemoryFs, RealFs, Session, MAX_INCLUDE_DEPTH};
pub use model::{
    Const, Enum, Enumerator, Field, Interface, Module, Operation, Param, Program, QualifiedName,
    SourceFile, Struct, Type, Value,
};
pub use parse::{KEYWORDS, MAX_TYPE_NESTING};
pub use source::{FileId, Span};

/// Loads `path` and its includes from the file system (include directories searched in order
/// after the including file's directory) and checks them.
pub fn load(
    path: impl AsRef<Path>,
    include_dirs: &[impl AsRef<Path>],
) -> Result<Program, Diagnostics> {
    load_with(RealFs, path, include_dirs)
}

/// [`load`] reading from any [`FileSystem`] (e.g. a [`MemoryFs`]).
pub fn load_with<F: FileSystem>(
    fs: F,
    path: impl AsRef<Path>,
    include_dirs: &[impl AsRef<Path>],
) -> Result<Program, Diagnostics> {
    let mut session = Session::with_fs(fs);
    for dir in include_dirs {
        session.include_dir(dir);
    }
    session.load(path);
    session.check()
}

/// Parses and checks a single in-memory file named `name` (it cannot include other files
/// unless they are given too; see [`MemoryFs`]).
pub fn load_str(name: impl AsRef<Path>, text: &str) -> Result<Program, Diagnostics> {
    let mut fs = MemoryFs::new();
    fs.insert(name.as_ref(), text);
    load_with(fs, name, &[] as &[&Path])
}

/// Parses one file's text into its syntax tree, without loading includes or checking.
/// Spans refer to [`FileId`]`(0)`.
pub fn parse(name: impl AsRef<Path>, text: &str) -> Result<ast::File, Diagnostics> {
    let source = source::Source::new(normalize(name.as_ref()), text.to_owned());
    parse::parse_file(&source, FileId(0)).map_err(Diagnostics)
}
