//! The runtime's module dependency rule, checked on the source: the client and the server do
//! not import each other; they meet only in the codec, `endpoint` and `protocol`. What needs
//! both (`registration`, `in_process`) sits above them, and neither imports it.
//!
//! Every `.rs` file under `runtime/src/<module>` (and `runtime/src/<module>.rs`) is read with
//! its comments and string literals removed, and every path that starts at the crate root
//! (`crate::`, `tars::`, `::tars::`) or climbs out with `super::` is resolved to the top-level
//! module it names. A path into a forbidden module is a violation, reported as `file:line`.

use std::path::{Path, PathBuf};

/// Each module and the top-level modules its files must not name.
const RULES: &[(&str, &[&str])] = &[
    ("client", &["server", "registration", "in_process"]),
    ("server", &["client", "registration", "in_process"]),
    (
        "endpoint",
        &["client", "server", "registration", "in_process"],
    ),
];

/// Keywords that may stand before a `::tars::...` path.
const KEYWORDS: &[&str] = &[
    "use", "pub", "as", "in", "dyn", "impl", "mut", "let", "return", "for", "where", "type",
    "const", "static", "break", "move",
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    Open,
    Close,
    Comma,
    Star,
    Other,
}

/// `src` without comments, string and character literals (each replaced by a space, newlines
/// kept so that line numbers stay right).
fn strip(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !prev_is_ident(&b, i) {
            // A raw string r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match b.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| b.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some(&ch) => {
                        blank(&mut out, ch);
                        j += 1;
                    }
                }
            }
            out.push(' ');
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                if let Some(&ch) = b.get(i) {
                    blank(&mut out, ch);
                }
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else if c == '\'' {
            // A character literal ('a', '\n', '\u{1F600}'), or else a lifetime (kept).
            if next == Some('\\') {
                let mut j = i + 2;
                while j < b.len() && b[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push(' ');
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push(' ');
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn prev_is_ident(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// Tokens of stripped source, each with its line.
fn tokens(src: &str) -> Vec<(Tok, usize)> {
    let b: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(b[start..i].iter().collect()), line));
        } else if c == ':' && b.get(i + 1) == Some(&':') {
            out.push((Tok::Path, line));
            i += 2;
        } else {
            out.push((
                match c {
                    '{' => Tok::Open,
                    '}' => Tok::Close,
                    ',' => Tok::Comma,
                    '*' => Tok::Star,
                    _ => Tok::Other,
                },
                line,
            ));
            i += 1;
        }
    }
    out
}

/// The module path of a file under `src/` (`client/policy/mod.rs` is `client::policy`).
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" && stem != "lib" {
            parts.push(stem.to_owned());
        }
    }
    parts
}

/// The first segments after `toks[at]` (which follows a `::`): one identifier, the members of
/// a `{ ... }` group, or `*`.
fn first_segments(toks: &[(Tok, usize)], at: usize) -> Vec<String> {
    match toks.get(at) {
        Some((Tok::Ident(name), _)) => vec![name.clone()],
        Some((Tok::Star, _)) => vec!["*".into()],
        Some((Tok::Open, _)) => {
            let mut names = Vec::new();
            let mut depth = 0;
            let mut expect = true;
            for (t, _) in &toks[at..] {
                match t {
                    Tok::Open => {
                        depth += 1;
                        expect = depth == 1;
                    }
                    Tok::Close => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Tok::Comma if depth == 1 => expect = true,
                    Tok::Ident(n) if depth == 1 && expect => {
                        names.push(n.clone());
                        expect = false;
                    }
                    Tok::Star if depth == 1 && expect => {
                        names.push("*".into());
                        expect = false;
                    }
                    _ => {}
                }
            }
            names
        }
        _ => Vec::new(),
    }
}

/// `(line, top-level module)` of every path in `src` that leaves the file's own top-level
/// module or starts at the crate root. `file` is relative to `src/`.
fn references(file: &Path, src: &str) -> Vec<(usize, String)> {
    let file_module = module_of(file);
    let toks = tokens(&strip(src));
    let mut found = Vec::new();
    // Inline modules (`mod tests { ... }`): name and the brace depth inside them.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Open => {
                depth += 1;
                if let (Some((Tok::Ident(m), _)), Some((Tok::Ident(name), _))) =
                    (i.checked_sub(2).and_then(|j| toks.get(j)), toks.get(i - 1))
                {
                    if m == "mod" {
                        inline.push((name.clone(), depth));
                    }
                }
            }
            Tok::Close => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        let module: Vec<String> = file_module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(n, _)| n.clone()))
            .collect();
        // A path root is not itself preceded by `name::` (that would be a longer path);
        // `use ::tars::...` still starts at the root.
        let continues = i >= 2
            && toks[i - 1].0 == Tok::Path
            && matches!(&toks[i - 2].0, Tok::Ident(w) if !KEYWORDS.contains(&w.as_str()));
        let (base, after) = match &toks[i].0 {
            Tok::Ident(w) if !continues && (w == "crate" || w == "tars") => (Vec::new(), i + 1),
            Tok::Ident(w) if !continues && w == "super" => {
                let mut base = module.clone();
                let mut j = i;
                loop {
                    base.pop();
                    if toks.get(j + 1).map(|t| &t.0) == Some(&Tok::Path)
                        && toks.get(j + 2).map(|t| &t.0) == Some(&Tok::Ident("super".into()))
                    {
                        j += 2;
                    } else {
                        break;
                    }
                }
                (base, j + 1)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        if toks.get(after).map(|t| &t.0) == Some(&Tok::Path) {
            let line = toks[i].1;
            match base.first() {
                Some(top) => found.push((line, top.clone())),
                None => {
                    for name in first_segments(&toks, after + 1) {
                        found.push((line, name));
                    }
                }
            }
        }
        i = after;
    }
    found
}

