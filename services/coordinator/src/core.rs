//! The TC's decisions, without I/O: [`TransactionCore`] keeps the sessions and row locks and
//! applies the Seata rules (DESIGN.md, "Coordinator semantics"). Phase two is handed out as
//! [`Step`]s — one branch at a time, in registration order for commit and in reverse for
//! rollback — that a driver executes against the participants and reports back with
//! [`TransactionCore::complete_step`]. Time is passed in (`now`), so every rule is testable
//! deterministically.
//!
//! Every change to a session is handed to the [`Journal`] while the session table is still
//! locked, so the journal sees changes in the order they happened. The core never waits for
//! the journal; whoever answers a caller waits for durability (see `store`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tars_protocols::tarstx::{
    BranchStatus, BranchType, GlobalStatus, TransactionExceptionCode as Code,
};

use crate::lock::{LockError, LockManager};
use crate::session::{BranchSession, GlobalSession};
use crate::xid::XidGenerator;

/// Where the core writes every session change, in order (the durable store, or nothing).
pub trait Journal: Send + Sync + std::fmt::Debug {
    /// `session` is new or changed: store this state of it.
    fn put(&self, session: &GlobalSession);
    /// `xid` has ended: forget it.
    fn remove(&self, xid: &str);
    /// AT row locks were released (cluster mode frees them in the shared store; one node's
    /// locks live in the core only, so the default does nothing).
    fn rows_released(&self, rows: &[String]) {
        let _ = rows;
    }
}

/// A refused coordinator request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct TxError {
    /// Seata's exception code.
    pub code: Code,
    /// What happened.
    pub message: String,
}

impl TxError {
    fn new(code: Code, message: impl Into<String>) -> TxError {
        TxError {
            code,
            message: message.into(),
        }
    }
}

/// Which way phase two goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Confirm the branches.
    Commit,
    /// Undo them.
    Rollback,
}

/// One phase-two call to make.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The transaction.
    pub xid: String,
    /// Commit or rollback.
    pub direction: Direction,
    /// The branch to drive.
    pub branch: BranchSession,
}

/// What the core admits: bounds on open transactions, so no client can exhaust a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Open transactions at most; past it `begin` is refused (`BeginFailed`, "overloaded").
    pub max_open: usize,
    /// Open transactions of one application id at most.
    pub max_open_per_application: usize,
    /// All-AT transactions committed but not yet finished in the background at most; past it
    /// `begin` is held back (refused) until the backlog shrinks.
    pub max_async_backlog: usize,
    /// The longest timeout a transaction gets (a longer one is cut to it).
    pub max_timeout: Duration,
}

impl Default for Admission {
    /// 100,000 open (20,000 per application), 50,000 async commits waiting, timeouts of a
    /// day at most.
    fn default() -> Self {
        Admission {
            max_open: 100_000,
            max_open_per_application: 20_000,
            max_async_backlog: 50_000,
            max_timeout: Duration::from_secs(24 * 3600),
        }
    }
}

/// Open transactions per application id, and the async-commit backlog (kept under the
/// sessions' lock, changed with them).
#[derive(Debug, Default)]
struct Counts {
    by_application: HashMap<String, usize>,
    async_committing: usize,
}

impl Counts {
    fn opened(&mut self, session: &GlobalSession) {
        *self
            .by_application
            .entry(session.application_id.clone())
            .or_default() += 1;
        if session.status == GlobalStatus::AsyncCommitting {
            self.async_committing += 1;
        }
    }

    fn closed(&mut self, session: &GlobalSession) {
        if let Some(n) = self.by_application.get_mut(&session.application_id) {
            *n -= 1;
            if *n == 0 {
                self.by_application.remove(&session.application_id);
            }
        }
        if session.status == GlobalStatus::AsyncCommitting {
            self.async_committing = self.async_committing.saturating_sub(1);
        }
    }
}

/// How many ended transactions the core remembers the outcome of (about 100 bytes each).
pub const ENDED_REMEMBERED: usize = 65_536;

/// The outcomes of the transactions that ended most recently (at most [`ENDED_REMEMBERED`],
/// the oldest forgotten first; in memory, so a restart forgets them): a TM asking about one
/// (a commit after someone else's rollback, a second commit) hears how it really ended
/// instead of `Finished`.
#[derive(Debug, Default)]
struct Ended {
    status: HashMap<String, GlobalStatus>,
    order: std::collections::VecDeque<String>,
}

