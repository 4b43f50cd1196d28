//! `tars.tarscoordinator.CoordinatorObj`: the Coordinator interface over the core, the store
//! and the phase-two driver. Nothing here blocks: every call that changes state is answered
//! through a deferred reply once its change is durable, and commit/rollback are answered
//! when phase two has run (or is left to the retry task).
//!
//! Each operation is written once, over a [`Defer`]: what it calls when it answers later.
//! The Tars servant defers through its `Current` (a deferred reply); [`direct`] calls the
//! same operations from the same process without the Tars layer and hands back a future of
//! the answer (the Seata front end of a node calls its coordinator that way).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use tars::TarsString;

use tars::server::{Current, Responder, ServantError};
use tars_protocols::tarstx::{
    BranchStatus, BranchType, Coordinator, CoordinatorResponder, GlobalStatus, ResultCode,
    TransactionExceptionCode as Code, TxBranch, TxDetail, TxFilter, TxResult, TxSummary,
};

use crate::access::{AccessConfig, Action};
use crate::core::{TransactionCore, TxError};
use crate::driver::PhaseTwoDriver;
use crate::session::{wall_clock_ms, BranchSession, GlobalSession};
use crate::store::{RowsRefused, StoreError, TxStore};

/// Timeout of a transaction begun with `timeoutMs <= 0` (Seata's default).
pub const DEFAULT_TX_TIMEOUT: Duration = Duration::from_secs(60);

/// The Coordinator servant.
#[derive(Debug, Clone)]
pub struct CoordinatorServantImpl {
    core: Arc<TransactionCore>,
    store: Arc<dyn TxStore>,
    driver: Arc<PhaseTwoDriver>,
    access: Arc<AccessConfig>,
}

/// The context key in which a trusted forwarder (a cluster node routing a call to a
/// fragment's leader, [`AccessConfig::forwarders`]) names the principal it forwards for.
pub const PRINCIPAL_CONTEXT_KEY: &str = "tars.access.principal";

/// The principal a call acts as: the one named in [`PRINCIPAL_CONTEXT_KEY`] when the caller
/// may name one — an in-process caller (no peer address: the node's own front ends and
/// routers, set up by the node itself) or a connection whose principal `trusted` accepts —
/// else the connection's own. An empty name is an anonymous caller.
pub fn claimed_principal(current: &Current, trusted: impl Fn(&str) -> bool) -> Option<&str> {
    let direct = current.principal();
    let may_name = current.peer_addr().is_none() || direct.is_some_and(trusted);
    match current.context().get(PRINCIPAL_CONTEXT_KEY) {
        Some(named) if may_name => Some(named.as_str()).filter(|n| !n.is_empty()),
        _ => direct,
    }
}

/// Sends an operation's answer once, from any thread.
pub type Later<T> = Box<dyn FnOnce(T) + Send + 'static>;

/// What an operation calls when it will answer later: the sender of its answer, or `None`
/// when nobody waits for one (a one-way call; the change is made all the same).
pub type Defer<'a, T> = dyn FnMut() -> Option<Later<T>> + 'a;

/// The answer of an operation called with [`direct`]: ready at once, or when the operation
/// sends it. `None` when the operation dropped its sender without answering (a bug, never
/// expected).
pub struct DirectAnswer<T> {
    now: Option<T>,
    later: Option<oneshot::Receiver<T>>,
}

impl<T> Unpin for DirectAnswer<T> {}

impl<T> Future for DirectAnswer<T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(now) = self.now.take() {
            return Poll::Ready(Some(now));
        }
        match self.later.as_mut() {
            Some(rx) => Pin::new(rx).poll(cx).map(|r| r.ok()),
            None => Poll::Ready(None),
        }
    }
}

