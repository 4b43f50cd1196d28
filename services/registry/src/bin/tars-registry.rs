//! `tars-registry`: the registry alone (QueryObj + RegistryObj on one port, registrations in
//! an embedded database). Prints `READY <port>` once listening; SIGINT/SIGTERM shut it down
//! gracefully.
//!
//! `cargo run -p tars-registry -- --data-dir /tmp/registry --port 17890`

use anyhow::Context;
use clap::Parser;
use tars::server::Server;
use tars_bootstrap::{CommonArgs, Program};
use tars_registry::service::ADAPTER;
use tars_registry::{RegistryConfig, RegistryService};

#[derive(Parser)]
#[command(about = "tars-rs registry: QueryF naming service with instance metadata")]
struct Args {
    /// `--config` (TOML, fields of RegistryConfig; flags override it), `--seconds`,
    /// `--data-dir` (of the registration database), `--host`.
    #[command(flatten)]
    common: CommonArgs,
    /// Listening port (0 picks a free one).
    #[arg(long)]
    port: Option<u16>,
    /// Heartbeat timeout in milliseconds.
    #[arg(long)]
    heartbeat_timeout_ms: Option<u64>,
}

/// The registry serving.
struct Registry(Server);

impl Program for Registry {
    const NAME: &'static str = "tars-registry";
    type Config = RegistryConfig;
    type Error = anyhow::Error;

    fn start(config: RegistryConfig) -> anyhow::Result<Registry> {
        let dir = config.data_dir.clone();
        let service = RegistryService::open(config)
            .with_context(|| format!("opening the registry in {}", dir.display()))?;
        tracing::info!(instances = service.registry().len(), "registry opened");
        let server = service.start().context("starting the registry server")?;
        Ok(Registry(server))
    }

    fn ready_line(&self) -> String {
        let port = self.0.local_addr(ADAPTER).map(|a| a.port());
        format!("READY {}", port.unwrap_or_default())
    }

    fn shutdown(self) {
        self.0.shutdown();
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let common = args.common;
    tars_bootstrap::run::<Registry>(&common, |config| {
        if let Some(d) = common.data_dir.clone() {
            config.data_dir = d;
        }
        if let Some(h) = common.host.clone() {
            config.host = h;
        }
        if let Some(p) = args.port {
            config.port = p;
        }
        if let Some(t) = args.heartbeat_timeout_ms {
            config.heartbeat_timeout_ms = t;
        }
    })?;
    Ok(())
}