impl Ended {
    fn record(&mut self, xid: &str, status: GlobalStatus) {
        if self.status.insert(xid.to_owned(), status).is_none() {
            self.order.push_back(xid.to_owned());
            if self.order.len() > ENDED_REMEMBERED {
                if let Some(oldest) = self.order.pop_front() {
                    self.status.remove(&oldest);
                }
            }
        }
    }

    /// How `xid` ended; `Finished` when it is not remembered (never known, or long ago).
    fn of(&self, xid: &str) -> GlobalStatus {
        self.status
            .get(xid)
            .copied()
            .unwrap_or(GlobalStatus::Finished)
    }
}

/// Sessions, locks and the rules between them.
#[derive(Debug)]
pub struct TransactionCore {
    xids: XidGenerator,
    sessions: Mutex<HashMap<String, GlobalSession>>,
    /// Outcomes of recently ended transactions (locked after `sessions` when both are).
    ended: Mutex<Ended>,
    /// What is admitted.
    admission: Admission,
    /// Open transactions per application and the async backlog (locked after `sessions`).
    counts: Mutex<Counts>,
    /// When an operator last retried a transaction that gave up retrying (ms since the Unix
    /// epoch; locked after `sessions`).
    retried_at: Mutex<HashMap<String, i64>>,
    locks: LockManager,
    next_branch: AtomicI64,
    failed: Mutex<std::collections::HashSet<String>>,
    journal: Option<std::sync::Arc<dyn Journal>>,
}

/// Which way phase two goes in `status`; `None` outside phase two.
pub fn phase_two_direction(status: GlobalStatus) -> Option<Direction> {
    use GlobalStatus::*;
    match status {
        Committing | CommitRetrying | AsyncCommitting => Some(Direction::Commit),
        Rollbacking | RollbackRetrying | TimeoutRollbacking | TimeoutRollbackRetrying => {
            Some(Direction::Rollback)
        }
        _ => None,
    }
}

fn timed_out_rollback(status: GlobalStatus) -> bool {
    matches!(
        status,
        GlobalStatus::TimeoutRollbacking | GlobalStatus::TimeoutRollbackRetrying
    )
}

impl TransactionCore {
    /// A core issuing XIDs from `xids`, and branch ids of the same fragment and epoch.
    pub fn new(xids: XidGenerator) -> TransactionCore {
        let first_branch_id = xids.branch_base();
        TransactionCore {
            xids,
            sessions: Mutex::new(HashMap::new()),
            ended: Mutex::new(Ended::default()),
            admission: Admission::default(),
            counts: Mutex::new(Counts::default()),
            retried_at: Mutex::new(HashMap::new()),
            locks: LockManager::new(),
            next_branch: AtomicI64::new(first_branch_id + 1),
            failed: Mutex::new(Default::default()),
            journal: None,
        }
    }

    /// The same core, admitting what `admission` allows.
    pub fn with_admission(mut self, admission: Admission) -> TransactionCore {
        self.admission = admission;
        self
    }

    /// The same core, writing every session change to `journal`.
    pub fn with_journal(mut self, journal: std::sync::Arc<dyn Journal>) -> TransactionCore {
        self.journal = Some(journal);
        self
    }

    fn journal_put(&self, session: &GlobalSession) {
        if let Some(j) = &self.journal {
            j.put(session);
        }
    }

    fn journal_remove(&self, xid: &str) {
        if let Some(j) = &self.journal {
            j.remove(xid);
        }
    }

    fn release_global(&self, xid: &str) {
        let rows = self.locks.release_global(xid);
        if let (Some(j), false) = (&self.journal, rows.is_empty()) {
            j.rows_released(&rows);
        }
    }

    fn release_branch(&self, xid: &str, branch_id: i64) {
        let rows = self.locks.release_branch(xid, branch_id);
        if let (Some(j), false) = (&self.journal, rows.is_empty()) {
            j.rows_released(&rows);
        }
    }

    /// Where its XIDs come from (the fragment, the epoch, the address they carry).
    pub fn xids(&self) -> &XidGenerator {
        &self.xids
    }

