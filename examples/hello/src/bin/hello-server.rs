//! Serves `Demo.HelloServer.HelloObj`. Prints `READY <port>`; stops when stdin closes or
//! after `--seconds`.
//!
//! `cargo run -p tars-example-hello --bin hello-server -- --port 18601`

use std::io::Read;
use std::sync::Arc;

use clap::Parser;
use tars::server::{AdapterConfig, AdminServant, Endpoint, Servants, Server, ServerConfig};
use tars_example_hello::{Demo, HelloImpl, OBJ};

#[derive(Parser)]
struct Args {
    /// Port (0 picks one).
    #[arg(long, default_value_t = 18601)]
    port: u16,
    /// Stop after this many seconds (0: when stdin closes).
    #[arg(long, default_value_t = 0)]
    seconds: u64,
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
    let server = Server::start(ServerConfig::default(), vec![adapter])?;
    let port = server
        .local_addr("Demo.HelloServer.HelloObjAdapter")
        .map(|a| a.port())
        .unwrap_or_default();
    println!("READY {port}");
    if args.seconds > 0 {
        std::thread::sleep(std::time::Duration::from_secs(args.seconds));
    } else {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    }
    server.shutdown();
    Ok(())
}
