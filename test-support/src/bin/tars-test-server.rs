//! `tars-test-server`: an [`Echo`] servant on 127.0.0.1, registered with a registry when
//! `--registry` is given, served until SIGTERM / SIGINT by `Server::run_until_signal`. Prints
//! `READY <port>` once serving and `STOPPED` once the graceful shutdown is over; exits 0 then.
//!
//! `tars-test-server --registry "tars.tarsregistry.RegistryObj@tcp -h 127.0.0.1 -p 17890"`
//!
//! [`Echo`]: tars_test_support::Echo

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tars::registration::RegistrationConfig;
use tars::server::{Servants, ServerConfig};
use tars_test_support::serve_on;
use tars_test_support::Echo;

#[derive(Parser)]
#[command(about = "An Echo server that runs until SIGTERM / SIGINT")]
struct Args {
    /// The object name of the Echo servant.
    #[arg(long, default_value = "Test.LifecycleServer.EchoObj")]
    obj: String,
    /// Register with this registry object (`tars.tarsregistry.RegistryObj@tcp -h .. -p ..`).
    #[arg(long)]
    registry: Option<String>,
    /// Heartbeat interval in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    heartbeat_ms: u64,
    /// Business threads.
    #[arg(long, default_value_t = 4)]
    threads: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut servants = Servants::new();
    servants.add(&args.obj, Arc::new(Echo::default()));
    let config = ServerConfig {
        announcer: args.registry.map(|r| {
            RegistrationConfig::new(r)
                .with_heartbeat_interval(Duration::from_millis(args.heartbeat_ms))
                .into()
        }),
        ..ServerConfig::default()
    };
    let (server, port) = serve_on(0, servants, args.threads, config);
    println!("READY {port}");
    let _ = std::io::stdout().flush();
    match server.run_until_signal() {
        Ok(()) => {
            println!("STOPPED");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tars-test-server: {e}");
            ExitCode::from(2)
        }
    }
}
