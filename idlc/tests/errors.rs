//! One test per error class: the exact `file:line:col: message` line and the caret line.

use tars_idlc::{load_with, Diagnostic, Diagnostics, ErrorKind, MemoryFs};

fn load_files(files: &[(&str, &str)]) -> Result<tars_idlc::Program, Diagnostics> {
    let mut fs = MemoryFs::new();
    for (name, text) in files {
        fs.insert(name, *text);
    }
    load_with(fs, files[0].0, &["inc"])
}

fn errors_of(files: &[(&str, &str)]) -> Vec<Diagnostic> {
    match load_files(files) {
        Ok(_) => panic!("expected an error"),
        Err(d) => d.into_iter().collect(),
    }
}

/// Asserts that the first diagnostic renders as `headline`, then the source line, then `caret`.
#[track_caller]
fn assert_first(files: &[(&str, &str)], headline: &str, caret: &str) -> Diagnostic {
    let errors = errors_of(files);
    let d = errors[0].clone();
    let rendered = d.to_string();
    let lines: Vec<&str> = rendered.lines().collect();
    assert_eq!(
        lines[0],
        headline,
        "full output:\n{}",
        Diagnostics(errors.clone())
    );
    assert_eq!(lines[2], caret, "full output:\n{rendered}");
    let loc = d.location.as_ref().expect("location");
    assert_eq!(lines[1], loc.source_line);
    d
}

#[track_caller]
fn assert_error(text: &str, headline: &str, caret: &str) -> Diagnostic {
    assert_first(&[("t.tars", text)], headline, caret)
}

#[test]
fn undefined_type() {
    let d = assert_error(
        "module M {\n  struct S {\n    0 require Foo f;\n  };\n};\n",
        "t.tars:3:15: undefined type `Foo`",
        "              ^",
    );
    assert_eq!(d.kind, ErrorKind::UndefinedType { name: "Foo".into() });
}

#[test]
fn undefined_type_suggests_other_module() {
    let d = assert_error(
        "module A { struct P { 0 optional int x; }; };\nmodule B { struct Q { 0 optional P p; }; };\n",
        "t.tars:2:34: undefined type `P`",
        "                                 ^",
    );
    assert_eq!(d.notes, ["did you mean `A::P`?"]);
}

#[test]
fn undefined_scoped_type() {
    assert_error(
        "module M {\n  struct S { 0 optional N::T t; };\n};\n",
        "t.tars:2:25: undefined type `N::T`",
        "                        ^",
    );
}

#[test]
fn interface_is_not_a_type() {
    assert_error(
        "module M {\n  interface I { void f(); };\n  struct S { 0 optional I i; };\n};\n",
        "t.tars:3:25: `I` is an interface, not a type",
        "                        ^",
    );
}

#[test]
fn duplicate_tag() {
    let d = assert_error(
        "module M {\n  struct S {\n    0 optional int a;\n    0 optional int b;\n  };\n};\n",
        "t.tars:4:5: duplicate tag 0 in struct `S` (already used by field `a`)",
        "    ^",
    );
    assert_eq!(
        d.kind,
        ErrorKind::DuplicateTag {
            tag: 0,
            strukt: "S".into(),
            other: "a".into()
        }
    );
}

#[test]
fn duplicate_tag_written_differently() {
    // 0x1 and 1 are the same tag.
    assert_error(
        "module M { struct S { 1 optional int a; 0x1 optional int b; }; };",
        "t.tars:1:41: duplicate tag 1 in struct `S` (already used by field `a`)",
        "                                        ^",
    );
}

#[test]
fn duplicate_field_name() {
    let d = assert_error(
        "module M {\n  struct S {\n    0 optional int a;\n    1 optional string a;\n  };\n};\n",
        "t.tars:4:23: duplicate field `a` in struct `S`",
        "                      ^",
    );
    assert_eq!(d.notes, ["first defined at t.tars:3:20"]);
}

#[test]
fn duplicate_type_name() {
    let d = assert_error(
        "module M {\n  struct S { 0 optional int a; };\n  enum S { X };\n};\n",
        "t.tars:3:8: `S` is already defined in module `M`",
        "       ^",
    );
    assert_eq!(d.notes, ["previous definition at t.tars:2:10"]);
}

#[test]
fn duplicate_type_name_across_reopened_modules_and_files() {
    let d = assert_first(
        &[
            (
                "main.tars",
                "#include \"a.tars\"\nmodule M {\n  const int S = 1;\n};\n",
            ),
            ("a.tars", "module M { struct S { 0 optional int a; }; };\n"),
        ],
        "main.tars:3:13: `S` is already defined in module `M`",
        "            ^",
    );
    assert_eq!(d.notes, ["previous definition at a.tars:1:19"]);
}