/// Runs `op` (one of the servant's `*_with` operations) in this process and returns the
/// future of its answer: the value it returns when it answered at once, else what it sends
/// through the deferral.
pub fn direct<T: Send + 'static>(op: impl FnOnce(&mut Defer<'_, T>) -> T) -> DirectAnswer<T> {
    let (tx, rx) = oneshot::channel();
    let mut tx = Some(tx);
    let mut deferred = false;
    let now = op(&mut || {
        deferred = true;
        tx.take().map(|tx| {
            Box::new(move |answer: T| {
                // The caller may have gone away; nothing to do then.
                let _ = tx.send(answer);
            }) as Later<T>
        })
    });
    if deferred {
        DirectAnswer {
            now: None,
            later: Some(rx),
        }
    } else {
        DirectAnswer {
            now: Some(now),
            later: None,
        }
    }
}

/// The deferral of a Tars call: a deferred reply through `current`, sent with `send`.
fn through<'a, T: 'static>(
    current: &'a mut Current,
    send: fn(Responder, T),
) -> impl FnMut() -> Option<Later<T>> + 'a {
    move || {
        current
            .defer()
            .map(|responder| Box::new(move |answer: T| send(responder, answer)) as Later<T>)
    }
}

/// The sender of a `(result, status)` answer through a generated responder function. A
/// macro, not a function: each use is a capture-free closure (a `fn` pointer).
macro_rules! end_state {
    ($send:expr) => {
        |r: Responder, (result, status): (TxResult, GlobalStatus)| $send(r, &result, &status)
    };
}

/// A successful result.
pub fn ok() -> TxResult {
    TxResult {
        code: ResultCode::Success,
        error: Code::Unknown,
        message: Default::default(),
    }
}

/// A failed result.
pub fn failed(code: Code, message: impl Into<TarsString>) -> TxResult {
    TxResult {
        code: ResultCode::Failed,
        error: code,
        message: message.into(),
    }
}

impl From<&TxError> for TxResult {
    fn from(e: &TxError) -> TxResult {
        failed(e.code, e.message.clone())
    }
}

/// A store failure as the client sees it: `NotRaftLeader` when this node no longer leads the
/// transaction's fragment (retry on the current leader), else `FailedStore`.
pub fn store_failed(e: &StoreError) -> TxResult {
    let code = match e {
        StoreError::NotLeader { .. } => Code::NotRaftLeader,
        _ => Code::FailedStore,
    };
    failed(code, e.to_string())
}

/// The result of a change once the store answered: success, or `FailedStore`.
fn stored(r: std::result::Result<(), StoreError>) -> TxResult {
    match r {
        Ok(()) => ok(),
        Err(e) => store_failed(&e),
    }
}

type Result<T> = std::result::Result<T, ServantError>;

impl CoordinatorServantImpl {
    /// A servant over these parts.
    pub fn new(
        core: Arc<TransactionCore>,
        store: Arc<dyn TxStore>,
        driver: Arc<PhaseTwoDriver>,
    ) -> CoordinatorServantImpl {
        CoordinatorServantImpl {
            core,
            store,
            driver,
            access: Arc::new(AccessConfig::default()),
        }
    }

    /// Checks every call against `access` from now on.
    pub fn with_access(mut self, access: AccessConfig) -> CoordinatorServantImpl {
        self.access = Arc::new(access);
        self
    }

    /// The access rules calls are checked against.
    pub fn access(&self) -> &AccessConfig {
        &self.access
    }

