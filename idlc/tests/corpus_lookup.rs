//! The external IDL corpus lookup (`common::corpus_dir`): `TARS_IDL_CORPUS`, else the default
//! location; a missing corpus skips with one `skipped:` line, or fails when
//! `TARS_IDL_CORPUS_REQUIRED=1`.

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use common::{lookup_corpus, CorpusLookup};

fn decide(corpus: Option<&str>, required: Option<&str>, existing: &[&str]) -> CorpusLookup {
    lookup_corpus(
        corpus.map(OsStr::new),
        required.map(OsStr::new),
        Path::new("/default/tars-idl"),
        |p| existing.iter().any(|e| Path::new(e) == p),
    )
}

#[test]
fn the_variable_wins_over_the_default() {
    let both = ["/env/idl", "/default/tars-idl"];
    assert_eq!(
        decide(Some("/env/idl"), None, &both),
        CorpusLookup::Found("/env/idl".into())
    );
    assert_eq!(
        decide(None, None, &both),
        CorpusLookup::Found("/default/tars-idl".into())
    );
    assert_eq!(
        decide(Some(""), None, &both),
        CorpusLookup::Found("/default/tars-idl".into()),
        "an empty variable counts as unset"
    );
}

#[test]
fn a_missing_corpus_skips_unless_required() {
    // A variable naming a missing directory does not fall back to the default.
    let only_default = ["/default/tars-idl"];
    match decide(Some("/nowhere"), None, &only_default) {
        CorpusLookup::Skip(why) => {
            assert!(why.contains("TARS_IDL_CORPUS=/nowhere"), "{why}");
            assert!(why.contains("set TARS_IDL_CORPUS to"), "says how: {why}");
        }
        other => panic!("expected a skip, got {other:?}"),
    }
    match decide(None, Some("0"), &[]) {
        CorpusLookup::Skip(why) => assert!(why.contains("/default/tars-idl"), "{why}"),
        other => panic!("expected a skip, got {other:?}"),
    }
    match decide(Some("/nowhere"), Some("1"), &only_default) {
        CorpusLookup::Fail(why) => assert!(why.contains("TARS_IDL_CORPUS_REQUIRED=1"), "{why}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(
        decide(Some("/env/idl"), Some("1"), &["/env/idl"]),
        CorpusLookup::Found("/env/idl".into())
    );
}

/// Runs in a child process (see below) with the environment the parent chose.
#[test]
fn probe_corpus_dir() {
    if std::env::var_os("IDLC_CORPUS_PROBE").is_none() {
        return;
    }
    let found = common::corpus_dir();
    println!("probe found: {found:?}");
}

/// This test binary again, running only `probe_corpus_dir` with `corpus` as `TARS_IDL_CORPUS`.
fn probe(corpus: &Path, required: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        "probe_corpus_dir",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("IDLC_CORPUS_PROBE", "1")
    .env("TARS_IDL_CORPUS", corpus)
    .env_remove("TARS_IDL_CORPUS_REQUIRED");
    if let Some(r) = required {
        cmd.env("TARS_IDL_CORPUS_REQUIRED", r);
    }
    cmd.output().expect("run the probe")
}

#[test]
fn in_a_real_process_a_missing_corpus_prints_one_skip_line_or_fails_when_required() {
    let missing = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/no-such-corpus");
    let out = probe(&missing, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a skip passes: {stderr}");
    let skips: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("skipped: "))
        .collect();
    assert_eq!(skips.len(), 1, "exactly one skip line: {stderr}");
    assert!(skips[0].contains("no-such-corpus"), "{}", skips[0]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("probe found: None"));

    let out = probe(&missing, Some("1"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "required and missing fails");
    assert!(stderr.contains("IDL corpus not found"), "{stderr}");
    assert!(!stderr.contains("skipped: "), "{stderr}");

    // A present directory is found either way.
    let present = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let out = probe(&present, Some("1"));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("probe found: Some("));
}
