//! The glue of a service program: logs, configuration file, command line, READY line, and a
//! graceful shutdown on SIGTERM / SIGINT.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tars::server::ShutdownSignals;

/// Logs to stderr, filtered by `RUST_LOG` (`default_filter` when unset or invalid). Does
/// nothing if a global subscriber is already set.
pub fn init_tracing(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Why a configuration file was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a valid configuration.
    #[error("parsing {}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The error (line, column, unknown or mistyped key).
        source: toml::de::Error,
    },
}

/// Parses a TOML configuration.
pub fn parse_config<C: DeserializeOwned>(text: &str) -> Result<C, toml::de::Error> {
    toml::from_str(text)
}

/// The configuration in the TOML file at `path`, or the defaults without one.
pub fn load_config<C: DeserializeOwned + Default>(path: Option<&Path>) -> Result<C, ConfigError> {
    let Some(path) = path else {
        return Ok(C::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_config(&text).map_err(|source| ConfigError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

/// The flags every service program has; `#[command(flatten)]` them into its own. `--config`
/// and `--seconds` are handled by [`run`]; the program's overrides apply `--data-dir` and
/// `--host` to its configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct CommonArgs {
    /// TOML configuration file; the other flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run this many seconds, then shut down (default: until SIGTERM / SIGINT).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Directory of the service's data.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Listening host.
    #[arg(long)]
    pub host: Option<String>,
}

/// A service program that [`run`] starts, announces and stops.
pub trait Program: Sized {
    /// Its name, for logs and errors.
    const NAME: &'static str;
    /// Its configuration (TOML; every field optional).
    type Config: DeserializeOwned + Default;
    /// Why it did not start.
    type Error: Into<Box<dyn std::error::Error + Send + Sync>>;

    /// Opens what it needs and starts serving.
    fn start(config: Self::Config) -> Result<Self, Self::Error>;

    /// The line printed on stdout once it serves (`READY ...`), which scripts and tests wait
    /// for.
    fn ready_line(&self) -> String;

    /// Stops gracefully (stop accepting, answer what is in flight, deregister, write out).
    fn shutdown(self);
}

/// Why [`run`] failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The configuration file.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The program did not start.
    #[error("starting {program}: {source}")]
    Start {
        /// [`Program::NAME`].
        program: &'static str,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// SIGTERM / SIGINT could not be caught.
    #[error("cannot catch SIGTERM / SIGINT: {0}")]
    Signals(std::io::Error),
    /// The READY line could not be written (the program was shut down).
    #[error("writing the READY line: {0}")]
    Ready(std::io::Error),
}

/// Runs program `P`: logs to stderr ([`init_tracing`], `info` by default), loads
/// `--config` (or the defaults), lets `overrides` apply the other flags, starts it, prints its
/// [`Program::ready_line`], serves until SIGTERM / SIGINT (or `--seconds`), then shuts it down
/// gracefully and returns. A second signal during the shutdown ends the process at once.
pub fn run<P: Program>(
    common: &CommonArgs,
    overrides: impl FnOnce(&mut P::Config),
) -> Result<(), BootstrapError> {
    init_tracing("info");
    let mut config: P::Config = load_config(common.config.as_deref())?;
    overrides(&mut config);
    // Caught before starting, so a signal during the start is not lost.
    let (tx, rx) = std::sync::mpsc::channel();
    let signals = ShutdownSignals::install(move |signal| {
        let _ = tx.send(signal);
    })
    .map_err(BootstrapError::Signals)?;
    let program = P::start(config).map_err(|e| BootstrapError::Start {
        program: P::NAME,
        source: e.into(),
    })?;
    let ready = {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", program.ready_line()).and_then(|()| out.flush())
    };
    if let Err(e) = ready {
        program.shutdown();
        return Err(BootstrapError::Ready(e));
    }
    tracing::info!(program = P::NAME, "serving");
    let signal = match common.seconds {
        Some(s) => rx.recv_timeout(Duration::from_secs(s)).ok(),
        None => rx.recv().ok(),
    };
    match signal {
        Some(signal) => tracing::info!(%signal, "shutting down"),
        None => tracing::info!("run time over; shutting down"),
    }
    program.shutdown();
    drop(signals);
    tracing::info!(program = P::NAME, "stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Config {
        port: u16,
        name: String,
    }

    #[test]
    fn config_files_load_or_say_what_is_wrong() {
        assert_eq!(
            load_config::<Config>(None).expect("defaults"),
            Config::default()
        );
        let dir = tempfile::tempdir().expect("dir");
        let good = dir.path().join("good.toml");
        std::fs::write(&good, "port = 7\nname = \"x\"\n").expect("write");
        assert_eq!(
            load_config::<Config>(Some(&good)).expect("good"),
            Config {
                port: 7,
                name: "x".into()
            }
        );
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "prot = 7\n").expect("write");
        let e = load_config::<Config>(Some(&bad)).expect_err("unknown key");
        assert!(matches!(e, ConfigError::Parse { .. }), "{e}");
        assert!(e.to_string().contains("bad.toml"), "{e}");
        let missing = dir.path().join("missing.toml");
        let e = load_config::<Config>(Some(&missing)).expect_err("missing");
        assert!(matches!(e, ConfigError::Read { .. }), "{e}");
    }
}