    /// The principal a Tars call acts as: its connection's, or the one a trusted forwarder
    /// ([`AccessConfig::forwarders`]) or an in-process caller names in
    /// [`PRINCIPAL_CONTEXT_KEY`] (see [`claimed_principal`]).
    pub fn principal_of<'c>(&self, current: &'c Current) -> Option<&'c str> {
        claimed_principal(current, |p| self.access.forwarders.iter().any(|f| f == p))
    }

    /// `Err` with the refusal to send when `principal` may not do `action` to `xid`
    /// ([`crate::access`]); refusals are logged.
    pub fn authorize(
        &self,
        action: Action,
        principal: Option<&str>,
        xid: &str,
    ) -> std::result::Result<(), TxResult> {
        if !self.access.enforce {
            return Ok(());
        }
        let owner = match action {
            Action::Begin => None,
            _ => self.core.owner_of(xid),
        };
        self.access
            .check(action, principal, owner.as_deref())
            .map_err(|why| {
                tracing::warn!(?action, principal, xid, "refused: {why}");
                failed(Code::AccessDenied, why)
            })
    }

    /// Answers with `answer` of the store's result once everything queued so far is durable
    /// (a one-way call gets no answer; its change is stored all the same).
    fn when_durable<T: 'static>(
        &self,
        defer: &mut Defer<'_, T>,
        answer: impl FnOnce(std::result::Result<(), StoreError>) -> T + Send + 'static,
    ) {
        if let Some(later) = defer() {
            self.store
                .after_durable(Box::new(move |r| later(answer(r))));
        }
    }

    /// Commit or rollback: `decide` makes the decision while the transaction is reserved
    /// from the background tasks; once it is durable, phase two is driven when the decision
    /// needs it (`drive_now`, else in the background) and the TM is answered with the status
    /// it ends in, or at once with the decision's status.
    fn decide(
        &self,
        defer: &mut Defer<'_, (TxResult, GlobalStatus)>,
        xid: String,
        decide: impl FnOnce() -> GlobalStatus,
        drive_now: fn(GlobalStatus) -> bool,
    ) -> GlobalStatus {
        let reserved = self.driver.reserve(&xid);
        let status = decide();
        // Whether phase two is due follows from where the session is, not from what the TM is
        // told: an all-AT commit tells the TM Committed while its session is AsyncCommitting.
        let phase_two =
            reserved && crate::core::phase_two_direction(self.core.status(&xid)).is_some();
        if reserved && !phase_two {
            self.driver.release(&xid, status);
        }
        let wait = phase_two && drive_now(status);
        let driver = self.driver.clone();
        let later = defer();
        self.store.after_durable(Box::new(move |r| {
            if let Err(e) = r {
                if phase_two {
                    driver.release(&xid, status);
                }
                match later {
                    Some(later) => later((store_failed(&e), status)),
                    None => tracing::error!(xid, error = %e, "decision not stored"),
                }
                return;
            }
            let reply = later.map(|later| {
                Box::new(move |end: GlobalStatus| later((ok(), end))) as crate::driver::Done
            });
            if wait {
                driver.drive_reserved(xid, reply);
                return;
            }
            if phase_two {
                driver.drive_reserved(xid, None);
            }
            if let Some(reply) = reply {
                reply(status);
            }
        }));
        status
    }
}

impl CoordinatorServantImpl {
    /// Registers a branch in the core; the answer waits until it is durable.
    #[allow(clippy::too_many_arguments)]
    fn register(
        &self,
        defer: &mut Defer<'_, (TxResult, i64)>,
        xid: &str,
        branch_type: BranchType,
        resource_id: &str,
        client_id: &str,
        lock_keys: &str,
        application_data: &str,
    ) -> (TxResult, i64) {
        match self.core.branch_register(
            xid,
            branch_type,
            resource_id,
            client_id,
            lock_keys,
            application_data,
        ) {
            Ok(branch_id) => {
                self.when_durable(defer, move |r| {
                    let id = if r.is_ok() { branch_id } else { 0 };
                    (stored(r), id)
                });
                (ok(), branch_id)
            }
            Err(e) => ((&e).into(), 0),
        }
    }

