//! Every IDL file of the shared conformance corpus generates Rust that compiles (with
//! `#![deny(warnings)]`) against the `tars` runtime.

use std::path::{Path, PathBuf};
use std::process::Command;

use tars_idlc::Builder;

fn corpus() -> PathBuf {
    let dir = std::env::var_os("TARS_IDL_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/tars-idl")
        });
    assert!(
        dir.is_dir(),
        "conformance IDL directory {} is missing (set TARS_IDL_CONFORMANCE_DIR)",
        dir.display()
    );
    dir
}

fn tars_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("readable corpus")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            tars_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "tars") {
            out.push(p);
        }
    }
}

#[test]
fn every_conformance_file_generates_rust_that_compiles() {
    let root = corpus();
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
        let mut builder = Builder::new()
            .emit_rerun_if_changed(false)
            .include_dir(&root);
        // TarsGo's demo.tars includes "demo1.tars", which lives in base/.
        builder = builder.include_dir(root.join("extra/TarsGo/examples/Tars2Go/base"));
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
