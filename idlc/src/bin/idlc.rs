//! `idlc`: the Tars IDL compiler command line.
//!
//! - `idlc check [-I DIR]... FILE...` — load and check, print diagnostics.
//! - `idlc gen [-I DIR]... [-o FILE] [--extern MODULE=PATH]... [--roots-only] [--codec-only]
//!   FILE...` — generate Rust (stdout or FILE).
//! - `idlc encode --idl FILE --type Mod::Struct [JSON]` — JSON (argument or stdin) to hex.
//! - `idlc decode --idl FILE --type Mod::Struct [HEX]` — hex (argument or stdin) to JSON.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use clap::{Parser, Subcommand};
use tars_idlc::dynamic::Schema;
use tars_idlc::Builder;

#[derive(Parser)]
#[command(
    name = "idlc",
    version,
    about = "Tars IDL compiler: check, generate Rust, inspect bytes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load and check IDL files; print diagnostics.
    Check {
        /// Include directories.
        #[arg(short = 'I', long = "include")]
        include: Vec<PathBuf>,
        /// IDL files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Generate Rust code.
    Gen {
        /// Include directories.
        #[arg(short = 'I', long = "include")]
        include: Vec<PathBuf>,
        /// Output file (default: stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Use an IDL module from another crate: MODULE=RUST_PATH.
        #[arg(long = "extern", value_name = "MODULE=PATH")]
        externs: Vec<String>,
        /// Generate only what the given files declare, not their includes (map the included
        /// files' modules with --extern).
        #[arg(long)]
        roots_only: bool,
        /// Types only, referring to the tars_codec crate; interfaces are left out.
        #[arg(long)]
        codec_only: bool,
        /// IDL files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Encode a JSON value of a struct type to hex.
    Encode {
        /// IDL file declaring the type.
        #[arg(long)]
        idl: PathBuf,
        /// Include directories.
        #[arg(short = 'I', long = "include")]
        include: Vec<PathBuf>,
        /// The struct type, `Module::Name` or `Module.Name`.
        #[arg(long = "type")]
        ty: String,
        /// The JSON value (default: read stdin).
        json: Option<String>,
    },
    /// Decode hex bytes of a struct type to JSON.
    Decode {
        /// IDL file declaring the type.
        #[arg(long)]
        idl: PathBuf,
        /// Include directories.
        #[arg(short = 'I', long = "include")]
        include: Vec<PathBuf>,
        /// The struct type, `Module::Name` or `Module.Name`.
        #[arg(long = "type")]
        ty: String,
        /// Hex bytes; whitespace is ignored (default: read stdin).
        hex: Option<String>,
    },
}

fn stdin_or(arg: Option<String>) -> anyhow::Result<String> {
    match arg {
        Some(s) => Ok(s),
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading stdin")?;
            Ok(s)
        }
    }
}

fn load(
    idl: &PathBuf,
    include: &[PathBuf],
) -> anyhow::Result<Vec<tars_idlc::codegen::ir::RModule>> {
    let program = tars_idlc::load(idl, include).map_err(|d| anyhow!("{d}"))?;
    Ok(tars_idlc::codegen::lower::lower(&program))
}

fn builder(include: Vec<PathBuf>) -> Builder {
    include.into_iter().fold(
        Builder::new().emit_rerun_if_changed(false),
        Builder::include_dir,
    )
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Check { include, files } => {
            let generated = builder(include)
                .generate(&files)
                .map_err(|e| anyhow!("{e}"))?;
            eprintln!("ok: {} file(s) checked", generated.files_read.len());
        }
        Command::Gen {
            include,
            output,
            externs,
            roots_only,
            codec_only,
            files,
        } => {
            let mut builder = Builder::new().emit_rerun_if_changed(false);
            if roots_only {
                builder = builder.roots_only();
            }
            if codec_only {
                builder = builder.codec_only();
            }
            for dir in include {
                builder = builder.include_dir(dir);
            }
            for e in externs {
                let (m, p) = e
                    .split_once('=')
                    .ok_or_else(|| anyhow!("--extern takes MODULE=PATH, got {e:?}"))?;
                builder = builder.extern_module(m, p);
            }
            let generated = builder.generate(&files).map_err(|e| anyhow!("{e}"))?;
            match output {
                Some(path) => std::fs::write(&path, generated.code)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{}", generated.code),
            }
        }
        Command::Encode {
            idl,
            include,
            ty,
            json,
        } => {
            let modules = load(&idl, &include)?;
            let schema = Schema::new(&modules);
            let ty = schema.struct_type(&ty)?;
            let value: serde_json::Value =
                serde_json::from_str(&stdin_or(json)?).context("input is not JSON")?;
            let bytes = schema.encode_struct(&ty, &value)?;
            println!("{}", hex::encode(bytes));
        }
        Command::Decode {
            idl,
            include,
            ty,
            hex: input,
        } => {
            let modules = load(&idl, &include)?;
            let schema = Schema::new(&modules);
            let ty = schema.struct_type(&ty)?;
            let text: String = stdin_or(input)?.split_whitespace().collect();
            let bytes = hex::decode(text.trim()).context("input is not hex")?;
            let value = schema.decode_struct(&ty, &bytes)?;
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
