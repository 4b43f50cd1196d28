//! Shared by the integration tests: locating the external IDL corpus, and compiling generated
//! code in a scratch crate.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Environment variable naming the external IDL corpus directory.
pub const CORPUS_ENV: &str = "TARS_IDL_CORPUS";
/// Environment variable that, set to `1`, turns a missing corpus into a test failure.
pub const CORPUS_REQUIRED_ENV: &str = "TARS_IDL_CORPUS_REQUIRED";

/// The workspace root (the directory holding `idlc/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Where the corpus is looked for when `TARS_IDL_CORPUS` is not set:
/// `<repo root>/../shared/conformance/tars-idl`.
pub fn default_corpus_dir() -> PathBuf {
    workspace_root().join("../shared/conformance/tars-idl")
}

/// What a test does about the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorpusLookup {
    /// Run against this directory.
    Found(PathBuf),
    /// Pass without running; the text says why and how to provide the corpus.
    Skip(String),
    /// Fail: the corpus is required (`TARS_IDL_CORPUS_REQUIRED=1`) but missing.
    Fail(String),
}

/// Decides from the two variables' values (`None` when unset) and whether a path is a
/// directory. Pure, so the decision is testable without touching the process environment.
pub fn lookup_corpus(
    corpus: Option<&OsStr>,
    required: Option<&OsStr>,
    default: &Path,
    is_dir: impl Fn(&Path) -> bool,
) -> CorpusLookup {
    let (dir, origin) = match corpus {
        Some(d) if !d.is_empty() => (PathBuf::from(d), format!("{CORPUS_ENV}=")),
        _ => (default.to_path_buf(), String::from("default location ")),
    };
    if is_dir(&dir) {
        return CorpusLookup::Found(dir);
    }
    let why = format!(
        "IDL corpus not found ({origin}{}); set {CORPUS_ENV} to the directory holding the \
         tars-idl corpus (TarsProtocol and extra/ .tars files)",
        dir.display()
    );
    if required.is_some_and(|r| r == "1") {
        CorpusLookup::Fail(format!("{why} ({CORPUS_REQUIRED_ENV}=1)"))
    } else {
        CorpusLookup::Skip(why)
    }
}

/// The corpus directory for a test, from the real environment. `None` means skip: the first
/// skipping test of the process writes one line `skipped: ...` to the terminal (past the test
/// harness's capture). Panics when the corpus is missing and `TARS_IDL_CORPUS_REQUIRED=1`.
pub fn corpus_dir() -> Option<PathBuf> {
    let corpus = std::env::var_os(CORPUS_ENV);
    let required = std::env::var_os(CORPUS_REQUIRED_ENV);
    match lookup_corpus(
        corpus.as_deref(),
        required.as_deref(),
        &default_corpus_dir(),
        Path::is_dir,
    ) {
        CorpusLookup::Found(dir) => Some(dir),
        CorpusLookup::Skip(why) => {
            static SAID: std::sync::Once = std::sync::Once::new();
            // `eprintln!` would be captured (and hidden) for a passing test.
            SAID.call_once(|| {
                let _ = writeln!(std::io::stderr(), "skipped: {why}");
            });
            None
        }
        CorpusLookup::Fail(why) => panic!("{why}"),
    }
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

/// Builds a scratch crate named `name` whose `src/` holds `files` (path relative to `src/`,
/// text), depending on the workspace's `tars` runtime (plus `extra_deps`, lines of a
/// `[dependencies]` table), with the workspace's `Cargo.lock`; runs `cargo <command>` in it
/// (`check`, or `run` for a crate with a `main.rs`) and panics with the compiler's output
/// (keeping the crate) when it fails. Returns cargo's stdout.
pub fn cargo_in_scratch_crate(
    name: &str,
    files: &[(String, String)],
    extra_deps: &str,
    command: &[&str],
) -> String {
    let deps = format!(
        "[dependencies]\ntars = {{ path = {:?} }}\n{extra_deps}",
        workspace_root().join("runtime")
    );
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(path, text)| (format!("src/{path}"), text.clone()))
        .collect();
    let krate = scratch_crate(name, &deps, &files);
    run_cargo(krate, command)
}

/// A scratch crate in a temporary directory: `[package]` named `name`, then `tables` (its
/// `[dependencies]`, `[build-dependencies]`...), `files` (paths relative to the crate root), and the
/// workspace's `Cargo.lock` (same dependency versions).
pub fn scratch_crate(name: &str, tables: &str, files: &[(String, String)]) -> tempfile::TempDir {
    let workspace = workspace_root();
    let krate = tempfile::tempdir().expect("temp dir");
    for (path, text) in files {
        let path = krate.path().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    std::fs::write(
        krate.path().join("Cargo.toml"),
        format!(
            "[package]\nname = {name:?}\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             {tables}\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::copy(
        workspace.join("Cargo.lock"),
        krate.path().join("Cargo.lock"),
    )
    .unwrap();
    krate
}

/// Runs `cargo <command> --quiet` in `krate` (target directory shared by the scratch crates)
/// and returns its stdout; panics with the output, keeping the crate, when it fails.
pub fn run_cargo(krate: tempfile::TempDir, command: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(command)
        .arg("--quiet")
        .current_dir(krate.path())
        .env(
            "CARGO_TARGET_DIR",
            workspace_root().join("target/idlc-scratch"),
        )
        // Small artifacts: the scratch crates are built, run and thrown away.
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        .env("CARGO_INCREMENTAL", "0")
        .output()
        .expect("run cargo");
    if !out.status.success() {
        // Keep the crate for inspection.
        let kept = krate.keep();
        panic!(
            "cargo {} failed in the scratch crate (kept at {}):\n{}{}",
            command.join(" "),
            kept.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}
