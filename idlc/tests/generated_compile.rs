//! Every IDL file of the external conformance corpus (see `common::corpus_dir`) generates Rust
//! that compiles (with `#![deny(warnings)]`) against the `tars` runtime.

use tars_idlc::Builder;

mod common;
use common::{cargo_in_scratch_crate, corpus_dir, include_dirs, tars_files};

#[test]
fn every_conformance_file_generates_rust_that_compiles() {
    let Some(root) = corpus_dir() else { return };
    let mut files = Vec::new();
    tars_files(&root, &mut files);
    assert!(
        files.len() >= 33,
        "expected the whole corpus, found {}",
        files.len()
    );

    let mut sources = Vec::new();
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
        sources.push((format!("gen_{i}.rs"), generated.code));
        lib.push_str(&format!(
            "/// {}\npub mod gen_{i} {{\n    include!(\"gen_{i}.rs\");\n}}\n",
            file.display()
        ));
    }
    sources.push(("lib.rs".to_owned(), lib));
    cargo_in_scratch_crate("idlc-generated-check", &sources, "", &["check"]);
}
