//! `tars.tarscoordinator.CoordinatorObj` in cluster mode: every node serves it, and routes.
//!
//! - `begin` goes to a fragment led here (in turn); when this node leads none that takes new
//!   transactions, it is forwarded to another node's leader.
//! - A call that carries an XID goes to the fragment the XID names: served here when this
//!   node leads it, else forwarded once to the leader's coordinator (the forwarded call is
//!   marked in its context and never forwarded again). With no leader known — during a
//!   failover — it is refused with `NotRaftLeader`, which promises nothing was done: the
//!   client tries again and meets the new leader. A forwarded call whose leader dies on the way
//!   is answered `FailedStore` (its outcome is unknown; the client checks with `getStatus`); it
//!   is never answered with a guess.
//! - `listTransactions` (an operator's read) answers from the fragments this node leads and
//!   is never forwarded: a cluster-wide list asks every node (the web console does).
//!   `describeTransaction` goes where its XID goes.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use tars::client::{CallError, Communicator};
use tars::server::{Current, ServantError};
use tars::TarsString;
use tars_coordinator::servant::{claimed_principal, failed, ok, PRINCIPAL_CONTEXT_KEY};
use tars_coordinator::service::COORDINATOR_OBJ;
use tars_coordinator::xid::Xid;
use tars_protocols::tarstx::{
    BranchStatus, BranchType, Coordinator, CoordinatorProxy, CoordinatorResponder, GlobalStatus,
    ResultCode, TransactionExceptionCode as Code, TxDetail, TxFilter, TxResult, TxSummary,
};

use super::fragment::LedFragment;
use super::manager::FragmentManager;

/// The context key marking a forwarded call.
pub const FORWARDED: &str = "tars.cluster.forwarded";

/// Where one call goes.
enum Route {
    Here(Arc<LedFragment>),
    Forward(CoordinatorProxy),
    Refuse(TxResult),
}

/// The routing Coordinator servant (see the module docs).
#[derive(Debug)]
pub struct ClusterCoordinator {
    manager: OnceLock<Arc<FragmentManager>>,
    communicator: Communicator,
    /// Forwarding timeout, in milliseconds.
    timeout_ms: u64,
    proxies: Mutex<HashMap<String, CoordinatorProxy>>,
    /// How other nodes' coordinators are reached.
    transport: tars::endpoint::Transport,
}

fn starting() -> TxResult {
    failed(Code::NotRaftLeader, "the node is starting; retry")
}

/// A forwarded call the leader did not answer: it may have been applied (the leader died
/// after storing it), so this is not `NotRaftLeader` (which promises nothing was done) but
/// `FailedStore`, the code for an outcome the client must check (`getStatus`).
fn call_lost(e: &CallError) -> TxResult {
    failed(
        Code::FailedStore,
        format!("the fragment's leader did not answer ({e}); the outcome is unknown"),
    )
}

impl ClusterCoordinator {
    /// A router forwarding with `communicator`, each forwarded call bounded by `timeout_ms`.
    /// It refuses every call (`NotRaftLeader`, retryable) until [`ClusterCoordinator::attach`]
    /// gives it the node's fragments — so it can be served before the node knows its port.
    pub fn new(communicator: Communicator, timeout_ms: u64) -> ClusterCoordinator {
        ClusterCoordinator {
            manager: OnceLock::new(),
            communicator,
            timeout_ms,
            proxies: Mutex::new(HashMap::new()),
            transport: Default::default(),
        }
    }

    /// Reaches other nodes over `transport` (their `ssl` / `-e 1`) instead of plain TCP.
    pub fn with_transport(mut self, transport: tars::endpoint::Transport) -> ClusterCoordinator {
        self.transport = transport;
        self
    }

    /// Routes through `manager` from now on (once; later calls are ignored).
    pub fn attach(&self, manager: Arc<FragmentManager>) {
        let _ = self.manager.set(manager);
    }