#[test]
fn duplicate_operation_name() {
    assert_error(
        "module M {\n  interface I {\n    int f(int a);\n    void f();\n  };\n};\n",
        "t.tars:4:10: duplicate operation `f` in interface `I`",
        "         ^",
    );
}

#[test]
fn duplicate_parameter_name() {
    assert_error(
        "module M { interface I { int f(int a, out string a); }; };",
        "t.tars:1:50: duplicate parameter `a` in operation `f`",
        "                                                 ^",
    );
}

#[test]
fn duplicate_enumerator_name() {
    assert_error(
        "module M {\n  enum E {\n    A,\n    B,\n    A = 5\n  };\n};\n",
        "t.tars:5:5: duplicate enumerator `A` in enum `E`",
        "    ^",
    );
}

#[test]
fn tag_above_255() {
    let d = assert_error(
        "module M {\n  struct S { 256 optional int a; };\n};\n",
        "t.tars:2:14: tag 256 is out of range (tags are 0..=255)",
        "             ^",
    );
    assert_eq!(d.kind, ErrorKind::TagOutOfRange { tag: "256".into() });
}

#[test]
fn negative_tag() {
    assert_error(
        "module M {\n  struct S { -1 optional int a; };\n};\n",
        "t.tars:2:14: tag -1 is out of range (tags are 0..=255)",
        "             ^",
    );
}

#[test]
fn default_on_struct_field() {
    assert_error(
        "module M {\n  struct P { 0 optional int x; };\n  struct S { 0 optional P p = 1; };\n};\n",
        "t.tars:3:31: field `p` of type `M::P` cannot have a default value (only builtin and enum types can)",
        "                              ^",
    );
}

#[test]
fn default_on_vector_field() {
    assert_error(
        "module M {\n  struct S { 0 optional vector<int> v = \"\"; };\n};\n",
        "t.tars:2:41: field `v` of type `vector<int>` cannot have a default value (only builtin and enum types can)",
        "                                        ^",
    );
}

#[test]
fn default_on_map_field() {
    assert_error(
        "module M { struct S { 0 optional map<string, int> m = 0; }; };",
        "t.tars:1:55: field `m` of type `map<string, int>` cannot have a default value (only builtin and enum types can)",
        "                                                      ^",
    );
}

#[test]
fn enum_default_from_another_enum() {
    let d = assert_error(
        "module M {\n  enum A { X, Y };\n  enum B { Z };\n  struct S { 0 optional A a = B::Z; };\n};\n",
        "t.tars:4:31: `B::Z` is not an enumerator of enum `M::A`",
        "                              ^",
    );
    assert_eq!(
        d.kind,
        ErrorKind::NotAnEnumeratorOf {
            value: "`B::Z`".into(),
            enum_name: "M::A".into()
        }
    );
}

#[test]
fn enum_default_integer_without_enumerator() {
    assert_error(
        "module M { enum A { X = 1, Y = 3 }; struct S { 0 optional A a = 2; }; };",
        "t.tars:1:65: value 2 is not an enumerator of enum `M::A`",
        "                                                                ^",
    );
}

#[test]
fn string_default_for_int() {
    let d = assert_error(
        "module M {\n  struct S { 0 optional int a = \"x\"; };\n};\n",
        "t.tars:2:33: mismatched types: expected an integer, found string `\"x\"`",
        "                                ^",
    );
    assert!(matches!(d.kind, ErrorKind::TypeMismatch { .. }));
}

#[test]
fn int_default_for_bool() {
    assert_error(
        "module M { struct S { 0 optional bool b = 1; }; };",
        "t.tars:1:43: mismatched types: expected `true` or `false`, found integer `1`",
        "                                          ^",
    );
}

#[test]
fn float_default_for_int() {
    assert_error(
        "module M { struct S { 0 optional long l = 1.5; }; };",
        "t.tars:1:43: mismatched types: expected an integer, found floating-point number `1.5`",
        "                                          ^",
    );
}

#[test]
fn bool_default_for_string() {
    assert_error(
        "module M { struct S { 0 optional string s = true; }; };",
        "t.tars:1:45: mismatched types: expected a string, found `true`",
        "                                            ^",
    );
}

#[test]
fn default_out_of_range_for_byte() {
    let d = assert_error(
        "module M {\n  struct S { 0 optional byte b = 128; };\n};\n",
        "t.tars:2:34: value 128 is out of range for `byte` (-128..=127)",
        "                                 ^",
    );
    assert_eq!(
        d.kind,
        ErrorKind::ValueOutOfRange {
            value: "128".into(),
            ty: "byte".into(),
            range: "-128..=127".into()
        }
    );
}