    /// Takes over sessions read back from the store after a restart or failover:
    /// undecided (`Begin`) ones are rolled back, decided ones resume phase two, and the AT
    /// rows of every session still holding locks are locked again. Returns the XIDs whose
    /// phase two must be driven, in XID order.
    pub fn restore(&self, restored: Vec<GlobalSession>) -> Vec<String> {
        self.restore_with(restored, false)
    }

    /// [`TransactionCore::restore`], but when `keep_undecided` (the previous leader handed
    /// the fragment over gracefully: it flushed everything and stopped) undecided
    /// transactions stay open — their TMs go on registering branches and deciding, and their
    /// timeouts still apply.
    pub fn restore_with(&self, restored: Vec<GlobalSession>, keep_undecided: bool) -> Vec<String> {
        let mut sessions = self.sessions.lock();
        let mut drive = Vec::new();
        for mut session in restored {
            // An async commit released its rows at the decision, a commit that gave up
            // retrying when it gave up.
            let keeps_locks = !matches!(
                session.status,
                GlobalStatus::AsyncCommitting | GlobalStatus::CommitRetryTimeout
            );
            if keeps_locks {
                for b in session.branches.iter() {
                    if b.branch_type == BranchType::AT {
                        // Rows were locked by this xid before the crash; nobody else can hold
                        // them now, so a failure here only means damaged lock keys.
                        if let Err(e) = self.locks.acquire(
                            &session.xid,
                            b.branch_id,
                            &b.resource_id,
                            &b.lock_keys,
                        ) {
                            tracing::warn!(xid = %session.xid, error = %e, "restoring row locks");
                        }
                    }
                }
            }
            if matches!(
                session.status,
                GlobalStatus::RollbackFailed | GlobalStatus::TimeoutRollbackFailed
            ) {
                // Ended, but its rows stay locked until an operator steps in.
                self.failed.lock().insert(session.xid.clone());
                continue;
            }
            if session.status == GlobalStatus::Begin && keep_undecided {
                self.counts.lock().opened(&session);
                sessions.insert(session.xid.clone(), session);
                continue;
            }
            if session.status == GlobalStatus::Begin {
                session.active = false;
                session.status = GlobalStatus::Rollbacking;
                self.journal_put(&session);
            }
            if session.status == GlobalStatus::Begin
                || phase_two_direction(session.status).is_some()
            {
                drive.push(session.xid.clone());
            }
            self.counts.lock().opened(&session);
            sessions.insert(session.xid.clone(), session);
        }
        drive.sort();
        drive
    }

    /// Phase two that has been retried for too long gives up, as a Seata TC does: a commit
    /// still retrying more than `max_commit` after the transaction began (or after an
    /// operator's [`retry`](Self::retry)) ends as `CommitRetryTimeout` and releases its rows;
    /// a rollback past `max_rollback` ends as `RollbackRetryTimeout` and keeps them (its data
    /// may not be restored). Both stay stored and visible (their status reads so) and are no
    /// longer driven, until an operator retries them. `None` retries forever; transactions
    /// `busy` says are being driven are left for later. Returns what gave up. `now_ms`:
    /// milliseconds since the Unix epoch.
    pub fn give_up_retrying(
        &self,
        max_commit: Option<Duration>,
        max_rollback: Option<Duration>,
        now_ms: i64,
        busy: impl Fn(&str) -> bool,
    ) -> Vec<(String, GlobalStatus)> {
        use GlobalStatus::*;
        let mut sessions = self.sessions.lock();
        let retried = self.retried_at.lock();
        let mut gave_up = Vec::new();
        for s in sessions.values_mut() {
            let (max, end) = match s.status {
                CommitRetrying => (max_commit, CommitRetryTimeout),
                RollbackRetrying | TimeoutRollbackRetrying => (max_rollback, RollbackRetryTimeout),
                _ => continue,
            };
            let Some(max) = max else { continue };
            if busy(&s.xid) {
                continue; // being driven right now: judged after this run
            }
            let since = retried
                .get(&s.xid)
                .copied()
                .unwrap_or(s.begin_time_ms)
                .max(s.begin_time_ms);
            let age_ms = now_ms.saturating_sub(since);
            if age_ms < 0 || (age_ms as u128) <= max.as_millis() {
                continue;
            }
            s.status = end;
            self.journal_put(s);
            gave_up.push((s.xid.clone(), end));
        }
        drop(retried);
        for (xid, end) in &gave_up {
            if *end == CommitRetryTimeout {
                self.release_global(xid);
            }
        }
        gave_up.sort();
        gave_up
    }

