//! The whole bank-transfer example in one process: a `tarsd` node (temporary data directory,
//! free ports), accounts A and B registered with it, and transfers with injected failures.
//! Prints a summary; exits non-zero if an invariant broke.
//!
//! `cargo run -p tars-example-bank-transfer --bin bank-demo -- --transfers 200`

use clap::Parser;
use tars_example_bank_transfer::demo::{run_demo, DemoConfig};

#[derive(Parser)]
#[command(about = "bank-transfer demo: tarsd + two TCC accounts + a TM, in one process")]
struct Args {
    /// Number of transfers.
    #[arg(long, default_value_t = 200)]
    transfers: usize,
    /// Transfers run at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Every K-th transfer's tryCredit reserves, then fails.
    #[arg(long, default_value_t = 7)]
    fail_credit_every: usize,
    /// Every K-th transfer's TM fails after both tries.
    #[arg(long, default_value_t = 11)]
    crash_tm_every: usize,
    /// Every K-th transfer's confirms answer RetryLater once.
    #[arg(long, default_value_t = 5)]
    fail_confirm_every: usize,
    /// Every K-th transfer's tryDebit arrives after its transaction was cancelled.
    #[arg(long, default_value_t = 100)]
    late_try_every: usize,
    /// Seconds to wait for phase two to settle.
    #[arg(long, default_value_t = 30)]
    settle_seconds: u64,
    /// Money each account starts with.
    #[arg(long, default_value_t = 1_000_000)]
    initial_balance: i64,
}

fn main() -> anyhow::Result<()> {
    tars_example_bank_transfer::cli::init_logging();
    let args = Args::parse();
    let mut config = DemoConfig {
        initial_balance: args.initial_balance,
        ..DemoConfig::default()
    };
    let plan = &mut config.plan;
    plan.transfers = args.transfers;
    plan.concurrency = args.concurrency;
    plan.fail_credit_every = args.fail_credit_every;
    plan.crash_tm_every = args.crash_tm_every;
    plan.fail_confirm_every = args.fail_confirm_every;
    plan.late_try_every = args.late_try_every;
    plan.settle_timeout = std::time::Duration::from_secs(args.settle_seconds);
    let summary = run_demo(&config)?;
    println!("{summary}");
    if !summary.is_ok() {
        std::process::exit(1);
    }
    Ok(())
}
