//! Generates the protocols the runtime does not speak itself (the coordinator's) from `idl/`
//! with the tars-idlc Builder. EndpointF, QueryF, AdminF and the Registry are generated into
//! the runtime (`tars::protocol`) and referenced from there.

fn main() {
    let result = tars_idlc::Builder::new()
        .include_dir("idl")
        .extern_module("tars", "::tars::protocol::tars")
        .extern_module("tarsrs", "::tars::protocol::tarsrs")
        .compile(&["idl/Coordinator.tars"]);
    if let Err(e) = result {
        // Diagnostics render as file:line:col with the source line; show them as-is.
        eprintln!("{e}");
        std::process::exit(1);
    }
}
