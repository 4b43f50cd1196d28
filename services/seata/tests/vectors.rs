//! Every message layout against hand-written byte vectors (`tests/vectors.txt`): decoded and
//! compared field by field, re-encoded to the same bytes, and every strict prefix rejected.

mod common;

use tars_seata::message::*;
use tars_seata::{
    BranchStatus, BranchType, GlobalStatus, Message, ResultCode, SeataError,
    TransactionExceptionCode as Tec,
};

const XID: &str = "h:1:42";

fn s(v: &str) -> String {
    v.to_owned()
}

fn ok() -> TransactionResponse {
    TransactionResponse::success()
}

fn busy(code: Tec) -> TransactionResponse {
    TransactionResponse::failed(code, "busy")
}

fn xid_req(extra: &str) -> GlobalXidRequest {
    GlobalXidRequest {
        xid: s(XID),
        extra_data: s(extra),
    }
}

fn end(result: TransactionResponse, status: GlobalStatus) -> GlobalEndResponse {
    GlobalEndResponse {
        result,
        global_status: status,
    }
}

fn lock_req() -> BranchRegisterRequest {
    BranchRegisterRequest {
        xid: s(XID),
        branch_type: BranchType::At,
        resource_id: s("db1"),
        lock_key: s("t:1"),
        application_data: String::new(),
    }
}

fn begin_req() -> Message {
    Message::GlobalBeginRequest(GlobalBeginRequest {
        timeout: 60_000,
        transaction_name: s("name"),
    })
}

/// The message each body vector must decode to.
fn expected(name: &str) -> Option<Message> {
    use Message as M;
    Some(match name {
        "register_tm_request" => M::RegisterTmRequest(RegisterTmRequest {
            version: s("2.2.0"),
            application_id: s("app"),
            transaction_service_group: s("grp"),
            extra_data: String::new(),
        }),
        "register_rm_request" => M::RegisterRmRequest(RegisterRmRequest {
            version: s("1.0"),
            application_id: s("app"),
            transaction_service_group: s("grp"),
            extra_data: String::new(),
            resource_ids: s("db1,db2"),
        }),
        "register_tm_response" => M::RegisterTmResponse(RegisterResponse {
            identified: true,
            version: s("2.2.0"),
        }),
        "register_rm_response" => M::RegisterRmResponse(RegisterResponse {
            identified: false,
            version: String::new(),
        }),
        "global_begin_request" => begin_req(),
        "global_begin_response" => M::GlobalBeginResponse(GlobalBeginResponse {
            result: ok(),
            xid: s(XID),
            extra_data: String::new(),
        }),
        "global_begin_response_failed" => M::GlobalBeginResponse(GlobalBeginResponse {
            result: busy(Tec::BeginFailed),
            xid: String::new(),
            extra_data: String::new(),
        }),
        "global_commit_request" => M::GlobalCommitRequest(xid_req("é")),
        "global_commit_response" => M::GlobalCommitResponse(end(ok(), GlobalStatus::Committed)),
        "global_rollback_request" => M::GlobalRollbackRequest(xid_req("")),
        "global_rollback_response" => {
            M::GlobalRollbackResponse(end(ok(), GlobalStatus::Rollbacked))
        }
        "global_status_request" => M::GlobalStatusRequest(xid_req("")),
        "global_status_response" => M::GlobalStatusResponse(end(
            busy(Tec::GlobalTransactionNotExist),
            GlobalStatus::Finished,
        )),
        "global_status_response_unknown" => M::GlobalStatusResponse(GlobalEndResponse {
            result: TransactionResponse {
                result_code: ResultCode::Other(2),
                msg: String::new(),
                exception_code: Tec::Other(127),
            },
            global_status: GlobalStatus::Other(99),
        }),
        "global_report_request" => M::GlobalReportRequest(GlobalReportRequest {
            xid: s(XID),
            extra_data: String::new(),
            global_status: Some(GlobalStatus::Committed),
        }),
        "global_report_request_null" => M::GlobalReportRequest(GlobalReportRequest {
            xid: s(XID),
            extra_data: String::new(),
            global_status: None,
        }),
        "global_report_response" => M::GlobalReportResponse(end(ok(), GlobalStatus::Rollbacked)),
        "branch_register_request" => M::BranchRegisterRequest(lock_req()),
        "branch_register_response" => M::BranchRegisterResponse(BranchRegisterResponse {
            result: ok(),
            branch_id: 7,
        }),
        "branch_register_response_conflict" => M::BranchRegisterResponse(BranchRegisterResponse {
            result: busy(Tec::LockKeyConflict),
            branch_id: 0,
        }),
        "branch_report_request" => M::BranchReportRequest(BranchReportRequest {
            xid: s(XID),
            branch_id: 7,
            status: BranchStatus::PhaseOneDone,
            resource_id: s("db1"),
            application_data: s("{}"),
            branch_type: BranchType::Tcc,
        }),
        "branch_report_response" => M::BranchReportResponse(ok()),
        "global_lock_query_request" => M::GlobalLockQueryRequest(lock_req()),
        "global_lock_query_response" => M::GlobalLockQueryResponse(GlobalLockQueryResponse {
            result: ok(),
            lockable: true,
        }),
        "global_lock_query_response_false" => M::GlobalLockQueryResponse(GlobalLockQueryResponse {
            result: busy(Tec::LockKeyConflict),
            lockable: false,
        }),
        "branch_commit_request" => M::BranchCommitRequest(BranchPhaseTwoRequest {
            xid: s(XID),
            branch_id: 7,
            branch_type: BranchType::Tcc,
            resource_id: s("db1"),
            application_data: s("{}"),
        }),
        "branch_commit_response" => M::BranchCommitResponse(BranchPhaseTwoResponse {
            result: ok(),
            xid: s(XID),
            branch_id: 7,
            branch_status: BranchStatus::PhaseTwoCommitted,
        }),
        "branch_rollback_request" => M::BranchRollbackRequest(BranchPhaseTwoRequest {
            xid: s(XID),
            branch_id: 7,
            branch_type: BranchType::At,
            resource_id: s("db1"),
            application_data: String::new(),
        }),
        "branch_rollback_response" => M::BranchRollbackResponse(BranchPhaseTwoResponse {
            result: ok(),
            xid: s(XID),
            branch_id: 7,
            branch_status: BranchStatus::PhaseTwoRollbacked,
        }),
        "undo_log_delete_request" => M::UndoLogDeleteRequest(UndoLogDeleteRequest {
            branch_type: BranchType::At,
            resource_id: s("db1"),
            save_days: 7,
        }),
        "merged_warp_message" => M::MergedWarpMessage(MergedWarpMessage {
            msgs: vec![M::GlobalStatusRequest(xid_req("")), begin_req()],
            msg_ids: vec![],
        }),
        "merged_warp_message_ids" => M::MergedWarpMessage(MergedWarpMessage {
            msgs: vec![M::GlobalStatusRequest(xid_req("")), begin_req()],
            msg_ids: vec![5, 6],
        }),
        "merged_warp_message_empty" => M::MergedWarpMessage(MergedWarpMessage::default()),
        "merge_result_message" => M::MergeResultMessage(MergeResultMessage {
            msgs: vec![
                M::GlobalStatusResponse(end(ok(), GlobalStatus::Begin)),
                M::GlobalBeginResponse(GlobalBeginResponse {
                    result: ok(),
                    xid: s(XID),
                    extra_data: String::new(),
                }),
            ],
        }),
        "batch_result_message" => M::BatchResultMessage(BatchResultMessage {
            msgs: vec![M::BranchRegisterResponse(BranchRegisterResponse {
                result: ok(),
                branch_id: 7,
            })],
            msg_ids: vec![9],
        }),
        _ => return None,
    })
}

