//! The resource manager (RM) side: register branches and report them, host the `Participant`
//! servant the coordinator calls in phase two, and the TCC try helper.

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;
use tars::TarsString;

use tars::client::{ambient, XID_CONTEXT_KEY};
use tars::server::{Current, Dispatch, ServantError};
use tars_protocols::tarstx::{
    BranchStatus, BranchType, CoordinatorProxy, Participant, ParticipantServant, TxResult,
};

use super::error::{check, retrying_async, TryError, TxError};
use super::tm::GlobalTransaction;

/// The XID of the global transaction the call being served belongs to (`TX_XID` in its
/// context), if any.
pub fn xid_of(current: &Current) -> Option<&str> {
    current
        .context()
        .get(XID_CONTEXT_KEY)
        .map(|x| x.as_str())
        .filter(|x| !x.is_empty())
}

/// Joins the caller's global transaction for the calls this servant makes: puts the call's
/// XID in the ambient context until the guard is dropped. `None` when the call is not part
/// of a global transaction.
#[must_use = "the XID leaves the ambient context as soon as the guard is dropped"]
pub fn propagate(current: &Current) -> Option<ambient::ScopeGuard> {
    xid_of(current).map(|xid| ambient::scope(XID_CONTEXT_KEY, xid))
}

/// A branch as its participant sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchInfo {
    /// The global transaction id.
    pub xid: String,
    /// The branch id the coordinator assigned.
    pub branch_id: i64,
    /// The branch's transaction mode.
    pub branch_type: BranchType,
    /// The resource (the `Participant` object name).
    pub resource_id: String,
    /// What the RM registered with the branch (e.g. the TCC try's arguments).
    pub application_data: String,
}

/// The outcome of a TCC confirm or cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhaseTwo {
    /// Done: `PhaseTwo_Committed` / `PhaseTwo_Rollbacked`.
    Done,
    /// Failed, try again later: `PhaseTwo_CommitFailed_Retryable` /
    /// `PhaseTwo_RollbackFailed_Retryable` (the coordinator retries).
    RetryLater,
    /// Failed for good: `PhaseTwo_CommitFailed_Unretryable` /
    /// `PhaseTwo_RollbackFailed_Unretryable` (the transaction ends failed).
    GiveUp,
}

impl PhaseTwo {
    /// The branch status a confirm with this outcome reports.
    pub fn commit_status(self) -> BranchStatus {
        match self {
            PhaseTwo::Done => BranchStatus::PhaseTwo_Committed,
            PhaseTwo::RetryLater => BranchStatus::PhaseTwo_CommitFailed_Retryable,
            PhaseTwo::GiveUp => BranchStatus::PhaseTwo_CommitFailed_Unretryable,
        }
    }

    /// The branch status a cancel with this outcome reports.
    pub fn rollback_status(self) -> BranchStatus {
        match self {
            PhaseTwo::Done => BranchStatus::PhaseTwo_Rollbacked,
            PhaseTwo::RetryLater => BranchStatus::PhaseTwo_RollbackFailed_Retryable,
            PhaseTwo::GiveUp => BranchStatus::PhaseTwo_RollbackFailed_Unretryable,
        }
    }
}

/// Phase two of a TCC resource: what the coordinator asks for after the global decision.
///
/// # Contract
///
/// The coordinator keeps every branch [`ResourceManager::tcc_try`] registered, whatever its
/// try did, and calls exactly one of `confirm` (the transaction committed) or `cancel` (it
/// rolled back) on it — possibly several times. An implementation must be:
///
/// - **Idempotent**: both may be called more than once for one branch (a reply lost, a retry
///   after [`PhaseTwo::RetryLater`], a coordinator restart). The second call must answer
///   [`PhaseTwo::Done`] without applying anything again.
/// - **Tolerant of a failed try**: a try body that fails (or panics) after part of its effect
///   took place is not reported to the coordinator; its branch is cancelled by the global
///   rollback, and `cancel` must undo whatever part of the try took effect.
/// - **Tolerant of an empty rollback**: `cancel` may come for a branch whose try never ran or
///   failed before doing anything (the try call was lost, timed out, or failed right after
///   registering the branch). There is nothing to undo: answer [`PhaseTwo::Done`] — and
///   remember that the branch was cancelled (next point).
/// - **Safe against suspension**: a try may arrive *after* its branch was cancelled (the try
///   request was delayed, the transaction timed out and rolled back meanwhile). Such a late
///   try must not take effect — nothing would ever cancel it again. Keep a fence per
///   `(xid, branch_id)`: the try records that it ran, `cancel` records that the branch was
///   cancelled (even when there was no try: the empty rollback), and a try that finds its
///   branch cancelled refuses. Check and record under one lock (or in one database
///   transaction) with the try's effect, as a cancel may run concurrently with the try.
///
/// `confirm` only comes after every try of the transaction returned successfully to the TM,
/// so it finds its try's record (unless the participant lost its state).
pub trait TccParticipant: Send + Sync + 'static {
    /// Confirms the branch's try: applies what the try reserved.
    fn confirm(&self, branch: &BranchInfo) -> PhaseTwo;

    /// Cancels the branch's try: releases what the try reserved, if it ran at all (see the
    /// trait's contract: empty rollback, suspension).
    fn cancel(&self, branch: &BranchInfo) -> PhaseTwo;
}

