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
