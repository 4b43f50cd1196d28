//! `tars-registry`: the registry alone (QueryObj + RegistryObj on one port, registrations in
//! an embedded database). Prints `READY <port>` once listening; SIGINT/SIGTERM shut it down
//! gracefully.
//!
//! `cargo run -p tars-registry -- --data-dir /tmp/registry --port 17890`

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tars_registry::service::ADAPTER;
use tars_registry::{RegistryConfig, RegistryService};

#[derive(Parser)]
#[command(about = "tars-rs registry: QueryF naming service with instance metadata")]
struct Args {
    /// TOML configuration file (fields of RegistryConfig); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory of the registration database.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Listening host.
    #[arg(long)]
    host: Option<String>,
    /// Listening port (0 picks a free one).
    #[arg(long)]
    port: Option<u16>,
    /// Heartbeat timeout in milliseconds.
    #[arg(long)]
    heartbeat_timeout_ms: Option<u64>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str::<RegistryConfig>(&text)
                .with_context(|| format!("parsing {}", path.display()))?
        }
        None => RegistryConfig::default(),
    };
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    if let Some(h) = args.host {
        config.host = h;
    }
    if let Some(p) = args.port {
        config.port = p;
    }
    if let Some(t) = args.heartbeat_timeout_ms {
        config.heartbeat_timeout_ms = t;
    }
    let service = RegistryService::open(config.clone())
        .with_context(|| format!("opening the registry in {}", config.data_dir.display()))?;
    tracing::info!(instances = service.registry().len(), "registry opened");
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .context("installing the signal handler")?;
    let server = service.start().context("starting the registry server")?;
    let port = server
        .local_addr(ADAPTER)
        .map(|a| a.port())
        .unwrap_or_default();
    println!("READY {port}");
    tracing::info!(port, "registry listening");
    let _ = stop_rx.recv();
    tracing::info!("shutting down");
    server.shutdown();
    Ok(())
}
