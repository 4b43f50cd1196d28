//! The framework protocols the runtime itself speaks (EndpointF, QueryF, AdminF and the tars-rs
//! Registry) are generated from `protocols/idl/` and checked in as
//! `runtime/src/protocol/generated.rs`: the runtime cannot run idlc in a build script (idlc
//! depends on the runtime). This test fails when that file is out of date with the IDL;
//! `IDLC_BLESS=1 cargo test -p tars-protocols --test runtime_protocols` rewrites it.

use std::path::PathBuf;

/// The IDL files compiled into the runtime, in this order.
const RUNTIME_IDL: [&str; 4] = [
    "idl/EndpointF.tars",
    "idl/QueryF.tars",
    "idl/AdminF.tars",
    "idl/Registry.tars",
];

#[test]
fn runtime_protocols_are_generated_from_the_idl() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let files: Vec<PathBuf> = RUNTIME_IDL.iter().map(|f| root.join(f)).collect();
    let generated = tars_idlc::Builder::new()
        .include_dir(root.join("idl"))
        .emit_rerun_if_changed(false)
        .generate(&files)
        .unwrap_or_else(|e| panic!("{e}"));
    let target = root.join("../runtime/src/protocol/generated.rs");
    if std::env::var_os("IDLC_BLESS").is_some() {
        std::fs::write(&target, &generated.code).expect("write runtime/src/protocol/generated.rs");
        return;
    }
    let current = std::fs::read_to_string(&target).unwrap_or_default();
    assert!(
        current == generated.code,
        "runtime/src/protocol/generated.rs is out of date with protocols/idl; \
         run IDLC_BLESS=1 cargo test -p tars-protocols --test runtime_protocols"
    );
}
