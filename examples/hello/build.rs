fn main() {
    if let Err(e) = tars_idlc::Builder::new().compile(&["idl/Hello.tars"]) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
