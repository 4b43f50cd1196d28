//! The TC's decisions, without I/O: [`TransactionCore`] keeps the sessions and row locks and
//! applies the Seata rules (DESIGN.md, "Coordinator semantics"). Phase two is handed out as
//! [`Step`]s — one branch at a time, in registration order for commit and in reverse for
//! rollback — that a driver executes against the participants and reports back with
//! [`TransactionCore::complete_step`]. Time is passed in (`now`), so every rule is testable
//! deterministically.

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

/// Sessions, locks and the rules between them.
#[derive(Debug)]
pub struct TransactionCore {
    xids: XidGenerator,
    sessions: Mutex<HashMap<String, GlobalSession>>,
    locks: LockManager,
    next_branch: AtomicI64,
}

fn direction_of(status: GlobalStatus) -> Option<Direction> {
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
    /// A core issuing XIDs from `xids`; branch ids start above `first_branch_id`.
    pub fn new(xids: XidGenerator, first_branch_id: i64) -> TransactionCore {
        TransactionCore {
            xids,
            sessions: Mutex::new(HashMap::new()),
            locks: LockManager::new(),
            next_branch: AtomicI64::new(first_branch_id + 1),
        }
    }

    /// The row locks.
    pub fn locks(&self) -> &LockManager {
        &self.locks
    }

    /// Starts a global transaction in `Begin`.
    pub fn begin(
        &self,
        application_id: &str,
        transaction_name: &str,
        timeout: Duration,
        now: Instant,
    ) -> String {
        let xid = self.xids.next_xid().to_string();
        self.sessions.lock().insert(
            xid.clone(),
            GlobalSession {
                xid: xid.clone(),
                application_id: application_id.to_owned(),
                transaction_name: transaction_name.to_owned(),
                status: GlobalStatus::Begin,
                active: true,
                began: now,
                timeout,
                branches: Vec::new(),
            },
        );
        xid
    }

    /// A copy of the session of `xid`.
    pub fn session(&self, xid: &str) -> Option<GlobalSession> {
        self.sessions.lock().get(xid).cloned()
    }

    /// The status of `xid`; `Finished` once it has ended (or was never known).
    pub fn status(&self, xid: &str) -> GlobalStatus {
        self.sessions
            .lock()
            .get(xid)
            .map_or(GlobalStatus::Finished, |s| s.status)
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

    /// The TM commits. Returns the status the TM is told: `Finished` for an unknown XID, the
    /// current status when phase two already started, `TimeoutRollbacking` when it timed out,
    /// `Committed` when every branch is AT (async commit: locks released now, undo logs
    /// deleted in the background), else `Committing` (drive the steps).
    pub fn commit(&self, xid: &str, now: Instant) -> GlobalStatus {
        let mut sessions = self.sessions.lock();
        let Some(session) = sessions.get_mut(xid) else {
            return GlobalStatus::Finished;
        };
        if session.status != GlobalStatus::Begin {
            return session.status;
        }
        session.active = false;
        if session.is_timed_out(now) {
            session.status = GlobalStatus::TimeoutRollbacking;
            self.prune(session);
            if session.branches.is_empty() {
                sessions.remove(xid);
                return GlobalStatus::TimeoutRollbacked;
            }
            return GlobalStatus::TimeoutRollbacking;
        }
        self.prune(session);
        if session.branches.is_empty() {
            sessions.remove(xid);
            return GlobalStatus::Committed;
        }
        if session.all_at() {
            session.status = GlobalStatus::AsyncCommitting;
            self.locks.release_global(xid);
            return GlobalStatus::Committed;
        }
        session.status = GlobalStatus::Committing;
        session.status
    }

    /// The TM rolls back: `Finished` for an unknown XID, the current status when phase two
    /// already started, else `Rollbacking` (`TimeoutRollbacking` past the timeout).
    pub fn rollback(&self, xid: &str, now: Instant) -> GlobalStatus {
        let mut sessions = self.sessions.lock();
        let Some(session) = sessions.get_mut(xid) else {
            return GlobalStatus::Finished;
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
            sessions.remove(xid);
            return done;
        }
        session.status
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
                    expired.push(s.xid.clone());
                }
            }
        }
        for xid in ended {
            sessions.remove(&xid);
        }
        expired.sort();
        expired
    }

    /// XIDs whose phase two is under way or waiting for a retry.
    pub fn in_phase_two(&self) -> Vec<String> {
        let mut xids: Vec<String> = self
            .sessions
            .lock()
            .values()
            .filter(|s| direction_of(s.status).is_some())
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
        let direction = direction_of(session.status)?;
        let branch = match direction {
            Direction::Commit => session.branches.first(),
            Direction::Rollback => session.branches.last(),
        }?;
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
                self.locks.release_branch(&xid, b.branch_id);
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
        let status = session.status;
        let next = match (step.direction, outcome) {
            (Direction::Commit, PhaseTwo_Committed)
            | (Direction::Rollback, PhaseTwo_Rollbacked) => {
                self.locks.release_branch(&step.xid, id);
                session.branches.retain(|b| b.branch_id != id);
                self.prune(session);
                if !session.branches.is_empty() {
                    return status;
                }
                match step.direction {
                    Direction::Commit => GlobalStatus::Committed,
                    Direction::Rollback => self.finish_rollback(status),
                }
            }
            (Direction::Commit, PhaseTwo_CommitFailed_Unretryable) => GlobalStatus::CommitFailed,
            (Direction::Rollback, PhaseTwo_RollbackFailed_Unretryable) => {
                // The rows stay locked: their data could not be restored.
                if timed_out_rollback(status) {
                    GlobalStatus::TimeoutRollbackFailed
                } else {
                    GlobalStatus::RollbackFailed
                }
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
                return retry;
            }
        };
        if next == GlobalStatus::Committed || next == GlobalStatus::CommitFailed {
            self.locks.release_global(&step.xid);
        }
        sessions.remove(&step.xid);
        next
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