    /// An AT branch whose rows are shared with other coordinators (cluster mode): checks the
    /// rows here first (a conflict inside the fragment is answered at once), takes the rows
    /// it does not hold yet in the shared store, and only then registers the branch. Rows
    /// taken for a branch that then fails to register are released again.
    fn register_shared_rows(
        &self,
        defer: &mut Defer<'_, (TxResult, i64)>,
        xid: String,
        resource_id: String,
        client_id: String,
        lock_keys: String,
        application_data: String,
    ) {
        let send = |defer: &mut Defer<'_, (TxResult, i64)>, r: TxResult| {
            if let Some(later) = defer() {
                later((r, 0));
            }
        };
        let rows = match crate::lock::row_keys(&resource_id, &lock_keys) {
            Ok(rows) => rows,
            Err(e) => return send(defer, failed(Code::BranchRegisterFailed, e.to_string())),
        };
        if self.core.status(&xid) != GlobalStatus::Begin {
            // Unknown, closed or deciding: the core gives the precise refusal.
            let mut deferred = false;
            let (r, _) = self.register(
                &mut || {
                    deferred = true;
                    defer()
                },
                &xid,
                BranchType::AT,
                &resource_id,
                &client_id,
                &lock_keys,
                &application_data,
            );
            if !deferred {
                send(defer, r);
            }
            return;
        }
        match self.core.lock_query(&xid, &resource_id, &lock_keys) {
            Ok(true) => {}
            Ok(false) => {
                return send(
                    defer,
                    failed(
                        Code::LockKeyConflict,
                        format!("{lock_keys} locked in {resource_id}"),
                    ),
                )
            }
            Err(e) => return send(defer, (&e).into()),
        }
        let new_rows = self.core.locks().not_held_by(&xid, &rows);
        let Some(later) = defer() else {
            return; // a one-way registration has nobody to tell its branch id
        };
        let this = self.clone();
        let taken = new_rows.clone();
        let holder = xid.clone();
        self.store.acquire_rows(
            &holder,
            new_rows,
            Box::new(move |granted| {
                let refused = match granted {
                    Ok(()) => {
                        match this.core.branch_register(
                            &xid,
                            BranchType::AT,
                            &resource_id,
                            &client_id,
                            &lock_keys,
                            &application_data,
                        ) {
                            Ok(branch_id) => {
                                this.store.after_durable(Box::new(move |r| {
                                    let id = if r.is_ok() { branch_id } else { 0 };
                                    later((stored(r), id))
                                }));
                                return;
                            }
                            Err(e) => {
                                this.store.rows_released(&taken);
                                (&e).into()
                            }
                        }
                    }
                    Err(RowsRefused::Conflict { row, holder }) => failed(
                        Code::LockKeyConflict,
                        format!("row {row} is locked by {holder}"),
                    ),
                    Err(RowsRefused::Store(e)) => store_failed(&e),
                };
                later((refused, 0));
            }),
        );
    }
}

fn timeout_of(ms: i32) -> Duration {
    if ms <= 0 {
        DEFAULT_TX_TIMEOUT
    } else {
        // The core cuts it to the admitted maximum (`Admission::max_timeout`).
        Duration::from_millis(ms as u64)
    }
}

/// The operations, each answering at once (its return value) or later through `defer`.
impl CoordinatorServantImpl {
    /// Begins a transaction; answers with its XID once the begin is durable.
    /// The transaction is owned by `owner` (the principal that began it, `None`: anonymous).
    pub fn begin_with(
        &self,
        defer: &mut Defer<'_, (TxResult, TarsString)>,
        owner: Option<&str>,
        application_id: &str,
        transaction_name: &str,
        timeout_ms: i32,
    ) -> (TxResult, TarsString) {
        if let Err(refused) = self.authorize(Action::Begin, owner, "") {
            return (refused, TarsString::new());
        }
        let xid = match self.core.begin_owned(
            owner.unwrap_or_default(),
            application_id,
            transaction_name,
            timeout_of(timeout_ms),
            Instant::now(),
        ) {
            Ok(xid) => xid,
            Err(e) => return ((&e).into(), TarsString::new()),
        };
        let answer = TarsString::from(&xid);
        self.when_durable(defer, move |r| {
            // A begin that was not stored hands out no XID.
            let xid = if r.is_ok() { answer } else { TarsString::new() };
            (stored(r), xid)
        });
        (ok(), xid.into())
    }

