//! The coordinator protocol: Seata's numbering on the wire, and a call through the generated
//! servant and proxy.

use std::sync::Arc;
use tars::TarsString;

use tars::client::{LocalInvoker, ServantProxy};
use tars::server::{Current, ServantError, Servants};
use tars::{TarsStruct, Writer};
use tars_protocols::tarstx::{
    BranchStatus, BranchType, Coordinator, CoordinatorProxy, CoordinatorServant, GlobalStatus,
    ResultCode, TransactionExceptionCode as Code, TxResult,
};

#[test]
fn status_and_error_numbers_are_seatas() {
    assert_eq!(i32::from(GlobalStatus::AsyncCommitting), 8);
    assert_eq!(i32::from(GlobalStatus::RollbackRetryTimeout), 17);
    assert_eq!(
        i32::from(BranchStatus::PhaseTwo_RollbackFailed_Unretryable),
        10
    );
    assert_eq!(i32::from(BranchType::XA), 3);
    assert_eq!(i32::from(Code::LockKeyConflict), 2);
    assert_eq!(i32::from(Code::GlobalTransactionNotExist), 10);
    assert_eq!(i32::from(Code::GlobalTransactionStatusInvalid), 12);
}

#[test]
fn tx_result_wire_bytes() {
    let failed = TxResult {
        code: ResultCode::Failed,
        error: Code::GlobalTransactionNotExist,
        message: "x".into(),
    };
    let mut w = Writer::new();
    failed.write_fields(&mut w);
    // code 0 → ZERO_TAG at tag 0; error 10 at tag 1 (INT1); message at tag 2 (STRING1).
    assert_eq!(w.as_slice(), [0x0c, 0x10, 0x0a, 0x26, 0x01, b'x']);
    let ok = TxResult {
        code: ResultCode::Success,
        ..TxResult::default()
    };
    let mut w = Writer::new();
    ok.write_fields(&mut w);
    // As tars2cpp: enums are always written; an optional string without a declared default
    // is written even when empty.
    assert_eq!(w.as_slice(), [0x00, 0x01, 0x1c, 0x26, 0x00]);
}

struct Tc;

fn ok() -> TxResult {
    TxResult {
        code: ResultCode::Success,
        ..TxResult::default()
    }
}

impl Coordinator for Tc {
    fn begin(
        &self,
        _c: &mut Current,
        application_id: TarsString,
        transaction_name: TarsString,
        timeout_ms: i32,
    ) -> Result<(TxResult, TarsString), ServantError> {
        Ok((
            ok(),
            format!("{application_id}:{transaction_name}:{timeout_ms}").into(),
        ))
    }
    fn commit(
        &self,
        _c: &mut Current,
        _xid: TarsString,
    ) -> Result<(TxResult, GlobalStatus), ServantError> {
        Ok((ok(), GlobalStatus::Committed))
    }
    fn rollback(
        &self,
        _c: &mut Current,
        _xid: TarsString,
    ) -> Result<(TxResult, GlobalStatus), ServantError> {
        Ok((ok(), GlobalStatus::Rollbacked))
    }
    fn get_status(
        &self,
        _c: &mut Current,
        _xid: TarsString,
    ) -> Result<(TxResult, GlobalStatus), ServantError> {
        Ok((ok(), GlobalStatus::Finished))
    }
    fn global_report(
        &self,
        _c: &mut Current,
        _xid: TarsString,
        status: GlobalStatus,
    ) -> Result<(TxResult, GlobalStatus), ServantError> {
        Ok((ok(), status))
    }
    fn branch_register(
        &self,
        _c: &mut Current,
        _xid: TarsString,
        _branch_type: BranchType,
        _resource_id: TarsString,
        _client_id: TarsString,
        lock_keys: TarsString,
        _application_data: TarsString,
    ) -> Result<(TxResult, i64), ServantError> {
        if lock_keys.is_empty() {
            Ok((ok(), 1 << 40))
        } else {
            let failed = TxResult {
                code: ResultCode::Failed,
                error: Code::LockKeyConflict,
                message: lock_keys,
            };
            Ok((failed, 0))
        }
    }
    fn branch_report(
        &self,
        _c: &mut Current,
        _xid: TarsString,
        _branch_id: i64,
        _status: BranchStatus,
        _application_data: TarsString,
    ) -> Result<TxResult, ServantError> {
        Ok(ok())
    }
    fn lock_query(
        &self,
        _c: &mut Current,
        _xid: TarsString,
        _branch_type: BranchType,
        _resource_id: TarsString,
        lock_keys: TarsString,
    ) -> Result<(TxResult, bool), ServantError> {
        Ok((ok(), lock_keys.is_empty()))
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
}

#[test]
fn coordinator_calls_round_trip() {
    let mut s = Servants::new();
    s.add(
        "tars.tarscoordinator.CoordinatorObj",
        Arc::new(CoordinatorServant::new(Tc)),
    );
    let invoker = Arc::new(LocalInvoker::new(Arc::new(s)));
    let tc = CoordinatorProxy::new(ServantProxy::new(
        "tars.tarscoordinator.CoordinatorObj",
        invoker,
    ));
    let (r, xid) = tc.begin("bank", "transfer", 60_000).expect("begin");
    assert_eq!(
        (r.code, xid.as_str()),
        (ResultCode::Success, "bank:transfer:60000")
    );
    let (r, branch) = tc
        .branch_register(
            &xid,
            BranchType::TCC,
            "Bank.Account.ParticipantObj",
            "c",
            "",
            "",
        )
        .expect("register");
    assert_eq!((r.code, branch), (ResultCode::Success, 1 << 40));
    let (r, _) = tc
        .branch_register(&xid, BranchType::AT, "db", "c", "t:1", "")
        .expect("register");
    assert_eq!(
        (r.code, r.error, r.message.as_str()),
        (ResultCode::Failed, Code::LockKeyConflict, "t:1")
    );
    assert_eq!(
        tc.commit(&xid).expect("commit"),
        (ok(), GlobalStatus::Committed)
    );
}
