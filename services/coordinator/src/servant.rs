//! `tars.tarscoordinator.CoordinatorObj`: the Coordinator interface over the core, the store
//! and the phase-two driver. Nothing here blocks: every call that changes state is answered
//! through a deferred reply once its change is durable, and commit/rollback are answered
//! when phase two has run (or is left to the retry task).

use std::sync::Arc;
use std::time::{Duration, Instant};
use tars::TarsString;

use tars::server::{Current, Responder, ServantError};
use tars_protocols::tarstx::{
    BranchStatus, BranchType, Coordinator, CoordinatorResponder, GlobalStatus, ResultCode,
    TransactionExceptionCode as Code, TxResult,
};

use crate::core::{TransactionCore, TxError};
use crate::driver::PhaseTwoDriver;
use crate::store::{RowsRefused, StoreError, TxStore};

/// Timeout of a transaction begun with `timeoutMs <= 0` (Seata's default).
pub const DEFAULT_TX_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest timeout a transaction may ask for.
pub const MAX_TX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The Coordinator servant.
#[derive(Debug, Clone)]
pub struct CoordinatorServantImpl {
    core: Arc<TransactionCore>,
    store: Arc<dyn TxStore>,
    driver: Arc<PhaseTwoDriver>,
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
        }
    }

    /// Answers through `reply` once everything queued so far is durable (a one-way call gets
    /// no answer; its change is stored all the same).
    fn when_durable(
        &self,
        current: &mut Current,
        reply: impl FnOnce(Responder, std::result::Result<(), StoreError>) + Send + 'static,
    ) {
        if let Some(responder) = current.defer() {
            self.store
                .after_durable(Box::new(move |r| reply(responder, r)));
        }
    }

    /// Commit or rollback: `decide` makes the decision while the transaction is reserved
    /// from the background tasks; once it is durable, phase two is driven when the decision
    /// needs it (`drive_now`, else in the background) and the TM is answered with the status
    /// it ends in, or at once with the decision's status.
    fn decide(
        &self,
        current: &mut Current,
        xid: String,
        decide: impl FnOnce() -> GlobalStatus,
        drive_now: fn(GlobalStatus) -> bool,
        send: fn(Responder, &TxResult, &GlobalStatus),
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
        let responder = current.defer();
        self.store.after_durable(Box::new(move |r| {
            if let Err(e) = r {
                if phase_two {
                    driver.release(&xid, status);
                }
                match responder {
                    Some(responder) => send(responder, &store_failed(&e), &status),
                    None => tracing::error!(xid, error = %e, "decision not stored"),
                }
                return;
            }
            let reply = responder.map(|responder| {
                Box::new(move |end: GlobalStatus| send(responder, &ok(), &end))
                    as crate::driver::Done
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
        current: &mut Current,
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
                self.when_durable(current, move |responder, r| {
                    let id = if r.is_ok() { branch_id } else { 0 };
                    CoordinatorResponder::branch_register(responder, &stored(r), &id)
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
        current: &mut Current,
        xid: String,
        resource_id: String,
        client_id: String,
        lock_keys: String,
        application_data: String,
    ) {
        let send = |current: &mut Current, r: &TxResult| {
            if let Some(responder) = current.defer() {
                CoordinatorResponder::branch_register(responder, r, &0);
            }
        };
        let rows = match crate::lock::row_keys(&resource_id, &lock_keys) {
            Ok(rows) => rows,
            Err(e) => return send(current, &failed(Code::BranchRegisterFailed, e.to_string())),
        };
        if self.core.status(&xid) != GlobalStatus::Begin {
            // Unknown, closed or deciding: the core gives the precise refusal.
            let (r, _) = self.register(
                current,
                &xid,
                BranchType::AT,
                &resource_id,
                &client_id,
                &lock_keys,
                &application_data,
            );
            return send(current, &r);
        }
        match self.core.lock_query(&xid, &resource_id, &lock_keys) {
            Ok(true) => {}
            Ok(false) => {
                return send(
                    current,
                    &failed(
                        Code::LockKeyConflict,
                        format!("{lock_keys} locked in {resource_id}"),
                    ),
                )
            }
            Err(e) => return send(current, &(&e).into()),
        }
        let new_rows = self.core.locks().not_held_by(&xid, &rows);
        let Some(responder) = current.defer() else {
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
                                    CoordinatorResponder::branch_register(
                                        responder,
                                        &stored(r),
                                        &id,
                                    )
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
                CoordinatorResponder::branch_register(responder, &refused, &0);
            }),
        );
    }
}

fn timeout_of(ms: i32) -> Duration {
    if ms <= 0 {
        DEFAULT_TX_TIMEOUT
    } else {
        Duration::from_millis(ms as u64).min(MAX_TX_TIMEOUT)
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
        let xid = match self.core.begin(
            &application_id,
            &transaction_name,
            timeout_of(timeout_ms),
            Instant::now(),
        ) {
            Ok(xid) => xid,
            Err(e) => return Ok(((&e).into(), TarsString::new())),
        };
        let answer = TarsString::from(&xid);
        self.when_durable(current, move |responder, r| {
            // A begin that was not stored hands out no XID.
            let xid = if r.is_ok() { answer } else { TarsString::new() };
            CoordinatorResponder::begin(responder, &stored(r), &xid)
        });
        Ok((ok(), xid.into()))
    }

    fn commit(&self, current: &mut Current, xid: TarsString) -> Result<(TxResult, GlobalStatus)> {
        // The TM waits for a TCC commit; a timed-out transaction's rollback and an all-AT
        // async commit run in the background (the TM is told TimeoutRollbacking / Committed).
        let core = self.core.clone();
        let x = xid.clone();
        let status = self.decide(
            current,
            xid.to_string(),
            move || core.commit(&x, Instant::now()),
            |s| s == GlobalStatus::Committing,
            CoordinatorResponder::commit,
        );
        Ok((ok(), status))
    }

    fn rollback(&self, current: &mut Current, xid: TarsString) -> Result<(TxResult, GlobalStatus)> {
        let core = self.core.clone();
        let x = xid.clone();
        let status = self.decide(
            current,
            xid.to_string(),
            move || core.rollback(&x, Instant::now()),
            |s| {
                matches!(
                    s,
                    GlobalStatus::Rollbacking | GlobalStatus::TimeoutRollbacking
                )
            },
            CoordinatorResponder::rollback,
        );
        Ok((ok(), status))
    }

    fn get_status(
        &self,
        _current: &mut Current,
        xid: TarsString,
    ) -> Result<(TxResult, GlobalStatus)> {
        Ok((ok(), self.core.status(&xid)))
    }

    fn global_report(
        &self,
        current: &mut Current,
        xid: TarsString,
        status: GlobalStatus,
    ) -> Result<(TxResult, GlobalStatus)> {
        match self.core.global_report(&xid, status) {
            Ok(now) => {
                // An end state: nothing to drive, only to answer once stored.
                self.when_durable(current, move |responder, r| {
                    CoordinatorResponder::global_report(responder, &stored(r), &now)
                });
                Ok((ok(), now))
            }
            Err(e) => Ok(((&e).into(), self.core.status(&xid))),
        }
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
        if branch_type == BranchType::AT && self.store.shares_locks() {
            self.register_shared_rows(
                current,
                xid.to_string(),
                resource_id.to_string(),
                client_id.to_string(),
                lock_keys.to_string(),
                application_data.to_string(),
            );
            return Ok((ok(), 0));
        }
        Ok(self.register(
            current,
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
        match self
            .core
            .branch_report(&xid, branch_id, status, &application_data)
        {
            Ok(()) => {
                self.when_durable(current, |responder, r| {
                    CoordinatorResponder::branch_report(responder, &stored(r))
                });
                Ok(ok())
            }
            Err(e) => Ok((&e).into()),
        }
    }

    fn lock_query(
        &self,
        _current: &mut Current,
        xid: TarsString,
        _branch_type: BranchType,
        resource_id: TarsString,
        lock_keys: TarsString,
    ) -> Result<(TxResult, bool)> {
        match self.core.lock_query(&xid, &resource_id, &lock_keys) {
            Ok(lockable) => Ok((ok(), lockable)),
            Err(e) => Ok(((&e).into(), false)),
        }
    }
}
