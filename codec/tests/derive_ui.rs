//! Compile tests for the derive macros: misuse must give a spanned error, never a panic.

#[test]
fn derive_diagnostics() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass_*.rs");
    t.compile_fail("tests/ui/fail_*.rs");
}