    /// Commits `xid`. The TM waits for a TCC commit; a timed-out transaction's rollback and an
    /// all-AT async commit run in the background (the TM is told TimeoutRollbacking /
    /// Committed).
    pub fn commit_with(
        &self,
        defer: &mut Defer<'_, (TxResult, GlobalStatus)>,
        principal: Option<&str>,
        xid: &str,
    ) -> (TxResult, GlobalStatus) {
        if let Err(refused) = self.authorize(Action::End, principal, xid) {
            return (refused, GlobalStatus::UnKnown);
        }
        let core = self.core.clone();
        let x = xid.to_owned();
        let status = self.decide(
            defer,
            xid.to_owned(),
            move || core.commit(&x, Instant::now()),
            |s| s == GlobalStatus::Committing,
        );
        (ok(), status)
    }

    /// Rolls `xid` back; the TM waits for phase two.
    pub fn rollback_with(
        &self,
        defer: &mut Defer<'_, (TxResult, GlobalStatus)>,
        principal: Option<&str>,
        xid: &str,
    ) -> (TxResult, GlobalStatus) {
        if let Err(refused) = self.authorize(Action::End, principal, xid) {
            return (refused, GlobalStatus::UnKnown);
        }
        let core = self.core.clone();
        let x = xid.to_owned();
        let status = self.decide(
            defer,
            xid.to_owned(),
            move || core.rollback(&x, Instant::now()),
            |s| {
                matches!(
                    s,
                    GlobalStatus::Rollbacking | GlobalStatus::TimeoutRollbacking
                )
            },
        );
        (ok(), status)
    }

    /// The status of `xid` (answered at once).
    pub fn get_status_with(&self, principal: Option<&str>, xid: &str) -> (TxResult, GlobalStatus) {
        if let Err(refused) = self.authorize(Action::Read, principal, xid) {
            return (refused, GlobalStatus::UnKnown);
        }
        (ok(), self.core.status(xid))
    }

    /// A TM reports the end state of `xid`; answered once stored.
    pub fn global_report_with(
        &self,
        defer: &mut Defer<'_, (TxResult, GlobalStatus)>,
        principal: Option<&str>,
        xid: &str,
        status: GlobalStatus,
    ) -> (TxResult, GlobalStatus) {
        if let Err(refused) = self.authorize(Action::End, principal, xid) {
            return (refused, GlobalStatus::UnKnown);
        }
        match self.core.global_report(xid, status) {
            Ok(now) => {
                // An end state: nothing to drive, only to answer once stored.
                self.when_durable(defer, move |r| (stored(r), now));
                (ok(), now)
            }
            Err(e) => ((&e).into(), self.core.status(xid)),
        }
    }

    /// Registers a branch; answers with its id once durable.
    #[allow(clippy::too_many_arguments)]
    pub fn branch_register_with(
        &self,
        defer: &mut Defer<'_, (TxResult, i64)>,
        principal: Option<&str>,
        xid: &str,
        branch_type: BranchType,
        resource_id: &str,
        client_id: &str,
        lock_keys: &str,
        application_data: &str,
    ) -> (TxResult, i64) {
        if let Err(refused) = self.authorize(Action::Join, principal, xid) {
            return (refused, 0);
        }
        if branch_type == BranchType::AT && self.store.shares_locks() {
            self.register_shared_rows(
                defer,
                xid.to_owned(),
                resource_id.to_owned(),
                client_id.to_owned(),
                lock_keys.to_owned(),
                application_data.to_owned(),
            );
            return (ok(), 0);
        }
        self.register(
            defer,
            xid,
            branch_type,
            resource_id,
            client_id,
            lock_keys,
            application_data,
        )
    }

