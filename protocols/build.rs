//! Generates the framework protocols from `idl/` with the tars-idlc Builder.

fn main() {
    let result = tars_idlc::Builder::new().include_dir("idl").compile(&[
        "idl/QueryF.tars",
        "idl/AdminF.tars",
        "idl/Registry.tars",
    ]);
    if let Err(e) = result {
        // Diagnostics render as file:line:col with the source line; show them as-is.
        eprintln!("{e}");
        std::process::exit(1);
    }
}
