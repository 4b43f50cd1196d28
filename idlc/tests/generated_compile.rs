//! Every IDL file of the shared conformance corpus generates Rust that compiles (with
//! `#![deny(warnings)]`) against the `tars` runtime.

use std::path::Path;
use std::process::Command;

use tars_idlc::Builder;

mod common;
use common::{corpus_dir, include_dirs, tars_files};

#[test]
fn every_conformance_file_generates_rust_that_compiles() {
    let root = corpus_dir();
    let mut files = Vec::new();
    tars_files(&root, &mut files);
    assert!(
        files.len() >= 33,
        "expected the whole corpus, found {}",
        files.len()
    );

    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let krate = tempfile::tempdir().expect("temp dir");
    let src = krate.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut lib = String::from("#![deny(warnings)]\n");
    for (i, file) in files.iter().enumerate() {
        let builder = include_dirs(&root).into_iter().fold(
            Builder::new().emit_rerun_if_changed(false),
            Builder::include_dir,
        );
        let generated = builder
            .generate(&[file])
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            generated.code.contains("pub mod "),
            "{}: no module generated",
            file.display()
        );
        std::fs::write(src.join(format!("gen_{i}.rs")), &generated.code).unwrap();
        lib.push_str(&format!(
            "/// {}\npub mod gen_{i} {{\n    include!(\"gen_{i}.rs\");\n}}\n",
            file.display()
        ));
    }
    std::fs::write(src.join("lib.rs"), lib).unwrap();
    std::fs::write(
        krate.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"idlc-generated-check\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\ntars = {{ path = {:?} }}\n\n[workspace]\n",
            workspace.join("runtime")
        ),
    )
    .unwrap();
    // Same dependency versions as the workspace.
    std::fs::copy(
        workspace.join("Cargo.lock"),
        krate.path().join("Cargo.lock"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO"))
        .arg("check")
        .arg("--quiet")
        .current_dir(krate.path())
        .env(
            "CARGO_TARGET_DIR",
            workspace.join("target/idlc-generated-check"),
        )
        .output()
        .expect("run cargo check");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        // Keep the crate for inspection.
        let kept = krate.keep();
        panic!(
            "generated code does not compile (crate kept at {}):\n{stderr}",
            kept.display()
        );
    }
}
