//! The TM/RM client library against a fake coordinator over real TCP (127.0.0.1): `run`
//! commits or rolls back, the XID reaches nested calls through the ambient context,
//! coordinator failures become typed errors, and the Participant servant maps TCC outcomes
//! to branch statuses over the wire. Against the real coordinator: a TCC try that fails or
//! panics keeps its branch, which the rollback (or the timeout) cancels; the opt-in
//! `PhaseOne_Failed` report drops it.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tars::TarsString;

use tars::client::{ambient, block_on, CallError, CallOptions, Communicator, ServantProxy};
use tars::packet::{ParamReader, ParamWriter};
use tars::server::{Current, Dispatch, DispatchError, ServantError, Servants, Server};
use tars_coordinator::client::{
    propagate, xid_of, BranchInfo, BranchStatus, BranchType, GlobalStatus, GlobalTransaction,
    ParticipantProxy, ParticipantService, PhaseTwo, ResourceManager, RunError, TccParticipant,
    TransactionExceptionCode, TransactionManager, TryError, TxError, TxRef, XID_CONTEXT_KEY,
};
use tars_coordinator::service::{
    CoordinatorConfig, CoordinatorService, ADAPTER as COORDINATOR_ADAPTER,
};
use tars_protocols::tarstx::{
    Coordinator, CoordinatorProxy, CoordinatorServant, ResultCode, TxResult,
};
use tars_test_support::{free_port, proxy_string, serve, wait_until};

const COORDINATOR_OBJ: &str = "tars.tarscoordinator.CoordinatorObj";
const ORDER_OBJ: &str = "Test.Shop.OrderObj";
const STOCK_OBJ: &str = "Test.Stock.StockObj";
const ACCOUNT_RESOURCE: &str = "Test.Bank.AccountObj";
const CLIENT_ID: &str = "Test.Shop";
const TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Servers

fn proxy_at(comm: &Communicator, obj: &str, port: u16) -> ServantProxy {
    comm.string_to_proxy(&proxy_string(obj, port))
        .expect("proxy")
        .with_sync_timeout(TIMEOUT)
        .with_async_timeout(TIMEOUT)
}

// ---------------------------------------------------------------------------------------------
// The fake coordinator

/// A call the fake coordinator received; `ctx` is the `TX_XID` of the request context.
#[derive(Debug, Clone, PartialEq)]
enum Call {
    Begin {
        application_id: String,
        name: String,
        timeout_ms: i32,
        ctx: Option<String>,
    },
    Commit {
        xid: String,
        ctx: Option<String>,
    },
    Rollback {
        xid: String,
        ctx: Option<String>,
    },
    GetStatus {
        xid: String,
    },
    GlobalReport {
        xid: String,
        status: GlobalStatus,
    },
    BranchRegister {
        xid: String,
        branch_type: BranchType,
        resource_id: String,
        client_id: String,
        lock_keys: String,
        application_data: String,
        ctx: Option<String>,
    },
    BranchReport {
        xid: String,
        branch_id: i64,
        status: BranchStatus,
        application_data: String,
    },
    LockQuery {
        xid: String,
        lock_keys: String,
    },
}

/// What the fake answers: failures by operation, and the statuses commit/rollback return.
struct Script {
    fail: HashMap<&'static str, (TransactionExceptionCode, &'static str)>,
    /// Operations refused with `NotRaftLeader` this many more times.
    not_leader: HashMap<&'static str, usize>,
    /// Attempts per operation.
    attempts: HashMap<String, usize>,
    commit_status: GlobalStatus,
    rollback_status: GlobalStatus,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            fail: HashMap::new(),
            not_leader: HashMap::new(),
            attempts: HashMap::new(),
            commit_status: GlobalStatus::Committed,
            rollback_status: GlobalStatus::Rollbacked,
        }
    }
}

#[derive(Default)]
struct FakeCoordinator {
    calls: Mutex<Vec<Call>>,
    known: Mutex<Vec<String>>,
    next_id: AtomicI64,
    script: Mutex<Script>,
}

fn ok() -> TxResult {
    TxResult {
        code: ResultCode::Success,
        ..TxResult::default()
    }
}

fn ctx_xid(current: &Current) -> Option<String> {
    current
        .context()
        .get(XID_CONTEXT_KEY)
        .map(|x| x.to_string())
}

impl FakeCoordinator {
    fn record(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn script(&self, f: impl FnOnce(&mut Script)) {
        f(&mut self.script.lock().unwrap());
    }

    /// The scripted failure of `op`, else the failure for an unknown `xid` (if given).
    fn failure(&self, op: &str, xid: Option<&str>) -> Option<TxResult> {
        let mut script = self.script.lock().unwrap();
        *script.attempts.entry(op.to_owned()).or_default() += 1;
        if let Some(n) = script.not_leader.get_mut(op).filter(|n| **n > 0) {
            *n -= 1;
            return Some(TxResult {
                code: ResultCode::Failed,
                error: TransactionExceptionCode::NotRaftLeader,
                message: "changing leader".into(),
            });
        }
        if let Some((code, message)) = script.fail.get(op) {
            return Some(TxResult {
                code: ResultCode::Failed,
                error: *code,
                message: (*message).into(),
            });
        }
        match xid {
            Some(x) if !self.known.lock().unwrap().iter().any(|k| k == x) => Some(TxResult {
                code: ResultCode::Failed,
                error: TransactionExceptionCode::GlobalTransactionNotExist,
                message: format!("no global transaction {x}").into(),
            }),
            _ => None,
        }
    }

    fn is_known(&self, xid: &str) -> bool {
        self.known.lock().unwrap().iter().any(|k| k == xid)
    }
}

impl Coordinator for FakeCoordinator {
    fn begin(
        &self,
        current: &mut Current,
        application_id: TarsString,
        name: TarsString,
        timeout_ms: i32,
    ) -> Result<(TxResult, TarsString), ServantError> {
        self.record(Call::Begin {
            application_id: application_id.to_string(),
            name: name.to_string(),
            timeout_ms,
            ctx: ctx_xid(current),
        });
        if let Some(failed) = self.failure("begin", None) {
            return Ok((failed, Default::default()));
        }
        let xid = format!(
            "127.0.0.1:8091:{}",
            self.next_id.fetch_add(1, Ordering::SeqCst) + 1000
        );
        self.known.lock().unwrap().push(xid.clone());
        Ok((ok(), xid.into()))
    }

