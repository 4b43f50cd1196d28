//! Inputs the fuzzers once found a failure with, replayed through the same checks the
//! `decode_values` fuzz target makes (fuzz/fuzz_targets/decode_values.rs), so a fixed bug
//! stays fixed without cargo-fuzz. Each file in `tests/fuzz_regressions/` is one input.

include!("common/decode_values.rs");

#[test]
fn decode_values_regressions() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("regression dir") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !name.starts_with("decode_values-") {
            continue;
        }
        println!("== {name}");
        check_decode_values(&std::fs::read(&path).expect("read input"));
        seen += 1;
    }
    assert!(seen > 0, "no decode_values inputs in {}", dir.display());
}
