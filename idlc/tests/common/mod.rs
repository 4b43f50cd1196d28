//! Shared by the integration tests: locating the conformance IDL corpus.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The corpus: `$TARS_IDL_CONFORMANCE_DIR`, else `<manifest>/../../shared/conformance/tars-idl`.
pub fn corpus_dir() -> PathBuf {
    let dir = match std::env::var_os("TARS_IDL_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/tars-idl"),
    };
    assert!(
        dir.is_dir(),
        "conformance IDL directory {} not found: set TARS_IDL_CONFORMANCE_DIR to the directory holding the \
         TarsProtocol / extra .tars files",
        dir.display()
    );
    dir
}

pub fn tars_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
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

/// Include directories for the corpus: the corpus root, and `base/` of the TarsGo example
/// (its `demo.tars` says `#include "demo1.tars"`, which lives in `base/`; TarsGo passes that
/// directory as an include path).
pub fn include_dirs(root: &Path) -> Vec<PathBuf> {
    vec![
        root.to_path_buf(),
        root.join("extra/TarsGo/examples/Tars2Go/base"),
    ]
}