    fn commit(
        &self,
        current: &mut Current,
        xid: TarsString,
    ) -> Result<(TxResult, GlobalStatus), ServantError> {
        self.record(Call::Commit {
            xid: xid.to_string(),
            ctx: ctx_xid(current),
        });
        if let Some(failed) = self.failure("commit", None) {
            return Ok((failed, GlobalStatus::UnKnown));
        }
        if !self.is_known(&xid) {
            return Ok((ok(), GlobalStatus::Finished));
        }
        Ok((ok(), self.script.lock().unwrap().commit_status))
    }

    fn rollback(
        &self,
        current: &mut Current,
        xid: TarsString,
    ) -> Result<(TxResult, GlobalStatus), ServantError> {
        self.record(Call::Rollback {
            xid: xid.to_string(),
            ctx: ctx_xid(current),
        });
        if let Some(failed) = self.failure("rollback", None) {
            return Ok((failed, GlobalStatus::UnKnown));
        }
        if !self.is_known(&xid) {
            return Ok((ok(), GlobalStatus::Finished));
        }
        Ok((ok(), self.script.lock().unwrap().rollback_status))
    }

    fn get_status(
        &self,
        _current: &mut Current,
        xid: TarsString,
    ) -> Result<(TxResult, GlobalStatus), ServantError> {
        self.record(Call::GetStatus {
            xid: xid.to_string(),
        });
        let status = if self.is_known(&xid) {
            GlobalStatus::Begin
        } else {
            GlobalStatus::Finished
        };
        Ok((ok(), status))
    }

    fn global_report(
        &self,
        _current: &mut Current,
        xid: TarsString,
        status: GlobalStatus,
    ) -> Result<(TxResult, GlobalStatus), ServantError> {
        self.record(Call::GlobalReport {
            xid: xid.to_string(),
            status,
        });
        if let Some(failed) = self.failure("globalReport", Some(&xid)) {
            return Ok((failed, GlobalStatus::UnKnown));
        }
        Ok((ok(), status))
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
    ) -> Result<(TxResult, i64), ServantError> {
        self.record(Call::BranchRegister {
            xid: xid.to_string(),
            branch_type,
            resource_id: resource_id.to_string(),
            client_id: client_id.to_string(),
            lock_keys: lock_keys.to_string(),
            application_data: application_data.to_string(),
            ctx: ctx_xid(current),
        });
        if let Some(failed) = self.failure("branchRegister", Some(&xid)) {
            return Ok((failed, 0));
        }
        Ok((ok(), self.next_id.fetch_add(1, Ordering::SeqCst) + 1))
    }

    fn branch_report(
        &self,
        _current: &mut Current,
        xid: TarsString,
        branch_id: i64,
        status: BranchStatus,
        application_data: TarsString,
    ) -> Result<TxResult, ServantError> {
        self.record(Call::BranchReport {
            xid: xid.to_string(),
            branch_id,
            status,
            application_data: application_data.to_string(),
        });
        Ok(self.failure("branchReport", Some(&xid)).unwrap_or_else(ok))
    }

    fn lock_query(
        &self,
        _current: &mut Current,
        xid: TarsString,
        _branch_type: BranchType,
        _resource_id: TarsString,
        lock_keys: TarsString,
    ) -> Result<(TxResult, bool), ServantError> {
        self.record(Call::LockQuery {
            xid: xid.to_string(),
            lock_keys: lock_keys.to_string(),
        });
        if let Some(failed) = self.failure("lockQuery", None) {
            return Ok((failed, false));
        }
        Ok((ok(), lock_keys != "stock:locked"))
    }

    fn retry(
        &self,
        _current: &mut Current,
        _xid: TarsString,
    ) -> Result<(TxResult, GlobalStatus), ServantError> {
        Err(ServantError::unknown("operator calls are not faked"))
    }

    fn stop_retrying(
        &self,
        _current: &mut Current,
        _xid: TarsString,
    ) -> Result<(TxResult, GlobalStatus), ServantError> {
        Err(ServantError::unknown("operator calls are not faked"))
    }

    fn list_transactions(
        &self,
        _current: &mut Current,
        _filter: tars_protocols::tarstx::TxFilter,
    ) -> Result<(TxResult, Vec<tars_protocols::tarstx::TxSummary>), ServantError> {
        Err(ServantError::unknown("operator calls are not faked"))
    }

    fn describe_transaction(
        &self,
        _current: &mut Current,
        _xid: TarsString,
    ) -> Result<(TxResult, tars_protocols::tarstx::TxDetail), ServantError> {
        Err(ServantError::unknown("operator calls are not faked"))
    }
}

// ---------------------------------------------------------------------------------------------
// An application: an order service whose `pay` runs a TCC try and calls a stock service

/// Records the `TX_XID` of every call it receives.
#[derive(Default)]
struct Stock {
    seen: Mutex<Vec<Option<String>>>,
}

impl Dispatch for Stock {
    fn functions(&self) -> &'static [&'static str] {
        &["reserve"]
    }

