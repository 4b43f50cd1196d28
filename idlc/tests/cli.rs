//! The `idlc` command line (feature `cli`: `cargo test -p tars-idlc --features cli`).

use std::path::Path;
use std::process::{Command, Output};

use tars_idlc::Builder;

fn golden(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
        .display()
        .to_string()
}

fn idlc(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_idlc"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run idlc");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().expect("idlc output")
}

#[test]
fn check_reports_diagnostics_with_location_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.tars");
    std::fs::write(&bad, "module M {\n  struct S { 0 require Nope n; };\n};\n").unwrap();
    let out = idlc(&["check", bad.to_str().unwrap()], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.tars:2:24: undefined type `Nope`"),
        "{err}"
    );
    assert!(
        err.contains("                       ^"),
        "caret under the column: {err}"
    );

    let ok = idlc(&["check", &golden("Demo.tars")], None);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stderr).contains("2 file(s) checked"));
}

#[test]
fn gen_prints_the_same_code_as_the_builder() {
    let out = idlc(&["gen", &golden("Demo.tars")], None);
    assert!(out.status.success());
    let expected = Builder::new()
        .emit_rerun_if_changed(false)
        .generate(&[golden("Demo.tars")])
        .unwrap()
        .code;
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    let ext = idlc(
        &[
            "gen",
            "--extern",
            "Types=::other::Types",
            &golden("Demo.tars"),
        ],
        None,
    );
    let code = String::from_utf8_lossy(&ext.stdout);
    assert!(
        !code.contains("pub mod Types"),
        "extern modules are not generated"
    );
    assert!(
        code.contains("::other::Types::Tag"),
        "and are referenced by path"
    );
}

#[test]
fn encode_and_decode_round_trip_through_json() {
    let json = r#"{"name": "sq", "color": "Blue", "points": [{"x": 1, "y": -1}], "tags": {"k": {"label": "L", "level": "HIGH"}},
                   "blob": "cafe", "weight": 2.5, "big": 4000000000, "byWeight": [[0.5, "half"]], "counts": [[{"ns": "a", "id": 1}, 3]]}"#;
    let enc = idlc(
        &[
            "encode",
            "--idl",
            &golden("Demo.tars"),
            "--type",
            "Demo::Shape",
        ],
        Some(json),
    );
    assert!(
        enc.status.success(),
        "{}",
        String::from_utf8_lossy(&enc.stderr)
    );
    let hex = String::from_utf8_lossy(&enc.stdout).trim().to_string();
    assert!(
        hex.starts_with("0602737110"),
        "name 'sq' at tag 0 then color at tag 1: {hex}"
    );
    let dec = idlc(
        &[
            "decode",
            "--idl",
            &golden("Demo.tars"),
            "--type",
            "Demo.Shape",
            &hex,
        ],
        None,
    );
    assert!(
        dec.status.success(),
        "{}",
        String::from_utf8_lossy(&dec.stderr)
    );
    let back: serde_json::Value = serde_json::from_slice(&dec.stdout).unwrap();
    assert_eq!(back["name"], "sq");
    assert_eq!(
        back["color"], "Red",
        "Blue is an alias of Red: decoded as the first enumerator"
    );
    assert_eq!(back["points"][0]["y"], -1);
    assert_eq!(back["tags"]["k"]["level"], "HIGH");
    assert_eq!(back["blob"], "cafe");
    assert_eq!(back["big"], 4000000000u64);
    assert_eq!(back["byWeight"][0][1], "half");
    assert_eq!(back["counts"][0][0]["ns"], "a");

    let wrong = idlc(
        &[
            "encode",
            "--idl",
            &golden("Demo.tars"),
            "--type",
            "Demo::Point",
        ],
        Some(r#"{"x": "nope"}"#),
    );
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("$.x"),
        "errors name the JSON path"
    );
    let missing = idlc(
        &[
            "decode",
            "--idl",
            &golden("Demo.tars"),
            "--type",
            "Demo::Point",
            "1001",
        ],
        None,
    );
    assert!(!missing.status.success(), "required x (tag 0) is absent");
}

#[test]
fn decoding_bytes_without_a_required_field_names_the_field_and_struct() {
    let out = idlc(
        &[
            "decode",
            "--idl",
            &golden("Demo.tars"),
            "--type",
            "Demo::Point",
            "",
        ],
        None,
    );
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: $: required field `x` (tag 0) of Demo.Point is missing\n"
    );
    // Inside a nested struct the path says where.
    let schema_modules = tars_idlc::codegen::lower::lower(
        &tars_idlc::load_str(
            "n.tars",
            "module N { struct In { 0 require int v; }; struct Out { 0 require In inner; }; };",
        )
        .unwrap(),
    );
    let schema = tars_idlc::dynamic::Schema::new(&schema_modules);
    let ty = schema.struct_type("N.Out").unwrap();
    // Out { inner: In {} }: STRUCT_BEGIN at tag 0, STRUCT_END.
    let err = schema.decode_struct(&ty, &[0x0a, 0x0b]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "$.inner: required field `v` (tag 0) of N.In is missing"
    );
}
