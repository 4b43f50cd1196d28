//! Errors of the client library.

use tars::client::CallError;
use tars_protocols::tarstx::{GlobalStatus, ResultCode, TransactionExceptionCode, TxResult};

/// A coordinator call that did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TxError {
    /// The call did not complete: the coordinator could not be reached, timed out, or its reply
    /// did not decode. The outcome of the operation is unknown.
    #[error("coordinator call {op} failed: {source}")]
    Call {
        /// The coordinator operation (IDL name, e.g. `commit`).
        op: &'static str,
        /// Why the call failed.
        #[source]
        source: CallError,
    },
    /// The coordinator answered that the operation failed (a `TxResult` with code `Failed`).
    #[error("coordinator refused {op}: {code:?}: {message}")]
    Coordinator {
        /// The coordinator operation (IDL name, e.g. `branchRegister`).
        op: &'static str,
        /// Seata's reason code.
        code: TransactionExceptionCode,
        /// The coordinator's description.
        message: String,
    },
}

impl TxError {
    /// The coordinator's reason code, when the coordinator answered with a failure.
    pub fn code(&self) -> Option<TransactionExceptionCode> {
        match self {
            TxError::Coordinator { code, .. } => Some(*code),
            TxError::Call { .. } => None,
        }
    }

    /// Whether the coordinator promised the operation was not done and may simply be sent
    /// again: `NotRaftLeader`, answered while a fragment changes leader in cluster mode (the
    /// calls of this library, synchronous and asynchronous, retry it themselves for
    /// [`RETRY_FOR`]).
    pub fn is_retryable(&self) -> bool {
        self.code() == Some(TransactionExceptionCode::NotRaftLeader)
    }

    /// The coordinator operation that failed.
    pub fn op(&self) -> &'static str {
        match self {
            TxError::Call { op, .. } | TxError::Coordinator { op, .. } => op,
        }
    }

    pub(crate) fn call(op: &'static str) -> impl FnOnce(CallError) -> TxError {
        move |source| TxError::Call { op, source }
    }
}

/// How long the library's calls keep retrying a [`TxError::is_retryable`] refusal: a
/// failover takes the lease TTL plus a moment (1–2 s with the documented etcd flags, a few
/// more with etcd's defaults).
pub const RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(6);

/// The waits between attempts: from 25 ms, doubling up to 400 ms, for at most [`RETRY_FOR`].
struct Backoff {
    deadline: std::time::Instant,
    next: std::time::Duration,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff {
            deadline: std::time::Instant::now() + RETRY_FOR,
            next: std::time::Duration::from_millis(25),
        }
    }

    /// How long to wait before sending again after `error`, or `None` to give up with it.
    fn after(&mut self, error: &TxError) -> Option<std::time::Duration> {
        let wait = self.next;
        if !error.is_retryable() || std::time::Instant::now() + wait >= self.deadline {
            return None;
        }
        tracing::debug!(op = error.op(), error = %error, "coordinator changing leader; retrying");
        self.next = (wait * 2).min(std::time::Duration::from_millis(400));
        Some(wait)
    }
}

/// Runs `call` again while it is refused with a retryable code (see
/// [`TxError::is_retryable`]), backing off from 25 ms to 400 ms, for at most [`RETRY_FOR`].
pub(crate) fn retrying<T>(mut call: impl FnMut() -> Result<T, TxError>) -> Result<T, TxError> {
    let mut backoff = Backoff::new();
    loop {
        match call() {
            Err(e) => match backoff.after(&e) {
                Some(wait) => std::thread::sleep(wait),
                None => return Err(e),
            },
            ok => return ok,
        }
    }
}

/// [`retrying`] for asynchronous calls: `call` starts each attempt; the waits are
/// [`tars::client::sleep`], so the future runs on any executor.
pub(crate) async fn retrying_async<T, F, Fut>(mut call: F) -> Result<T, TxError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, TxError>>,
{
    let mut backoff = Backoff::new();
    loop {
        match call().await {
            Err(e) => match backoff.after(&e) {
                Some(wait) => tars::client::sleep(wait).await,
                None => return Err(e),
            },
            ok => return ok,
        }
    }
}

/// `Ok` when the coordinator reports success, the typed refusal otherwise.
pub(crate) fn check(op: &'static str, result: TxResult) -> Result<(), TxError> {
    match result.code {
        ResultCode::Success => Ok(()),
        ResultCode::Failed | ResultCode::Unrecognized(_) => Err(TxError::Coordinator {
            op,
            code: result.error,
            message: result.message.to_string(),
        }),
    }
}

