//! Grammar: every literal form, comments, CRLF, nesting, scoped names, parameters.

use tars_idlc::ast::{Item, TypeExprKind, ValueExprKind};
use tars_idlc::{load_str, parse, Program, QualifiedName, Type, Value};

fn ok(text: &str) -> Program {
    load_str("t.tars", text).unwrap_or_else(|e| panic!("{e}"))
}

/// The default of field `name` of struct `M::S`, for a one-struct program.
fn default_of(field_decl: &str) -> Option<Value> {
    let p = ok(&format!(
        "module M {{ enum E {{ A, B = 7 }}; struct S {{ {field_decl} }}; }};"
    ));
    p.find_struct(&QualifiedName::new("M", "S")).unwrap().fields[0]
        .default
        .clone()
}

#[test]
fn integer_literals() {
    assert_eq!(default_of("0 optional int a = 42;"), Some(Value::Int(42)));
    assert_eq!(default_of("0 optional int a = -42;"), Some(Value::Int(-42)));
    assert_eq!(default_of("0 optional int a = +7;"), Some(Value::Int(7)));
    assert_eq!(default_of("0 optional int a = 0x1F;"), Some(Value::Int(31)));
    assert_eq!(
        default_of("0 optional int a = 0XABCDEF;"),
        Some(Value::Int(0xABCDEF))
    );
    assert_eq!(
        default_of("0 optional int a = -0x10;"),
        Some(Value::Int(-16))
    );
    assert_eq!(default_of("0 optional int a = 017;"), Some(Value::Int(15)));
    assert_eq!(
        default_of("0 optional int a = -017;"),
        Some(Value::Int(-15))
    );
    assert_eq!(default_of("0 optional int a = 0;"), Some(Value::Int(0)));
    assert_eq!(
        default_of("0 optional long a = -9223372036854775808;"),
        Some(Value::Int(i64::MIN))
    );
    assert_eq!(
        default_of("0 optional unsigned int a = 0xFFFFFFFF;"),
        Some(Value::Int(0xFFFF_FFFF))
    );
    assert_eq!(
        default_of("0 optional byte a = -128;"),
        Some(Value::Int(-128))
    );
    assert_eq!(
        default_of("0 optional unsigned byte a = 255;"),
        Some(Value::Int(255))
    );
    assert_eq!(
        default_of("0 optional unsigned short a = 65535;"),
        Some(Value::Int(65535))
    );
    // An integer initialises a float.
    assert_eq!(
        default_of("0 optional double a = 3;"),
        Some(Value::Float(3.0))
    );
    // Tags in hex and octal.
    let p = ok("module M { struct S { 0x10 optional int a; 010 optional int b; }; };");
    let tags: Vec<u8> = p.modules[0].structs[0]
        .fields
        .iter()
        .map(|f| f.tag)
        .collect();
    assert_eq!(tags, [8, 16], "fields are sorted by tag");
}

#[test]
fn float_literals() {
    let cases = [
        ("1.5", 1.5),
        ("-1.5", -1.5),
        (".5", 0.5),
        ("1.", 1.0),
        ("1e3", 1000.0),
        ("1E3", 1000.0),
        ("1.5e-3", 0.0015),
        ("-2.5E+2", -250.0),
        ("2.5f", 2.5),
        ("0.0", 0.0),
        ("3.25F", 3.25),
    ];
    for (lit, v) in cases {
        assert_eq!(
            default_of(&format!("0 optional double d = {lit};")),
            Some(Value::Float(v)),
            "{lit}"
        );
        assert_eq!(
            default_of(&format!("0 optional float f = {lit};")),
            Some(Value::Float(v)),
            "{lit}"
        );
    }
}