    fn dispatch(
        &self,
        current: &mut Current,
        _params: &mut ParamReader<'_>,
        out: &mut ParamWriter,
    ) -> Result<(), DispatchError> {
        self.seen.lock().unwrap().push(ctx_xid(current));
        out.write_return(&0i32);
        Ok(())
    }
}

/// `long pay(int amount)`: a TCC try on the account resource that reserves stock; fails for a
/// negative amount, with code -7 outside a transaction. `int relay()`: calls the stock service
/// after joining the caller's transaction with `propagate`.
struct Order {
    rm: ResourceManager,
    stock: ServantProxy,
}

impl Dispatch for Order {
    fn functions(&self) -> &'static [&'static str] {
        &["pay", "relay"]
    }

    fn dispatch(
        &self,
        current: &mut Current,
        params: &mut ParamReader<'_>,
        out: &mut ParamWriter,
    ) -> Result<(), DispatchError> {
        match current.func_name() {
            "pay" => {
                let amount: i32 = params.read(1, "amount")?;
                let data = format!("amount={amount}");
                let tried = self
                    .rm
                    .tcc_try(&*current, ACCOUNT_RESOURCE, &data, |branch| {
                        self.stock
                            .invoke_sync("reserve", self.stock.param_writer(), &CallOptions::new())
                            .map_err(|e| e.to_string())?;
                        if amount < 0 {
                            return Err("negative amount".to_owned());
                        }
                        Ok(branch.branch_id)
                    });
                match tried {
                    Ok(branch_id) => {
                        out.write_return(&branch_id);
                        Ok(())
                    }
                    Err(TryError::NoTransaction) => {
                        Err(ServantError::new(-7, "not in a transaction").into())
                    }
                    Err(e) => Err(ServantError::new(-8, e.to_string()).into()),
                }
            }
            "relay" => {
                let joined_tx = propagate(current);
                let joined = joined_tx.is_some();
                self.stock
                    .invoke_sync("reserve", self.stock.param_writer(), &CallOptions::new())
                    .map_err(|e| ServantError::unknown(e.to_string()))?;
                out.write_return(&i32::from(joined));
                Ok(())
            }
            other => Err(DispatchError::NoFunc(other.to_owned())),
        }
    }
}

/// Confirm/cancel outcomes chosen by the branch's application data.
#[derive(Default)]
struct Account {
    seen: Mutex<Vec<(&'static str, BranchInfo)>>,
}

impl Account {
    fn outcome(data: &str) -> PhaseTwo {
        match data {
            "retry" => PhaseTwo::RetryLater,
            "giveup" => PhaseTwo::GiveUp,
            "panic" => panic!("participant bug"),
            _ => PhaseTwo::Done,
        }
    }
}

impl TccParticipant for Account {
    fn confirm(&self, branch: &BranchInfo) -> PhaseTwo {
        self.seen.lock().unwrap().push(("confirm", branch.clone()));
        Account::outcome(&branch.application_data)
    }

    fn cancel(&self, branch: &BranchInfo) -> PhaseTwo {
        self.seen.lock().unwrap().push(("cancel", branch.clone()));
        Account::outcome(&branch.application_data)
    }
}

// ---------------------------------------------------------------------------------------------
// Fixture

struct World {
    fake: Arc<FakeCoordinator>,
    stock: Arc<Stock>,
    account: Arc<Account>,
    tm: TransactionManager,
    rm: ResourceManager,
    order: ServantProxy,
    participant: ParticipantProxy,
    // Dropped last: the servers.
    _servers: Vec<Server>,
}

fn world() -> World {
    let comm = Communicator::new();

    let fake = Arc::new(FakeCoordinator::default());
    let mut servants = Servants::new();
    servants.add(COORDINATOR_OBJ, Arc::new(CoordinatorServant(fake.clone())));
    let (coordinator_server, coordinator_port) = serve(servants, 2);
    let coordinator = CoordinatorProxy::new(proxy_at(&comm, COORDINATOR_OBJ, coordinator_port));

    let stock = Arc::new(Stock::default());
    let mut servants = Servants::new();
    servants.add(STOCK_OBJ, stock.clone());
    let (stock_server, stock_port) = serve(servants, 1);

    let rm = ResourceManager::new(coordinator.clone(), CLIENT_ID);
    let account = Arc::new(Account::default());
    let mut servants = Servants::new();
    servants.add(
        ORDER_OBJ,
        Arc::new(Order {
            rm: rm.clone(),
            stock: proxy_at(&comm, STOCK_OBJ, stock_port),
        }),
    );
    servants.add(
        ACCOUNT_RESOURCE,
        ParticipantService::new(account.clone()).into_servant(),
    );
    let (app_server, app_port) = serve(servants, 2);

    World {
        fake,
        stock,
        account,
        tm: TransactionManager::new(coordinator).with_application_id("Test.Shop"),
        rm,
        order: proxy_at(&comm, ORDER_OBJ, app_port),
        participant: ParticipantProxy::new(proxy_at(&comm, ACCOUNT_RESOURCE, app_port)),
        _servers: vec![app_server, stock_server, coordinator_server],
    }
}

impl World {
    /// Calls `pay(amount)` on the order service.
    fn pay(&self, amount: i32) -> Result<i64, CallError> {
        let mut params = self.order.param_writer();
        params.write(1, "amount", &amount);
        let reply = self.order.invoke_sync("pay", params, &CallOptions::new())?;
        Ok(reply.reader().read_return()?)
    }

