//! Serves `Test.HelloServer.HelloObj` (idl/Hello.tars, reference implementation) on our
//! runtime, for load tests and manual interop. Prints `READY <port>` once listening and runs
//! until stdin closes or `--seconds` elapse. With `--registry` it registers itself there and
//! heartbeats (deregistering when it stops). With `--udp-port P` it also serves the same
//! servant on `udp -h 127.0.0.1 -p P` and prints `READY <port> udp=<udp port>`. With
//! `--tls-cert C --tls-key K` its endpoint is `ssl` (TLS; `--tls-client-ca` asks clients for
//! certificates). With `--auth-key AK:SK` (repeatable) its endpoint says `-e 1`: every
//! connection must first authenticate with one of those keys (TarsCpp local authentication);
//! it combines with TLS.
//!
//! `cargo run --release -p tars-conformance --bin interop-server -- --port 18601 --udp-port 18601`

use std::io::Read;
use std::time::Duration;

use clap::Parser;
use std::sync::atomic::{AtomicU64, Ordering};
use tars::protocol::tarsrs::StaticMeta;
use tars::registration::RegistrationConfig;
use tars::server::{Server, ServerConfig};
use tars_conformance::hello::{hello_adapter, udp_twin, HELLO_ADAPTER, HELLO_UDP_ADAPTER};

#[derive(Parser)]
struct Args {
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Also serve over UDP on this port (0 picks a free one).
    #[arg(long)]
    udp_port: Option<u16>,
    /// Network threads.
    #[arg(long, default_value_t = 1)]
    net_threads: usize,
    /// Business threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Stop after this many seconds (0: run until stdin closes).
    #[arg(long, default_value_t = 0)]
    seconds: u64,
    /// Register with this registry object (`tars.tarsregistry.RegistryObj@tcp -h .. -p ..`)
    /// and heartbeat while running.
    #[arg(long)]
    registry: Option<String>,
    /// Region published with the registration.
    #[arg(long, default_value = "")]
    region: String,
    /// SET id (`name.area.group`) published with the registration.
    #[arg(long, default_value = "")]
    set: String,
    /// Heartbeat interval in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    heartbeat_ms: u64,
    /// Serve over TLS (an `ssl` endpoint) with this certificate chain (PEM).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The TLS certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Require client certificates issued by these CAs (PEM): mutual TLS.
    #[arg(long, requires = "tls_cert")]
    tls_client_ca: Option<std::path::PathBuf>,
    /// Require TarsCpp local authentication (`-e 1`) with this access key and secret key
    /// (`ACCESS:SECRET`); repeat for more keys.
    #[arg(long, value_name = "AK:SK", value_parser = parse_auth_key)]
    auth_key: Vec<(String, String)>,
    /// Record call statistics of every served request (tars::stat) and report them every
    /// `--stat-interval-ms` to a counting StatF servant this process hosts on its own port
    /// (for measuring the cost of statistics: bench/compare-rpc.sh).
    #[arg(long)]
    stat: bool,
    /// Reporting period of `--stat`, in milliseconds.
    #[arg(long, default_value_t = 1_000)]
    stat_interval_ms: u64,
}

/// `ACCESS:SECRET` as (access key, secret key); the access key is up to the first `:`.
fn parse_auth_key(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((ak, sk)) if !ak.is_empty() && !sk.is_empty() => Ok((ak.into(), sk.into())),
        _ => Err("expected ACCESS_KEY:SECRET_KEY".into()),
    }
}

/// A stat service that only counts what it receives.
#[derive(Default)]
struct CountingStat {
    heads: AtomicU64,
}

impl tars::protocol::tars::StatF for CountingStat {
    fn report_mic_msg(
        &self,
        _current: &mut tars::server::Current,
        msg: std::collections::BTreeMap<
            tars::protocol::tars::StatMicMsgHead,
            tars::protocol::tars::StatMicMsgBody,
        >,
        _from_client: bool,
    ) -> Result<i32, tars::server::ServantError> {
        self.heads.fetch_add(msg.len() as u64, Ordering::Relaxed);
        Ok(0)
    }

    fn report_sample_msg(
        &self,
        _current: &mut tars::server::Current,
        _msg: Vec<tars::protocol::tars::StatSampleMsg>,
    ) -> Result<i32, tars::server::ServantError> {
        Ok(0)
    }
}

/// Starts the counting stat service and a reporter sending to it; both live as long as the
/// returned values.
fn stat_reporting(
    interval_ms: u64,
) -> anyhow::Result<(Server, std::sync::Arc<tars::stat::StatReporter>)> {
    use tars::server::{AdapterConfig, Endpoint, Servants};
    let mut servants = Servants::new();
    servants.add(
        "tars.tarsstat.StatObj",
        std::sync::Arc::new(tars::protocol::tars::StatFServant::new(
            CountingStat::default(),
        )),
    );
    let adapter = AdapterConfig::new(
        "StatAdapter",
        Endpoint::tcp("127.0.0.1", 0),
        std::sync::Arc::new(servants),
    );
    let server = Server::start(ServerConfig::default(), vec![adapter])?;
    let port = server
        .local_addr("StatAdapter")
        .map(|a| a.port())
        .ok_or_else(|| anyhow::anyhow!("the stat adapter has no address"))?;
    let config = tars::stat::StatConfig {
        stat_obj: format!("tars.tarsstat.StatObj@tcp -h 127.0.0.1 -p {port} -t 5000"),
        report_interval_ms: interval_ms,
        ..tars::stat::StatConfig::new("Test.HelloServer")
    };
    let reporter = tars::client::Communicator::new()
        .with_stat_report(config)
        .stat_reporter()?
        .ok_or_else(|| anyhow::anyhow!("statistics not configured"))?;
    Ok((server, reporter))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut adapter = hello_adapter(args.port, args.threads);
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let tls = tars::tls::ServerTls::from_pem_files(cert, key, args.tls_client_ca.as_deref())?;
        adapter.endpoint.protocol = "ssl".into();
        adapter.tls = Some(std::sync::Arc::new(tls));
    }
    if !args.auth_key.is_empty() {
        adapter.endpoint.auth_type = 1;
        adapter.auth_keys = args.auth_key.iter().cloned().collect();
    }
    let announcer = args.registry.map(|registry| {
        RegistrationConfig::new(registry)
            .with_heartbeat_interval(Duration::from_millis(args.heartbeat_ms))
            .with_set_id(args.set)
            .with_meta(StaticMeta {
                region: args.region.into(),
                ..StaticMeta::default()
            })
            .into()
    });
    let stat = if args.stat {
        Some(stat_reporting(args.stat_interval_ms)?)
    } else {
        None
    };
    let config = ServerConfig {
        net_threads: args.net_threads,
        announcer,
        stats: stat.as_ref().map(|(_, reporter)| reporter.clone()),
        ..Default::default()
    };
    let mut adapters = Vec::new();
    if let Some(udp_port) = args.udp_port {
        adapters.push(udp_twin(&adapter, udp_port));
    }
    adapters.insert(0, adapter);
    let server = Server::start(config, adapters)?;
    let port = server
        .local_addr(HELLO_ADAPTER)
        .map(|a| a.port())
        .unwrap_or_default();
    match server.local_addr(HELLO_UDP_ADAPTER) {
        Some(udp) => println!("READY {port} udp={}", udp.port()),
        None => println!("READY {port}"),
    }
    if args.seconds > 0 {
        std::thread::sleep(Duration::from_secs(args.seconds));
    } else {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    }
    server.shutdown();
    drop(stat);
    Ok(())
}
