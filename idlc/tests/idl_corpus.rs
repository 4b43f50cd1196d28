//! Our own IDL corpus, `tests/idl/` (always present, unlike the external one): every file
//! checks, generates Rust that compiles with `#![deny(warnings)]`, and every struct round-trips
//! through encode/decode.
//!
//! Which file covers which part of the grammar (`src/grammar.pest`):
//!
//! | grammar feature | file |
//! | --- | --- |
//! | `#include` relative to the including file | `Services.tars` (`base/Geometry.tars`) |
//! | `#include` found through an include directory | `base/Geometry.tars`, `Enums.tars`, `Keys.tars`, `Services.tars` (`Common.tars` in `include/`) |
//! | a file included twice (read once) | `Services.tars` (`Common.tars` directly and through `Geometry.tars`) |
//! | module reopened in another file | `Services.tars` (`Geometry`, first in `base/Geometry.tars`) |
//! | module reopened in the same file | `Services.tars` (`Services` twice) |
//! | every builtin type, `unsigned byte/short/int` | `Builtins.tars` (`Scalars`) |
//! | `vector<byte>`, `vector<unsigned byte>`, nested vector/map | `Builtins.tars` (`Containers`) |
//! | `require` / `optional`, `require` with a default | `Builtins.tars`, `Geometry.tars` (`Circle`) |
//! | defaults: integers, negative, `+`, hex, octal, floats (`.5`, `1e3`, `-2.5E-1`, `1.25f`, an integer for a double), bools, strings with every escape, empty and non-ASCII strings, type extremes | `Builtins.tars` (`Scalars`) |
//! | enum-typed defaults: unqualified, `Enum::Member`, `Module::Enum::Member`, an integer value; an int defaulted to an enumerator | `Enums.tars` (`Choices`), `base/Geometry.tars` (`Box`) |
//! | `const` of every builtin type, of enum types, of an int from an enumerator | `Builtins.tars`, `Enums.tars`, `include/Common.tars` |
//! | enums: implicit, explicit, negative, hex, octal, duplicate values (aliases), values from other enumerators (also of another enum), extremes of i32, trailing comma, an enumerator named `Unrecognized` | `Enums.tars`, `include/Common.tars` |
//! | `key[Struct, fields...]`, with a scoped struct name; maps keyed by keyed structs, by vectors of them, by unkeyed structs, by doubles; enums as map keys | `Keys.tars`, `Enums.tars`, `Builtins.tars` |
//! | a struct containing itself through vector and map | `Keys.tars` (`Tree`) |
//! | interfaces: `out` params (one, several), `routekey` (string, int), `void` returns, no params, struct/enum/container params and returns, params split over lines | `Services.tars` |
//! | types of other modules (`Module::Name`) in fields, params, returns | `Services.tars`, `Keys.tars`, `Enums.tars` |
//! | IDL names that are Rust keywords or clash with generated locals (`type`, `self`, `match`, `options`, `ret`, `current`) | `Services.tars` |
//! | comments: `//`, `/* */`, doc comments (`/** */`, `///`, trailing `//`) | every file; `include/Common.tars`, `Services.tars` |
//!
//! The grammar has no nested modules (`module A { module B {...} }` is a syntax error), so
//! there is no file for them.

mod common;

use std::path::{Path, PathBuf};

use tars_idlc::{codegen, Builder, Program, QualifiedName};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idl")
}

/// The include directory of the corpus.
fn include_dir() -> PathBuf {
    corpus().join("include")
}

/// Every `.tars` file of the corpus.
fn files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    common::tars_files(&corpus(), &mut files);
    assert_eq!(files.len(), 6, "{files:?}");
    files
}