    fn relay(&self) -> Result<bool, CallError> {
        let reply =
            self.order
                .invoke_sync("relay", self.order.param_writer(), &CallOptions::new())?;
        Ok(reply.reader().read_return::<i32>()? == 1)
    }
}

// ---------------------------------------------------------------------------------------------
// TM

#[test]
fn run_commits_when_the_body_succeeds() {
    let w = world();
    let mut inside = None;
    let value =
        w.tm.run("place-order", Duration::from_millis(7000), |tx| {
            inside = Some((tx.xid().to_owned(), ambient::get(XID_CONTEXT_KEY)));
            Ok::<_, String>(42)
        })
        .expect("committed");
    assert_eq!(value, 42);
    let (xid, ambient_xid) = inside.expect("body ran");
    assert_eq!(
        ambient_xid.as_deref(),
        Some(xid.as_str()),
        "XID is ambient in the body"
    );
    assert_eq!(ambient::get(XID_CONTEXT_KEY), None, "and only there");
    assert_eq!(
        w.fake.calls(),
        vec![
            Call::Begin {
                application_id: "Test.Shop".into(),
                name: "place-order".into(),
                timeout_ms: 7000,
                ctx: None,
            },
            Call::Commit {
                xid: xid.clone(),
                ctx: Some(xid),
            },
        ]
    );
}

#[test]
fn run_rolls_back_when_the_body_fails() {
    let w = world();
    let err =
        w.tm.run("place-order", TIMEOUT, |_| Err::<(), _>("out of stock"))
            .expect_err("rolled back");
    let xid = err.xid().expect("began").to_owned();
    assert_eq!(err.status(), Some(GlobalStatus::Rollbacked));
    match err {
        RunError::RolledBack { error, status, .. } => {
            assert_eq!(error, "out of stock");
            assert_eq!(status, GlobalStatus::Rollbacked);
        }
        other => panic!("unexpected {other:?}"),
    }
    let calls = w.fake.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[1],
        Call::Rollback {
            xid: xid.clone(),
            ctx: Some(xid),
        }
    );
}

#[test]
fn run_rolls_back_when_the_body_panics() {
    let w = world();
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        let _ = w.tm.run("place-order", TIMEOUT, |_| -> Result<(), String> {
            panic!("boom")
        });
    }));
    assert!(panicked.is_err(), "the panic continues");
    assert_eq!(
        ambient::get(XID_CONTEXT_KEY),
        None,
        "the guard was restored"
    );
    let calls = w.fake.calls();
    assert!(
        matches!(calls.last(), Some(Call::Rollback { .. })),
        "{calls:?}"
    );
    assert!(!calls.iter().any(|c| matches!(c, Call::Commit { .. })));
}

