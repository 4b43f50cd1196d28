//! [`Builder`]: generating Rust from `.tars` files in a `build.rs`, in the style of
//! prost-build / tonic-build.

use std::path::{Path, PathBuf};

use crate::codegen::{self, GenOptions};
use crate::diagnostic::Diagnostics;
use crate::loader::Session;

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The IDL did not load or check; the diagnostics say where and why.
    #[error("{0}")]
    Idl(Diagnostics),
    /// No output directory was given and `OUT_DIR` is not set.
    #[error("no output directory: call Builder::out_dir or run from a build script (OUT_DIR)")]
    NoOutDir,
    /// With [`Builder::roots_only`], the root files refer to declarations of an included file
    /// whose IDL module has no [`Builder::extern_module`] path.
    #[error(
        "IDL module `{module}` is declared in an included file that is not generated \
         (roots_only): give its Rust path with Builder::extern_module(\"{module}\", ...)"
    )]
    UnmappedModule {
        /// The IDL module.
        module: String,
    },
    /// Writing the output failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Generated code and the files it came from.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The Rust source: one `pub mod` per IDL module.
    pub code: String,
    /// Every IDL file read, includes too.
    pub files_read: Vec<PathBuf>,
}

/// Configures and runs the code generator.
///
/// ```no_run
/// // build.rs
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     tars_idlc::Builder::new()
///         .include_dir("idl")
///         .compile(&["idl/Hello.tars"])?;
///     Ok(())
/// }
/// // lib.rs: include!(concat!(env!("OUT_DIR"), "/tars_generated.rs"));
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    out_dir: Option<PathBuf>,
    file_name: String,
    include_dirs: Vec<PathBuf>,
    options: GenOptions,
    emit_rerun_if_changed: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// Defaults: output to `$OUT_DIR/tars_generated.rs`, print `cargo:rerun-if-changed`.
    pub fn new() -> Builder {
        Builder {
            out_dir: None,
            file_name: "tars_generated.rs".into(),
            include_dirs: Vec::new(),
            options: GenOptions::default(),
            emit_rerun_if_changed: true,
        }
    }

    /// Writes into `dir` instead of `$OUT_DIR`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.out_dir = Some(dir.into());
        self
    }

    /// Names the generated file (default `tars_generated.rs`).
    pub fn file_name(mut self, name: impl Into<String>) -> Builder {
        self.file_name = name.into();
        self
    }

    /// Adds a directory searched by `#include` (after the including file's own directory).
    pub fn include_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.include_dirs.push(dir.into());
        self
    }

    /// Uses types of IDL module `idl_module` from `rust_path` (e.g. another crate's generated
    /// module) instead of generating them. With [`roots_only`](Builder::roots_only) this
    /// applies to the module's declarations in included files only: what the root files
    /// declare is generated, even in a module that other files also declare.
    pub fn extern_module(
        mut self,
        idl_module: impl Into<String>,
        rust_path: impl Into<String>,
    ) -> Builder {
        self.options
            .extern_modules
            .push((idl_module.into(), rust_path.into()));
        self
    }

    /// Generates only the declarations of the files given to [`generate`](Builder::generate) /
    /// [`compile`](Builder::compile) (the roots), not those of the files they include. Types
    /// of included files are referred to through [`extern_module`](Builder::extern_module)
    /// paths; one is needed for every module they are referred to in
    /// ([`BuildError::UnmappedModule`] otherwise).
    ///
    /// This generates one Rust file per IDL file: compile `QueryF.tars` (which includes
    /// `EndpointF.tars`) with `.roots_only().extern_module("tars", "crate::protocol::tars")`,
    /// and `EndpointF.tars` on its own. When several files declare one IDL module, each output
    /// has its own `pub mod`; merge them with glob re-exports:
    ///
    /// ```ignore
    /// mod endpoint_f; // pub mod tars { pub struct EndpointF ... }
    /// mod query_f;    // pub mod tars { pub trait QueryF ... } (uses crate::protocol::tars::EndpointF)
    /// pub mod tars {
    ///     pub use super::endpoint_f::tars::*;
    ///     pub use super::query_f::tars::*;
    /// }
    /// ```
    pub fn roots_only(mut self) -> Builder {
        self.options.roots_only = true;
        self
    }

    /// Generates the types (structs, enums, consts) only, for users of the codec without the
    /// RPC runtime: the code refers to the `tars_codec` crate (a dependency on `tars-codec`
    /// is all it needs; its derive macros find it) instead of `tars`. Interfaces are left out;
    /// a comment at the top of the generated file lists them.
    ///
    /// ```no_run
    /// // build.rs of a crate whose [dependencies] has tars-codec (not tars)
    /// tars_idlc::Builder::new()
    ///     .codec_only()
    ///     .compile(&["idl/Types.tars"])
    ///     .unwrap_or_else(|e| panic!("{e}"));
    /// ```
    pub fn codec_only(mut self) -> Builder {
        self.options.codec_only = true;
        self
    }

    /// Whether to print `cargo:rerun-if-changed=` for every file read (default true).
    pub fn emit_rerun_if_changed(mut self, emit: bool) -> Builder {
        self.emit_rerun_if_changed = emit;
        self
    }

    /// Loads, checks and generates code for `files` without writing anything.
    pub fn generate(&self, files: &[impl AsRef<Path>]) -> Result<Generated, BuildError> {
        let mut session = Session::new();
        for dir in &self.include_dirs {
            session.include_dir(dir);
        }
        for f in files {
            session.load(f);
        }
        let files_read = session.files_read().to_vec();
        if self.emit_rerun_if_changed {
            for f in &files_read {
                println!("cargo:rerun-if-changed={}", f.display());
            }
        }
        let program = session.check().map_err(BuildError::Idl)?;
        let modules = codegen::lower::lower(&program);
        if let Some(module) = codegen::rust::unmapped_modules(&modules, &self.options)
            .into_iter()
            .next()
        {
            return Err(BuildError::UnmappedModule { module });
        }
        Ok(Generated {
            code: codegen::generate(&modules, &self.options),
            files_read,
        })
    }

    /// Generates code for `files` and writes it; returns the path written.
    pub fn compile(&self, files: &[impl AsRef<Path>]) -> Result<PathBuf, BuildError> {
        let dir = match &self.out_dir {
            Some(d) => d.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(BuildError::NoOutDir)?,
        };
        let generated = self.generate(files)?;
        let path = dir.join(&self.file_name);
        std::fs::create_dir_all(&dir).map_err(|source| BuildError::Io {
            path: dir.clone(),
            source,
        })?;
        // Only rewrite on change, so dependent crates are not rebuilt needlessly.
        if std::fs::read_to_string(&path).ok().as_deref() != Some(generated.code.as_str()) {
            std::fs::write(&path, &generated.code).map_err(|source| BuildError::Io {
                path: path.clone(),
                source,
            })?;
        }
        Ok(path)
    }
}
