//! `cargo xtask protocols [--check]`: regenerate the framework protocols (see the library
//! docs); with `--check`, only report the files that are out of date.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let check = match args.as_slice() {
        ["protocols"] => false,
        ["protocols", "--check"] => true,
        _ => {
            eprintln!("usage: cargo xtask protocols [--check]");
            return ExitCode::from(2);
        }
    };
    let root = xtask::workspace_root();
    let outputs = match xtask::generate_protocols(&root) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shown = |p: &std::path::Path| p.strip_prefix(&root).unwrap_or(p).display().to_string();
    if check {
        let stale = xtask::stale(&outputs, |p| std::fs::read_to_string(p).ok());
        for o in &stale {
            eprintln!("out of date: {}", shown(&o.path));
        }
        if stale.is_empty() {
            return ExitCode::SUCCESS;
        }
        eprintln!("run `{}`", xtask::REGENERATE);
        return ExitCode::FAILURE;
    }
    match xtask::write(&outputs) {
        Ok(written) => {
            for p in &written {
                println!("wrote {}", shown(p));
            }
            println!(
                "{} protocol file(s), {} rewritten",
                outputs.len(),
                written.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
