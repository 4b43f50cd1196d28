//! Phase two and the background work of the coordinator, on a small tokio runtime of its own:
//!
//! - [`PhaseTwoDriver::drive`] runs a transaction's phase two step by step — each step an
//!   asynchronous call to the branch's participant, so no thread waits for a participant — and
//!   hands the final status to a callback (the deferred reply to the TM).
//! - Retries: a transaction left in `CommitRetrying` / `RollbackRetrying` /
//!   `TimeoutRollbackRetrying` (or in any phase-two state nobody drives, as after a restart) is
//!   driven again by the retry task, with exponential backoff per transaction.
//! - Timeouts: undecided transactions past their timeout are rolled back (`TimeoutRollbacking`).
//! - Async commit: all-AT transactions the TM already saw committed get their branches
//!   committed (undo logs deleted) in the background.
//!
//! A transaction is driven by at most one task at a time. Whoever decides a transaction
//! [reserves](PhaseTwoDriver::reserve) it *before* the decision is made, so the background
//! tasks never drive a decision that is not durable yet.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tars_protocols::tarstx::{BranchStatus, GlobalStatus};

use crate::core::{phase_two_direction, Direction, TransactionCore};
use crate::participants::Participants;
use crate::store::TxStore;

/// Periods and limits of the background work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverConfig {
    /// How often transactions waiting for a retry are looked at; also the first backoff.
    pub retry_period: Duration,
    /// The longest wait between two retries of one transaction.
    pub max_backoff: Duration,
    /// How often undecided transactions are checked for their timeout.
    pub timeout_check_period: Duration,
    /// How often all-AT transactions are committed in the background.
    pub async_commit_period: Duration,
    /// Participant calls in flight at most.
    pub max_in_flight: usize,
    /// How long after its begin a commit may keep retrying before it ends as
    /// `CommitRetryTimeout` (`None`: forever).
    pub max_commit_retry: Option<Duration>,
    /// How long after its begin a rollback may keep retrying before it ends as
    /// `RollbackRetryTimeout`, its rows still locked (`None`: forever).
    pub max_rollback_retry: Option<Duration>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            retry_period: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            timeout_check_period: Duration::from_secs(1),
            async_commit_period: Duration::from_secs(1),
            max_in_flight: 1024,
            max_commit_retry: Some(DEFAULT_MAX_RETRY),
            max_rollback_retry: Some(DEFAULT_MAX_RETRY),
        }
    }
}

/// How long phase two is retried by default before it gives up: a day.
pub const DEFAULT_MAX_RETRY: Duration = Duration::from_secs(24 * 3600);

/// The retry schedule of one transaction ([`PhaseTwoDriver::retry_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryState {
    /// Phase-two runs that ended in a retry state since this start (or the last operator
    /// retry).
    pub attempts: u32,
    /// How long until the retry task drives it again (zero: due now).
    pub next_in: Duration,
}

/// Receives the status a transaction's phase two ended in (an end state, or a retry state).
pub type Done = Box<dyn FnOnce(GlobalStatus) + Send>;

#[derive(Debug, Clone, Copy)]
struct Backoff {
    attempts: u32,
    next: Instant,
}

struct Inner {
    core: Arc<TransactionCore>,
    store: Arc<dyn TxStore>,
    participants: Participants,
    config: DriverConfig,
    /// Transactions being driven (or reserved), each with whoever waits for its outcome.
    driving: Mutex<HashMap<String, Vec<Done>>>,
    backoff: Mutex<HashMap<String, Backoff>>,
    permits: Arc<tokio::sync::Semaphore>,
    handle: tokio::runtime::Handle,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("config", &self.config)
            .field("driving", &self.driving.lock().len())
            .finish_non_exhaustive()
    }
}

/// Drives phase two and runs the background tasks (see the module docs).
#[derive(Debug)]
pub struct PhaseTwoDriver {
    inner: Arc<Inner>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
}