    /// An operator retries a transaction that gave up (`CommitRetryTimeout` →
    /// `CommitRetrying`, `RollbackRetryTimeout` → `RollbackRetrying`): it is driven again and
    /// may retry for the full time from `now_ms` (that clock is kept in memory only). A commit
    /// retried takes back the rows it released; false when `xid` is not such a transaction
    /// or a row it released has been taken by another transaction meanwhile.
    pub fn retry(&self, xid: &str, now_ms: i64) -> bool {
        use GlobalStatus::*;
        let mut sessions = self.sessions.lock();
        let Some(s) = sessions.get_mut(xid) else {
            return false;
        };
        let again = match s.status {
            CommitRetryTimeout => CommitRetrying,
            RollbackRetryTimeout => RollbackRetrying,
            _ => return false,
        };
        if again == CommitRetrying {
            for b in s
                .branches
                .iter()
                .filter(|b| b.branch_type == BranchType::AT)
            {
                if self
                    .locks
                    .acquire(xid, b.branch_id, &b.resource_id, &b.lock_keys)
                    .is_err()
                {
                    self.release_global(xid);
                    return false;
                }
            }
        }
        s.status = again;
        self.journal_put(s);
        self.retried_at.lock().insert(xid.to_owned(), now_ms);
        true
    }

    /// An operator stops the retries of `xid` now, as if it had retried too long (see
    /// [`give_up_retrying`](Self::give_up_retrying)): a retrying commit ends as
    /// `CommitRetryTimeout` (its rows released), a retrying rollback as `RollbackRetryTimeout`
    /// (rows kept). Stored, visible, and retryable with [`retry`](Self::retry). `None` when
    /// `xid` is not retrying phase two.
    pub fn stop_retrying(&self, xid: &str) -> Option<GlobalStatus> {
        use GlobalStatus::*;
        let end = {
            let mut sessions = self.sessions.lock();
            let s = sessions.get_mut(xid)?;
            let end = match s.status {
                CommitRetrying => CommitRetryTimeout,
                RollbackRetrying | TimeoutRollbackRetrying => RollbackRetryTimeout,
                _ => return None,
            };
            s.status = end;
            self.journal_put(s);
            end
        };
        if end == CommitRetryTimeout {
            self.release_global(xid);
        }
        Some(end)
    }

    /// How many transactions are open (not yet ended).
    pub fn len(&self) -> usize {
        self.sessions.lock().len()
    }

    /// Whether no transaction is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Transactions whose rollback failed for good: ended, rows still locked.
    pub fn failed_rollbacks(&self) -> Vec<String> {
        let mut xids: Vec<String> = self.failed.lock().iter().cloned().collect();
        xids.sort();
        xids
    }

    /// The row locks.
    pub fn locks(&self) -> &LockManager {
        &self.locks
    }

    /// Starts a global transaction in `Begin`, its timeout cut to the admitted maximum. Fails
    /// (`BeginFailed`) when the node is overloaded (more open transactions, in all or of this
    /// application, or more async commits waiting, than [`Admission`] allows; the message
    /// says which) or the fragment's ids of this epoch are used up.
    pub fn begin(
        &self,
        application_id: &str,
        transaction_name: &str,
        timeout: Duration,
        now: Instant,
    ) -> Result<String, TxError> {
        self.begin_owned("", application_id, transaction_name, timeout, now)
    }

    /// [`TransactionCore::begin`] for the principal `owner` (stored with the session; see
    /// [`crate::access`]).
    pub fn begin_owned(
        &self,
        owner: &str,
        application_id: &str,
        transaction_name: &str,
        timeout: Duration,
        now: Instant,
    ) -> Result<String, TxError> {
        self.admit(application_id)?;
        let timeout = timeout.min(self.admission.max_timeout);
        let xid = self
            .xids
            .next_xid()
            .map_err(|e| TxError::new(Code::BeginFailed, e.to_string()))?
            .to_string();
        let session = GlobalSession {
            xid: xid.clone(),
            application_id: application_id.to_owned(),
            owner: owner.to_owned(),
            transaction_name: transaction_name.to_owned(),
            status: GlobalStatus::Begin,
            active: true,
            began: now,
            begin_time_ms: crate::session::wall_clock_ms(),
            timeout,
            branches: Vec::new(),
        };
        let mut sessions = self.sessions.lock();
        self.journal_put(&session);
        self.counts.lock().opened(&session);
        sessions.insert(xid.clone(), session);
        Ok(xid)
    }