    fn proxy(&self, address: &str) -> Option<CoordinatorProxy> {
        if let Some(p) = self.proxies.lock().get(address) {
            return Some(p.clone());
        }
        let (host, port) = address.rsplit_once(':')?;
        let port = port.parse::<u16>().ok()?;
        let text = format!(
            "{COORDINATOR_OBJ}@{}",
            self.transport.endpoint(host, port, self.timeout_ms)
        );
        let proxy = match self.communicator.string_to_proxy(&text) {
            Ok(p) => CoordinatorProxy::new(p.with_context(FORWARDED, "1")),
            Err(e) => {
                tracing::warn!(address, error = %e, "forwarding proxy");
                return None;
            }
        };
        self.proxies
            .lock()
            .insert(address.to_owned(), proxy.clone());
        Some(proxy)
    }

    fn forwarded(current: &Current) -> bool {
        current.context().contains_key(FORWARDED)
    }

    fn route_begin(&self, current: &Current) -> Route {
        let Some(manager) = self.manager.get() else {
            return Route::Refuse(starting());
        };
        if let Some(f) = manager.pick_for_begin().filter(|_| manager.lease_valid()) {
            return Route::Here(f);
        }
        if !Self::forwarded(current) {
            if let Some(p) = manager.other_leader_address().and_then(|a| self.proxy(&a)) {
                return Route::Forward(p);
            }
        }
        Route::Refuse(failed(
            Code::NotRaftLeader,
            format!(
                "node {} leads no fragment that takes transactions now; retry",
                manager.node_id()
            ),
        ))
    }

    fn route(&self, current: &Current, xid: &str) -> Route {
        let Some(manager) = self.manager.get() else {
            return Route::Refuse(starting());
        };
        let Some(f) = Xid::fragment_of(xid) else {
            // Not an XID: any fragment answers it as unknown.
            return match manager.led_ids().first().and_then(|f| manager.led(*f)) {
                Some(led) => Route::Here(led),
                None => Route::Refuse(failed(Code::GlobalTransactionNotExist, xid)),
            };
        };
        if let Some(led) = manager.led(f) {
            if manager.lease_valid() {
                return Route::Here(led);
            }
            return Route::Refuse(failed(
                Code::NotRaftLeader,
                format!(
                    "node {} cannot confirm its lease on fragment {f} (paused or cut off from \
                     etcd); retry",
                    manager.node_id()
                ),
            ));
        }
        if !Self::forwarded(current) {
            if let Some(p) = manager.leader_address(f).and_then(|a| self.proxy(&a)) {
                return Route::Forward(p);
            }
        }
        let leader = manager
            .leader_address(f)
            .map_or_else(|| "no leader yet".to_owned(), |a| format!("led by {a}"));
        Route::Refuse(failed(
            Code::NotRaftLeader,
            format!(
                "node {} does not lead fragment {f} ({leader}); retry",
                manager.node_id()
            ),
        ))
    }
}

type Result<T> = std::result::Result<T, ServantError>;

/// Forwards one call, naming the caller's principal for the leader (which trusts the name
/// from nodes listed in its `access.forwarders`): `$call` on the proxy with a callback that answers through
/// `CoordinatorResponder::$method` (or a retryable refusal when the leader did not answer).
macro_rules! forward {
    ($current:expr, $proxy:expr, $method:ident, $callback:ident ( $($arg:expr),* ), $default:expr) => {{
        // The leader checks the caller's principal, not this node's ("": anonymous).
        let proxy = $proxy.with_context(
            PRINCIPAL_CONTEXT_KEY,
            claimed_principal($current, |_| false)
                .unwrap_or_default()
                .to_owned(),
        );
        let responder = $current.defer();
        proxy.$callback($($arg,)* move |r| {
            let Some(responder) = responder else { return };
            match r {
                Ok(out) => forward!(@answer $method, responder, out),
                Err(e) => forward!(@lost $method, responder, &call_lost(&e), $default),
            }
        });
        Ok((ok(), $default))
    }};
    (@answer branch_report, $responder:expr, $out:expr) => {
        CoordinatorResponder::branch_report($responder, &$out)
    };
    (@answer $method:ident, $responder:expr, $out:expr) => {
        CoordinatorResponder::$method($responder, &$out.0, &$out.1)
    };
    (@lost branch_report, $responder:expr, $r:expr, $default:expr) => {
        CoordinatorResponder::branch_report($responder, $r)
    };
    (@lost $method:ident, $responder:expr, $r:expr, $default:expr) => {
        CoordinatorResponder::$method($responder, $r, &$default)
    };
}

