//! The coordinator protocol: Seata's numbering on the wire, and a call through the generated
//! servant and proxy.

use std::sync::Arc;
use tars::TarsString;

use tars::client::{LocalInvoker, ServantProxy};
use tars::server::{Current, ServantError, Servants};
use tars::{TarsStruct, Writer};
use tars_protocols::tarstx::{
    BranchStatus, BranchType, Coordinator, CoordinatorProxy, CoordinatorServant, GlobalStatus,
    ResultCode, TransactionExceptionCode as Code, TxBranch, TxDetail, TxFilter, TxResult,
    TxSummary,
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
    /// One transaction per status the filter names (none: `Begin`), its application the
    /// filter's, at most `limit`.
    fn list_transactions(
        &self,
        _current: &mut Current,
        filter: TxFilter,
    ) -> Result<(TxResult, Vec<TxSummary>), ServantError> {
        let statuses = if filter.statuses.is_empty() {
            vec!["Begin".into()]
        } else {
            filter.statuses.clone()
        };
        let mut out: Vec<TxSummary> = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| TxSummary {
                xid: format!("x{i}:{s}").into(),
                application_id: filter.application_id.clone(),
                status: if s.as_str() == "CommitRetrying" {
                    GlobalStatus::CommitRetrying
                } else {
                    GlobalStatus::Begin
                },
                begin_time_ms: filter.min_age_ms,
                ..TxSummary::default()
            })
            .collect();
        if filter.limit > 0 {
            out.truncate(filter.limit as usize);
        }
        Ok((ok(), out))
    }
    fn describe_transaction(
        &self,
        _current: &mut Current,
        xid: TarsString,
    ) -> Result<(TxResult, TxDetail), ServantError> {
        if xid.as_str() == "gone" {
            return Ok((
                TxResult {
                    code: ResultCode::Failed,
                    error: Code::GlobalTransactionNotExist,
                    message: "gone has ended (Committed)".into(),
                },
                TxDetail::default(),
            ));
        }
        Ok((
            ok(),
            TxDetail {
                summary: TxSummary {
                    xid: xid.clone(),
                    status: GlobalStatus::CommitRetrying,
                    retry_attempts: 3,
                    next_retry_in_ms: 1500,
                    branch_count: 1,
                    ..TxSummary::default()
                },
                branches: vec![TxBranch {
                    branch_id: 7,
                    branch_type: BranchType::TCC,
                    resource_id: "Bank.Account.ParticipantObj".into(),
                    status: BranchStatus::PhaseTwo_CommitFailed_Retryable,
                    application_data: "{\"amount\":5}".into(),
                    ..TxBranch::default()
                }],
                locks: vec!["db^^^t^^^1".into()],
                retried_at_ms: 42,
            },
        ))
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

#[test]
fn operator_reads_round_trip() {
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
    let (r, listed) = tc
        .list_transactions(&TxFilter {
            statuses: vec![
                "Begin".into(),
                "CommitRetrying".into(),
                "Rollbacking".into(),
            ],
            min_age_ms: 1234,
            application_id: "bank".into(),
            limit: 2,
        })
        .expect("list");
    assert_eq!(r.code, ResultCode::Success);
    let seen: Vec<(&str, GlobalStatus, &str, i64)> = listed
        .iter()
        .map(|t| {
            (
                t.xid.as_str(),
                t.status,
                t.application_id.as_str(),
                t.begin_time_ms,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("x0:Begin", GlobalStatus::Begin, "bank", 1234),
            (
                "x1:CommitRetrying",
                GlobalStatus::CommitRetrying,
                "bank",
                1234
            )
        ]
    );
    // Unset retry fields keep their declared "none" (-1) across the wire.
    assert_eq!(
        (listed[0].retry_attempts, listed[0].next_retry_in_ms),
        (-1, -1)
    );
    // An empty filter is a valid one.
    let (_, listed) = tc.list_transactions(&TxFilter::default()).expect("list");
    assert_eq!(listed.len(), 1);

    let (r, detail) = tc.describe_transaction("x1").expect("describe");
    assert_eq!(r.code, ResultCode::Success);
    assert_eq!(detail.summary.xid.as_str(), "x1");
    assert_eq!(
        (
            detail.summary.retry_attempts,
            detail.summary.next_retry_in_ms
        ),
        (3, 1500)
    );
    assert_eq!(detail.branches.len(), 1);
    let b = &detail.branches[0];
    assert_eq!(
        (
            b.branch_id,
            b.branch_type,
            b.status,
            b.application_data.as_str()
        ),
        (
            7,
            BranchType::TCC,
            BranchStatus::PhaseTwo_CommitFailed_Retryable,
            "{\"amount\":5}"
        )
    );
    assert_eq!(detail.locks, vec![TarsString::from("db^^^t^^^1")]);
    assert_eq!(detail.retried_at_ms, 42);
    let (r, _) = tc.describe_transaction("gone").expect("describe");
    assert_eq!(
        (r.code, r.error, r.message.as_str()),
        (
            ResultCode::Failed,
            Code::GlobalTransactionNotExist,
            "gone has ended (Committed)"
        )
    );
}
