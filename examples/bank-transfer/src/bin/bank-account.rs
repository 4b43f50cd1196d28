//! One account service of the bank-transfer example: hosts `Bank.Account<NAME>.AccountObj`
//! and `Bank.Account<NAME>.ParticipantObj`, registers both with the registry, and serves until
//! SIGINT/SIGTERM (then deregisters). Prints `READY <port>` once listening. Balances are kept
//! in memory.
//!
//! `cargo run -p tars-example-bank-transfer --bin bank-account -- --name A`

use std::sync::mpsc;

use anyhow::Context;
use clap::Parser;
use tars::server::ShutdownSignals;
use tars_example_bank_transfer::account::{AccountConfig, AccountServer};
use tars_example_bank_transfer::cli::init_logging;

#[derive(Parser)]
#[command(about = "bank-transfer account service (TCC participant)")]
struct Args {
    /// The account's name: A or B.
    #[arg(long)]
    name: String,
    /// Money it starts with.
    #[arg(long, default_value_t = 1_000_000)]
    balance: i64,
    /// The registry to register with.
    #[arg(
        long,
        default_value = "tars.tarsregistry.RegistryObj@tcp -h 127.0.0.1 -p 17890"
    )]
    registry: String,
    /// The coordinator.
    #[arg(
        long,
        default_value = "tars.tarscoordinator.CoordinatorObj@tcp -h 127.0.0.1 -p 17891"
    )]
    coordinator: String,
    /// Listening host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Listening port (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

fn main() -> anyhow::Result<()> {
    init_logging();
    let args = Args::parse();
    let mut config = AccountConfig::new(args.name, args.balance, args.registry, args.coordinator);
    config.host = args.host;
    config.port = args.port;
    let (stop_tx, stop_rx) = mpsc::channel();
    let _signals = ShutdownSignals::install(move |_| {
        let _ = stop_tx.send(());
    })
    .context("catching SIGTERM / SIGINT")?;
    let server = AccountServer::start(&config)?;
    println!("READY {}", server.addr().port());
    let _ = stop_rx.recv();
    let b = server.ledger().balance();
    eprintln!(
        "account {}: balance {}, frozen {}, incoming {}",
        config.name, b.balance, b.frozen, b.incoming
    );
    server.shutdown();
    Ok(())
}