#[test]
fn commit_and_rollback_outcomes_become_typed_errors() {
    let w = world();

    w.fake
        .script(|s| s.commit_status = GlobalStatus::TimeoutRollbacked);
    let err =
        w.tm.run("t", TIMEOUT, |_| Ok::<_, String>(()))
            .expect_err("timed out");
    assert!(
        matches!(
            err,
            RunError::TimeoutRollbacked {
                status: GlobalStatus::TimeoutRollbacked,
                ..
            }
        ),
        "{err:?}"
    );

    w.fake
        .script(|s| s.commit_status = GlobalStatus::CommitFailed);
    let err =
        w.tm.run("t", TIMEOUT, |_| Ok::<_, String>(()))
            .expect_err("failed");
    assert!(
        matches!(
            err,
            RunError::CommitFailed {
                status: GlobalStatus::CommitFailed,
                ..
            }
        ),
        "{err:?}"
    );

    // Decided commits whose phase two is still running are successes.
    for status in [GlobalStatus::AsyncCommitting, GlobalStatus::CommitRetrying] {
        w.fake.script(|s| s.commit_status = status);
        assert_eq!(
            w.tm.run("t", TIMEOUT, |_| Ok::<_, String>(7))
                .expect("decided"),
            7
        );
    }

    w.fake
        .script(|s| s.rollback_status = GlobalStatus::RollbackFailed);
    let err =
        w.tm.run("t", TIMEOUT, |_| Err::<(), _>("no"))
            .expect_err("failed");
    assert!(
        matches!(
            err,
            RunError::RollbackFailed {
                status: GlobalStatus::RollbackFailed,
                error: "no",
                ..
            }
        ),
        "{err:?}"
    );

    w.fake
        .script(|s| s.rollback_status = GlobalStatus::RollbackRetrying);
    let err =
        w.tm.run("t", TIMEOUT, |_| Err::<(), _>("no"))
            .expect_err("rolling back");
    assert!(
        matches!(
            err,
            RunError::RolledBack {
                status: GlobalStatus::RollbackRetrying,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn coordinator_failures_become_typed_errors() {
    let w = world();

    w.fake.script(|s| {
        s.fail.insert(
            "begin",
            (TransactionExceptionCode::BeginFailed, "no capacity"),
        );
    });
    let err = w.tm.begin("t", TIMEOUT).expect_err("refused");
    assert_eq!(
        err,
        TxError::Coordinator {
            op: "begin",
            code: TransactionExceptionCode::BeginFailed,
            message: "no capacity".into(),
        }
    );
    let mut ran = false;
    let err =
        w.tm.run("t", TIMEOUT, |_| {
            ran = true;
            Ok::<_, String>(())
        })
        .expect_err("refused");
    assert!(!ran, "the body does not run");
    assert_eq!(
        err.tx_error().and_then(TxError::code),
        Some(TransactionExceptionCode::BeginFailed)
    );
    assert!(matches!(err, RunError::Begin(_)));
    w.fake.script(|s| s.fail.clear());

    // Commit refused: the outcome is unknown, the error carries the code.
    w.fake.script(|s| {
        s.fail.insert(
            "commit",
            (TransactionExceptionCode::FailedStore, "disk full"),
        );
    });
    let err =
        w.tm.run("t", TIMEOUT, |_| Ok::<_, String>(()))
            .expect_err("refused");
    match &err {
        RunError::Commit { source, .. } => {
            assert_eq!(source.op(), "commit");
            assert_eq!(source.code(), Some(TransactionExceptionCode::FailedStore));
        }
        other => panic!("unexpected {other:?}"),
    }
    w.fake.script(|s| s.fail.clear());

    // Rollback refused after a failing body: both are reported.
    w.fake.script(|s| {
        s.fail.insert(
            "rollback",
            (TransactionExceptionCode::NotRaftLeader, "moved"),
        );
    });
    let err =
        w.tm.run("t", TIMEOUT, |_| Err::<(), _>("bad"))
            .expect_err("refused");
    assert_eq!(err.body_error(), Some(&"bad"));
    assert_eq!(
        err.tx_error().and_then(TxError::code),
        Some(TransactionExceptionCode::NotRaftLeader)
    );
    w.fake.script(|s| s.fail.clear());

    // RM calls on an unknown transaction.
    let err =
        w.rm.register_branch("nope", BranchType::AT, "res", "t:1", "")
            .expect_err("unknown xid");
    assert_eq!(err.op(), "branchRegister");
    assert_eq!(
        err.code(),
        Some(TransactionExceptionCode::GlobalTransactionNotExist)
    );
    let err =
        w.rm.report("nope", 1, BranchStatus::PhaseOne_Done)
            .expect_err("unknown xid");
    assert_eq!(
        err.code(),
        Some(TransactionExceptionCode::GlobalTransactionNotExist)
    );
    let mut ran = false;
    let err =
        w.rm.tcc_try("nope", ACCOUNT_RESOURCE, "", |_| {
            ran = true;
            Ok::<_, String>(())
        })
        .expect_err("unknown xid");
    assert!(!ran, "the try body does not run");
    match err {
        TryError::Register(e) => {
            assert_eq!(
                e.code(),
                Some(TransactionExceptionCode::GlobalTransactionNotExist)
            )
        }
        other => panic!("unexpected {other:?}"),
    }

    w.fake.script(|s| {
        s.fail.insert(
            "lockQuery",
            (TransactionExceptionCode::LockableCheckFailed, "?"),
        );
    });
    let err =
        w.rm.lock_query("x", BranchType::AT, "res", "stock:1")
            .expect_err("refused");
    assert_eq!(
        err.code(),
        Some(TransactionExceptionCode::LockableCheckFailed)
    );
}

#[test]
fn an_unreachable_coordinator_is_a_call_error() {
    let port = free_port(); // nothing listens there
    let comm = Communicator::new();
    let proxy =
        proxy_at(&comm, COORDINATOR_OBJ, port).with_sync_timeout(Duration::from_millis(500));
    let tm = TransactionManager::new(CoordinatorProxy::new(proxy));
    let err = tm.begin("t", TIMEOUT).expect_err("unreachable");
    assert!(matches!(err, TxError::Call { op: "begin", .. }), "{err:?}");
    assert_eq!(err.code(), None);
    let err = tm.transaction("x").commit().expect_err("unreachable");
    assert!(matches!(err, TxError::Call { op: "commit", .. }), "{err:?}");
}

/// The asynchronous calls retry `NotRaftLeader` (nothing was done) as the synchronous ones do,
/// under tokio and under `block_on`; a refusal that may have been applied is not resent.
#[test]
fn async_calls_retry_not_raft_leader_on_any_executor() {
    let w = world();
    let ops = [
        "begin",
        "branchRegister",
        "branchReport",
        "lockQuery",
        "commit",
    ];
    w.fake.script(|s| {
        for op in ops {
            s.not_leader.insert(op, 2);
        }
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio");
    let tx = rt
        .block_on(w.tm.begin_async("retried", TIMEOUT))
        .expect("begun after two refusals");
    let branch = rt
        .block_on(w.rm.register_branch_async(tx.xid(), BranchType::AT, "res", "stock:1", ""))
        .expect("registered after two refusals");
    rt.block_on(w.rm.report_async(tx.xid(), branch, BranchStatus::PhaseOne_Done, ""))
        .expect("reported after two refusals");
    assert!(
        block_on(w.rm.lock_query_async(tx.xid(), BranchType::AT, "res", "stock:1"))
            .expect("queried after two refusals")
    );
    assert_eq!(
        block_on(tx.commit_async()).expect("committed after two refusals"),
        GlobalStatus::Committed
    );
    let attempts = w.fake.script.lock().unwrap().attempts.clone();
    for op in ops {
        assert_eq!(attempts.get(op), Some(&3), "{op}: {attempts:?}");
    }
    // FailedStore may have been applied: answered at once, never resent.
    w.fake.script(|s| {
        s.attempts.clear();
        s.fail
            .insert("rollback", (TransactionExceptionCode::FailedStore, "?"));
    });
    let err = block_on(tx.rollback_async()).expect_err("refused");
    assert_eq!(err.code(), Some(TransactionExceptionCode::FailedStore));
    assert_eq!(
        w.fake.script.lock().unwrap().attempts.get("rollback"),
        Some(&1)
    );
}

#[test]
fn async_variants_and_handles() {
    let w = world();
    let tx = block_on(w.tm.begin_async("async", TIMEOUT)).expect("begun");
    assert_eq!(
        block_on(tx.status_async()).expect("status"),
        GlobalStatus::Begin
    );
    assert_eq!(
        block_on(tx.report_async(GlobalStatus::Committed)).expect("reported"),
        GlobalStatus::Committed
    );
    assert_eq!(
        block_on(tx.commit_async()).expect("committed"),
        GlobalStatus::Committed
    );
    assert_eq!(
        block_on(tx.rollback_async()).expect("rolled"),
        GlobalStatus::Rollbacked
    );

    // A handle on an unknown XID, and the ambient transaction.
    assert_eq!(
        w.tm.transaction("gone").status().expect("status"),
        GlobalStatus::Finished
    );
    assert!(w.tm.current().is_none());
    {
        let _in_tx = tx.enter();
        assert_eq!(w.tm.current().expect("ambient").xid(), tx.xid());
        // begin never carries an ambient XID.
        let inner = w.tm.begin("inner", TIMEOUT).expect("begun");
        assert_ne!(inner.xid(), tx.xid());
    }
    let begins: Vec<_> = w
        .fake
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Begin { ctx, .. } => Some(ctx),
            _ => None,
        })
        .collect();
    assert_eq!(begins, vec![None, None]);

    let branch =
        block_on(w.rm.register_branch_async(tx.xid(), BranchType::AT, "res", "stock:1", "d"))
            .expect("registered");
    block_on(w.rm.report_async(tx.xid(), branch, BranchStatus::PhaseOne_Done, "d2"))
        .expect("reported");
    assert!(
        block_on(w.rm.lock_query_async(tx.xid(), BranchType::AT, "res", "stock:1")).expect("q")
    );
    assert!(!w
        .rm
        .lock_query(tx.xid(), BranchType::AT, "res", "stock:locked")
        .expect("q"));
    let calls = w.fake.calls();
    assert!(calls.contains(&Call::BranchReport {
        xid: tx.xid().into(),
        branch_id: branch,
        status: BranchStatus::PhaseOne_Done,
        application_data: "d2".into(),
    }));
    assert!(calls.contains(&Call::LockQuery {
        xid: tx.xid().into(),
        lock_keys: "stock:locked".into(),
    }));
}

// ---------------------------------------------------------------------------------------------
// RM: XID propagation and the TCC try

#[test]
fn the_xid_reaches_a_nested_tcc_try_through_the_ambient_context() {
    let w = world();
    let (xid, branch_id) =
        w.tm.run("place-order", TIMEOUT, |tx| {
            // A plain proxy call: nothing passes the XID by hand.
            w.pay(10).map(|branch_id| (tx.xid().to_owned(), branch_id))
        })
        .expect("committed");

    let calls = w.fake.calls();
    let registered: Vec<_> = calls
        .iter()
        .filter(|c| matches!(c, Call::BranchRegister { .. }))
        .cloned()
        .collect();
    assert_eq!(
        registered,
        vec![Call::BranchRegister {
            xid: xid.clone(),
            branch_type: BranchType::TCC,
            resource_id: ACCOUNT_RESOURCE.into(),
            client_id: CLIENT_ID.into(),
            lock_keys: String::new(),
            application_data: "amount=10".into(),
            ctx: Some(xid.clone()),
        }]
    );
    assert!(branch_id > 0);
    // The try body's own call (order → stock) carried the XID one hop further.
    assert_eq!(*w.stock.seen.lock().unwrap(), vec![Some(xid.clone())]);
    // Success is not reported; the transaction committed.
    assert!(!calls.iter().any(|c| matches!(c, Call::BranchReport { .. })));
    assert!(matches!(calls.last(), Some(Call::Commit { xid: x, .. }) if *x == xid));
}

#[test]
fn a_failed_try_is_not_reported_and_the_transaction_rolls_back() {
    let w = world();
    let err =
        w.tm.run("place-order", TIMEOUT, |_| w.pay(-1))
            .expect_err("rolled back");
    let xid = err.xid().expect("began").to_owned();
    match &err {
        RunError::RolledBack {
            error: CallError::Server { code, desc },
            ..
        } => {
            assert_eq!(*code, -8);
            assert!(desc.contains("negative amount"), "{desc}");
        }
        other => panic!("unexpected {other:?}"),
    }
    let calls = w.fake.calls();
    assert!(calls.iter().any(
        |c| matches!(c, Call::BranchRegister { xid: x, application_data, .. }
            if *x == xid && application_data == "amount=-1")
    ));
    // The branch stays registered: the rollback cancels it (it may have reserved stock).
    assert!(
        !calls.iter().any(|c| matches!(c, Call::BranchReport { .. })),
        "{calls:?}"
    );
    assert!(matches!(calls.last(), Some(Call::Rollback { xid: x, .. }) if *x == xid));
}

#[test]
fn a_try_outside_a_transaction_is_refused_and_propagate_joins_only_when_there_is_one() {
    let w = world();
    match w.pay(5) {
        Err(CallError::Server { code: -7, .. }) => {}
        other => panic!("unexpected {other:?}"),
    }
    assert!(w.fake.calls().is_empty(), "nothing registered");

    assert!(!w.relay().expect("relay"));
    let joined =
        w.tm.run("relay", TIMEOUT, |tx| {
            w.relay().map(|j| (j, tx.xid().to_owned()))
        })
        .expect("committed");
    assert!(joined.0);
    assert_eq!(*w.stock.seen.lock().unwrap(), vec![None, Some(joined.1)]);

    // TxRef resolution.
    assert_eq!(TxRef::from("x").xid().as_deref(), Some("x"));
    assert_eq!(TxRef::from("").xid(), None);
    assert_eq!(TxRef::Ambient.xid(), None);
    let _g = ambient::scope(XID_CONTEXT_KEY, "amb");
    assert_eq!(TxRef::Ambient.xid().as_deref(), Some("amb"));
}

#[test]
fn xid_of_reads_the_request_context() {
    let mut req = tars::packet::RequestPacket::new(1, ORDER_OBJ, "pay", Default::default(), 1000);
    assert_eq!(xid_of(&Current::new(&req, None)), None);
    req.context
        .insert(XID_CONTEXT_KEY.into(), Default::default());
    assert_eq!(xid_of(&Current::new(&req, None)), None, "empty is none");
    req.context.insert(XID_CONTEXT_KEY.into(), "xid-9".into());
    let current = Current::new(&req, None);
    assert_eq!(xid_of(&current), Some("xid-9"));
    let guard = propagate(&current).expect("in a transaction");
    assert_eq!(ambient::get(XID_CONTEXT_KEY).as_deref(), Some("xid-9"));
    drop(guard);
    assert_eq!(ambient::get(XID_CONTEXT_KEY), None);
}

// ---------------------------------------------------------------------------------------------
// Phase two: the Participant servant

#[test]
fn participant_service_maps_outcomes_to_branch_statuses_over_the_wire() {
    let w = world();
    let cases = [
        (
            "done",
            BranchStatus::PhaseTwo_Committed,
            BranchStatus::PhaseTwo_Rollbacked,
        ),
        (
            "retry",
            BranchStatus::PhaseTwo_CommitFailed_Retryable,
            BranchStatus::PhaseTwo_RollbackFailed_Retryable,
        ),
        (
            "giveup",
            BranchStatus::PhaseTwo_CommitFailed_Unretryable,
            BranchStatus::PhaseTwo_RollbackFailed_Unretryable,
        ),
        // A panicking participant is a retryable failure, not a dead servant.
        (
            "panic",
            BranchStatus::PhaseTwo_CommitFailed_Retryable,
            BranchStatus::PhaseTwo_RollbackFailed_Retryable,
        ),
    ];
    for (i, (data, committed, rolled_back)) in cases.into_iter().enumerate() {
        let branch_id = i as i64 + 1;
        let got = w
            .participant
            .branch_commit("xid-p", branch_id, BranchType::TCC, ACCOUNT_RESOURCE, data)
            .expect("commit call");
        assert_eq!(got, committed, "confirm {data}");
        let got = w
            .participant
            .branch_rollback("xid-p", branch_id, BranchType::TCC, ACCOUNT_RESOURCE, data)
            .expect("rollback call");
        assert_eq!(got, rolled_back, "cancel {data}");
    }
    let seen = w.account.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 8);
    assert_eq!(
        seen[0],
        (
            "confirm",
            BranchInfo {
                xid: "xid-p".into(),
                branch_id: 1,
                branch_type: BranchType::TCC,
                resource_id: ACCOUNT_RESOURCE.into(),
                application_data: "done".into(),
            }
        )
    );
    assert_eq!(seen[1].0, "cancel");
    assert_eq!(seen[7].1.application_data, "panic");

    // The outcome mapping itself.
    assert_eq!(
        PhaseTwo::Done.commit_status(),
        BranchStatus::PhaseTwo_Committed
    );
    assert_eq!(
        PhaseTwo::GiveUp.rollback_status(),
        BranchStatus::PhaseTwo_RollbackFailed_Unretryable
    );
}

// ---------------------------------------------------------------------------------------------
// Against the real coordinator: a failed try keeps its branch, and the rollback cancels it

/// A TCC resource: the try reserves an amount, confirm applies it, cancel releases it; every
/// phase-two call is recorded.
#[derive(Default)]
struct Reserving {
    reserved: Mutex<HashMap<(String, i64), i64>>,
    calls: Mutex<Vec<(&'static str, String, i64)>>,
}

impl Reserving {
    fn settle(&self, step: &'static str, branch: &BranchInfo) -> PhaseTwo {
        self.calls
            .lock()
            .unwrap()
            .push((step, branch.xid.clone(), branch.branch_id));
        self.reserved
            .lock()
            .unwrap()
            .remove(&(branch.xid.clone(), branch.branch_id));
        PhaseTwo::Done
    }

    /// The phase-two calls `xid` got: (step, branch id), in order.
    fn calls_of(&self, xid: &str) -> Vec<(&'static str, i64)> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, x, _)| x == xid)
            .map(|(step, _, id)| (*step, *id))
            .collect()
    }

    fn reserved(&self) -> usize {
        self.reserved.lock().unwrap().len()
    }
}

impl TccParticipant for Reserving {
    fn confirm(&self, branch: &BranchInfo) -> PhaseTwo {
        self.settle("confirm", branch)
    }

    fn cancel(&self, branch: &BranchInfo) -> PhaseTwo {
        self.settle("cancel", branch)
    }
}

/// How a try body ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Body {
    Ok,
    /// Fails after reserving (a partial effect).
    FailAfterEffect,
    /// Panics after reserving.
    PanicAfterEffect,
    /// Fails before any effect and opts in to reporting `PhaseOne_Failed`.
    FailCleanlyAndReport,
}

/// What `TransactionManager::run` returned.
type RunOutcome = Result<(), RunError<String>>;

struct Real {
    service: CoordinatorService,
    tm: TransactionManager,
    rm: ResourceManager,
    participant: Arc<Reserving>,
    /// The participant's full proxy string: the coordinator needs no locator.
    resource: String,
    servers: Vec<Server>,
}

fn real_world() -> Real {
    let service = CoordinatorService::open(CoordinatorConfig {
        in_memory: true,
        port: 0,
        phase_two_timeout_ms: 1000,
        retry_period_ms: 50,
        max_backoff_ms: 200,
        timeout_check_ms: 50,
        async_commit_ms: 50,
        ..CoordinatorConfig::default()
    })
    .expect("open coordinator");
    let coordinator_server = service.start().expect("start coordinator");
    let port = coordinator_server
        .local_addr(COORDINATOR_ADAPTER)
        .expect("bound")
        .port();
    let comm = Communicator::new();
    let coordinator = CoordinatorProxy::new(proxy_at(&comm, COORDINATOR_OBJ, port));

    let participant = Arc::new(Reserving::default());
    let mut servants = Servants::new();
    servants.add(
        ACCOUNT_RESOURCE,
        ParticipantService::new(participant.clone()).into_servant(),
    );
    let (participant_server, participant_port) = serve(servants, 2);
    Real {
        service,
        tm: TransactionManager::new(coordinator.clone()).with_application_id("Test.Shop"),
        rm: ResourceManager::new(coordinator, CLIENT_ID),
        participant,
        resource: format!("{ACCOUNT_RESOURCE}@tcp -h 127.0.0.1 -p {participant_port} -t 3000"),
        servers: vec![participant_server, coordinator_server],
    }
}

impl Real {
    /// A TCC try in `tx` that ends as `body` says; returns its branch id.
    fn try_branch(&self, tx: &GlobalTransaction, body: Body) -> Result<i64, TryError<String>> {
        self.rm.tcc_try(tx, &self.resource, "amount=5", |branch| {
            if body == Body::FailCleanlyAndReport {
                self.rm.report_phase_one_failed(branch).expect("reported");
                return Err("refused before reserving".to_owned());
            }
            self.participant
                .reserved
                .lock()
                .unwrap()
                .insert((branch.xid.clone(), branch.branch_id), 5);
            match body {
                Body::FailAfterEffect => Err("failed after reserving".to_owned()),
                Body::PanicAfterEffect => panic!("try bug after reserving"),
                _ => Ok(branch.branch_id),
            }
        })
    }

    /// Runs a transaction with an ordinary branch followed by one ending as `second`; returns
    /// the XID, the branch ids and the outcome (`None` when `run` panicked).
    fn transfer(&self, second: Body) -> (String, Vec<i64>, Option<RunOutcome>) {
        let mut seen = (String::new(), Vec::new());
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.tm.run("transfer", TIMEOUT, |tx| {
                seen.0 = tx.xid().to_owned();
                let first = self.try_branch(tx, Body::Ok).map_err(|e| e.to_string())?;
                seen.1.push(first);
                match self.try_branch(tx, second) {
                    Ok(id) => {
                        seen.1.push(id);
                        Ok(())
                    }
                    Err(TryError::Body { branch_id, error }) => {
                        seen.1.push(branch_id);
                        Err(error)
                    }
                    Err(e) => Err(e.to_string()),
                }
            })
        }));
        (seen.0, seen.1, outcome.ok())
    }

    fn stop(self) {
        for server in self.servers {
            server.shutdown();
        }
        self.service.shutdown();
    }
}

