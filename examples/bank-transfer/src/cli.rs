//! Command-line pieces the binaries share.

use std::time::Duration;

use crate::transfer::Plan;

/// The transfers to run and the faults to inject ("every K" counts transfers from 1; 0 is
/// never).
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Number of transfers.
    #[arg(long, default_value_t = 100)]
    pub transfers: usize,
    /// Transfers run at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Amounts are 1..=this.
    #[arg(long, default_value_t = 100)]
    pub max_amount: i64,
    /// Every K-th transfer's tryCredit reserves, then fails (the rollback cancels both sides).
    #[arg(long, default_value_t = 0)]
    pub fail_credit_every: usize,
    /// Every K-th transfer's TM fails after both tries (it rolls back).
    #[arg(long, default_value_t = 0)]
    pub crash_tm_every: usize,
    /// Every K-th transfer's confirms answer RetryLater once (the coordinator retries).
    #[arg(long, default_value_t = 0)]
    pub fail_confirm_every: usize,
    /// Every K-th transfer's tryDebit arrives after its transaction timed out and was
    /// cancelled (empty rollback; the late try is refused).
    #[arg(long, default_value_t = 0)]
    pub late_try_every: usize,
    /// How long a late tryDebit waits, in ms: longer than its transaction's timeout (200 ms)
    /// plus the coordinator's timeout check period (`timeout_check_ms`, 1000 by default).
    #[arg(long, default_value_t = 2500)]
    pub late_try_delay_ms: u64,
    /// Seconds to wait for phase two to settle.
    #[arg(long, default_value_t = 30)]
    pub settle_seconds: u64,
}

impl PlanArgs {
    /// The plan.
    pub fn plan(&self) -> Plan {
        Plan {
            transfers: self.transfers,
            concurrency: self.concurrency,
            max_amount: self.max_amount,
            fail_credit_every: self.fail_credit_every,
            crash_tm_every: self.crash_tm_every,
            fail_confirm_every: self.fail_confirm_every,
            late_try_every: self.late_try_every,
            late_try_delay: Duration::from_millis(self.late_try_delay_ms),
            settle_timeout: Duration::from_secs(self.settle_seconds),
            ..Plan::default()
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `warn`).
pub fn init_logging() {
    tars_bootstrap::init_tracing("warn");
}