impl PhaseTwoDriver {
    /// Starts the driver's runtime and background tasks.
    pub fn start(
        core: Arc<TransactionCore>,
        store: Arc<dyn TxStore>,
        participants: Participants,
        config: DriverConfig,
    ) -> std::io::Result<PhaseTwoDriver> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tx-phase-two")
            .enable_time()
            .build()?;
        let inner = Arc::new(Inner {
            core,
            store,
            participants,
            permits: Arc::new(tokio::sync::Semaphore::new(config.max_in_flight.max(1))),
            config,
            driving: Mutex::new(HashMap::new()),
            backoff: Mutex::new(HashMap::new()),
            handle: runtime.handle().clone(),
        });
        runtime.spawn(every(
            inner.config.timeout_check_period,
            inner.clone(),
            |i| i.expire(),
        ));
        runtime.spawn(every(inner.config.retry_period, inner.clone(), |i| {
            i.give_up();
            i.retry_due(|s| s != GlobalStatus::AsyncCommitting)
        }));
        runtime.spawn(every(
            inner.config.async_commit_period,
            inner.clone(),
            |i| i.retry_due(|s| s == GlobalStatus::AsyncCommitting),
        ));
        Ok(PhaseTwoDriver {
            inner,
            runtime: Mutex::new(Some(runtime)),
        })
    }

    /// Drives the phase two of `xid` now; `done` gets the status it ends in. When the
    /// transaction is already being driven, `done` gets the status that run ends in.
    pub fn drive(&self, xid: String, done: Option<Done>) {
        self.inner.drive(xid, done);
    }

    /// Keeps the background tasks off `xid` until [`PhaseTwoDriver::drive_reserved`] or
    /// [`PhaseTwoDriver::release`]; false when it is being driven already.
    pub fn reserve(&self, xid: &str) -> bool {
        self.inner.reserve(xid)
    }

    /// Drives `xid`, which the caller reserved.
    pub fn drive_reserved(&self, xid: String, done: Option<Done>) {
        self.inner.drive_reserved(xid, done);
    }

    /// Gives up a reservation that needs no driving; whoever waits on it gets `status`.
    pub fn release(&self, xid: &str, status: GlobalStatus) {
        self.inner.finish(xid, status);
    }

    /// An operator retries `xid`, which gave up ([`TransactionCore::retry`]): it is driven
    /// now. False when it is not such a transaction (or a row it released is taken).
    pub fn retry(&self, xid: &str) -> bool {
        if !self.inner.core.retry(xid, crate::session::wall_clock_ms()) {
            return false;
        }
        tracing::warn!(xid, "an operator retries phase two");
        self.inner.backoff.lock().remove(xid);
        self.drive(xid.to_owned(), None);
        true
    }

    /// An operator stops the retries of `xid` ([`TransactionCore::stop_retrying`]). `Err`
    /// when it is not retrying, or is being driven right now (try again in a moment).
    pub fn stop_retrying(&self, xid: &str) -> Result<GlobalStatus, &'static str> {
        if !self.inner.reserve(xid) {
            return Err("phase two of this transaction is running right now; try again");
        }
        match self.inner.core.stop_retrying(xid) {
            Some(end) => {
                self.inner.backoff.lock().remove(xid);
                self.inner.finish(xid, end);
                tracing::warn!(xid, ?end, "an operator stopped the retries of phase two");
                Ok(end)
            }
            None => {
                self.inner.finish(xid, self.inner.core.status(xid));
                Err("the transaction is not retrying phase two")
            }
        }
    }

    /// What the retry task knows of `xid` (`None`: it has not failed a phase-two run since
    /// this start, or its retries ended).
    pub fn retry_state(&self, xid: &str) -> Option<RetryState> {
        let b = *self.inner.backoff.lock().get(xid)?;
        Some(RetryState {
            attempts: b.attempts,
            next_in: b.next.saturating_duration_since(Instant::now()),
        })
    }

    /// Whether phase two of `xid` is being driven (or reserved for it) right now.
    pub fn is_driving(&self, xid: &str) -> bool {
        self.inner.driving.lock().contains_key(xid)
    }

    /// How many transactions are being driven right now.
    pub fn in_flight(&self) -> usize {
        self.inner.driving.lock().len()
    }

    /// Stops the background tasks and abandons phase-two calls in flight (they are resumed
    /// from the store at the next start).
    pub fn shutdown(&self) {
        if let Some(rt) = self.runtime.lock().take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Drop for PhaseTwoDriver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Runs `work` every `period` until the runtime stops.
async fn every(period: Duration, inner: Arc<Inner>, work: impl Fn(&Arc<Inner>)) {
    let mut tick = tokio::time::interval(period.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        work(&inner);
    }
}

impl Inner {
    fn reserve(&self, xid: &str) -> bool {
        let mut driving = self.driving.lock();
        if driving.contains_key(xid) {
            return false;
        }
        driving.insert(xid.to_owned(), Vec::new());
        true
    }

    fn drive(self: &Arc<Self>, xid: String, done: Option<Done>) {
        // Join a run in progress, or reserve and start one, in one look at the table.
        let start = {
            let mut driving = self.driving.lock();
            let start = !driving.contains_key(&xid);
            driving.entry(xid.clone()).or_default().extend(done);
            start
        };
        if start {
            self.spawn_run(xid);
        }
    }

    fn drive_reserved(self: &Arc<Self>, xid: String, done: Option<Done>) {
        if let Some(done) = done {
            self.driving
                .lock()
                .entry(xid.clone())
                .or_default()
                .push(done);
        }
        self.spawn_run(xid);
    }

    /// Runs phase two of reserved `xid` on the runtime, then answers its waiters.
    fn spawn_run(self: &Arc<Self>, xid: String) {
        let inner = self.clone();
        self.handle.spawn(async move {
            let status = inner.run(&xid).await;
            inner.after_run(&xid, status);
            inner.finish(&xid, status);
        });
    }

    /// Ends a run (or reservation) of `xid` and answers whoever waits for it.
    fn finish(&self, xid: &str, status: GlobalStatus) {
        let waiting = self.driving.lock().remove(xid).unwrap_or_default();
        for done in waiting {
            done(status);
        }
    }

    /// One pass of phase two: steps until the transaction ends or a branch fails.
    async fn run(&self, xid: &str) -> GlobalStatus {
        loop {
            if self.store.is_failed() {
                // A decision in memory may not be on disk: nothing is driven until the store
                // writes again (the retry task picks it up then).
                return self.core.status(xid);
            }
            let Some(step) = self.core.next_step(xid) else {
                return self.core.status(xid);
            };
            let outcome = {
                let _permit = self.permits.acquire().await;
                match self.participants.call(&step).await {
                    Ok(status) => status,
                    Err(e) => {
                        tracing::warn!(xid, branch = step.branch.branch_id, error = %e, "phase two call failed; will retry");
                        match step.direction {
                            Direction::Commit => BranchStatus::PhaseTwo_CommitFailed_Retryable,
                            Direction::Rollback => BranchStatus::PhaseTwo_RollbackFailed_Retryable,
                        }
                    }
                }
            };
            let status = self.core.complete_step(&step, outcome);
            let succeeded = matches!(
                (step.direction, outcome),
                (Direction::Commit, BranchStatus::PhaseTwo_Committed)
                    | (Direction::Rollback, BranchStatus::PhaseTwo_Rollbacked)
            );
            // A failure leaves a retry or failed state; the last branch leaves an end state.
            if !succeeded || phase_two_direction(status).is_none() {
                return status;
            }
        }
    }

    fn after_run(&self, xid: &str, status: GlobalStatus) {
        use GlobalStatus::*;
        let mut backoff = self.backoff.lock();
        if matches!(
            status,
            CommitRetrying | RollbackRetrying | TimeoutRollbackRetrying | AsyncCommitting
        ) {
            let b = backoff.entry(xid.to_owned()).or_insert(Backoff {
                attempts: 0,
                next: Instant::now(),
            });
            b.attempts = b.attempts.saturating_add(1);
            let wait = self
                .config
                .retry_period
                .saturating_mul(1u32 << (b.attempts - 1).min(16))
                .min(self.config.max_backoff);
            b.next = Instant::now() + wait;
        } else {
            backoff.remove(xid);
        }
    }

    fn retry_due(self: &Arc<Self>, which: impl Fn(GlobalStatus) -> bool) {
        if self.store.is_failed() {
            return;
        }
        let now = Instant::now();
        for xid in self.core.phase_two_where(which) {
            let due = self.backoff.lock().get(&xid).is_none_or(|b| b.next <= now);
            if due && self.reserve(&xid) {
                self.drive_reserved(xid, None);
            }
        }
    }

    /// Transactions retried for longer than allowed give up
    /// ([`TransactionCore::give_up_retrying`]).
    fn give_up(&self) {
        if self.store.is_failed() {
            return;
        }
        let now_ms = crate::session::wall_clock_ms();
        let gave_up = self.core.give_up_retrying(
            self.config.max_commit_retry,
            self.config.max_rollback_retry,
            now_ms,
            |xid| self.driving.lock().contains_key(xid),
        );
        for (xid, status) in gave_up {
            self.backoff.lock().remove(&xid);
            tracing::error!(
                xid,
                ?status,
                "phase two retried too long; given up (an operator may retry it)"
            );
        }
    }

    fn expire(self: &Arc<Self>) {
        let expired = self.core.expire(Instant::now());
        if expired.is_empty() {
            return;
        }
        tracing::info!(
            count = expired.len(),
            "transactions timed out; rolling back"
        );
        // Roll back once the decision is durable.
        let inner = self.clone();
        self.store.after_durable(Box::new(move |r| match r {
            Ok(()) => {
                for xid in expired {
                    inner.drive(xid, None);
                }
            }
            Err(e) => tracing::error!(error = %e, "timeout rollbacks not stored"),
        }));
    }
}