#[test]
fn with_the_real_coordinator_a_failed_or_panicking_try_is_cancelled_by_the_rollback() {
    let w = real_world();

    // Both tries succeed: both confirmed, in order.
    let (xid, ids, outcome) = w.transfer(Body::Ok);
    outcome.expect("no panic").expect("committed");
    assert_eq!(
        w.participant.calls_of(&xid),
        [("confirm", ids[0]), ("confirm", ids[1])]
    );

    // The second try fails after reserving: its branch was kept, and the rollback cancels
    // both (in reverse order), releasing the partial effect.
    let (xid, ids, outcome) = w.transfer(Body::FailAfterEffect);
    match outcome.expect("no panic") {
        Err(RunError::RolledBack { error, status, .. }) => {
            assert_eq!(error, "failed after reserving");
            assert_eq!(status, GlobalStatus::Rollbacked);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        w.participant.calls_of(&xid),
        [("cancel", ids[1]), ("cancel", ids[0])]
    );

    // A panicking try: the panic reaches run, which rolls back; both branches are cancelled.
    let (xid, ids, outcome) = w.transfer(Body::PanicAfterEffect);
    assert!(outcome.is_none(), "the panic continues through run");
    assert_eq!(ids.len(), 1, "the panicking try never returned its id");
    let calls = w.participant.calls_of(&xid);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls.iter().all(|(step, _)| *step == "cancel"), "{calls:?}");
    assert_eq!(calls[1], ("cancel", ids[0]), "reverse registration order");

    assert_eq!(w.participant.reserved(), 0, "no reservation leaked");
    w.stop();
}