    /// The principal that began `xid`, while it is open (`None`: not open here).
    pub fn owner_of(&self, xid: &str) -> Option<String> {
        self.sessions.lock().get(xid).map(|s| s.owner.clone())
    }

    /// Whether a new transaction of `application_id` is admitted now.
    fn admit(&self, application_id: &str) -> Result<(), TxError> {
        let a = &self.admission;
        let open = self.sessions.lock().len();
        let overloaded = |what: String| {
            TxError::new(Code::BeginFailed, format!("coordinator overloaded: {what}"))
        };
        if open >= a.max_open {
            return Err(overloaded(format!(
                "{open} open transactions (at most {})",
                a.max_open
            )));
        }
        let counts = self.counts.lock();
        let of_app = counts
            .by_application
            .get(application_id)
            .copied()
            .unwrap_or(0);
        if of_app >= a.max_open_per_application {
            return Err(overloaded(format!(
                "{of_app} open transactions of {application_id:?} (at most {} per application)",
                a.max_open_per_application
            )));
        }
        if counts.async_committing >= a.max_async_backlog {
            return Err(overloaded(format!(
                "{} committed transactions waiting for their async commit (at most {})",
                counts.async_committing, a.max_async_backlog
            )));
        }
        Ok(())
    }

    /// A copy of the session of `xid`.
    pub fn session(&self, xid: &str) -> Option<GlobalSession> {
        self.sessions.lock().get(xid).cloned()
    }

    /// The status of `xid`; `Finished` once it has ended (or was never known), as a Seata TC
    /// answers (TMs wait for it).
    pub fn status(&self, xid: &str) -> GlobalStatus {
        self.sessions
            .lock()
            .get(xid)
            .map_or(GlobalStatus::Finished, |s| s.status)
    }

    /// How `xid` ended, while that is remembered ([`ENDED_REMEMBERED`] most recent ones, in
    /// memory); `None` for a transaction still open, forgotten or never known.
    pub fn outcome(&self, xid: &str) -> Option<GlobalStatus> {
        self.ended.lock().status.get(xid).copied()
    }

    /// Registers a branch. AT branches take their row locks (all or none).
    pub fn branch_register(
        &self,
        xid: &str,
        branch_type: BranchType,
        resource_id: &str,
        client_id: &str,
        lock_keys: &str,
        application_data: &str,
    ) -> Result<i64, TxError> {
        let mut sessions = self.sessions.lock();
        let session = sessions
            .get_mut(xid)
            .ok_or_else(|| TxError::new(Code::GlobalTransactionNotExist, xid))?;
        if !session.active {
            return Err(TxError::new(Code::GlobalTransactionNotActive, xid));
        }
        if session.status != GlobalStatus::Begin {
            return Err(TxError::new(
                Code::GlobalTransactionStatusInvalid,
                format!("{xid} is {:?}", session.status),
            ));
        }
        let branch_id = self.next_branch.fetch_add(1, Ordering::Relaxed);
        if branch_type == BranchType::AT {
            self.locks
                .acquire(xid, branch_id, resource_id, lock_keys)
                .map_err(|e| match e {
                    LockError::Conflict { .. } => {
                        TxError::new(Code::LockKeyConflict, e.to_string())
                    }
                    LockError::Invalid { .. } => {
                        TxError::new(Code::BranchRegisterFailed, e.to_string())
                    }
                })?;
        }
        session.branches.push(BranchSession {
            branch_id,
            branch_type,
            resource_id: resource_id.to_owned(),
            client_id: client_id.to_owned(),
            lock_keys: lock_keys.to_owned(),
            application_data: application_data.to_owned(),
            status: BranchStatus::Registered,
        });
        self.journal_put(session);
        Ok(branch_id)
    }