impl<P: TccParticipant + ?Sized> TccParticipant for Arc<P> {
    fn confirm(&self, branch: &BranchInfo) -> PhaseTwo {
        (**self).confirm(branch)
    }

    fn cancel(&self, branch: &BranchInfo) -> PhaseTwo {
        (**self).cancel(branch)
    }
}

/// The `Participant` servant over a [`TccParticipant`]: host it under the resource id the
/// branches are registered with (`servants.add(resource_id, service.into_servant())`); the
/// coordinator finds it through the registry.
///
/// A confirm or cancel that panics reports the retryable failure status.
#[derive(Debug)]
pub struct ParticipantService<P> {
    participant: P,
}

impl<P: TccParticipant> ParticipantService<P> {
    /// A servant calling `participant`.
    pub fn new(participant: P) -> ParticipantService<P> {
        ParticipantService { participant }
    }

    /// The participant.
    pub fn participant(&self) -> &P {
        &self.participant
    }

    /// The dispatcher to add to the server's servants.
    pub fn into_servant(self) -> Arc<dyn Dispatch> {
        Arc::new(ParticipantServant::new(self))
    }

    fn phase_two(
        &self,
        step: &'static str,
        branch: &BranchInfo,
        run: impl FnOnce(&P, &BranchInfo) -> PhaseTwo,
    ) -> PhaseTwo {
        match catch_unwind(AssertUnwindSafe(|| run(&self.participant, branch))) {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::error!(
                    xid = %branch.xid, branch_id = branch.branch_id, step,
                    "TCC participant panicked; reporting a retryable failure"
                );
                PhaseTwo::RetryLater
            }
        }
    }
}

impl<P: TccParticipant> Participant for ParticipantService<P> {
    fn branch_commit(
        &self,
        _current: &mut Current,
        xid: TarsString,
        branch_id: i64,
        branch_type: BranchType,
        resource_id: TarsString,
        application_data: TarsString,
    ) -> Result<BranchStatus, ServantError> {
        let branch = BranchInfo {
            xid: xid.to_string(),
            branch_id,
            branch_type,
            resource_id: resource_id.to_string(),
            application_data: application_data.to_string(),
        };
        Ok(self
            .phase_two("confirm", &branch, |p, b| p.confirm(b))
            .commit_status())
    }

    fn branch_rollback(
        &self,
        _current: &mut Current,
        xid: TarsString,
        branch_id: i64,
        branch_type: BranchType,
        resource_id: TarsString,
        application_data: TarsString,
    ) -> Result<BranchStatus, ServantError> {
        let branch = BranchInfo {
            xid: xid.to_string(),
            branch_id,
            branch_type,
            resource_id: resource_id.to_string(),
            application_data: application_data.to_string(),
        };
        Ok(self
            .phase_two("cancel", &branch, |p, b| p.cancel(b))
            .rollback_status())
    }
}

/// Where [`ResourceManager::tcc_try`] finds the global transaction.
#[derive(Debug, Clone, Copy)]
pub enum TxRef<'a> {
    /// The `TX_XID` context entry of the call being served.
    Current(&'a Current),
    /// This XID.
    Xid(&'a str),
    /// The ambient context of this thread.
    Ambient,
}

impl TxRef<'_> {
    /// The XID it designates (`None` when there is none, or it is empty).
    pub fn xid(&self) -> Option<String> {
        match self {
            TxRef::Current(c) => xid_of(c).map(str::to_owned),
            TxRef::Xid(x) => Some((*x).to_owned()).filter(|x| !x.is_empty()),
            TxRef::Ambient => ambient::get(XID_CONTEXT_KEY)
                .filter(|x| !x.is_empty())
                .map(|x| x.to_string()),
        }
    }
}

impl<'a> From<&'a Current> for TxRef<'a> {
    fn from(current: &'a Current) -> TxRef<'a> {
        TxRef::Current(current)
    }
}

impl<'a> From<&'a mut Current> for TxRef<'a> {
    fn from(current: &'a mut Current) -> TxRef<'a> {
        TxRef::Current(current)
    }
}

