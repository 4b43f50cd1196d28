//! Fuzz-style property tests: random and mutated IDL text never makes the parser, loader,
//! checker or diagnostic rendering panic.

use proptest::prelude::*;
use tars_idlc::{load_with, MemoryFs};

const SEED: &str = r#"#include "inc.tars"
module M
{
    /** doc */
    enum E { A, B = 3, C = Inc::X, D = E::A, };
    const int K = 0x10;
    const string S = "a\n\x41\101";
    struct P
    {
        0 require int a = -1;   // trailing
        1 optional vector<map<string, vector<int>>> m;
        2 optional E e = B;
        3 optional unsigned short u = 65535;
        4 optional double d = 1.5e-3;
        5 optional Inc::T t;
    };
    key[P, a, e];
    interface I
    {
        void f();
        int g(routekey string k, out P p, out vector<byte> b);
    };
};
"#;

const INC: &str = "module Inc { enum X { X = 7 }; struct T { 0 optional bool b = true; }; };";

/// Tokens the soup is made of: keywords, punctuation, literals, names, comments, line breaks.
const TOKENS: &[&str] = &[
    "module",
    "struct",
    "enum",
    "const",
    "interface",
    "key",
    "require",
    "optional",
    "void",
    "out",
    "routekey",
    "true",
    "false",
    "bool",
    "byte",
    "short",
    "int",
    "long",
    "float",
    "double",
    "string",
    "unsigned",
    "vector",
    "map",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "<",
    ">",
    ">>",
    ";",
    ",",
    "=",
    "::",
    "0",
    "1",
    "255",
    "256",
    "-1",
    "0x1F",
    "017",
    "08",
    "1.5",
    ".5",
    "1e400",
    "\"s\"",
    "\"\\q\"",
    "\"\\x\"",
    "\"unterminated",
    "M",
    "E",
    "A",
    "S",
    "T",
    "x",
    "Inc",
    "Inc::X",
    "M::E::A",
    "// c\n",
    "/* c */",
    "/*",
    "*/",
    "\r\n",
    "\n",
    " ",
    "\t",
    "#include \"inc.tars\"",
    "#include \"main.tars\"",
    "#include \"nope.tars\"",
    "#include",
    "中",
    "\u{feff}",
];

fn run(main: &str, inc: &str) {
    let mut fs = MemoryFs::new();
    fs.insert("main.tars", main);
    fs.insert("inc.tars", inc);
    match load_with(fs, "main.tars", &[] as &[&str]) {
        Ok(p) => {
            // Walk the model the way a generator would.
            for m in &p.modules {
                for s in &m.structs {
                    for f in &s.fields {
                        let _ = f.ty.to_string();
                    }
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = tars_idlc::parse("main.tars", main).map_err(|e| e.to_string());
}

/// Applies one edit to `text` at a byte position (snapped to a char boundary).
fn mutate(text: &str, edit: u8, pos: usize, len: usize, token: &str) -> String {
    let snap = |mut i: usize| {
        i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let a = snap(pos);
    let b = snap(a + len);
    match edit % 4 {
        0 => format!("{}{}", &text[..a], &text[b..]),
        1 => format!("{}{}{}", &text[..a], token, &text[a..]),
        2 => format!("{}{}{}", &text[..a], token, &text[b..]),
        _ => format!("{}{}{}", &text[..b], &text[a..b], &text[b..]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn token_soup(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..80),
                  inc in prop::collection::vec(prop::sample::select(TOKENS), 0..20)) {
        run(&tokens.join(" "), &inc.concat());
    }

    #[test]
    fn arbitrary_text(main in "\\PC{0,200}", inc in "[ -~\n]{0,80}") {
        run(&main, &inc);
    }

    #[test]
    fn mutated_seed(edits in prop::collection::vec((any::<u8>(), 0..SEED.len(), 0usize..40, prop::sample::select(TOKENS)), 1..6)) {
        let mut text = SEED.to_owned();
        for (edit, pos, len, token) in edits {
            text = mutate(&text, edit, pos, len, token);
        }
        run(&text, INC);
    }
}

#[test]
fn seed_is_valid() {
    let mut fs = MemoryFs::new();
    fs.insert("main.tars", SEED);
    fs.insert("inc.tars", INC);
    let p = load_with(fs, "main.tars", &[] as &[&str]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.module("M").unwrap().enums[0]
            .members
            .iter()
            .map(|m| m.value)
            .collect::<Vec<_>>(),
        [0, 3, 7, 0]
    );
}

#[test]
fn pathological_inputs() {
    let deep_braces = "{".repeat(10_000);
    let long_enum = format!(
        "module M {{ enum E {{ {} }}; }};",
        (0..3000)
            .map(|i| format!("A{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let chain = format!(
        "module M {{ enum E {{ {} }}; }};",
        (0..2000)
            .map(|i| format!("A{i} = A{}", i + 1))
            .chain(["A2000 = 1".to_owned()])
            .collect::<Vec<_>>()
            .join(", ")
    );
    let many_lt = "<".repeat(100_000);
    for text in [
        deep_braces.as_str(),
        &long_enum,
        &chain,
        &many_lt,
        "\0",
        "\r",
        "\"",
        "/*",
        "module",
    ] {
        run(text, INC);
    }
}