#[test]
fn with_the_real_coordinator_the_opt_in_report_drops_the_branch() {
    let w = real_world();
    let (xid, ids, outcome) = w.transfer(Body::FailCleanlyAndReport);
    assert!(
        matches!(outcome, Some(Err(RunError::RolledBack { .. }))),
        "{outcome:?}"
    );
    // Only the ordinary branch is cancelled: the reported one is never called.
    assert_eq!(w.participant.calls_of(&xid), [("cancel", ids[0])]);
    assert_eq!(w.participant.reserved(), 0);
    w.stop();
}

#[test]
fn with_the_real_coordinator_a_failed_try_whose_tm_never_decides_is_cancelled_on_timeout() {
    let w = real_world();
    let tx =
        w.tm.begin("forgotten", Duration::from_millis(300))
            .expect("begun");
    let branch = match w.try_branch(&tx, Body::FailAfterEffect) {
        Err(TryError::Body { branch_id, .. }) => branch_id,
        other => panic!("unexpected {other:?}"),
    };
    // The TM never rolls back: the coordinator's timeout does, and cancels the branch.
    wait_until(
        "the branch to be cancelled",
        Duration::from_secs(10),
        || !w.participant.calls_of(tx.xid()).is_empty(),
    );
    assert_eq!(w.participant.calls_of(tx.xid()), [("cancel", branch)]);
    assert_eq!(w.participant.reserved(), 0);
    w.stop();
}