    /// Records a branch's phase-one outcome.
    pub fn branch_report(
        &self,
        xid: &str,
        branch_id: i64,
        status: BranchStatus,
        application_data: &str,
    ) -> Result<(), TxError> {
        let mut sessions = self.sessions.lock();
        let session = sessions
            .get_mut(xid)
            .ok_or_else(|| TxError::new(Code::GlobalTransactionNotExist, xid))?;
        let branch = session
            .branches
            .iter_mut()
            .find(|b| b.branch_id == branch_id)
            .ok_or_else(|| {
                TxError::new(
                    Code::BranchTransactionNotExist,
                    format!("{xid}/{branch_id}"),
                )
            })?;
        branch.status = status;
        if !application_data.is_empty() {
            branch.application_data = application_data.to_owned();
        }
        self.journal_put(session);
        Ok(())
    }

    /// Whether `xid` could take these AT row locks now.
    pub fn lock_query(
        &self,
        xid: &str,
        resource_id: &str,
        lock_keys: &str,
    ) -> Result<bool, TxError> {
        self.locks
            .is_lockable(xid, resource_id, lock_keys)
            .map_err(|e| TxError::new(Code::LockableCheckFailed, e.to_string()))
    }

    /// The TM commits. Returns the status the TM is told: for an XID that has ended, how it
    /// ended (`Rollbacked` after someone else's rollback; `Finished` when not remembered or
    /// never known), the current status when phase two already started, `TimeoutRollbacking` when it timed out,
    /// `Committed` when every branch is AT (async commit: locks released now, undo logs
    /// deleted in the background), else `Committing` (drive the steps).
    pub fn commit(&self, xid: &str, now: Instant) -> GlobalStatus {
        let mut sessions = self.sessions.lock();
        let Some(session) = sessions.get_mut(xid) else {
            return self.ended.lock().of(xid);
        };
        if session.status != GlobalStatus::Begin {
            return session.status;
        }
        session.active = false;
        if session.is_timed_out(now) {
            session.status = GlobalStatus::TimeoutRollbacking;
            self.prune(session);
            if session.branches.is_empty() {
                self.end(&mut sessions, xid, GlobalStatus::TimeoutRollbacked);
                return GlobalStatus::TimeoutRollbacked;
            }
            self.journal_put(session);
            return GlobalStatus::TimeoutRollbacking;
        }
        self.prune(session);
        if session.branches.is_empty() {
            self.end(&mut sessions, xid, GlobalStatus::Committed);
            return GlobalStatus::Committed;
        }
        if session.all_at() {
            session.status = GlobalStatus::AsyncCommitting;
            self.counts.lock().async_committing += 1;
            self.journal_put(session);
            self.release_global(xid);
            return GlobalStatus::Committed;
        }
        session.status = GlobalStatus::Committing;
        self.journal_put(session);
        session.status
    }

    /// The TM rolls back: for an XID that has ended, how it ended (`Finished` when not
    /// remembered or never known), the current status when phase two already started, else
    /// `Rollbacking` (`TimeoutRollbacking` past the timeout).
    pub fn rollback(&self, xid: &str, now: Instant) -> GlobalStatus {
        let mut sessions = self.sessions.lock();
        let Some(session) = sessions.get_mut(xid) else {
            return self.ended.lock().of(xid);
        };
        if session.status != GlobalStatus::Begin {
            return session.status;
        }
        session.active = false;
        session.status = if session.is_timed_out(now) {
            GlobalStatus::TimeoutRollbacking
        } else {
            GlobalStatus::Rollbacking
        };
        self.prune(session);
        if session.branches.is_empty() {
            let done = self.finish_rollback(session.status);
            self.end(&mut sessions, xid, done);
            return done;
        }
        self.journal_put(session);
        session.status
    }

    /// A TM that decided on its own (SAGA) reports the end state: `Committed`, `CommitFailed`,
    /// `Rollbacked`, `RollbackFailed`, `TimeoutRollbacked` or `TimeoutRollbackFailed`. The
    /// transaction ends (its rows are released) and the reported status is returned; an unknown
    /// XID reads `Finished`. Any other status is refused with `GlobalTransactionStatusInvalid`.
    pub fn global_report(&self, xid: &str, status: GlobalStatus) -> Result<GlobalStatus, TxError> {
        use GlobalStatus::*;
        if !matches!(
            status,
            Committed
                | CommitFailed
                | Rollbacked
                | RollbackFailed
                | TimeoutRollbacked
                | TimeoutRollbackFailed
        ) {
            return Err(TxError::new(
                Code::GlobalTransactionStatusInvalid,
                format!("{status:?} is not an end state a TM can report"),
            ));
        }
        let mut sessions = self.sessions.lock();
        if !sessions.contains_key(xid) {
            return Ok(Finished);
        }
        self.release_global(xid);
        self.end(&mut sessions, xid, status);
        Ok(status)
    }