#[test]
fn string_literals() {
    assert_eq!(
        default_of(r#"0 optional string s = "";"#),
        Some(Value::String(String::new()))
    );
    assert_eq!(
        default_of(r#"0 optional string s = "plain";"#),
        Some(Value::String("plain".into()))
    );
    assert_eq!(
        default_of(r#"0 optional string s = "q\"b\\s\'n\nt\tr\r";"#),
        Some(Value::String("q\"b\\s'n\nt\tr\r".into()))
    );
    assert_eq!(
        default_of(r#"0 optional string s = "\101\x42\?";"#),
        Some(Value::String("AB?".into()))
    );
    assert_eq!(
        default_of(r#"0 optional string s = "中文 // not a comment";"#),
        Some(Value::String("中文 // not a comment".into()))
    );
    assert_eq!(
        default_of(r#"0 optional string s = "/* nor this */";"#),
        Some(Value::String("/* nor this */".into()))
    );
}

#[test]
fn bool_literals() {
    assert_eq!(
        default_of("0 optional bool b = true;"),
        Some(Value::Bool(true))
    );
    assert_eq!(
        default_of("0 optional bool b = false;"),
        Some(Value::Bool(false))
    );
}

#[test]
fn enumerator_defaults_in_every_form() {
    let b = Some(Value::Enumerator {
        enum_name: QualifiedName::new("M", "E"),
        name: "B".into(),
        value: 7,
    });
    assert_eq!(default_of("0 optional E e = B;"), b);
    assert_eq!(default_of("0 optional E e = E::B;"), b);
    assert_eq!(default_of("0 optional E e = M::B;"), b);
    assert_eq!(default_of("0 optional E e = M::E::B;"), b);
    assert_eq!(default_of("0 optional E e = M :: E :: B;"), b);
    // An integer equal to an enumerator's value names that enumerator.
    assert_eq!(default_of("0 optional E e = 7;"), b);
    // An enumerator initialises an integer field with its value.
    assert_eq!(default_of("0 optional int i = B;"), Some(Value::Int(7)));
}

#[test]
fn scoped_enumerator_defaults_across_modules() {
    let p = ok("module A { enum Color { Red, Green }; };\n\
                module B { struct S { 0 optional A::Color c = A::Green; 1 optional A::Color d = Red; }; };");
    let s = p.find_struct(&QualifiedName::new("B", "S")).unwrap();
    let green = Value::Enumerator {
        enum_name: QualifiedName::new("A", "Color"),
        name: "Green".into(),
        value: 1,
    };
    assert_eq!(s.fields[0].default, Some(green));
    assert_eq!(s.fields[0].ty, Type::Enum(QualifiedName::new("A", "Color")));
    // An unqualified enumerator is looked up in the field's enum first.
    assert!(
        matches!(&s.fields[1].default, Some(Value::Enumerator { name, value: 0, .. }) if name == "Red")
    );
}

#[test]
fn enum_values() {
    let p = ok("module O { enum Base { X = 10, Y }; };\n\
                module M {\n\
                  enum E { A, B, C = 10, D, E1 = -3, F, G = 0x20, H = 010, I = B, J, K = O::Y, L = O::Base::X, N = Z, };\n\
                  enum Later { Z = 100 };\n\
                };");
    let e = p.find_enum(&QualifiedName::new("M", "E")).unwrap();
    let values: Vec<(&str, i32)> = e
        .members
        .iter()
        .map(|m| (m.name.as_str(), m.value))
        .collect();
    assert_eq!(
        values,
        [
            ("A", 0),
            ("B", 1),
            ("C", 10),
            ("D", 11),
            ("E1", -3),
            ("F", -2),
            ("G", 32),
            ("H", 8),
            ("I", 1),
            ("J", 2),
            ("K", 11),
            ("L", 10),
            ("N", 100),
        ]
    );
    // Forward references inside one enum work too.
    let p = ok("module M { enum E { A = C, B, C = 5 }; };");
    let e = &p.modules[0].enums[0];
    assert_eq!(
        e.members.iter().map(|m| m.value).collect::<Vec<_>>(),
        [5, 6, 5]
    );
}

#[test]
fn consts_of_every_type() {
    let p = ok(r#"module M {
        enum E { A, B };
        const bool T = true;
        const byte BY = -1;
        const short SH = 0x7fff;
        const int I = -2147483648;
        const long L = 0x7fffffffffffffff;
        const unsigned int U = 4294967295;
        const float F = 1.5e3;
        const double D = -0.25;
        const string S = "s\n";
        const E CE = B;
    };"#);
    let consts: Vec<(&str, String, &Value)> = p.modules[0]
        .consts
        .iter()
        .map(|c| (c.name.as_str(), c.ty.to_string(), &c.value))
        .collect();
    let b = Value::Enumerator {
        enum_name: QualifiedName::new("M", "E"),
        name: "B".into(),
        value: 1,
    };
    assert_eq!(
        consts,
        vec![
            ("T", "bool".into(), &Value::Bool(true)),
            ("BY", "byte".into(), &Value::Int(-1)),
            ("SH", "short".into(), &Value::Int(32767)),
            ("I", "int".into(), &Value::Int(-2147483648)),
            ("L", "long".into(), &Value::Int(i64::MAX)),
            ("U", "unsigned int".into(), &Value::Int(4294967295)),
            ("F", "float".into(), &Value::Float(1500.0)),
            ("D", "double".into(), &Value::Float(-0.25)),
            ("S", "string".into(), &Value::String("s\n".into())),
            ("CE", "M::E".into(), &b),
        ]
    );
}

#[test]
fn nested_containers_and_double_angle_brackets() {
    let p = ok("module M { struct S {\n\
                  0 optional vector<map<string,vector<int>>> a;\n\
                  1 optional map<string, map<int, vector<byte> > > b;\n\
                  2 optional vector<vector<vector<unsigned short>>> c;\n\
                  3 optional map<vector<string>,S> d;\n\
                }; };");
    let f: Vec<String> = p.modules[0].structs[0]
        .fields
        .iter()
        .map(|f| f.ty.to_string())
        .collect();
    assert_eq!(
        f,
        [
            "vector<map<string, vector<int>>>",
            "map<string, map<int, vector<byte>>>",
            "vector<vector<vector<unsigned short>>>",
            "map<vector<string>, M::S>",
        ]
    );
}

#[test]
fn comments_everywhere() {
    let p = ok("// leading comment\n\
                /* block\n   comment */\n\
                module /* here */ M // and here\n\
                {\n\
                    struct S { // after brace\n\
                        0 /* tag */ optional vector< /* inner */ int > v; // trailing\n\
                        /* between fields */\n\
                        1 optional int x = /* before value */ 5;\n\
                    };\n\
                    /** doc for E */\n\
                    enum E { A /* a */, B // b\n\
                    };\n\
                }; // last line without newline");
    let s = &p.modules[0].structs[0];
    assert_eq!(s.fields.len(), 2);
    assert_eq!(s.fields[1].default, Some(Value::Int(5)));
    assert_eq!(s.fields[0].doc.as_deref(), Some("trailing"));
    assert_eq!(p.modules[0].enums[0].doc.as_deref(), Some("doc for E"));
    assert_eq!(p.modules[0].enums[0].members[1].doc.as_deref(), Some("b"));
}

#[test]
fn crlf_line_endings() {
    let text = "module M\r\n{\r\n    // comment\r\n    struct S\r\n    {\r\n        0 require string a = \"x\";\r\n        1 optional Nope b;\r\n    };\r\n};\r\n";
    let err = load_str("crlf.tars", text).unwrap_err();
    let rendered = err.to_string();
    let lines: Vec<&str> = rendered.lines().collect();
    assert_eq!(lines[0], "crlf.tars:7:20: undefined type `Nope`");
    assert_eq!(
        lines[1], "        1 optional Nope b;",
        "no stray \\r in the source line"
    );
    assert_eq!(lines[2], "                   ^");
    let ok_text = text.replace("Nope", "int");
    let p = ok(&ok_text);
    assert_eq!(
        p.modules[0].structs[0].fields[0].default,
        Some(Value::String("x".into()))
    );
    assert_eq!(p.modules[0].structs[0].span.line, 4);
}

#[test]
fn byte_order_mark_is_ignored() {
    let p = ok("\u{feff}module M { struct S { 0 optional int a; }; };");
    assert_eq!(p.modules[0].structs[0].span.col, 19);
}

#[test]
fn modules_reopened_and_several_per_file() {
    let p = ok("module A { struct X { 0 optional int a; }; };\n\
                module B { struct Y { 0 optional A::X x; }; };\n\
                module A { struct Z { 0 optional X x; 1 optional B::Y y; }; };");
    let names: Vec<(&str, Vec<&str>)> = p
        .modules
        .iter()
        .map(|m| {
            (
                m.name.as_str(),
                m.structs.iter().map(|s| s.name.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(names, [("A", vec!["X", "Z"]), ("B", vec!["Y"])]);
    let z = p.find_struct(&QualifiedName::new("A", "Z")).unwrap();
    assert_eq!(z.fields[0].ty, Type::Struct(QualifiedName::new("A", "X")));
    assert_eq!(z.fields[1].ty, Type::Struct(QualifiedName::new("B", "Y")));
}

#[test]
fn operations_params_and_return_types() {
    let p = ok("module M { struct R { 0 optional int a; };\n\
                interface I {\n\
                    void ping();\n\
                    int get(routekey string k, out R r, out vector<R> all);\n\
                    map<string, R> list(int a, long b);\n\
                    R one(M::R in1);\n\
                };\n\
                interface Empty { };\n\
                };");
    let i = &p.modules[0].interfaces[0];
    assert_eq!(i.operations[0].ret, None);
    assert!(i.operations[0].params.is_empty());
    let get = &i.operations[1];
    let params: Vec<(&str, bool, bool, String)> = get
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.is_out, p.is_routekey, p.ty.to_string()))
        .collect();
    assert_eq!(
        params,
        vec![
            ("k", false, true, "string".into()),
            ("r", true, false, "M::R".into()),
            ("all", true, false, "vector<M::R>".into()),
        ]
    );
    assert_eq!(
        i.operations[2]
            .ret
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("map<string, M::R>")
    );
    assert_eq!(
        i.operations[3].params[0].ty,
        Type::Struct(QualifiedName::new("M", "R"))
    );
    assert!(p.modules[0].interfaces[1].operations.is_empty());
}

#[test]
fn key_statement_forms() {
    let p = ok("module M { struct S { 0 optional int a; 1 optional string b; };\n  key [ S , b , a ] ;\n};");
    assert_eq!(p.modules[0].structs[0].key, ["b", "a"]);
}

#[test]
fn key_scoped_from_other_module() {
    let p = ok("module M { struct S { 0 optional int a; 1 optional string b; }; };\nmodule N { key[M::S, b, a]; };");
    assert_eq!(
        p.find_struct(&QualifiedName::new("M", "S")).unwrap().key,
        ["b", "a"]
    );
}

#[test]
fn include_directive_forms() {
    let f = parse(
        "x.tars",
        "#include \"a.tars\"\n#include\t\"dir/b.tars\"\n  #include \"../c d.tars\"\nmodule M { };",
    )
    .unwrap();
    let paths: Vec<&str> = f.includes.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["a.tars", "dir/b.tars", "../c d.tars"]);
    assert_eq!((f.includes[2].span.line, f.includes[2].span.col), (3, 3));
}

#[test]
fn syntax_tree_keeps_spans_and_literals() {
    let f = parse(
        "x.tars",
        "module M {\n  struct S { 0x1 require vector<M::T> v = -0x10; };\n  key[S, v];\n};",
    )
    .unwrap();
    let m = &f.modules[0];
    assert_eq!(
        (m.name.name.as_str(), m.name.span.line, m.name.span.col),
        ("M", 1, 8)
    );
    let Item::Struct(s) = &m.items[0] else {
        panic!("struct expected")
    };
    let field = &s.fields[0];
    assert_eq!((field.tag.value, field.tag.text.as_str()), (1, "0x1"));
    assert!(field.require);
    let TypeExprKind::Vector(inner) = &field.ty.kind else {
        panic!("vector expected")
    };
    let TypeExprKind::Named(n) = &inner.kind else {
        panic!("named type expected")
    };
    assert_eq!(n.text(), "M::T");
    assert_eq!(
        field.default.as_ref().map(|d| &d.kind),
        Some(&ValueExprKind::Int(-16))
    );
    let Item::Key(k) = &m.items[1] else {
        panic!("key expected")
    };
    assert_eq!(
        (k.target.text(), k.fields[0].name.as_str()),
        ("S".to_owned(), "v")
    );
}

#[test]
fn identifiers_may_contain_keywords() {
    // `interfaceName`, `structs`, `outValue`, `int_`, `_key` are identifiers, not keywords.
    let p = ok("module M { struct structs { 0 optional int interfaceName; 1 optional int outValue; 2 optional int int_; 3 optional int _key; }; \
                interface I { int keyOf(int outer, int routekeys); }; };");
    assert_eq!(p.modules[0].structs[0].fields.len(), 4);
}

#[test]
fn empty_file_and_empty_module() {
    assert!(ok("").modules.is_empty());
    assert!(ok("// only a comment").modules.is_empty());
    assert!(ok("module M { };").modules[0].structs.is_empty());
}

#[test]
fn nesting_up_to_the_limit_parses() {
    let depth = tars_idlc::MAX_TYPE_NESTING - 1; // plus the map's own `<`
    let ty = format!(
        "map<string, {}int{}>",
        "vector<".repeat(depth),
        ">".repeat(depth)
    );
    let p = ok(&format!(
        "module M {{ struct S {{ 0 optional {ty} v; }}; }};"
    ));
    let mut t = &p.modules[0].structs[0].fields[0].ty;
    let mut levels = 0;
    while let Type::Vector(inner) | Type::Map(_, inner) = t {
        levels += 1;
        t = inner;
    }
    assert_eq!(levels, tars_idlc::MAX_TYPE_NESTING);
}