    /// A branch reports its phase-one status; answered once stored.
    pub fn branch_report_with(
        &self,
        defer: &mut Defer<'_, TxResult>,
        principal: Option<&str>,
        xid: &str,
        branch_id: i64,
        status: BranchStatus,
        application_data: &str,
    ) -> TxResult {
        if let Err(refused) = self.authorize(Action::Join, principal, xid) {
            return refused;
        }
        match self
            .core
            .branch_report(xid, branch_id, status, application_data)
        {
            Ok(()) => {
                self.when_durable(defer, stored);
                ok()
            }
            Err(e) => (&e).into(),
        }
    }

    /// Whether `lock_keys` of `resource_id` could be locked by `xid` (answered at once).
    pub fn lock_query_with(
        &self,
        principal: Option<&str>,
        xid: &str,
        resource_id: &str,
        lock_keys: &str,
    ) -> (TxResult, bool) {
        if let Err(refused) = self.authorize(Action::Read, principal, xid) {
            return (refused, false);
        }
        match self.core.lock_query(xid, resource_id, lock_keys) {
            Ok(lockable) => (ok(), lockable),
            Err(e) => ((&e).into(), false),
        }
    }
}

/// The operator's operations.
impl CoordinatorServantImpl {
    /// Drives `xid`, which gave up retrying, again now ([`PhaseTwoDriver::retry`]).
    pub fn retry_with(&self, principal: Option<&str>, xid: &str) -> (TxResult, GlobalStatus) {
        if let Err(refused) = self.authorize(Action::Operate, principal, xid) {
            return (refused, GlobalStatus::UnKnown);
        }
        if self.driver.retry(xid) {
            tracing::warn!(xid, principal, "operator: retry");
            (ok(), self.core.status(xid))
        } else {
            (
                failed(
                    Code::GlobalTransactionStatusInvalid,
                    "not a transaction whose phase two gave up (CommitRetryTimeout, \
                     RollbackRetryTimeout), or a row it released is taken by another",
                ),
                self.core.status(xid),
            )
        }
    }

    /// Stops the retries of `xid` now ([`PhaseTwoDriver::stop_retrying`]); answered once
    /// stored.
    pub fn stop_retrying_with(
        &self,
        defer: &mut Defer<'_, (TxResult, GlobalStatus)>,
        principal: Option<&str>,
        xid: &str,
    ) -> (TxResult, GlobalStatus) {
        if let Err(refused) = self.authorize(Action::Operate, principal, xid) {
            return (refused, GlobalStatus::UnKnown);
        }
        match self.driver.stop_retrying(xid) {
            Ok(end) => {
                tracing::warn!(xid, principal, ?end, "operator: stop retrying");
                self.when_durable(defer, move |r| (stored(r), end));
                (ok(), end)
            }
            Err(why) => (
                failed(Code::GlobalTransactionStatusInvalid, why),
                self.core.status(xid),
            ),
        }
    }
}

/// Whether `session` matches `filter` at `now_ms` (ms since the Unix epoch).
pub fn filter_matches(filter: &TxFilter, session: &GlobalSession, now_ms: i64) -> bool {
    let status = format!("{:?}", session.status);
    let mut wanted = filter
        .statuses
        .iter()
        .map(|s| s.as_str().trim())
        .filter(|s| !s.is_empty())
        .peekable();
    (wanted.peek().is_none() || wanted.any(|w| w.eq_ignore_ascii_case(&status)))
        && (filter.application_id.is_empty()
            || session.application_id == filter.application_id.as_str())
        && now_ms.saturating_sub(session.begin_time_ms) >= filter.min_age_ms
}

fn branch_of(b: &BranchSession) -> TxBranch {
    TxBranch {
        branch_id: b.branch_id,
        branch_type: b.branch_type,
        resource_id: b.resource_id.as_str().into(),
        client_id: b.client_id.as_str().into(),
        status: b.status,
        lock_keys: b.lock_keys.as_str().into(),
        application_data: b.application_data.as_str().into(),
    }
}