/// Violations of `forbidden` in `src` (the file `file`, relative to `src/`).
fn violations(file: &Path, src: &str, forbidden: &[&str]) -> Vec<String> {
    references(file, src)
        .into_iter()
        .filter(|(_, top)| top == "*" || forbidden.contains(&top.as_str()))
        .map(|(line, top)| {
            let what = if top == "*" {
                "a glob import of the crate root".to_owned()
            } else {
                format!("`{top}`")
            };
            format!("{}:{line} names {what}", file.display())
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn client_and_server_do_not_import_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    for (module, forbidden) in RULES {
        let mut files = Vec::new();
        let dir = src.join(module);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
        let single = src.join(format!("{module}.rs"));
        if single.is_file() {
            files.push(single);
        }
        assert!(!files.is_empty(), "module {module} has no files");
        for path in files {
            let text = std::fs::read_to_string(&path).expect("readable source");
            let relative = path.strip_prefix(&src).expect("under src");
            problems.extend(violations(relative, &text, forbidden));
        }
    }
    assert!(
        problems.is_empty(),
        "module dependency rule broken (see docs/architecture.md):\n{}",
        problems.join("\n")
    );
}

// The checker itself: it must catch every way of writing such an import, and nothing else.

fn client_violations(file: &str, src: &str) -> Vec<String> {
    violations(Path::new(file), src, RULES[0].1)
}

fn server_violations(file: &str, src: &str) -> Vec<String> {
    violations(Path::new(file), src, RULES[1].1)
}

#[test]
fn the_check_catches_every_form_of_import() {
    for src in [
        "use crate::server::{Response, ResponseSink, Servants};",
        "use crate::server;",
        "use crate::{codec::TarsStruct, server::Servants};",
        "use crate::{\n    codec,\n    registration::RegistrationConfig,\n};",
        "fn f(c: &::tars::server::Current) {}",
        "use tars::server::Current;",
        "use ::tars::server::Current;",
        "pub use crate::server::Servants;",
        "let s = crate :: server :: Servants :: new();",
        "use crate::in_process;",
        "use crate::*;",
    ] {
        assert_eq!(
            client_violations("client/local.rs", src).len(),
            1,
            "not caught: {src}"
        );
    }
    // `super` resolved from where the file is.
    assert_eq!(
        client_violations("client/local.rs", "use super::super::server::Servants;"),
        ["client/local.rs:1 names `server`"]
    );
    assert_eq!(
        client_violations(
            "client/policy/selectors.rs",
            "use super::super::super::server::X;"
        ),
        ["client/policy/selectors.rs:1 names `server`"]
    );
    assert_eq!(
        client_violations("client/mod.rs", "\n\nuse super::server::Servants;").len(),
        1
    );
    assert_eq!(
        server_violations(
            "server/net/server.rs",
            "use super::super::super::client::Communicator;"
        ),
        ["server/net/server.rs:1 names `client`"]
    );
    assert_eq!(
        server_violations("server/net/config.rs", "use crate::registration::X;").len(),
        1
    );
}

#[test]
fn the_check_ignores_comments_strings_and_paths_inside_the_module() {
    for src in [
        "// use crate::server::Servants;",
        "/// See [`crate::server::Servants`].",
        "/* crate::server /* nested */ crate::server */",
        r#"let s = "crate::server::Servants";"#,
        r##"let s = r#"tars::server"#;"##,
        "let c = '\"'; let s = \"crate::server\";",
        "fn f<'a>(x: &'a str) -> &'a str { x }",
        "use super::timer::Timer;",
        "use crate::client::balance::stable_hash;",
        "use crate::{codec::TarsStruct, endpoint::Endpoint, packet::RequestPacket};",
        "use crate::protocol::tars::EndpointF;",
        "let x = other::crate_like::server::Y;",
    ] {
        assert_eq!(
            client_violations("client/local.rs", src),
            Vec::<String>::new(),
            "false alarm: {src}"
        );
    }
    assert!(
        client_violations("client/policy/selectors.rs", "use super::filters::X;").is_empty(),
        "super:: within client"
    );
    assert!(
        client_violations(
            "client/policy/selectors.rs",
            "use super::super::balance::stable_hash;"
        )
        .is_empty(),
        "super::super:: within client"
    );
    assert!(
        server_violations("server/net/server.rs", "use super::super::announce::X;").is_empty(),
        "super::super:: within server"
    );
    assert!(
        client_violations(
            "client/local.rs",
            "mod tests {\n    use super::*;\n    mod inner { use super::super::X; }\n}"
        )
        .is_empty(),
        "super:: from inline modules"
    );
    assert_eq!(
        client_violations(
            "client/local.rs",
            "mod tests { use super::*; }\nuse super::super::server::X;"
        ),
        ["client/local.rs:2 names `server`"],
        "an inline module ends at its brace"
    );
}
