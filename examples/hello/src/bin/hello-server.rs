//! Serves `Demo.HelloServer.HelloObj`. Prints `READY <port>`, then serves until SIGINT (Ctrl-C)
//! or SIGTERM — or for `--seconds` — and shuts down gracefully: stops accepting, answers the
//! calls it has, and deregisters when `--registry` made it register.
//!
//! `cargo run -p tars-example-hello --bin hello-server -- --port 18601`

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tars::registration::RegistrationConfig;
use tars::server::{AdapterConfig, AdminServant, Endpoint, Servants, Server, ServerConfig};
use tars_example_hello::{Demo, HelloImpl, OBJ};

#[derive(Parser)]
struct Args {
    /// Port (0 picks one).
    #[arg(long, default_value_t = 18601)]
    port: u16,
    /// Stop after this many seconds (0: at SIGINT / SIGTERM only).
    #[arg(long, default_value_t = 0)]
    seconds: u64,
    /// Register with this registry, e.g.
    /// `tars.tarsregistry.RegistryObj@tcp -h 127.0.0.1 -p 17890`.
    #[arg(long)]
    registry: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut servants = Servants::new();
    servants.add(OBJ, Arc::new(Demo::HelloServant::new(HelloImpl::default())));
    servants.add(
        "Demo.HelloServer.AdminObj",
        Arc::new(AdminServant::new("Demo.HelloServer")),
    );
    let adapter = AdapterConfig::new(
        "Demo.HelloServer.HelloObjAdapter",
        Endpoint::tcp("127.0.0.1", args.port),
        Arc::new(servants),
    );
    let config = ServerConfig {
        announcer: args.registry.map(|r| RegistrationConfig::new(r).into()),
        ..ServerConfig::default()
    };
    let server = Server::start(config, vec![adapter])?;
    let port = server
        .local_addr("Demo.HelloServer.HelloObjAdapter")
        .map(|a| a.port())
        .unwrap_or_default();
    println!("READY {port}");
    if args.seconds > 0 {
        let stop = server.stop_handle();
        let seconds = Duration::from_secs(args.seconds);
        std::thread::spawn(move || {
            std::thread::sleep(seconds);
            stop.stop();
        });
    }
    server.run_until_signal()?;
    Ok(())
}