/// The operator's reads (the web console's transaction pages).
impl CoordinatorServantImpl {
    fn summary_of(&self, s: &GlobalSession) -> TxSummary {
        let retry = self.driver.retry_state(&s.xid);
        TxSummary {
            xid: s.xid.as_str().into(),
            application_id: s.application_id.as_str().into(),
            transaction_name: s.transaction_name.as_str().into(),
            owner: s.owner.as_str().into(),
            status: s.status,
            active: s.active,
            begin_time_ms: s.begin_time_ms,
            timeout_ms: i64::try_from(s.timeout.as_millis()).unwrap_or(i64::MAX),
            branch_count: i32::try_from(s.branches.len()).unwrap_or(i32::MAX),
            retry_attempts: retry.map_or(-1, |r| i32::try_from(r.attempts).unwrap_or(i32::MAX)),
            next_retry_in_ms: retry.map_or(-1, |r| {
                i64::try_from(r.next_in.as_millis()).unwrap_or(i64::MAX)
            }),
            driving: self.driver.is_driving(&s.xid),
        }
    }

    /// The open transactions `filter` selects, oldest first, at most `filter.limit` (0: all).
    /// A read ([`Action::Read`]).
    pub fn list_transactions_with(
        &self,
        principal: Option<&str>,
        filter: &TxFilter,
    ) -> (TxResult, Vec<TxSummary>) {
        if let Err(refused) = self.authorize(Action::Read, principal, "") {
            return (refused, Vec::new());
        }
        let now_ms = wall_clock_ms();
        let mut sessions = self
            .core
            .sessions_snapshot(|s| filter_matches(filter, s, now_ms));
        if let Ok(limit) = usize::try_from(filter.limit) {
            if limit > 0 {
                sessions.truncate(limit);
            }
        }
        (ok(), sessions.iter().map(|s| self.summary_of(s)).collect())
    }

    /// `xid` in full: its branches, row locks and retry state. `GlobalTransactionNotExist`
    /// (saying how it ended, when this coordinator knows) when it is not open. A read.
    pub fn describe_transaction_with(
        &self,
        principal: Option<&str>,
        xid: &str,
    ) -> (TxResult, TxDetail) {
        if let Err(refused) = self.authorize(Action::Read, principal, xid) {
            return (refused, TxDetail::default());
        }
        let Some(s) = self.core.session(xid) else {
            let ended = self.core.outcome(xid);
            let message = match ended {
                Some(how) => format!("{xid} has ended ({how:?})"),
                None => format!("{xid} is not an open transaction"),
            };
            let mut detail = TxDetail::default();
            detail.summary.xid = xid.into();
            detail.summary.status = ended.unwrap_or(GlobalStatus::Finished);
            return (failed(Code::GlobalTransactionNotExist, message), detail);
        };
        let detail = TxDetail {
            summary: self.summary_of(&s),
            branches: s.branches.iter().map(branch_of).collect(),
            locks: self
                .core
                .locks()
                .held_by(xid)
                .into_iter()
                .map(TarsString::from)
                .collect(),
            retried_at_ms: self.core.retried_at(xid).unwrap_or(0),
        };
        (ok(), detail)
    }
}

impl Coordinator for CoordinatorServantImpl {
    fn begin(
        &self,
        current: &mut Current,
        application_id: TarsString,
        transaction_name: TarsString,
        timeout_ms: i32,
    ) -> Result<(TxResult, TarsString)> {
        let principal = self.principal_of(current).map(str::to_owned);
        Ok(self.begin_with(
            &mut through(current, |r, (result, xid)| {
                CoordinatorResponder::begin(r, &result, &xid)
            }),
            principal.as_deref(),
            &application_id,
            &transaction_name,
            timeout_ms,
        ))
    }