#[test]
fn negative_default_for_unsigned() {
    assert_error(
        "module M { struct S { 0 optional unsigned int u = -1; }; };",
        "t.tars:1:51: value -1 is out of range for `unsigned int` (0..=4294967295)",
        "                                                  ^",
    );
}

#[test]
fn const_out_of_range_for_short() {
    assert_error(
        "module M { const short S = 0x8000; };",
        "t.tars:1:28: value 32768 is out of range for `short` (-32768..=32767)",
        "                           ^",
    );
}

#[test]
fn const_of_container_type() {
    assert_error(
        "module M { const vector<int> V = 1; };",
        "t.tars:1:18: a const cannot have type `vector<int>` (only builtin and enum types can)",
        "                 ^",
    );
}

#[test]
fn struct_without_members() {
    let d = assert_error(
        "module M {\n  struct Empty {\n  };\n};\n",
        "t.tars:2:10: struct `Empty` must have at least one member",
        "         ^",
    );
    assert_eq!(
        d.kind,
        ErrorKind::EmptyStruct {
            name: "Empty".into()
        }
    );
}

#[test]
fn enum_without_enumerators() {
    assert_error(
        "module M { enum E { }; };",
        "t.tars:1:17: enum `E` must have at least one enumerator",
        "                ^",
    );
}

#[test]
fn keyword_as_field_name() {
    let d = assert_error(
        "module M {\n  struct S {\n    0 optional int struct;\n  };\n};\n",
        "t.tars:3:20: keyword `struct` cannot be used as a field name",
        "                   ^",
    );
    assert_eq!(
        d.kind,
        ErrorKind::KeywordAsIdentifier {
            word: "struct".into(),
            role: "a field name"
        }
    );
}

#[test]
fn keyword_as_struct_name() {
    assert_error(
        "module M { struct map { 0 optional int a; }; };",
        "t.tars:1:19: keyword `map` cannot be used as a struct name",
        "                  ^",
    );
}

#[test]
fn keyword_as_parameter_name() {
    assert_error(
        "module M { interface I { int f(string out); }; };",
        "t.tars:1:39: keyword `out` cannot be used as a parameter name",
        "                                      ^",
    );
}

#[test]
fn keyword_as_type() {
    // `void` is not a type of a field.
    assert_error(
        "module M { struct S { 0 optional void v; }; };",
        "t.tars:1:34: expected type, found `void`",
        "                                 ^",
    );
}

#[test]
fn missing_semicolon_after_field() {
    let d = assert_error(
        "module M {\n  struct S {\n    0 optional int a\n    1 optional int b;\n  };\n};\n",
        "t.tars:3:21: expected `;` or `=`, found `1`",
        "                    ^",
    );
    assert!(matches!(d.kind, ErrorKind::Syntax { .. }));
}

#[test]
fn missing_semicolon_after_struct() {
    assert_error(
        "module M {\n  struct S { 0 optional int a; }\n};\n",
        "t.tars:2:33: expected `;`, found `}`",
        "                                ^",
    );
}

#[test]
fn missing_semicolon_on_same_line() {
    assert_error(
        "module M { const int A = 1 const int B = 2; };",
        "t.tars:1:28: expected `;`, found `const`",
        "                           ^",
    );
}

#[test]
fn missing_closing_paren() {
    assert_error(
        "module M { interface I { int f(int a, int b; }; };",
        "t.tars:1:44: expected `)` or `,`, found `;`",
        "                                           ^",
    );
}

#[test]
fn unknown_declaration_keyword() {
    assert_error(
        "module M {\n  class C { };\n};\n",
        "t.tars:2:3: expected `struct`, `enum`, `const`, `interface`, `key` or `}`, found `class`",
        "  ^",
    );
}

#[test]
fn unterminated_string() {
    assert_error(
        "module M {\n  const string S = \"abc;\n};\n",
        "t.tars:2:20: unterminated string literal",
        "                   ^",
    );
}

#[test]
fn unterminated_comment() {
    assert_error(
        "module M {\n  /* never closed\n};\n",
        "t.tars:2:3: unterminated block comment",
        "  ^",
    );
}

#[test]
fn unknown_escape() {
    assert_error(
        "module M { const string S = \"a\\qb\"; };",
        "t.tars:1:31: unknown escape sequence `\\q` in string literal",
        "                              ^",
    );
}

#[test]
fn invalid_octal_literal() {
    assert_error(
        "module M { const int A = 09; };",
        "t.tars:1:26: invalid digit in octal literal `09`",
        "                         ^",
    );
}