    /// Removes a transaction that ended in `status` (the journal forgets it too; the outcome
    /// is remembered for a while).
    fn end(&self, sessions: &mut HashMap<String, GlobalSession>, xid: &str, status: GlobalStatus) {
        if let Some(session) = sessions.remove(xid) {
            self.counts.lock().closed(&session);
            self.journal_remove(xid);
            self.ended.lock().record(xid, status);
            self.retried_at.lock().remove(xid);
        }
    }

    fn finish_rollback(&self, status: GlobalStatus) -> GlobalStatus {
        if timed_out_rollback(status) {
            GlobalStatus::TimeoutRollbacked
        } else {
            GlobalStatus::Rollbacked
        }
    }

    /// Undecided transactions past their timeout move to `TimeoutRollbacking`; their XIDs
    /// (those without branches to undo end as `TimeoutRollbacked` and are not listed).
    pub fn expire(&self, now: Instant) -> Vec<String> {
        let mut sessions = self.sessions.lock();
        let mut expired = Vec::new();
        let mut ended = Vec::new();
        for s in sessions.values_mut() {
            if s.is_timed_out(now) {
                s.active = false;
                s.status = GlobalStatus::TimeoutRollbacking;
                self.prune(s);
                if s.branches.is_empty() {
                    ended.push(s.xid.clone());
                } else {
                    self.journal_put(s);
                    expired.push(s.xid.clone());
                }
            }
        }
        for xid in ended {
            self.end(&mut sessions, &xid, GlobalStatus::TimeoutRollbacked);
        }
        expired.sort();
        expired
    }

    /// XIDs whose phase two is under way or waiting for a retry.
    pub fn in_phase_two(&self) -> Vec<String> {
        self.phase_two_where(|_| true)
    }

    /// XIDs in phase two whose status satisfies `pred`, sorted.
    pub fn phase_two_where(&self, pred: impl Fn(GlobalStatus) -> bool) -> Vec<String> {
        let mut xids: Vec<String> = self
            .sessions
            .lock()
            .values()
            .filter(|s| phase_two_direction(s.status).is_some() && pred(s.status))
            .map(|s| s.xid.clone())
            .collect();
        xids.sort();
        xids
    }

    /// The next phase-two call for `xid`: the first remaining branch for commit, the last for
    /// rollback. `None` when there is nothing to drive.
    pub fn next_step(&self, xid: &str) -> Option<Step> {
        let mut sessions = self.sessions.lock();
        let session = sessions.get_mut(xid)?;
        let direction = phase_two_direction(session.status)?;
        let branch = match direction {
            Direction::Commit => session.branches.first(),
            Direction::Rollback => session.branches.last(),
        };
        let Some(branch) = branch else {
            // Nothing left to drive (a restored transaction that never got a branch): it ends.
            let ended = if direction == Direction::Commit {
                self.release_global(xid);
                GlobalStatus::Committed
            } else {
                self.finish_rollback(session.status)
            };
            self.end(&mut sessions, xid, ended);
            return None;
        };
        Some(Step {
            xid: xid.to_owned(),
            direction,
            branch: branch.clone(),
        })
    }

    /// Drops the branches that failed phase one: they have nothing to confirm or undo.
    fn prune(&self, session: &mut GlobalSession) {
        let xid = session.xid.clone();
        session.branches.retain(|b| {
            let failed = b.status == BranchStatus::PhaseOne_Failed;
            if failed {
                self.release_branch(&xid, b.branch_id);
            }
            !failed
        });
    }