#[test]
fn every_body_vector_decodes_field_by_field_and_reencodes() {
    let mut seen = std::collections::BTreeSet::new();
    for (name, bytes) in common::vectors() {
        if name.starts_with("frame_") {
            continue;
        }
        let want = expected(&name).unwrap_or_else(|| panic!("no expectation for {name}"));
        let got = Message::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
        let again = want.to_bytes().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&again[..], &bytes[..], "{name} re-encoded");
        seen.insert(want.type_code());
    }
    // Every type code of the SEATA codec has at least one vector.
    let all: std::collections::BTreeSet<i16> = [
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 21, 22, 59, 60, 101, 102,
        103, 104, 111, 121,
    ]
    .into();
    assert_eq!(seen, all);
}

#[test]
fn every_strict_prefix_of_a_body_is_an_error() {
    for (name, bytes) in common::vectors() {
        if name.starts_with("frame_") {
            continue;
        }
        for len in 0..bytes.len() {
            assert!(
                Message::decode(&bytes[..len]).is_err(),
                "{name}: prefix of {len} bytes decoded"
            );
        }
    }
}

#[test]
fn trailing_bytes_after_a_body_are_an_error() {
    let mut bytes = common::vector("global_commit_response");
    bytes.push(0);
    assert_eq!(
        Message::decode(&bytes),
        Err(SeataError::TrailingBytes {
            what: "message body",
            count: 1
        })
    );
}

#[test]
fn unknown_type_codes_and_nested_batches_are_errors() {
    assert_eq!(
        Message::decode(&common::unhex("0078")),
        Err(SeataError::UnknownTypeCode(120))
    );
    assert_eq!(
        Message::decode(&common::unhex("7fff 00")),
        Err(SeataError::UnknownTypeCode(0x7fff))
    );
    // A merged message inside a merged message.
    let nested = common::unhex("003b 0000000a 0001 | 003b 00000002 0000");
    assert_eq!(Message::decode(&nested), Err(SeataError::NestedBatch(59)));
    let inner = Message::MergedWarpMessage(MergedWarpMessage::default());
    let outer = Message::MergeResultMessage(MergeResultMessage { msgs: vec![inner] });
    assert_eq!(outer.to_bytes(), Err(SeataError::NestedBatch(59)));
}

