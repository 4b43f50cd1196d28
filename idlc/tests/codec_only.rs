//! `Builder::codec_only` end to end: a crate that depends on tars-codec only (no RPC runtime)
//! generates types in its build script and encodes/decodes them; its dependency tree has no
//! `tars` runtime.

mod common;

use common::{run_cargo, scratch_crate, workspace_root};

const BUILD_RS: &str = r#"
fn main() {
    let idl = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("idl");
    tars_idlc::Builder::new()
        .codec_only()
        .include_dir(idl.join("include"))
        .compile(&[idl.join("Services.tars"), idl.join("Keys.tars")])
        .unwrap_or_else(|e| panic!("{e}"));
}
"#;

const MAIN_RS: &str = r#"
#![deny(warnings)]

#[allow(dead_code)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/tars_generated.rs"));
}

use generated::{Common, Geometry, Keys, Services};
use tars_codec::TarsStruct;

const SOURCE: &str = include_str!(concat!(env!("OUT_DIR"), "/tars_generated.rs"));

fn main() {
    let shape = Services::Shape {
        name: "square".into(),
        points: vec![Geometry::Point { x: 0, y: 0 }, Geometry::Point { x: 1, y: 1 }],
        level: Common::Level::Critical,
        ..Default::default()
    };
    let bytes = shape.encode_to_bytes();
    let back = Services::Shape::decode_from(&bytes).expect("decode");
    assert_eq!(back, shape);
    assert_eq!(back.r#type, "polygon", "declared default");
    let tree = Keys::Tree { value: "root".into(), children: vec![Keys::Tree::default()], ..Default::default() };
    assert_eq!(Keys::Tree::decode_from(&tree.encode_to_bytes()).expect("decode"), tree);
    assert!(SOURCE.contains("// Codec only: interface(s) Services::Canvas, Services::Empty left out"));
    assert!(!SOURCE.contains("::tars::"));
    println!("codec-only ok: {} bytes", bytes.len());
}
"#;

#[test]
fn a_codec_only_crate_generates_encodes_and_decodes_without_the_runtime() {
    let workspace = workspace_root();
    let idl = workspace.join("idlc/tests/idl");
    let mut files = vec![
        ("build.rs".to_owned(), BUILD_RS.to_owned()),
        ("src/main.rs".to_owned(), MAIN_RS.to_owned()),
    ];
    for rel in [
        "Services.tars",
        "Keys.tars",
        "base/Geometry.tars",
        "include/Common.tars",
    ] {
        let text = std::fs::read_to_string(idl.join(rel)).unwrap();
        files.push((format!("idl/{rel}"), text));
    }
    let tables = format!(
        "[dependencies]\ntars-codec = {{ path = {:?} }}\n\n[build-dependencies]\ntars-idlc = {{ path = {:?} }}",
        workspace.join("codec"),
        workspace.join("idlc")
    );
    let krate = scratch_crate("idlc-codec-only", &tables, &files);
    let tree_out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "--prefix",
            "none",
            "--color",
            "never",
            "-e",
            "normal,build",
        ])
        .current_dir(krate.path())
        .output()
        .expect("cargo tree");
    assert!(
        tree_out.status.success(),
        "{}",
        String::from_utf8_lossy(&tree_out.stderr)
    );
    let tree = String::from_utf8_lossy(&tree_out.stdout);
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        crates.contains(&"tars-codec") && crates.contains(&"tars-idlc"),
        "{tree}"
    );
    for runtime in [
        "tars",
        "mio",
        "tokio",
        "crossbeam-channel",
        "clap",
        "serde_json",
    ] {
        assert!(!crates.contains(&runtime), "{runtime} in the tree:\n{tree}");
    }
    let out = run_cargo(krate, &["run"]);
    assert!(out.starts_with("codec-only ok: "), "{out}");
}