    /// Applies a participant's answer to a step; returns the global status afterwards. A
    /// transaction that reaches an end state is removed (its status reads `Finished` later).
    pub fn complete_step(&self, step: &Step, outcome: BranchStatus) -> GlobalStatus {
        use BranchStatus::*;
        let mut sessions = self.sessions.lock();
        let Some(session) = sessions.get_mut(&step.xid) else {
            return GlobalStatus::Finished;
        };
        let id = step.branch.branch_id;
        if session.branch(id).is_none() {
            // Already completed by an earlier answer: nothing changes.
            return session.status;
        }
        let status = session.status;
        let next = match (step.direction, outcome) {
            (Direction::Commit, PhaseTwo_Committed)
            | (Direction::Rollback, PhaseTwo_Rollbacked) => {
                self.release_branch(&step.xid, id);
                session.branches.retain(|b| b.branch_id != id);
                self.prune(session);
                if !session.branches.is_empty() {
                    self.journal_put(session);
                    return status;
                }
                match step.direction {
                    Direction::Commit => GlobalStatus::Committed,
                    Direction::Rollback => self.finish_rollback(status),
                }
            }
            (Direction::Commit, PhaseTwo_CommitFailed_Unretryable) => GlobalStatus::CommitFailed,
            (Direction::Rollback, PhaseTwo_RollbackFailed_Unretryable) => {
                // The rows stay locked: their data could not be restored. The session is kept
                // in the journal with its end state, so the locks survive a restart.
                let failed = if timed_out_rollback(status) {
                    GlobalStatus::TimeoutRollbackFailed
                } else {
                    GlobalStatus::RollbackFailed
                };
                set_branch(session, id, outcome);
                session.status = failed;
                self.journal_put(session);
                if let Some(session) = sessions.remove(&step.xid) {
                    self.counts.lock().closed(&session);
                }
                self.ended.lock().record(&step.xid, failed);
                self.failed.lock().insert(step.xid.clone());
                return failed;
            }
            // Retryable failures, and anything unexpected, are retried later.
            (Direction::Commit, _) => {
                let retry = if status == GlobalStatus::AsyncCommitting {
                    status
                } else {
                    GlobalStatus::CommitRetrying
                };
                set_branch(session, id, outcome);
                session.status = retry;
                self.journal_put(session);
                return retry;
            }
            (Direction::Rollback, _) => {
                let retry = if timed_out_rollback(status) {
                    GlobalStatus::TimeoutRollbackRetrying
                } else {
                    GlobalStatus::RollbackRetrying
                };
                set_branch(session, id, outcome);
                session.status = retry;
                self.journal_put(session);
                return retry;
            }
        };
        if next == GlobalStatus::Committed || next == GlobalStatus::CommitFailed {
            self.release_global(&step.xid);
        }
        self.end(&mut sessions, &step.xid, next);
        next
    }

    /// Releases the rows of a transaction whose rollback failed for good, once an operator
    /// has repaired its data; false when `xid` is not such a transaction.
    pub fn release_failed(&self, xid: &str) -> bool {
        let _sessions = self.sessions.lock();
        if !self.failed.lock().remove(xid) {
            return false;
        }
        self.release_global(xid);
        self.journal_remove(xid);
        true
    }
}

fn set_branch(session: &mut GlobalSession, branch_id: i64, status: BranchStatus) {
    if let Some(b) = session
        .branches
        .iter_mut()
        .find(|b| b.branch_id == branch_id)
    {
        b.status = status;
    }
}

/// Read-only views for operators (the web console): copies, taken under the session lock.
impl TransactionCore {
    /// Copies of the open sessions `keep` accepts, sorted by begin time then XID.
    pub fn sessions_snapshot(&self, keep: impl Fn(&GlobalSession) -> bool) -> Vec<GlobalSession> {
        let mut sessions: Vec<GlobalSession> = self
            .sessions
            .lock()
            .values()
            .filter(|s| keep(s))
            .cloned()
            .collect();
        sessions.sort_by(|a, b| (a.begin_time_ms, &a.xid).cmp(&(b.begin_time_ms, &b.xid)));
        sessions
    }

    /// When an operator last retried `xid` (ms since the Unix epoch), if one did since this
    /// start.
    pub fn retried_at(&self, xid: &str) -> Option<i64> {
        self.retried_at.lock().get(xid).copied()
    }
}

/// Read accessors for monitoring.
impl TransactionCore {
    /// Open transactions per status (statuses without any are left out).
    pub fn open_by_status(&self) -> std::collections::BTreeMap<GlobalStatus, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for session in self.sessions.lock().values() {
            *counts.entry(session.status).or_insert(0) += 1;
        }
        counts
    }
}