impl Coordinator for ClusterCoordinator {
    fn begin(
        &self,
        current: &mut Current,
        application_id: TarsString,
        transaction_name: TarsString,
        timeout_ms: i32,
    ) -> Result<(TxResult, TarsString)> {
        match self.route_begin(current) {
            Route::Here(f) => {
                f.servant()
                    .begin(current, application_id, transaction_name, timeout_ms)
            }
            Route::Forward(p) => forward!(
                current,
                p,
                begin,
                begin_callback(application_id, transaction_name, timeout_ms),
                TarsString::new()
            ),
            Route::Refuse(r) => Ok((r, TarsString::new())),
        }
    }

    fn commit(&self, current: &mut Current, xid: TarsString) -> Result<(TxResult, GlobalStatus)> {
        match self.route(current, &xid) {
            Route::Here(f) => f.servant().commit(current, xid),
            Route::Forward(p) => forward!(
                current,
                p,
                commit,
                commit_callback(xid),
                GlobalStatus::UnKnown
            ),
            Route::Refuse(r) => Ok((r, GlobalStatus::UnKnown)),
        }
    }

    fn rollback(&self, current: &mut Current, xid: TarsString) -> Result<(TxResult, GlobalStatus)> {
        match self.route(current, &xid) {
            Route::Here(f) => f.servant().rollback(current, xid),
            Route::Forward(p) => forward!(
                current,
                p,
                rollback,
                rollback_callback(xid),
                GlobalStatus::UnKnown
            ),
            Route::Refuse(r) => Ok((r, GlobalStatus::UnKnown)),
        }
    }

    fn get_status(
        &self,
        current: &mut Current,
        xid: TarsString,
    ) -> Result<(TxResult, GlobalStatus)> {
        match self.route(current, &xid) {
            Route::Here(f) => f.servant().get_status(current, xid),
            Route::Forward(p) => forward!(
                current,
                p,
                get_status,
                get_status_callback(xid),
                GlobalStatus::UnKnown
            ),
            Route::Refuse(r) => Ok((r, GlobalStatus::UnKnown)),
        }
    }

