//! `tarsd`: the tars-rs node — registry and transaction coordinator in one process with
//! embedded storage. Prints `READY registry=<port> coordinator=<port>` once listening;
//! SIGINT/SIGTERM shut it down cleanly.
//!
//! `cargo run -p tarsd -- --data-dir /tmp/tars`

use clap::Parser;
use tars_bootstrap::CommonArgs;
use tarsd::Node;

#[derive(Parser)]
#[command(about = "tars-rs node: registry + transaction coordinator with embedded storage")]
struct Args {
    /// `--config` (TOML, see tarsd.example.toml; flags override it), `--seconds` (run that
    /// long, then shut down; default: until a signal), `--data-dir` (for both services' data),
    /// `--host` (of both services).
    #[command(flatten)]
    common: CommonArgs,
    /// Registry port (0 picks a free one).
    #[arg(long)]
    registry_port: Option<u16>,
    /// Coordinator port (0 picks a free one).
    #[arg(long)]
    coordinator_port: Option<u16>,
    /// The coordinator fragment this node leads.
    #[arg(long)]
    fragment: Option<u32>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let common = args.common;
    tars_bootstrap::run::<Node>(&common, |config| {
        if let Some(d) = common.data_dir.clone() {
            config.data_dir = Some(d);
        }
        if let Some(h) = common.host.clone() {
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
    })?;
    Ok(())
}
