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
