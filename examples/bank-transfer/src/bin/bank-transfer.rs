//! The TM of the bank-transfer example: runs transfers from account A to account B against a
//! running `tarsd` and account services, with injected failures; prints a summary and exits
//! non-zero if an invariant broke (see the example's README).
//!
//! `cargo run -p tars-example-bank-transfer --bin bank-transfer -- --transfers 100 --fail-credit-every 7`

use clap::Parser;
use tars_example_bank_transfer::cli::{init_logging, PlanArgs};
use tars_example_bank_transfer::transfer::{self, BankClient};

#[derive(Parser)]
#[command(about = "bank-transfer TM: TCC transfers A -> B through the tarsd coordinator")]
struct Args {
    /// The registry the accounts registered with.
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
    #[command(flatten)]
    plan: PlanArgs,
}

fn main() -> anyhow::Result<()> {
    init_logging();
    let args = Args::parse();
    let client = BankClient::connect(&args.registry, &args.coordinator)?;
    client.wait_ready(std::time::Duration::from_secs(10))?;
    let summary = transfer::run(&client, &args.plan.plan())?;
    println!("{summary}");
    if !summary.is_ok() {
        std::process::exit(1);
    }
    Ok(())
}
