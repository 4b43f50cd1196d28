//! What the front end sends transaction requests to: the coordinator's operations as futures
//! of their answers.
//!
//! Two kinds serve it: a [`CoordinatorProxy`] (Tars calls with the XID in their context, which
//! a cluster node's router forwards by; used in cluster mode and to reach a coordinator in
//! another process), and the coordinator servant of this very process
//! ([`CoordinatorServantImpl`]), called directly without encoding anything (embedded
//! `tarsd`). Both answer with the same values and the same [`CallError`] type, so the Seata
//! responses are built the same way.

use std::future::Future;
use std::pin::Pin;

use futures::FutureExt;
use tars::client::{CallError, XID_CONTEXT_KEY};
use tars::TarsString;
use tars_coordinator::servant::{direct, CoordinatorServantImpl, DirectAnswer};
use tars_protocols::tarstx::{BranchStatus, BranchType, CoordinatorProxy, GlobalStatus, TxResult};

/// The future of one call's answer.
pub type Reply<T> = Pin<Box<dyn Future<Output = Result<T, CallError>> + Send + 'static>>;

/// The coordinator operations the front end calls (those of `tarstx::Coordinator`).
pub trait Backend: Send + Sync + 'static {
    /// `begin`: the new XID.
    fn begin(
        &self,
        application_id: &str,
        name: &str,
        timeout_ms: i32,
    ) -> Reply<(TxResult, TarsString)>;
    /// `commit`: the status the transaction ends in (or is left in).
    fn commit(&self, xid: &str) -> Reply<(TxResult, GlobalStatus)>;
    /// `rollback`.
    fn rollback(&self, xid: &str) -> Reply<(TxResult, GlobalStatus)>;
    /// `getStatus`.
    fn get_status(&self, xid: &str) -> Reply<(TxResult, GlobalStatus)>;
    /// `globalReport`.
    fn global_report(&self, xid: &str, status: GlobalStatus) -> Reply<(TxResult, GlobalStatus)>;
    /// `branchRegister`: the branch id.
    #[allow(clippy::too_many_arguments)]
    fn branch_register(
        &self,
        xid: &str,
        branch_type: BranchType,
        resource_id: &str,
        client_id: &str,
        lock_keys: &str,
        application_data: &str,
    ) -> Reply<(TxResult, i64)>;
    /// `branchReport`.
    fn branch_report(
        &self,
        xid: &str,
        branch_id: i64,
        status: BranchStatus,
        application_data: &str,
    ) -> Reply<TxResult>;
    /// `lockQuery`: whether the rows could be locked.
    fn lock_query(
        &self,
        xid: &str,
        branch_type: BranchType,
        resource_id: &str,
        lock_keys: &str,
    ) -> Reply<(TxResult, bool)>;
}

/// Tars calls; those about a transaction carry its XID in the context.
impl Backend for CoordinatorProxy {
    fn begin(
        &self,
        application_id: &str,
        name: &str,
        timeout_ms: i32,
    ) -> Reply<(TxResult, TarsString)> {
        self.begin_async(application_id, name, timeout_ms).boxed()
    }

    fn commit(&self, xid: &str) -> Reply<(TxResult, GlobalStatus)> {
        with_xid(self, xid).commit_async(xid).boxed()
    }

    fn rollback(&self, xid: &str) -> Reply<(TxResult, GlobalStatus)> {
        with_xid(self, xid).rollback_async(xid).boxed()
    }

    fn get_status(&self, xid: &str) -> Reply<(TxResult, GlobalStatus)> {
        with_xid(self, xid).get_status_async(xid).boxed()
    }

    fn global_report(&self, xid: &str, status: GlobalStatus) -> Reply<(TxResult, GlobalStatus)> {
        with_xid(self, xid).global_report_async(xid, status).boxed()
    }

    fn branch_register(
        &self,
        xid: &str,
        branch_type: BranchType,
        resource_id: &str,
        client_id: &str,
        lock_keys: &str,
        application_data: &str,
    ) -> Reply<(TxResult, i64)> {
        with_xid(self, xid)
            .branch_register_async(
                xid,
                branch_type,
                resource_id,
                client_id,
                lock_keys,
                application_data,
            )
            .boxed()
    }

    fn branch_report(
        &self,
        xid: &str,
        branch_id: i64,
        status: BranchStatus,
        application_data: &str,
    ) -> Reply<TxResult> {
        with_xid(self, xid)
            .branch_report_async(xid, branch_id, status, application_data)
            .boxed()
    }

    fn lock_query(
        &self,
        xid: &str,
        branch_type: BranchType,
        resource_id: &str,
        lock_keys: &str,
    ) -> Reply<(TxResult, bool)> {
        with_xid(self, xid)
            .lock_query_async(xid, branch_type, resource_id, lock_keys)
            .boxed()
    }
}

fn with_xid(proxy: &CoordinatorProxy, xid: &str) -> CoordinatorProxy {
    proxy.with_context(XID_CONTEXT_KEY, xid.to_owned())
}

/// The answer of a direct call, as a call result.
fn answered<T: Send + 'static>(answer: DirectAnswer<T>) -> Reply<T> {
    answer
        .map(|a| a.ok_or_else(|| CallError::Transport("the coordinator dropped its answer".into())))
        .boxed()
}

/// The principal the front end's callers act as (Seata v1 carries no credentials).
const SEATA: Option<&str> = Some(tars_coordinator::access::SEATA_PRINCIPAL);

/// The coordinator of this process, called directly, as the `seata` principal.
impl Backend for CoordinatorServantImpl {
    fn begin(
        &self,
        application_id: &str,
        name: &str,
        timeout_ms: i32,
    ) -> Reply<(TxResult, TarsString)> {
        answered(direct(|defer| {
            self.begin_with(defer, SEATA, application_id, name, timeout_ms)
        }))
    }

    fn commit(&self, xid: &str) -> Reply<(TxResult, GlobalStatus)> {
        answered(direct(|defer| self.commit_with(defer, SEATA, xid)))
    }

    fn rollback(&self, xid: &str) -> Reply<(TxResult, GlobalStatus)> {
        answered(direct(|defer| self.rollback_with(defer, SEATA, xid)))
    }

    fn get_status(&self, xid: &str) -> Reply<(TxResult, GlobalStatus)> {
        answered(direct(|_| self.get_status_with(SEATA, xid)))
    }

    fn global_report(&self, xid: &str, status: GlobalStatus) -> Reply<(TxResult, GlobalStatus)> {
        answered(direct(|defer| {
            self.global_report_with(defer, SEATA, xid, status)
        }))
    }

    fn branch_register(
        &self,
        xid: &str,
        branch_type: BranchType,
        resource_id: &str,
        client_id: &str,
        lock_keys: &str,
        application_data: &str,
    ) -> Reply<(TxResult, i64)> {
        answered(direct(|defer| {
            self.branch_register_with(
                defer,
                SEATA,
                xid,
                branch_type,
                resource_id,
                client_id,
                lock_keys,
                application_data,
            )
        }))
    }

    fn branch_report(
        &self,
        xid: &str,
        branch_id: i64,
        status: BranchStatus,
        application_data: &str,
    ) -> Reply<TxResult> {
        answered(direct(|defer| {
            self.branch_report_with(defer, SEATA, xid, branch_id, status, application_data)
        }))
    }

    fn lock_query(
        &self,
        xid: &str,
        _branch_type: BranchType,
        resource_id: &str,
        lock_keys: &str,
    ) -> Reply<(TxResult, bool)> {
        answered(direct(|_| {
            self.lock_query_with(SEATA, xid, resource_id, lock_keys)
        }))
    }
}
