//! Golden files: the generated code for `tests/golden/*.tars` is compared with the committed
//! `tests/golden/*.rs`. Re-bless with `IDLC_BLESS=1 cargo test -p tars-idlc --test golden`.

use std::path::Path;

use tars_idlc::Builder;

#[test]
fn generated_code_matches_golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let generated = Builder::new()
        .emit_rerun_if_changed(false)
        .generate(&[dir.join("Demo.tars")])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(generated.files_read.len(), 2, "Demo.tars and its include");
    let golden = dir.join("Demo.rs");
    if std::env::var_os("IDLC_BLESS").is_some() {
        std::fs::write(&golden, &generated.code).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    if expected != generated.code {
        let first = expected
            .lines()
            .zip(generated.code.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(generated.code.lines().count()));
        panic!(
            "generated code differs from {} at line {} (re-bless with IDLC_BLESS=1):\n  golden:    {:?}\n  generated: {:?}",
            golden.display(),
            first + 1,
            expected.lines().nth(first),
            generated.code.lines().nth(first)
        );
    }
}