    fn global_report(
        &self,
        current: &mut Current,
        xid: TarsString,
        status: GlobalStatus,
    ) -> Result<(TxResult, GlobalStatus)> {
        match self.route(current, &xid) {
            Route::Here(f) => f.servant().global_report(current, xid, status),
            Route::Forward(p) => forward!(
                current,
                p,
                global_report,
                global_report_callback(xid, status),
                GlobalStatus::UnKnown
            ),
            Route::Refuse(r) => Ok((r, GlobalStatus::UnKnown)),
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
        match self.route(current, &xid) {
            Route::Here(f) => f.servant().branch_register(
                current,
                xid,
                branch_type,
                resource_id,
                client_id,
                lock_keys,
                application_data,
            ),
            Route::Forward(p) => forward!(
                current,
                p,
                branch_register,
                branch_register_callback(
                    xid,
                    branch_type,
                    resource_id,
                    client_id,
                    lock_keys,
                    application_data
                ),
                0i64
            ),
            Route::Refuse(r) => Ok((r, 0)),
        }
    }

    fn branch_report(
        &self,
        current: &mut Current,
        xid: TarsString,
        branch_id: i64,
        status: BranchStatus,
        application_data: TarsString,
    ) -> Result<TxResult> {
        match self.route(current, &xid) {
            Route::Here(f) => {
                f.servant()
                    .branch_report(current, xid, branch_id, status, application_data)
            }
            Route::Forward(p) => {
                let r: Result<(TxResult, ())> = forward!(
                    current,
                    p,
                    branch_report,
                    branch_report_callback(xid, branch_id, status, application_data),
                    ()
                );
                r.map(|(r, ())| r)
            }
            Route::Refuse(r) => Ok(r),
        }
    }

    fn lock_query(
        &self,
        current: &mut Current,
        xid: TarsString,
        branch_type: BranchType,
        resource_id: TarsString,
        lock_keys: TarsString,
    ) -> Result<(TxResult, bool)> {
        match self.route(current, &xid) {
            Route::Here(f) => {
                f.servant()
                    .lock_query(current, xid, branch_type, resource_id, lock_keys)
            }
            Route::Forward(p) => forward!(
                current,
                p,
                lock_query,
                lock_query_callback(xid, branch_type, resource_id, lock_keys),
                false
            ),
            Route::Refuse(r) => Ok((r, false)),
        }
    }

    fn retry(&self, current: &mut Current, xid: TarsString) -> Result<(TxResult, GlobalStatus)> {
        match self.route(current, &xid) {
            Route::Here(f) => f.servant().retry(current, xid),
            Route::Forward(p) => forward!(
                current,
                p,
                retry,
                retry_callback(xid),
                GlobalStatus::UnKnown
            ),
            Route::Refuse(r) => Ok((r, GlobalStatus::UnKnown)),
        }
    }

    fn stop_retrying(
        &self,
        current: &mut Current,
        xid: TarsString,
    ) -> Result<(TxResult, GlobalStatus)> {
        match self.route(current, &xid) {
            Route::Here(f) => f.servant().stop_retrying(current, xid),
            Route::Forward(p) => forward!(
                current,
                p,
                stop_retrying,
                stop_retrying_callback(xid),
                GlobalStatus::UnKnown
            ),
            Route::Refuse(r) => Ok((r, GlobalStatus::UnKnown)),
        }
    }

    fn list_transactions(
        &self,
        current: &mut Current,
        filter: TxFilter,
    ) -> Result<(TxResult, Vec<TxSummary>)> {
        let Some(manager) = self.manager.get() else {
            return Ok((starting(), Vec::new()));
        };
        let led: Vec<Arc<LedFragment>> = manager
            .led_ids()
            .into_iter()
            .filter_map(|f| manager.led(f))
            .collect();
        if !led.is_empty() && !manager.lease_valid() {
            return Ok((
                failed(
                    Code::NotRaftLeader,
                    format!(
                        "node {} cannot confirm its lease on its fragments (paused or cut off \
                         from etcd); retry",
                        manager.node_id()
                    ),
                ),
                Vec::new(),
            ));
        }
        let mut transactions = Vec::new();
        for f in led {
            let (r, mut listed) = f.servant().list_transactions(current, filter.clone())?;
            if r.code != ResultCode::Success {
                return Ok((r, Vec::new()));
            }
            transactions.append(&mut listed);
        }
        transactions.sort_by(|a, b| (a.begin_time_ms, &a.xid).cmp(&(b.begin_time_ms, &b.xid)));
        if let Ok(limit) = usize::try_from(filter.limit) {
            if limit > 0 {
                transactions.truncate(limit);
            }
        }
        Ok((ok(), transactions))
    }

    fn describe_transaction(
        &self,
        current: &mut Current,
        xid: TarsString,
    ) -> Result<(TxResult, TxDetail)> {
        match self.route(current, &xid) {
            Route::Here(f) => f.servant().describe_transaction(current, xid),
            Route::Forward(p) => forward!(
                current,
                p,
                describe_transaction,
                describe_transaction_callback(xid),
                TxDetail::default()
            ),
            Route::Refuse(r) => Ok((r, TxDetail::default())),
        }
    }
}