impl<'a> From<&'a str> for TxRef<'a> {
    fn from(xid: &'a str) -> TxRef<'a> {
        TxRef::Xid(xid)
    }
}

impl<'a> From<&'a String> for TxRef<'a> {
    fn from(xid: &'a String) -> TxRef<'a> {
        TxRef::Xid(xid)
    }
}

impl<'a> From<&'a GlobalTransaction> for TxRef<'a> {
    fn from(tx: &'a GlobalTransaction) -> TxRef<'a> {
        TxRef::Xid(tx.xid())
    }
}

/// Registers and reports branches with the coordinator. Cheap to clone.
///
/// Its calls carry the branch's XID in their context (`TX_XID`), so XID-aware routing
/// reaches the coordinator node owning the transaction.
#[derive(Debug, Clone)]
pub struct ResourceManager {
    proxy: CoordinatorProxy,
    client_id: String,
}

impl ResourceManager {
    /// A resource manager identified as `client_id` (e.g. `App.Server` or host:port), talking
    /// to the coordinator through `proxy`.
    pub fn new(proxy: CoordinatorProxy, client_id: impl Into<String>) -> ResourceManager {
        ResourceManager {
            proxy,
            client_id: client_id.into(),
        }
    }

    /// The client id sent with branch registrations.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The coordinator proxy.
    pub fn proxy(&self) -> &CoordinatorProxy {
        &self.proxy
    }

    fn for_xid(&self, xid: &str) -> CoordinatorProxy {
        self.proxy.with_context(XID_CONTEXT_KEY, xid)
    }

    /// Registers a branch of `xid` on `resource_id` (the `Participant` object the coordinator
    /// calls in phase two); returns its branch id. AT lock keys: `"table:pk1,pk2;table2:pk"`.
    pub fn register_branch(
        &self,
        xid: &str,
        branch_type: BranchType,
        resource_id: &str,
        lock_keys: &str,
        application_data: &str,
    ) -> Result<i64, TxError> {
        let proxy = self.for_xid(xid);
        super::error::retrying(|| {
            branch_id_reply(proxy.branch_register(
                xid,
                branch_type,
                resource_id,
                &self.client_id,
                lock_keys,
                application_data,
            ))
        })
    }

