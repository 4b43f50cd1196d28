//! The transaction manager (TM) side: begin a global transaction, commit or roll it back.

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

use tars::client::{ambient, XID_CONTEXT_KEY};
use tars_protocols::tarstx::{CoordinatorProxy, GlobalStatus, TransactionExceptionCode};

use super::error::{check, retrying, retrying_async, RunError, TxError};

/// Begins global transactions on a coordinator (`tars.tarscoordinator.CoordinatorObj`).
///
/// Cheap to clone; share one per application.
#[derive(Debug, Clone)]
pub struct TransactionManager {
    proxy: CoordinatorProxy,
    application_id: String,
}

impl TransactionManager {
    /// A transaction manager talking to the coordinator through `proxy`. The application id
    /// sent with `begin` defaults to the name of the running executable.
    pub fn new(proxy: CoordinatorProxy) -> TransactionManager {
        let application_id = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "tars-rs".to_owned());
        TransactionManager {
            proxy,
            application_id,
        }
    }

    /// A copy that begins transactions under `application_id`.
    pub fn with_application_id(mut self, application_id: impl Into<String>) -> TransactionManager {
        self.application_id = application_id.into();
        self
    }

    /// The application id sent with `begin`.
    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    /// The coordinator proxy.
    pub fn proxy(&self) -> &CoordinatorProxy {
        &self.proxy
    }

    /// Begins a global transaction named `name` that the coordinator rolls back if it is not
    /// decided within `timeout`.
    ///
    /// The `begin` call itself never carries an ambient XID: a transaction begun inside
    /// another one is a separate transaction.
    pub fn begin(&self, name: &str, timeout: Duration) -> Result<GlobalTransaction, TxError> {
        let _outside = ambient::without(XID_CONTEXT_KEY);
        retrying(|| {
            let reply = self
                .proxy
                .begin(&self.application_id, name, timeout_ms(timeout))
                .map_err(TxError::call("begin"));
            self.begun(reply)
        })
    }

    /// [`begin`](Self::begin) without blocking: the future resolves with the transaction.
    pub fn begin_async(
        &self,
        name: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<GlobalTransaction, TxError>> + Send + 'static {
        let tm = self.clone();
        let name = name.to_owned();
        retrying_async(move || {
            let pending = {
                let _outside = ambient::without(XID_CONTEXT_KEY);
                tm.proxy
                    .begin_async(&tm.application_id, &name, timeout_ms(timeout))
            };
            let tm = tm.clone();
            async move { tm.begun(pending.await.map_err(TxError::call("begin"))) }
        })
    }

    fn begun(
        &self,
        reply: Result<(tars_protocols::tarstx::TxResult, tars::TarsString), TxError>,
    ) -> Result<GlobalTransaction, TxError> {
        let (result, xid) = reply?;
        check("begin", result)?;
        if xid.is_empty() {
            return Err(TxError::Coordinator {
                op: "begin",
                code: TransactionExceptionCode::BeginFailed,
                message: "the coordinator returned an empty xid".into(),
            });
        }
        Ok(self.transaction(xid.to_string()))
    }

    /// A handle on the existing global transaction `xid` (e.g. to query its status or to
    /// finish one whose commit outcome was unknown).
    pub fn transaction(&self, xid: impl Into<String>) -> GlobalTransaction {
        let xid = xid.into();
        GlobalTransaction {
            proxy: self.proxy.with_context(XID_CONTEXT_KEY, xid.clone()),
            xid,
        }
    }

    /// The transaction of the ambient context (`TX_XID` set on this thread), if any.
    pub fn current(&self) -> Option<GlobalTransaction> {
        ambient::get(XID_CONTEXT_KEY)
            .filter(|x| !x.is_empty())
            .map(|xid| self.transaction(xid.to_string()))
    }

    /// Runs `body` in a new global transaction: begins it, runs `body` with the XID in the
    /// ambient context (so every proxy call `body` makes on this thread carries it), then
    /// commits if `body` returned `Ok` and rolls back if it returned `Err` or panicked (the
    /// panic then continues).
    ///
    /// A commit whose status is `Committed`, `AsyncCommitting`, `Committing` or
    /// `CommitRetrying` (decided; the coordinator finishes phase two) returns the body's
    /// value; any other outcome is a [`RunError`] saying what happened.
    pub fn run<T, E, F>(&self, name: &str, timeout: Duration, body: F) -> Result<T, RunError<E>>
    where
        F: FnOnce(&GlobalTransaction) -> Result<T, E>,
    {
        let tx = self.begin(name, timeout).map_err(RunError::Begin)?;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let _in_tx = tx.enter();
            body(&tx)
        }));
        match outcome {
            Ok(Ok(value)) => match tx.commit() {
                Ok(status) => commit_outcome(tx.xid, status).map(|()| value),
                Err(source) => Err(RunError::Commit {
                    xid: tx.xid,
                    source,
                }),
            },
            Ok(Err(error)) => Err(match tx.rollback() {
                Ok(status) if rolled_back(status) => RunError::RolledBack {
                    xid: tx.xid,
                    error,
                    status,
                },
                Ok(status) => RunError::RollbackFailed {
                    xid: tx.xid,
                    error,
                    status,
                },
                Err(source) => RunError::Rollback {
                    xid: tx.xid,
                    error,
                    source,
                },
            }),
            Err(panic) => {
                match tx.rollback() {
                    Ok(status) => tracing::warn!(
                        xid = %tx.xid, ?status,
                        "global transaction body panicked; rolled back"
                    ),
                    Err(e) => tracing::error!(
                        xid = %tx.xid, error = %e,
                        "global transaction body panicked; rollback failed"
                    ),
                }
                resume_unwind(panic)
            }
        }
    }
}