#[test]
fn integer_literal_too_large() {
    assert_error(
        "module M { const long A = 0x1ffffffffffffffffffffffffffffffff; };",
        "t.tars:1:27: integer literal `0x1ffffffffffffffffffffffffffffffff` is out of range",
        "                          ^",
    );
}

#[test]
fn long_out_of_range() {
    assert_error(
        "module M { const long A = 9223372036854775808; };",
        "t.tars:1:27: value 9223372036854775808 is out of range for `long` (-9223372036854775808..=9223372036854775807)",
        "                          ^",
    );
}

#[test]
fn undefined_enumerator() {
    assert_error(
        "module M { enum E { A = B }; };",
        "t.tars:1:25: undefined enumerator `B`",
        "                        ^",
    );
}

#[test]
fn ambiguous_enumerator() {
    let d = assert_error(
        "module M { enum E { X }; enum F { X }; const int C = X; };",
        "t.tars:1:54: enumerator `X` is ambiguous; qualify it with its enum",
        "                                                     ^",
    );
    assert_eq!(d.notes, ["candidates: `M::E::X`, `M::F::X`"]);
}

#[test]
fn enumerator_value_cycle() {
    assert_error(
        "module M { enum E { A = B, B = A }; };",
        "t.tars:1:21: the value of enumerator `A` depends on itself",
        "                    ^",
    );
}

#[test]
fn enumerator_value_out_of_32_bits() {
    assert_error(
        "module M { enum E { A = 0x7fffffff, B }; };",
        "t.tars:1:37: enumerator `B` has value 2147483648, which does not fit in 32 bits",
        "                                    ^",
    );
}

#[test]
fn enumerator_value_of_wrong_kind() {
    assert_error(
        "module M { enum E { A = \"x\" }; };",
        "t.tars:1:25: mismatched types: expected an integer or an enumerator, found string `\"x\"`",
        "                        ^",
    );
}

#[test]
fn key_with_unknown_field() {
    let d = assert_error(
        "module M {\n  struct S { 0 optional int a; };\n  key[S, a, b];\n};\n",
        "t.tars:3:13: struct `S` has no field `b` (named in key[])",
        "            ^",
    );
    assert_eq!(
        d.kind,
        ErrorKind::KeyUnknownField {
            field: "b".into(),
            strukt: "S".into()
        }
    );
}

#[test]
fn key_with_unknown_struct() {
    assert_error(
        "module M { key[Nope, a]; };",
        "t.tars:1:16: `Nope` in key[] is not a struct",
        "               ^",
    );
}

#[test]
fn key_defined_twice() {
    assert_error(
        "module M { struct S { 0 optional int a; }; key[S, a]; key[S, a]; };",
        "t.tars:1:59: struct `S` already has a key[]",
        "                                                          ^",
    );
}

#[test]
fn struct_containing_itself() {
    assert_error(
        "module M {\n  struct A { 0 optional B b; };\n  struct B { 0 optional A a; };\n};\n",
        "t.tars:2:10: struct `A` contains itself (a struct can refer to itself only through vector or map)",
        "         ^",
    );
    // Through a vector it is fine.
    assert!(load_files(&[(
        "t.tars",
        "module M { struct A { 0 optional vector<A> children; }; };"
    )])
    .is_ok());
}

#[test]
fn include_cycle() {
    let d = assert_first(
        &[
            (
                "a.tars",
                "#include \"b.tars\"\nmodule M { struct A { 0 optional int x; }; };\n",
            ),
            (
                "b.tars",
                "\n#include \"a.tars\"\nmodule M { struct B { 0 optional int y; }; };\n",
            ),
        ],
        "b.tars:2:1: include cycle: a.tars -> b.tars -> a.tars",
        "^",
    );
    assert_eq!(
        d.kind,
        ErrorKind::IncludeCycle {
            cycle: "a.tars -> b.tars -> a.tars".into()
        }
    );
}

#[test]
fn self_include() {
    assert_first(
        &[(
            "a.tars",
            "module M { struct A { 0 optional int x; }; };\n  #include \"a.tars\"\n",
        )],
        "a.tars:2:3: include cycle: a.tars -> a.tars",
        "  ^",
    );
}

#[test]
fn missing_include_file() {
    let d = assert_first(
        &[(
            "dir/main.tars",
            "// header\n#include \"nope.tars\"\nmodule M { struct A { 0 optional int x; }; };\n",
        )],
        "dir/main.tars:2:1: cannot find included file `nope.tars`",
        "^",
    );
    assert_eq!(
        d.notes,
        ["searched dir/nope.tars", "searched inc/nope.tars"]
    );
}