    /// [`register_branch`](Self::register_branch) without blocking.
    pub fn register_branch_async(
        &self,
        xid: &str,
        branch_type: BranchType,
        resource_id: &str,
        lock_keys: &str,
        application_data: &str,
    ) -> impl Future<Output = Result<i64, TxError>> + Send + 'static {
        let proxy = self.for_xid(xid);
        let client_id = self.client_id.clone();
        let (xid, resource_id, lock_keys, application_data) = (
            xid.to_owned(),
            resource_id.to_owned(),
            lock_keys.to_owned(),
            application_data.to_owned(),
        );
        retrying_async(move || {
            let pending = proxy.branch_register_async(
                &xid,
                branch_type,
                &resource_id,
                &client_id,
                &lock_keys,
                &application_data,
            );
            async move { branch_id_reply(pending.await) }
        })
    }

    /// Reports the phase-one outcome of a branch.
    pub fn report(&self, xid: &str, branch_id: i64, status: BranchStatus) -> Result<(), TxError> {
        self.report_with_data(xid, branch_id, status, "")
    }

    /// Reports the phase-one outcome of a branch, replacing its application data.
    pub fn report_with_data(
        &self,
        xid: &str,
        branch_id: i64,
        status: BranchStatus,
        application_data: &str,
    ) -> Result<(), TxError> {
        let proxy = self.for_xid(xid);
        super::error::retrying(|| {
            report_reply(proxy.branch_report(xid, branch_id, status, application_data))
        })
    }

    /// [`report_with_data`](Self::report_with_data) without blocking.
    pub fn report_async(
        &self,
        xid: &str,
        branch_id: i64,
        status: BranchStatus,
        application_data: &str,
    ) -> impl Future<Output = Result<(), TxError>> + Send + 'static {
        let proxy = self.for_xid(xid);
        let (xid, application_data) = (xid.to_owned(), application_data.to_owned());
        retrying_async(move || {
            let pending = proxy.branch_report_async(&xid, branch_id, status, &application_data);
            async move { report_reply(pending.await) }
        })
    }

    /// Whether the AT row locks `lock_keys` of `resource_id` are free (or held by `xid`).
    pub fn lock_query(
        &self,
        xid: &str,
        branch_type: BranchType,
        resource_id: &str,
        lock_keys: &str,
    ) -> Result<bool, TxError> {
        let proxy = self.for_xid(xid);
        super::error::retrying(|| {
            lockable_reply(proxy.lock_query(xid, branch_type, resource_id, lock_keys))
        })
    }

    /// [`lock_query`](Self::lock_query) without blocking.
    pub fn lock_query_async(
        &self,
        xid: &str,
        branch_type: BranchType,
        resource_id: &str,
        lock_keys: &str,
    ) -> impl Future<Output = Result<bool, TxError>> + Send + 'static {
        let proxy = self.for_xid(xid);
        let (xid, resource_id, lock_keys) =
            (xid.to_owned(), resource_id.to_owned(), lock_keys.to_owned());
        retrying_async(move || {
            let pending = proxy.lock_query_async(&xid, branch_type, &resource_id, &lock_keys);
            async move { lockable_reply(pending.await) }
        })
    }

    /// The try phase of a TCC branch on `resource_id`: finds the global transaction in `tx`
    /// (the `&Current` of the call being served, an XID, a [`GlobalTransaction`] or
    /// [`TxRef::Ambient`]), registers the branch with `application_data` (handed back to
    /// confirm/cancel), then runs `body` with the XID in the ambient context so the calls it
    /// makes join the transaction.
    ///
    /// Success is not reported: a registered TCC branch is confirmed on commit.
    ///
    /// If `body` fails ([`TryError::Body`]) or panics (the panic continues), the branch is
    /// **not** reported either: it stays registered, and the global transaction's rollback
    /// calls [`TccParticipant::cancel`] on it — which undoes whatever part of the try took
    /// effect before it failed (Seata's TCC behaviour). The try's error normally reaches the
    /// TM, which then rolls back; if it does not, the coordinator rolls the transaction back
    /// when it times out.
    ///
    /// Opt-in: a body that knows it failed *without any effect* may call
    /// [`report_phase_one_failed`](Self::report_phase_one_failed) before returning its error;
    /// the coordinator then drops the branch and never calls confirm or cancel for it.
    pub fn tcc_try<'a, T, E, F>(
        &self,
        tx: impl Into<TxRef<'a>>,
        resource_id: &str,
        application_data: &str,
        body: F,
    ) -> Result<T, TryError<E>>
    where
        F: FnOnce(&BranchInfo) -> Result<T, E>,
    {
        let xid = tx.into().xid().ok_or(TryError::NoTransaction)?;
        let branch_id = self
            .register_branch(&xid, BranchType::TCC, resource_id, "", application_data)
            .map_err(TryError::Register)?;
        let branch = BranchInfo {
            xid,
            branch_id,
            branch_type: BranchType::TCC,
            resource_id: resource_id.to_owned(),
            application_data: application_data.to_owned(),
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let _in_tx = ambient::scope(XID_CONTEXT_KEY, branch.xid.as_str());
            body(&branch)
        }));
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(TryError::Body { branch_id, error }),
            Err(panic) => {
                tracing::warn!(
                    xid = %branch.xid, branch_id,
                    "TCC try panicked; the branch stays registered for the rollback to cancel"
                );
                resume_unwind(panic)
            }
        }
    }

    /// Opt-in for a TCC try that failed **without any effect**: reports `branch`
    /// `PhaseOne_Failed`, so the coordinator drops it — neither confirm nor cancel will ever
    /// be called for it. Call it from the body of [`tcc_try`](Self::tcc_try), before returning
    /// the body's error, and only when nothing the try did can take effect (no write made,
    /// no call still in flight that could make one); otherwise let the rollback cancel the
    /// branch, the default.
    ///
    /// If the report fails, the branch stays registered and the rollback cancels it as usual
    /// (an empty rollback, which participants tolerate).
    pub fn report_phase_one_failed(&self, branch: &BranchInfo) -> Result<(), TxError> {
        self.report_with_data(
            &branch.xid,
            branch.branch_id,
            BranchStatus::PhaseOne_Failed,
            &branch.application_data,
        )
    }
}

fn branch_id_reply(
    reply: Result<(TxResult, i64), tars::client::CallError>,
) -> Result<i64, TxError> {
    let (result, branch_id) = reply.map_err(TxError::call("branchRegister"))?;
    check("branchRegister", result)?;
    Ok(branch_id)
}

fn report_reply(reply: Result<TxResult, tars::client::CallError>) -> Result<(), TxError> {
    check(
        "branchReport",
        reply.map_err(TxError::call("branchReport"))?,
    )
}

fn lockable_reply(
    reply: Result<(TxResult, bool), tars::client::CallError>,
) -> Result<bool, TxError> {
    let (result, lockable) = reply.map_err(TxError::call("lockQuery"))?;
    check("lockQuery", result)?;
    Ok(lockable)
}