/// A commit's status as the result of [`TransactionManager::run`].
fn commit_outcome<E>(xid: String, status: GlobalStatus) -> Result<(), RunError<E>> {
    match status {
        GlobalStatus::Committed
        | GlobalStatus::AsyncCommitting
        | GlobalStatus::Committing
        | GlobalStatus::CommitRetrying => Ok(()),
        GlobalStatus::TimeoutRollbacking
        | GlobalStatus::TimeoutRollbackRetrying
        | GlobalStatus::TimeoutRollbacked
        | GlobalStatus::TimeoutRollbackFailed => Err(RunError::TimeoutRollbacked { xid, status }),
        _ => Err(RunError::CommitFailed { xid, status }),
    }
}

/// Whether a rollback's status means the transaction is (or is being) rolled back.
fn rolled_back(status: GlobalStatus) -> bool {
    matches!(
        status,
        GlobalStatus::Rollbacked
            | GlobalStatus::TimeoutRollbacked
            | GlobalStatus::Rollbacking
            | GlobalStatus::RollbackRetrying
            | GlobalStatus::TimeoutRollbacking
            | GlobalStatus::TimeoutRollbackRetrying
            | GlobalStatus::Finished
    )
}

fn timeout_ms(timeout: Duration) -> i32 {
    i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX)
}

/// One global transaction, identified by its XID. Cheap to clone.
///
/// Its calls to the coordinator carry the XID in their context as well (`TX_XID`), so
/// XID-aware routing reaches the coordinator node owning the transaction.
#[derive(Debug, Clone)]
pub struct GlobalTransaction {
    proxy: CoordinatorProxy,
    xid: String,
}

impl GlobalTransaction {
    /// The global transaction id.
    pub fn xid(&self) -> &str {
        &self.xid
    }

    /// Puts the XID in this thread's ambient context until the guard is dropped: every proxy
    /// call made meanwhile carries it. (Asynchronous code that moves across threads should
    /// rather set `TX_XID` on its proxies with `with_context`.)
    pub fn enter(&self) -> ambient::ScopeGuard {
        ambient::scope(XID_CONTEXT_KEY, self.xid.as_str())
    }

    /// Commits; returns the status the TM should see (`Committed` also for an asynchronous
    /// commit, `TimeoutRollback*` if the transaction had timed out, `Finished` if the
    /// coordinator no longer knows it).
    pub fn commit(&self) -> Result<GlobalStatus, TxError> {
        retrying(|| status_reply("commit", self.proxy.commit(&self.xid)))
    }

    /// [`commit`](Self::commit) without blocking.
    pub fn commit_async(
        &self,
    ) -> impl Future<Output = Result<GlobalStatus, TxError>> + Send + 'static {
        let (proxy, xid) = (self.proxy.clone(), self.xid.clone());
        retrying_async(move || {
            let pending = proxy.commit_async(&xid);
            async move { status_reply("commit", pending.await) }
        })
    }

    /// Rolls back (branches in reverse registration order); returns the status after it.
    pub fn rollback(&self) -> Result<GlobalStatus, TxError> {
        retrying(|| status_reply("rollback", self.proxy.rollback(&self.xid)))
    }

    /// [`rollback`](Self::rollback) without blocking.
    pub fn rollback_async(
        &self,
    ) -> impl Future<Output = Result<GlobalStatus, TxError>> + Send + 'static {
        let (proxy, xid) = (self.proxy.clone(), self.xid.clone());
        retrying_async(move || {
            let pending = proxy.rollback_async(&xid);
            async move { status_reply("rollback", pending.await) }
        })
    }

    /// The current status (`Finished` when the coordinator no longer knows the transaction).
    pub fn status(&self) -> Result<GlobalStatus, TxError> {
        retrying(|| status_reply("getStatus", self.proxy.get_status(&self.xid)))
    }

    /// [`status`](Self::status) without blocking.
    pub fn status_async(
        &self,
    ) -> impl Future<Output = Result<GlobalStatus, TxError>> + Send + 'static {
        let (proxy, xid) = (self.proxy.clone(), self.xid.clone());
        retrying_async(move || {
            let pending = proxy.get_status_async(&xid);
            async move { status_reply("getStatus", pending.await) }
        })
    }

    /// Reports an outcome the TM decided on its own (SAGA); returns the status now.
    pub fn report(&self, status: GlobalStatus) -> Result<GlobalStatus, TxError> {
        retrying(|| status_reply("globalReport", self.proxy.global_report(&self.xid, status)))
    }

    /// [`report`](Self::report) without blocking.
    pub fn report_async(
        &self,
        status: GlobalStatus,
    ) -> impl Future<Output = Result<GlobalStatus, TxError>> + Send + 'static {
        let (proxy, xid) = (self.proxy.clone(), self.xid.clone());
        retrying_async(move || {
            let pending = proxy.global_report_async(&xid, status);
            async move { status_reply("globalReport", pending.await) }
        })
    }
}

fn status_reply(
    op: &'static str,
    reply: Result<(tars_protocols::tarstx::TxResult, GlobalStatus), tars::client::CallError>,
) -> Result<GlobalStatus, TxError> {
    let (result, status) = reply.map_err(TxError::call(op))?;
    check(op, result)?;
    Ok(status)
}