#[test]
fn bad_lengths_are_errors_not_allocations() {
    // str16 of -2 bytes.
    assert!(matches!(
        Message::decode(&common::unhex("0007 fffe")),
        Err(SeataError::BadLength { .. })
    ));
    // str16 of 32767 bytes with 2 present.
    assert!(matches!(
        Message::decode(&common::unhex("0007 7fff 6162")),
        Err(SeataError::Truncated { .. })
    ));
    // str32 of i32::MAX and of -1.
    let huge = common::unhex("000b 0000 00 0000 7fffffff");
    assert!(matches!(
        Message::decode(&huge),
        Err(SeataError::Truncated { .. })
    ));
    let neg = common::unhex("000b 0000 00 0000 ffffffff");
    assert!(matches!(
        Message::decode(&neg),
        Err(SeataError::BadLength { .. })
    ));
    // Batch: negative length, negative count, count over the bytes present.
    assert!(matches!(
        Message::decode(&common::unhex("003b ffffffff")),
        Err(SeataError::BadLength { .. })
    ));
    assert!(matches!(
        Message::decode(&common::unhex("003b 00000002 8000")),
        Err(SeataError::BadLength { .. })
    ));
    assert!(matches!(
        Message::decode(&common::unhex("003b 00000002 7fff")),
        Err(SeataError::Truncated { .. })
    ));
    // Invalid UTF-8.
    assert_eq!(
        Message::decode(&common::unhex("0007 0001 ff 0000")),
        Err(SeataError::InvalidUtf8 { what: "xid" })
    );
}

#[test]
fn merged_message_ids_must_match_the_count() {
    // Two messages, one id.
    let one_id = common::unhex(
        "003b 0000001e 0002 | 000f 0006 683a313a3432 0000 | 0001 0000ea60 0004 6e616d65 | 00000005",
    );
    assert_eq!(
        Message::decode(&one_id),
        Err(SeataError::MsgIdCount {
            expected: 2,
            found: 1
        })
    );
    // A batch result without its ids.
    let no_ids = common::unhex("0079 0000000e 0001 | 000c 01 00 0000000000000007");
    assert_eq!(
        Message::decode(&no_ids),
        Err(SeataError::MsgIdCount {
            expected: 1,
            found: 0
        })
    );
    // Encoding checks the same.
    let bad = Message::MergedWarpMessage(MergedWarpMessage {
        msgs: vec![begin_req()],
        msg_ids: vec![1, 2],
    });
    assert!(matches!(bad.to_bytes(), Err(SeataError::MsgIdCount { .. })));
}

#[test]
fn merged_with_and_without_ids_carry_the_same_requests() {
    let without = Message::decode(&common::vector("merged_warp_message")).unwrap();
    let with = Message::decode(&common::vector("merged_warp_message_ids")).unwrap();
    match (without, with) {
        (Message::MergedWarpMessage(a), Message::MergedWarpMessage(b)) => {
            assert_eq!(a.msgs, b.msgs);
            assert!(a.msg_ids.is_empty());
            assert_eq!(b.msg_ids, vec![5, 6]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn long_failure_messages_are_truncated_at_a_char_boundary() {
    let long = "é".repeat(20_000); // 40000 bytes
    let msg = Message::BranchReportResponse(TransactionResponse::failed(Tec::Io, long));
    let bytes = msg.to_bytes().unwrap();
    match Message::decode(&bytes).unwrap() {
        Message::BranchReportResponse(r) => {
            assert_eq!(r.msg.len(), 32766);
            assert!(r.msg.chars().all(|c| c == 'é'));
        }
        other => panic!("{other:?}"),
    }
    // Other str16 fields over 32767 bytes are an error, not a silent cut.
    let xid = Message::GlobalStatusRequest(GlobalXidRequest {
        xid: "x".repeat(40_000),
        extra_data: String::new(),
    });
    assert!(matches!(xid.to_bytes(), Err(SeataError::TooLong { .. })));
}

#[test]
fn enum_codes_round_trip_and_unknowns_are_kept() {
    for code in i8::MIN..=i8::MAX {
        assert_eq!(GlobalStatus::from_code(code).code(), code);
        assert_eq!(BranchStatus::from_code(code).code(), code);
        assert_eq!(BranchType::from_code(code).code(), code);
        assert_eq!(Tec::from_code(code).code(), code);
        assert_eq!(ResultCode::from_code(code).code(), code);
    }
    assert_eq!(Tec::KNOWN.len(), 24);
    assert_eq!(GlobalStatus::KNOWN.len(), 18);
    assert_eq!(BranchStatus::KNOWN.len(), 14);
    assert_eq!(BranchType::KNOWN.len(), 4);
    assert_eq!(Tec::from_code(19), Tec::NotRaftLeader);
    assert_eq!(Tec::from_code(24), Tec::Other(24));
    assert_eq!(
        GlobalStatus::from_code(17),
        GlobalStatus::RollbackRetryTimeout
    );
    assert_eq!(BranchStatus::from_code(13), BranchStatus::PhaseOneRdonly);
    assert_eq!(BranchType::from_code(3), BranchType::Xa);
}
