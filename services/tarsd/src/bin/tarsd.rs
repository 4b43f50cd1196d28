//! `tarsd`: the tars-rs node — registry and transaction coordinator in one process with
//! embedded storage, or (feature `cluster`) one node of a cluster kept in etcd. Prints
//! `READY registry=<port> coordinator=<port>` (and ` seata=<port>` with `--seata-port`) once
//! listening; SIGINT/SIGTERM shut it down cleanly.
//!
//! - `cargo run -p tarsd -- --data-dir /tmp/tars`
//! - `tarsd --cluster etcd=http://127.0.0.1:2379 --node-id n1 --advertise 127.0.0.1`
//! - `tarsd cluster status --cluster etcd=http://127.0.0.1:2379`

use clap::{Parser, Subcommand};
use tars_bootstrap::CommonArgs;
use tarsd::{ClusterSection, Node, NodeConfig};

#[derive(Parser)]
#[command(
    about = "tars-rs node: registry + transaction coordinator (embedded storage, or a cluster on etcd)"
)]
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
    /// Port of the Seata v1 front end for Seata TM/RM clients (0 picks a free one; off when
    /// neither this nor `[seata] port` is set).
    #[arg(long)]
    seata_port: Option<u16>,
    /// The coordinator fragment this node leads (embedded mode).
    #[arg(long)]
    fragment: Option<u32>,
    /// Begin a new coordinator store although this data directory ran one before and its
    /// database is missing or empty (without it tarsd refuses to start then); XIDs continue
    /// after the epoch recorded beside the database.
    #[arg(long)]
    init: bool,
    /// Serve callers without authentication on an address other than loopback (tarsd
    /// refuses to listen there otherwise).
    #[arg(long)]
    allow_anonymous: bool,
    /// Cluster mode: `etcd=URL[,URL...]` (the etcd members' client URLs).
    #[arg(long, global = true)]
    cluster: Option<String>,
    /// This node's id in the cluster.
    #[arg(long)]
    node_id: Option<String>,
    /// The host other nodes and clients reach this node on.
    #[arg(long)]
    advertise: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Cluster administration.
    Cluster {
        #[command(subcommand)]
        what: ClusterCommand,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Prints nodes, fragments (leader, standbys, epoch, open transactions) and the scheduler.
    Status {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// The etcd URLs of `--cluster etcd=URL[,URL...]`.
fn etcd_urls(flag: &str) -> anyhow::Result<Vec<String>> {
    let urls = flag
        .strip_prefix("etcd=")
        .ok_or_else(|| anyhow::anyhow!("--cluster {flag:?}: expected etcd=URL[,URL...]"))?;
    let urls: Vec<String> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(!urls.is_empty(), "--cluster {flag:?}: no etcd URL");
    Ok(urls)
}

/// The `[cluster]` section with `--cluster`, `--node-id` and `--advertise` applied.
fn cluster_section(
    config: Option<ClusterSection>,
    etcd: Option<Vec<String>>,
    node_id: Option<String>,
    advertise: Option<String>,
) -> Option<ClusterSection> {
    let mut section = match (config, &etcd) {
        (None, None) => return None,
        (Some(s), _) => s,
        (None, Some(_)) => ClusterSection::default(),
    };
    if let Some(urls) = etcd {
        section.etcd = urls;
    }
    if let Some(id) = node_id {
        section.node_id = id;
    }
    if let Some(a) = advertise {
        section.advertise = a;
    }
    Some(section)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let common = args.common;
    let etcd = args.cluster.as_deref().map(etcd_urls).transpose()?;
    if let Some(Command::Cluster {
        what: ClusterCommand::Status { json },
    }) = args.command
    {
        let file = match &common.config {
            Some(path) => NodeConfig::from_toml(&std::fs::read_to_string(path)?)?,
            None => NodeConfig::default(),
        };
        let section = cluster_section(file.cluster, etcd, None, None)
            .ok_or_else(|| anyhow::anyhow!("where is etcd? give --cluster etcd=URL[,URL...]"))?;
        status(&section, json)?;
        return Ok(());
    }
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
        if let Some(p) = args.seata_port {
            config.seata.port = Some(p);
        }
        if let Some(f) = args.fragment {
            config.coordinator.fragment = f;
        }
        if args.init {
            config.coordinator.init = true;
        }
        if args.allow_anonymous {
            config.allow_anonymous = true;
        }
        config.cluster = cluster_section(
            config.cluster.take(),
            etcd,
            args.node_id.clone(),
            args.advertise.clone(),
        );
    })?;
    Ok(())
}

#[cfg(feature = "cluster")]
fn status(section: &ClusterSection, json: bool) -> anyhow::Result<()> {
    println!("{}", tarsd::cluster::status(section, json)?);
    Ok(())
}

#[cfg(not(feature = "cluster"))]
fn status(_: &ClusterSection, _: bool) -> anyhow::Result<()> {
    anyhow::bail!(
        "this tarsd was built without cluster mode: `cargo build --release -p tarsd --features cluster` (needs protoc)"
    )
}