fn load(rel: &str) -> Program {
    tars_idlc::load(corpus().join(rel), &[include_dir()]).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_file_checks() {
    for f in files() {
        if let Err(e) = tars_idlc::load(&f, &[include_dir()]) {
            panic!("{}:\n{e}", f.display());
        }
    }
}

#[test]
fn every_keyword_of_the_grammar_is_used() {
    let text: String = files()
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    for kw in tars_idlc::KEYWORDS {
        assert!(
            text.split(|c: char| !c.is_alphanumeric() && c != '_')
                .any(|w| w == *kw),
            "keyword `{kw}` appears in no file of tests/idl"
        );
    }
    for needle in [
        "#include", "key[", "/**", "///", "/*", "0x", "\\x41", "\\101",
    ] {
        assert!(text.contains(needle), "{needle} appears in no file");
    }
}

#[test]
fn the_model_says_what_the_files_say() {
    let p = load("Enums.tars");
    let values = |name: &str| -> Vec<(String, i32)> {
        p.find_enum(&QualifiedName::new("Enums", name))
            .unwrap()
            .members
            .iter()
            .map(|m| (m.name.clone(), m.value))
            .collect()
    };
    let pairs = |v: &[(&str, i32)]| -> Vec<(String, i32)> {
        v.iter().map(|(n, x)| (n.to_string(), *x)).collect()
    };
    assert_eq!(
        values("Sign"),
        pairs(&[("Minus", -1), ("Zero", 0), ("Plus", 1)])
    );
    assert_eq!(
        values("Flags"),
        pairs(&[
            ("None", 0),
            ("Read", 1),
            ("Write", 2),
            ("Exec", 4),
            ("All", 7)
        ])
    );
    assert_eq!(
        values("Answer"),
        pairs(&[
            ("No", 0),
            ("Yes", 1),
            ("Negative", 0),
            ("Affirmative", 1),
            ("Maybe", 7),
            ("Unrecognized", 100)
        ])
    );
    let level = p.find_enum(&QualifiedName::new("Common", "Level")).unwrap();
    assert_eq!(level.members[3].value, 11, "Critical follows High = 10");
    assert_eq!(level.doc.as_deref(), Some("How urgent something is."));

    let s = load("Services.tars");
    assert_eq!(s.files_read.len(), 3, "Common.tars is read once");
    let geometry = s.module("Geometry").unwrap();
    let names: Vec<&str> = geometry.structs.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(
        names,
        ["Point", "Box", "Circle"],
        "the reopened module merges"
    );
    let services = s.module("Services").unwrap();
    assert_eq!(services.interfaces.len(), 2);
    assert_eq!(services.structs.len(), 1);

    let k = load("Keys.tars");
    let version = k
        .find_struct(&QualifiedName::new("Keys", "Version"))
        .unwrap();
    assert_eq!(version.key, ["major", "minor"]);
    let release = k
        .find_struct(&QualifiedName::new("Keys", "Release"))
        .unwrap();
    assert_eq!(release.key, ["name"]);
}

#[test]
fn generated_code_compiles_and_every_struct_round_trips() {
    let mut sources = Vec::new();
    let mut main = String::from(
        "#![deny(warnings)]\n\
         use tars::TarsStruct;\n\n\
         /// Encodes `value`, decodes it and encodes it again: same value, same bytes.\n\
         fn round_trip<T: TarsStruct + PartialEq + std::fmt::Debug>(what: &str, value: T) -> usize {\n\
         \x20   let bytes = value.encode_to_bytes();\n\
         \x20   let back = T::decode_from(&bytes).unwrap_or_else(|e| panic!(\"{what}: {e}\"));\n\
         \x20   assert_eq!(back, value, \"{what}\");\n\
         \x20   assert_eq!(back.encode_to_bytes(), bytes, \"{what}\");\n\
         \x20   1\n\
         }\n\n",
    );
    let mut calls = Vec::new();
    let mut modules = String::new();
    for (i, file) in files().iter().enumerate() {
        let rel = file.strip_prefix(corpus()).unwrap().display().to_string();
        let generated = Builder::new()
            .emit_rerun_if_changed(false)
            .include_dir(include_dir())
            .generate(&[file])
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        sources.push((format!("gen_{i}.rs"), generated.code));
        modules.push_str(&format!(
            "/// Generated from tests/idl/{rel}.\n#[allow(dead_code)]\nmod gen_{i} {{\n    include!(\"gen_{i}.rs\");\n}}\n"
        ));
        // The default value of every struct (declared defaults included).
        let program = tars_idlc::load(file, &[include_dir()]).unwrap();
        for m in codegen::lower::lower(&program) {
            for s in &m.structs {
                let path = format!("gen_{i}::{}::{}", m.path.join("::"), s.name);
                calls.push(format!(
                    "    n += round_trip(\"{rel}: {path}\", {path}::default());"
                ));
            }
        }
    }
    let struct_count = calls.len();
    main.push_str(&modules);
    main.push_str(FILLED);
    main.push_str("\nfn main() {\n    let mut n = 0;\n");
    main.push_str(&calls.join("\n"));
    main.push_str("\n    n += filled();\n    println!(\"round-tripped {n}\");\n}\n");
    sources.push(("main.rs".to_owned(), main));
    let out = common::cargo_in_scratch_crate("idlc-own-corpus", &sources, "", &["run"]);
    assert_eq!(
        out.trim(),
        format!("round-tripped {}", struct_count + FILLED_COUNT),
        "every struct was round-tripped"
    );
    assert!(struct_count >= 12, "{struct_count} structs");
}

/// How many values `FILLED` round-trips.
const FILLED_COUNT: usize = 5;

/// Values with every field set away from its default (generated modules: 0 = Builtins,
/// 1 = Enums, 2 = Keys, 3 = Services, as `files()` sorts them).
const FILLED: &str = r#"
fn filled() -> usize {
    use std::collections::BTreeMap;
    use tars::codec::MapVec;
    use gen_0::Builtins::{Containers, Scalars};
    use gen_1::Enums::{Answer, Choices, Sign};
    use gen_2::Keys::{Catalog, Release, Tree, Version};
    use gen_3::Services::Shape;

    let scalars = Scalars {
        flag: true, b: -1, s: -300, i: 70000, l: -5_000_000_000, f: 1.5, d: -0.25,
        text: "text".into(), ub: 200, us: 60000, ui: 4_000_000_000, on: false, off: true,
        neg: 7, hex: -31, octal: 1, plus: -42, big: i64::MAX, half: f32::MIN_POSITIVE,
        exp: -1e-3, neg_exp: f64::MAX, whole: 0.0, suffixed: 2.0, escapes: "\0".into(),
        empty: "not empty".into(), unicode: "ascii".into(), ub_max: 0, us_max: 0, ui_max: 0,
        min_long: i64::MAX,
    };
    assert_eq!(Scalars::default().escapes, "tab\t nl\n cr\r quote\" apostrophe' q? bs\\ hexA octA");
    assert_eq!(Scalars::default().unicode, "déjà vu ✓");
    assert_eq!(Scalars::default().min_long, i64::MIN);
    assert_eq!(Scalars::default().octal, 0o755);
    assert_eq!(gen_0::Builtins::MIN_LONG, i64::MIN);
    assert_eq!(gen_0::Builtins::OCTAL, 15);
    let mut counts = BTreeMap::new();
    counts.insert("a".into(), 1);
    let by_weight = MapVec(vec![(0.5, "half".into()), (0.5, "again".into())]);
    let containers = Containers {
        blob: vec![0u8, 1, 255].into(), ubytes: vec![1, 2, 3], ints: vec![-1, 0, 1],
        table: vec![vec!["a".into()], vec![]], counts, by_weight,
        floats: vec![f32::MIN, 0.0], bits: vec![true, false],
        ..Default::default()
    };
    let choices = Choices {
        sign: Sign::Zero, answer: Answer::Unrecognized_(42), signs: vec![Sign::Plus, Sign::Minus],
        ..Default::default()
    };
    assert_eq!(Choices::default().answer, Answer::Yes, "Affirmative is an alias of Yes");
    assert_eq!(Answer::Affirmative, Answer::Yes);
    let v = |major, minor| Version { major, minor, label: Default::default() };
    let release = Release { name: "r1".into(), at: Default::default() };
    let mut by_version = BTreeMap::new();
    by_version.insert(v(1, 0), release.clone());
    by_version.insert(v(0, 9), release.clone());
    assert!(v(0, 9) < v(1, 0), "ordered by key[major, minor]");
    let catalog = Catalog {
        by_version,
        root: Tree { value: "root".into(), children: vec![Tree { value: "leaf".into(), ..Default::default() }], ..Default::default() },
        ..Default::default()
    };
    let shape = Shape { name: "s".into(), r#type: "circle".into(), self_: 3, ..Default::default() };
    assert_eq!(Shape::default().r#type, "polygon");
    round_trip("filled Scalars", scalars)
        + round_trip("filled Containers", containers)
        + round_trip("filled Choices", choices)
        + round_trip("filled Catalog", catalog)
        + round_trip("filled Shape", shape)
}
"#;