    fn commit(&self, current: &mut Current, xid: TarsString) -> Result<(TxResult, GlobalStatus)> {
        let principal = self.principal_of(current).map(str::to_owned);
        Ok(self.commit_with(
            &mut through(current, end_state!(CoordinatorResponder::commit)),
            principal.as_deref(),
            &xid,
        ))
    }

    fn rollback(&self, current: &mut Current, xid: TarsString) -> Result<(TxResult, GlobalStatus)> {
        let principal = self.principal_of(current).map(str::to_owned);
        Ok(self.rollback_with(
            &mut through(current, end_state!(CoordinatorResponder::rollback)),
            principal.as_deref(),
            &xid,
        ))
    }

    fn get_status(
        &self,
        current: &mut Current,
        xid: TarsString,
    ) -> Result<(TxResult, GlobalStatus)> {
        Ok(self.get_status_with(self.principal_of(current), &xid))
    }

    fn global_report(
        &self,
        current: &mut Current,
        xid: TarsString,
        status: GlobalStatus,
    ) -> Result<(TxResult, GlobalStatus)> {
        let principal = self.principal_of(current).map(str::to_owned);
        Ok(self.global_report_with(
            &mut through(current, end_state!(CoordinatorResponder::global_report)),
            principal.as_deref(),
            &xid,
            status,
        ))
    }

    fn branch_register(
        &self,
        current: &mut Current,
        xid: TarsString,
        branch_type: BranchType,
        resource_id: TarsString,
        client_id: TarsString,
        lock_keys: TarsString,
        application_data: TarsString,
    ) -> Result<(TxResult, i64)> {
        let principal = self.principal_of(current).map(str::to_owned);
        Ok(self.branch_register_with(
            &mut through(current, |r, (result, id)| {
                CoordinatorResponder::branch_register(r, &result, &id)
            }),
            principal.as_deref(),
            &xid,
            branch_type,
            &resource_id,
            &client_id,
            &lock_keys,
            &application_data,
        ))
    }

    fn branch_report(
        &self,
        current: &mut Current,
        xid: TarsString,
        branch_id: i64,
        status: BranchStatus,
        application_data: TarsString,
    ) -> Result<TxResult> {
        let principal = self.principal_of(current).map(str::to_owned);
        Ok(self.branch_report_with(
            &mut through(current, |r, result| {
                CoordinatorResponder::branch_report(r, &result)
            }),
            principal.as_deref(),
            &xid,
            branch_id,
            status,
            &application_data,
        ))
    }

    fn lock_query(
        &self,
        current: &mut Current,
        xid: TarsString,
        _branch_type: BranchType,
        resource_id: TarsString,
        lock_keys: TarsString,
    ) -> Result<(TxResult, bool)> {
        Ok(self.lock_query_with(self.principal_of(current), &xid, &resource_id, &lock_keys))
    }

    fn retry(&self, current: &mut Current, xid: TarsString) -> Result<(TxResult, GlobalStatus)> {
        Ok(self.retry_with(self.principal_of(current), &xid))
    }

    fn stop_retrying(
        &self,
        current: &mut Current,
        xid: TarsString,
    ) -> Result<(TxResult, GlobalStatus)> {
        let principal = self.principal_of(current).map(str::to_owned);
        Ok(self.stop_retrying_with(
            &mut through(current, end_state!(CoordinatorResponder::stop_retrying)),
            principal.as_deref(),
            &xid,
        ))
    }

    fn list_transactions(
        &self,
        current: &mut Current,
        filter: TxFilter,
    ) -> Result<(TxResult, Vec<TxSummary>)> {
        Ok(self.list_transactions_with(self.principal_of(current), &filter))
    }

    fn describe_transaction(
        &self,
        current: &mut Current,
        xid: TarsString,
    ) -> Result<(TxResult, TxDetail)> {
        Ok(self.describe_transaction_with(self.principal_of(current), &xid))
    }
}
