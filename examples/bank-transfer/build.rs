fn main() {
    if let Err(e) = tars_idlc::Builder::new().compile(&["idl/Bank.tars"]) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