#[test]
fn missing_root_file() {
    let mut fs = MemoryFs::new();
    fs.insert("other.tars", "");
    let e = load_with(fs, "missing.tars", &[] as &[&str]).unwrap_err();
    let d = e.iter().next().unwrap();
    assert_eq!(
        d.to_string(),
        "error: cannot read `missing.tars`: No such file or directory"
    );
}

#[test]
fn syntax_error_in_included_file_names_that_file() {
    assert_first(
        &[
            ("main.tars", "#include \"common.tars\"\n"),
            (
                "inc/common.tars",
                "module C {\n  struct S { 0 optional int a };\n};\n",
            ),
        ],
        "inc/common.tars:2:31: expected `;` or `=`, found `}`",
        "                              ^",
    );
}

#[test]
fn several_errors_are_all_reported() {
    let errors = errors_of(&[(
        "t.tars",
        "module M {\n  struct S { 0 optional Foo a; 0 optional int b; };\n  struct T { };\n};\n",
    )]);
    let heads: Vec<String> = errors.iter().map(|d| d.headline()).collect();
    assert_eq!(
        heads,
        [
            "t.tars:2:25: undefined type `Foo`",
            "t.tars:2:32: duplicate tag 0 in struct `S` (already used by field `a`)",
            "t.tars:3:10: struct `T` must have at least one member",
        ]
    );
}

#[test]
fn tabs_are_kept_in_the_caret_line() {
    assert_error(
        "module M {\n\tstruct S {\n\t\t0 optional Nope x;\n\t};\n};\n",
        "t.tars:3:14: undefined type `Nope`",
        "\t\t           ^",
    );
}

#[test]
fn too_deeply_nested_types() {
    let ty = format!("{}int{}", "vector<".repeat(70), ">".repeat(70));
    let text = format!("module M {{ struct S {{ 0 optional {ty} v; }}; }};");
    let errors = errors_of(&[("t.tars", &text)]);
    assert_eq!(errors[0].kind, ErrorKind::NestingTooDeep { limit: 64 });
}

#[test]
fn declaration_outside_a_module() {
    assert_error(
        "struct S { 0 optional int a; };",
        "t.tars:1:1: expected `#include` or `module`, found `struct`",
        "^",
    );
}

#[test]
fn garbage_after_last_module() {
    assert_error(
        "module M { };\nx",
        "t.tars:2:1: expected `#include`, `module` or end of file, found `x`",
        "^",
    );
}

#[test]
fn missing_include_searched_in_one_directory_is_noted_once() {
    // The include directory is also the including file's own: one place searched, one note.
    let errors = errors_of(&[(
        "inc/main.tars",
        "#include \"nope.tars\"\nmodule M { struct A { 0 optional int x; }; };\n",
    )]);
    assert_eq!(
        Diagnostics(errors).to_string(),
        "inc/main.tars:1:1: cannot find included file `nope.tars`\n\
         #include \"nope.tars\"\n\
         ^\n\
         note: searched inc/nope.tars\n"
    );
}

#[test]
fn missing_include_with_the_same_include_dir_twice_is_noted_once_per_directory() {
    let mut fs = MemoryFs::new();
    fs.insert("src/main.tars", "#include \"nope.tars\"\n");
    let e = load_with(fs, "src/main.tars", &["inc", "./inc/", "src"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "src/main.tars:1:1: cannot find included file `nope.tars`\n\
         #include \"nope.tars\"\n\
         ^\n\
         note: searched src/nope.tars\n\
         note: searched inc/nope.tars\n"
    );
}

#[test]
fn unclosed_module_at_end_of_file_points_after_the_last_token() {
    let e = load_files(&[(
        "t.tars",
        "module M {\n  struct S { 0 optional int a; };\n\n",
    )])
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.tars:2:34: expected `struct`, `enum`, `const`, `interface`, `key` or `}`, found end of file\n\
         \x20 struct S { 0 optional int a; };\n\
         \x20                                ^\n"
    );
}

#[test]
fn missing_semicolon_at_end_of_file_after_a_comment_points_after_the_last_token() {
    let e = load_files(&[(
        "t.tars",
        "module M {\n  struct S { 0 optional int a; }\n\n// trailing comment\n",
    )])
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.tars:2:33: expected `;`, found end of file\n\
         \x20 struct S { 0 optional int a; }\n\
         \x20                               ^\n"
    );
}

#[test]
fn file_ending_inside_a_struct_without_newline() {
    assert_error(
        "module M { struct S { 0 optional int a;",
        "t.tars:1:40: expected integer or `}`, found end of file",
        "                                       ^",
    );
}
