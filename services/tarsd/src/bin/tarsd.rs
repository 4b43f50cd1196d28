//! `tarsd`: the tars-rs node — registry and transaction coordinator in one process with
//! embedded storage. Prints `READY registry=<port> coordinator=<port>` once listening;
//! SIGINT/SIGTERM shut it down cleanly.
//!
//! `cargo run -p tarsd -- --data-dir /tmp/tars`

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tarsd::{Node, NodeConfig};

#[derive(Parser)]
#[command(about = "tars-rs node: registry + transaction coordinator with embedded storage")]
struct Args {
    /// TOML configuration file (see tarsd.example.toml); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory for both services' data.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Listening host of both services.
    #[arg(long)]
    host: Option<String>,
    /// Registry port (0 picks a free one).
    #[arg(long)]
    registry_port: Option<u16>,
    /// Coordinator port (0 picks a free one).
    #[arg(long)]
    coordinator_port: Option<u16>,
    /// The coordinator fragment this node leads.
    #[arg(long)]
    fragment: Option<u32>,
    /// Run for this many seconds, then shut down (default: until a signal).
    #[arg(long)]
    seconds: Option<u64>,
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
            NodeConfig::from_toml(&text).with_context(|| format!("parsing {}", path.display()))?
        }
        None => NodeConfig::default(),
    };
    if let Some(d) = args.data_dir {
        config.data_dir = Some(d);
    }
    if let Some(h) = args.host {
        config.host = Some(h);
    }
    if let Some(p) = args.registry_port {
        config.registry.port = p;
    }
    if let Some(p) = args.coordinator_port {
        config.coordinator.port = p;
    }
    if let Some(f) = args.fragment {
        config.coordinator.fragment = f;
    }
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .context("installing the signal handler")?;
    let node = Node::start(&config).context("starting tarsd")?;
    let port = |a: Option<std::net::SocketAddr>| a.map(|a| a.port()).unwrap_or_default();
    let (registry, coordinator) = (port(node.registry_addr()), port(node.coordinator_addr()));
    println!("READY registry={registry} coordinator={coordinator}");
    tracing::info!(
        registry,
        coordinator,
        epoch = node.coordinator().epoch(),
        open_transactions = node.coordinator().core().len(),
        instances = node.registry().registry().len(),
        "tarsd listening"
    );
    match args.seconds {
        Some(s) => {
            let _ = stop_rx.recv_timeout(std::time::Duration::from_secs(s));
        }
        None => {
            let _ = stop_rx.recv();
        }
    }
    tracing::info!("shutting down");
    node.shutdown();
    tracing::info!("stopped");
    Ok(())
}