/// Why [`TransactionManager::run`](super::TransactionManager::run) did not return the body's
/// value. `E` is the body's error type.
#[derive(Debug, thiserror::Error)]
pub enum RunError<E> {
    /// The global transaction could not begin; the body did not run.
    #[error("cannot begin the global transaction: {0}")]
    Begin(#[source] TxError),
    /// The body failed and the transaction was rolled back. `status` is what the coordinator
    /// reported: `Rollbacked`, `TimeoutRollbacked`, a rollback still in progress (`Rollbacking`,
    /// `RollbackRetrying`, … — decided, the coordinator finishes it) or `Finished` (the
    /// coordinator no longer knows the transaction).
    #[error("transaction {xid} rolled back ({status:?}) after the body failed: {error}")]
    RolledBack {
        /// The global transaction id.
        xid: String,
        /// The body's error.
        error: E,
        /// The status after the rollback.
        status: GlobalStatus,
    },
    /// The body failed and the rollback did not succeed (`RollbackFailed`,
    /// `TimeoutRollbackFailed`, `RollbackRetryTimeout`, or a status that is not a rollback).
    #[error("transaction {xid}: rollback failed ({status:?}) after the body failed: {error}")]
    RollbackFailed {
        /// The global transaction id.
        xid: String,
        /// The body's error.
        error: E,
        /// The status after the rollback.
        status: GlobalStatus,
    },
    /// The body failed and the rollback request itself failed; the coordinator rolls the
    /// transaction back when it times out.
    #[error("transaction {xid}: cannot roll back ({source}) after the body failed: {error}")]
    Rollback {
        /// The global transaction id.
        xid: String,
        /// The body's error.
        error: E,
        /// Why the rollback request failed.
        #[source]
        source: TxError,
    },
    /// The body succeeded but the transaction had timed out: the coordinator rolled it back
    /// instead of committing (`TimeoutRollbacking`, `TimeoutRollbackRetrying`,
    /// `TimeoutRollbacked` or `TimeoutRollbackFailed`).
    #[error("transaction {xid} timed out and was rolled back ({status:?})")]
    TimeoutRollbacked {
        /// The global transaction id.
        xid: String,
        /// The status the commit returned.
        status: GlobalStatus,
    },
    /// The body succeeded but the transaction did not commit: `CommitFailed`,
    /// `CommitRetryTimeout`, `Finished` (the coordinator no longer knows it), a rollback, or
    /// any other status that is not a commit.
    #[error("transaction {xid} did not commit ({status:?})")]
    CommitFailed {
        /// The global transaction id.
        xid: String,
        /// The status the commit returned.
        status: GlobalStatus,
    },
    /// The body succeeded but the commit request failed: the outcome is unknown (query it
    /// with [`TransactionManager::transaction`](super::TransactionManager::transaction)).
    #[error("transaction {xid}: commit request failed, outcome unknown: {source}")]
    Commit {
        /// The global transaction id.
        xid: String,
        /// Why the commit request failed.
        #[source]
        source: TxError,
    },
}

impl<E> RunError<E> {
    /// The global transaction id (`None` when the transaction did not begin).
    pub fn xid(&self) -> Option<&str> {
        match self {
            RunError::Begin(_) => None,
            RunError::RolledBack { xid, .. }
            | RunError::RollbackFailed { xid, .. }
            | RunError::Rollback { xid, .. }
            | RunError::TimeoutRollbacked { xid, .. }
            | RunError::CommitFailed { xid, .. }
            | RunError::Commit { xid, .. } => Some(xid),
        }
    }

    /// The status the coordinator reported for the commit or rollback, when it answered.
    pub fn status(&self) -> Option<GlobalStatus> {
        match self {
            RunError::RolledBack { status, .. }
            | RunError::RollbackFailed { status, .. }
            | RunError::TimeoutRollbacked { status, .. }
            | RunError::CommitFailed { status, .. } => Some(*status),
            RunError::Begin(_) | RunError::Rollback { .. } | RunError::Commit { .. } => None,
        }
    }

    /// The body's error, when the body failed.
    pub fn body_error(&self) -> Option<&E> {
        match self {
            RunError::RolledBack { error, .. }
            | RunError::RollbackFailed { error, .. }
            | RunError::Rollback { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Takes the body's error out, when the body failed.
    pub fn into_body_error(self) -> Option<E> {
        match self {
            RunError::RolledBack { error, .. }
            | RunError::RollbackFailed { error, .. }
            | RunError::Rollback { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The failed coordinator call, for `Begin`, `Rollback` and `Commit`.
    pub fn tx_error(&self) -> Option<&TxError> {
        match self {
            RunError::Begin(e)
            | RunError::Rollback { source: e, .. }
            | RunError::Commit { source: e, .. } => Some(e),
            _ => None,
        }
    }
}

/// Why [`ResourceManager::tcc_try`](super::ResourceManager::tcc_try) failed. `E` is the try
/// body's error type.
#[derive(Debug, thiserror::Error)]
pub enum TryError<E> {
    /// The call is not part of a global transaction (no `TX_XID` in its context).
    #[error("not in a global transaction (no TX_XID in the context)")]
    NoTransaction,
    /// The branch could not be registered; the body did not run.
    #[error("cannot register the branch: {0}")]
    Register(#[source] TxError),
    /// The body failed. The branch stays registered (it was not reported, unless the body
    /// opted in with
    /// [`report_phase_one_failed`](super::ResourceManager::report_phase_one_failed)): the
    /// global transaction's rollback cancels it.
    #[error("try of branch {branch_id} failed: {error}")]
    Body {
        /// The registered branch.
        branch_id: i64,
        /// The body's error.
        error: E,
    },
}

impl<E> TryError<E> {
    /// Takes the body's error out, when the body failed.
    pub fn into_body_error(self) -> Option<E> {
        match self {
            TryError::Body { error, .. } => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod retry_tests {
    use super::*;

    fn refused(code: TransactionExceptionCode) -> TxError {
        TxError::Coordinator {
            op: "commit",
            code,
            message: String::new(),
        }
    }

    #[test]
    fn not_leader_is_retried_until_it_succeeds_other_refusals_are_not() {
        let mut calls = 0;
        let r = retrying(|| {
            calls += 1;
            if calls < 3 {
                Err(refused(TransactionExceptionCode::NotRaftLeader))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r, Ok(3));
        // FailedStore may have been applied: surfaced at once, never resent.
        let mut calls = 0;
        let r: Result<(), TxError> = retrying(|| {
            calls += 1;
            Err(refused(TransactionExceptionCode::FailedStore))
        });
        assert_eq!(calls, 1);
        assert_eq!(
            r.unwrap_err().code(),
            Some(TransactionExceptionCode::FailedStore)
        );
        assert!(refused(TransactionExceptionCode::NotRaftLeader).is_retryable());
        assert!(!refused(TransactionExceptionCode::LockKeyConflict).is_retryable());
    }
}
