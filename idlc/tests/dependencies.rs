//! A build script that depends on tars-idlc (without the `cli` feature) compiles the parser,
//! the checker, the generator and the codec: no runtime (mio, tokio, crossbeam), no command
//! line (clap, anyhow) and no JSON (serde_json).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The crate names `cargo tree -p tars-idlc -e normal` prints with `extra` arguments.
fn normal_dependencies(extra: &[&str]) -> BTreeSet<String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "tars-idlc",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--locked", "--color", "never"])
        .args(extra)
        .current_dir(workspace)
        .output()
        .expect("run cargo tree");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo tree failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

const FORBIDDEN: [&str; 8] = [
    "mio",
    "tokio",
    "tokio-util",
    "crossbeam-channel",
    "clap",
    "anyhow",
    "serde_json",
    "tars",
];

#[test]
fn the_library_alone_pulls_no_runtime_and_no_command_line() {
    let crates = normal_dependencies(&["--no-default-features"]);
    for needed in [
        "tars-idlc",
        "pest",
        "syn",
        "quote",
        "prettyplease",
        "tars-codec",
    ] {
        assert!(crates.contains(needed), "{needed} missing from {crates:?}");
    }
    let found: Vec<&String> = crates
        .iter()
        .filter(|c| FORBIDDEN.contains(&c.as_str()) || c.starts_with("crossbeam"))
        .collect();
    assert!(
        found.is_empty(),
        "tars-idlc without `cli` depends on {found:?}; all dependencies: {crates:?}"
    );
}

#[test]
fn the_cli_feature_brings_the_command_line_dependencies() {
    // The same check sees them when they are there.
    let crates = normal_dependencies(&["--features", "cli"]);
    for cli in ["clap", "anyhow", "serde_json", "hex"] {
        assert!(crates.contains(cli), "{cli} missing from {crates:?}");
    }
}
