//! Repository tasks. `cargo xtask protocols` (an alias of `cargo run -p xtask -- protocols`)
//! regenerates the Rust code of the framework protocols from `protocols/idl/`, one file per IDL
//! file, into the crate that owns it:
//!
//! | IDL | generated into | Rust path |
//! | --- | --- | --- |
//! | `EndpointF.tars` | `runtime/src/protocol/endpoint_f.rs` | `tars::protocol::tars` |
//! | `QueryF.tars` | `runtime/src/protocol/query_f.rs` | `tars::protocol::tars` |
//! | `AdminF.tars` | `runtime/src/protocol/admin_f.rs` | `tars::protocol::tars` |
//! | `Registry.tars` | `runtime/src/protocol/registry.rs` | `tars::protocol::tarsrs` |
//! | `Coordinator.tars` | `protocols/src/coordinator.rs` | `tars_protocols::tarstx` |
//!
//! Each file holds only its own IDL file's declarations (tars-idlc's `roots_only`); types of
//! included files are referred to where those are generated (`extern_module`). The three files
//! of IDL module `tars` are merged into `tars::protocol::tars` by glob re-exports in
//! `runtime/src/protocol/mod.rs`.
//!
//! The runtime cannot generate them in a build script (idlc's tests depend on the runtime,
//! and a build script would put the compiler in every runtime build), so they are checked in;
//! this crate's test `protocols_are_fresh` fails when one is out of date.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use tars_idlc::{BuildError, Builder};

/// One IDL file and where its generated code goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    /// The IDL file, relative to the workspace root.
    pub idl: &'static str,
    /// The generated Rust file, relative to the workspace root.
    pub output: &'static str,
    /// IDL module → Rust path of the modules its includes declare (as seen from `output`).
    pub externs: &'static [(&'static str, &'static str)],
}

/// Where the runtime's protocol modules are, seen from inside the runtime.
const IN_RUNTIME: &[(&str, &str)] = &[
    ("tars", "crate::protocol::tars"),
    ("tarsrs", "crate::protocol::tarsrs"),
];

/// Where the runtime's protocol modules are, seen from another crate.
const FROM_OUTSIDE: &[(&str, &str)] = &[
    ("tars", "::tars::protocol::tars"),
    ("tarsrs", "::tars::protocol::tarsrs"),
];

/// Every framework protocol, in generation order.
pub const PROTOCOLS: &[Protocol] = &[
    Protocol {
        idl: "protocols/idl/EndpointF.tars",
        output: "runtime/src/protocol/endpoint_f.rs",
        externs: IN_RUNTIME,
    },
    Protocol {
        idl: "protocols/idl/QueryF.tars",
        output: "runtime/src/protocol/query_f.rs",
        externs: IN_RUNTIME,
    },
    Protocol {
        idl: "protocols/idl/AdminF.tars",
        output: "runtime/src/protocol/admin_f.rs",
        externs: IN_RUNTIME,
    },
    Protocol {
        idl: "protocols/idl/StatF.tars",
        output: "runtime/src/protocol/stat_f.rs",
        externs: IN_RUNTIME,
    },
    Protocol {
        idl: "protocols/idl/PropertyF.tars",
        output: "runtime/src/protocol/property_f.rs",
        externs: IN_RUNTIME,
    },
    Protocol {
        idl: "protocols/idl/Registry.tars",
        output: "runtime/src/protocol/registry.rs",
        externs: IN_RUNTIME,
    },
    Protocol {
        idl: "protocols/idl/Coordinator.tars",
        output: "protocols/src/coordinator.rs",
        externs: FROM_OUTSIDE,
    },
    Protocol {
        idl: "protocols/idl/StatQuery.tars",
        output: "protocols/src/stat_query.rs",
        externs: FROM_OUTSIDE,
    },
];

/// The command that regenerates the protocols.
pub const REGENERATE: &str = "cargo xtask protocols";

/// Why a task failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An IDL file did not load, check or generate.
    #[error("{idl}: {source}")]
    Generate {
        /// The IDL file.
        idl: PathBuf,
        /// What went wrong.
        source: BuildError,
    },
    /// rustfmt could not be run or rejected the generated code.
    #[error("rustfmt on the code generated from {idl}: {message}")]
    Rustfmt {
        /// The IDL file.
        idl: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Generated code for one protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Where it goes (absolute: under the workspace root given).
    pub path: PathBuf,
    /// The Rust source.
    pub code: String,
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Generates every protocol of [`PROTOCOLS`] in memory.
pub fn generate_protocols(root: &Path) -> Result<Vec<Output>, Error> {
    PROTOCOLS.iter().map(|p| generate(root, p)).collect()
}

/// Generates one protocol in memory.
pub fn generate(root: &Path, protocol: &Protocol) -> Result<Output, Error> {
    let idl = root.join(protocol.idl);
    let builder = protocol.externs.iter().fold(
        Builder::new()
            .emit_rerun_if_changed(false)
            .roots_only()
            .include_dir(idl.parent().unwrap_or(root)),
        |b, (module, path)| b.extern_module(*module, *path),
    );
    let generated = builder
        .generate(&[&idl])
        .map_err(|source| Error::Generate {
            idl: idl.clone(),
            source,
        })?;
    // Say where the file comes from and how to regenerate it, in place of the generic header.
    let body = generated
        .code
        .split_once('\n')
        .map_or(generated.code.as_str(), |(_, rest)| rest);
    let code = format!(
        "// Generated by tars-idlc from {} by `{REGENERATE}`.\n// Do not edit: change the .tars file and regenerate.\n{body}",
        protocol.idl
    );
    // The files live among hand-written sources that `cargo fmt` keeps formatted.
    let code = rustfmt(&code).map_err(|message| Error::Rustfmt { idl, message })?;
    Ok(Output {
        path: root.join(protocol.output),
        code,
    })
}

/// Formats `code` with rustfmt (`$RUSTFMT`, else `rustfmt` on the `PATH`), as `cargo fmt`
/// formats the workspace.
fn rustfmt(code: &str) -> Result<String, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let program = std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
    let mut child = Command::new(&program)
        .args(["--edition", "2021", "--emit", "stdout", "--quiet"])
        .current_dir(workspace_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.to_string_lossy()))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    // Written from a thread so a full stdout pipe cannot block the write.
    let input = code.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    writer
        .join()
        .map_err(|_| "writer thread panicked".to_owned())?
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

/// The outputs whose file does not hold exactly the generated code (`read` returns a file's
/// text, `None` when it cannot be read).
pub fn stale(outputs: &[Output], read: impl Fn(&Path) -> Option<String>) -> Vec<&Output> {
    outputs
        .iter()
        .filter(|o| read(&o.path).as_deref() != Some(o.code.as_str()))
        .collect()
}

/// Writes the outputs whose file differs; returns the paths written.
pub fn write(outputs: &[Output]) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    for o in stale(outputs, |p| std::fs::read_to_string(p).ok()) {
        std::fs::write(&o.path, &o.code).map_err(|source| Error::Io {
            path: o.path.clone(),
            source,
        })?;
        written.push(o.path.clone());
    }
    Ok(written)
}
