//! The build-script `Builder`.

use tars_idlc::{BuildError, Builder};

#[test]
fn builder_reads_includes_and_writes_to_out_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("inc")).unwrap();
    std::fs::write(
        dir.path().join("inc/Base.tars"),
        "module Base { struct B { 0 require int v; }; };",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("Top.tars"),
        "#include \"Base.tars\"\nmodule Top { struct T { 0 require Base::B b; }; };",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let path = Builder::new()
        .emit_rerun_if_changed(false)
        .include_dir(dir.path().join("inc"))
        .out_dir(&out_dir)
        .file_name("gen.rs")
        .compile(&[dir.path().join("Top.tars")])
        .unwrap();
    assert_eq!(path, out_dir.join("gen.rs"));
    let code = std::fs::read_to_string(&path).unwrap();
    assert!(
        code.contains("pub mod Base") && code.contains("pub b: super::Base::B"),
        "{code}"
    );
    let generated = Builder::new()
        .emit_rerun_if_changed(false)
        .include_dir(dir.path().join("inc"))
        .generate(&[dir.path().join("Top.tars")])
        .unwrap();
    let names: Vec<_> = generated
        .files_read
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["Top.tars", "Base.tars"],
        "every file read is reported for rerun-if-changed"
    );

    // A broken include still reports the files read, and the error says where.
    std::fs::write(
        dir.path().join("inc/Base.tars"),
        "module Base { struct B { 0 require int v } };",
    )
    .unwrap();
    match Builder::new()
        .emit_rerun_if_changed(false)
        .include_dir(dir.path().join("inc"))
        .generate(&[dir.path().join("Top.tars")])
    {
        Err(BuildError::Idl(d)) => assert!(d.to_string().contains("Base.tars:1:"), "{d}"),
        other => panic!("expected a diagnostic, got {other:?}"),
    }
    assert!(matches!(
        Builder::new().compile(&[dir.path().join("Top.tars")]),
        Err(BuildError::NoOutDir | BuildError::Idl(_))
    ));
}

/// `Base.tars` (module `Shared`), and two files that each add to module `Shared` and use
/// `Base`'s types.
fn per_file_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "Base.tars",
        "module Shared { enum Level { Low, High }; struct Point { 0 require int x; }; };",
    );
    write(
        "Shapes.tars",
        "#include \"Base.tars\"\nmodule Shared { struct Line { 0 require Point a; 1 optional Level l = High; }; };\n\
         module Draw { interface Pen { void line(Shared::Line l); }; };",
    );
    dir
}

#[test]
fn roots_only_generates_the_root_file_and_refers_to_included_declarations_by_path() {
    let dir = per_file_fixture();
    let generated = Builder::new()
        .emit_rerun_if_changed(false)
        .roots_only()
        .extern_module("Shared", "crate::shared")
        .generate(&[dir.path().join("Shapes.tars")])
        .unwrap_or_else(|e| panic!("{e}"));
    let code = generated.code;
    assert!(code.contains("pub struct Line"), "{code}");
    assert!(
        !code.contains("pub struct Point"),
        "included: not generated\n{code}"
    );
    assert!(!code.contains("pub enum Level"), "{code}");
    assert!(code.contains("pub a: crate::shared::Point"), "{code}");
    assert!(
        code.contains("default = crate::shared::Level::High"),
        "{code}"
    );
    // Within the file, modules refer to each other as before.
    assert!(code.contains("l: &super::Shared::Line"), "{code}");

    // Without roots_only, an extern module is not generated at all.
    let all = Builder::new()
        .emit_rerun_if_changed(false)
        .extern_module("Shared", "crate::shared")
        .generate(&[dir.path().join("Shapes.tars")])
        .unwrap()
        .code;
    assert!(!all.contains("pub mod Shared") && all.contains("pub mod Draw"));
}

#[test]
fn roots_only_without_a_path_for_an_included_module_is_an_error() {
    let dir = per_file_fixture();
    match Builder::new()
        .emit_rerun_if_changed(false)
        .roots_only()
        .generate(&[dir.path().join("Shapes.tars")])
    {
        Err(e @ BuildError::UnmappedModule { .. }) => assert_eq!(
            e.to_string(),
            "IDL module `Shared` is declared in an included file that is not generated \
             (roots_only): give its Rust path with Builder::extern_module(\"Shared\", ...)"
        ),
        other => panic!("expected UnmappedModule, got {other:?}"),
    }
    // A root file that includes nothing needs no path.
    Builder::new()
        .emit_rerun_if_changed(false)
        .roots_only()
        .generate(&[dir.path().join("Base.tars")])
        .unwrap();
}

#[test]
fn codec_only_refers_to_tars_codec_and_leaves_interfaces_out() {
    let dir = per_file_fixture();
    let code = Builder::new()
        .emit_rerun_if_changed(false)
        .codec_only()
        .generate(&[dir.path().join("Shapes.tars")])
        .unwrap()
        .code;
    assert!(
        code.starts_with(
            "// Generated by tars-idlc. Do not edit: change the .tars file instead.\n//\n\
             // Codec only: interface(s) Draw::Pen left out (no RPC runtime).\n"
        ),
        "{code}"
    );
    assert!(code.contains("::tars_codec::TarsStruct") && code.contains("::tars_codec::TarsEnum"));
    assert!(!code.contains("::tars::"), "no runtime path:\n{code}");
    assert!(!code.contains("trait Pen") && !code.contains("PenProxy"));
    assert!(
        !code.contains("pub mod Draw"),
        "nothing left of module Draw"
    );
}
