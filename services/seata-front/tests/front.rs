//! The Seata front end against a real coordinator, driven by a raw Seata client.

mod common;

use std::time::Duration;

use common::{xid_request, Client, Env};
use tars_seata::bytes::BytesMut;
use tars_seata::message::{
    BranchPhaseTwoRequest, BranchPhaseTwoResponse, BranchRegisterRequest, BranchReportRequest,
    GlobalBeginRequest, MergedWarpMessage, RegisterResponse, TransactionResponse,
};
use tars_seata::{
    BranchStatus, BranchType, Frame, GlobalStatus, Message, MessageType, ResultCode,
    TransactionExceptionCode,
};
use tars_seata_front::RequestError;

fn identified(msg: Message) -> RegisterResponse {
    match msg {
        Message::RegisterTmResponse(r) | Message::RegisterRmResponse(r) => r,
        other => panic!("not a registration response: {other:?}"),
    }
}

fn end(msg: Message) -> (TransactionResponse, GlobalStatus) {
    match msg {
        Message::GlobalCommitResponse(r)
        | Message::GlobalRollbackResponse(r)
        | Message::GlobalStatusResponse(r)
        | Message::GlobalReportResponse(r) => (r.result, r.global_status),
        other => panic!("not a global end response: {other:?}"),
    }
}

fn branch(xid: &str, resource: &str, keys: &str) -> BranchRegisterRequest {
    BranchRegisterRequest {
        xid: xid.into(),
        branch_type: BranchType::At,
        resource_id: resource.into(),
        lock_key: keys.into(),
        application_data: String::new(),
    }
}

fn lockable(msg: Message) -> bool {
    match msg {
        Message::GlobalLockQueryResponse(r) => {
            assert_eq!(r.result.result_code, ResultCode::Success, "{r:?}");
            r.lockable
        }
        other => panic!("not a lock query response: {other:?}"),
    }
}

const DB: &str = "jdbc:mysql://127.0.0.1:3306/bank";

#[test]
fn ping_is_answered_before_and_after_registration() {
    let env = Env::start();
    let mut c = env.client();
    let mut wire = BytesMut::new();
    Frame::ping(7).encode(&mut wire).expect("encode");
    c.write(&wire);
    let pong = c.recv_frame();
    assert_eq!(pong.message_type, MessageType::HeartbeatResponse);
    assert_eq!(pong.request_id, 7);
    assert!(pong.body.is_empty());

    let r = identified(c.register_tm("2.2.0"));
    assert!(r.identified);
    assert_eq!(r.version, tars_seata_front::SERVER_VERSION);
    c.write(&wire);
    assert_eq!(c.recv_frame(), Frame::pong(7));
}

#[test]
fn begin_then_commit_without_branches_is_committed() {
    let env = Env::start();
    let mut c = env.client();
    identified(c.register_tm("2.2.0"));
    let xid = c.begin("transfer");
    assert!(xid.starts_with("127.0.0.1:"), "{xid}");
    let (status_result, status) = end(c.call(Message::GlobalStatusRequest(xid_request(&xid))));
    assert_eq!(status_result.result_code, ResultCode::Success);
    assert_eq!(status, GlobalStatus::Begin);
    let (r, status) = end(c.call(Message::GlobalCommitRequest(xid_request(&xid))));
    assert_eq!(r.result_code, ResultCode::Success, "{r:?}");
    assert_eq!(status, GlobalStatus::Committed);
}

#[test]
fn begin_then_rollback_without_branches_is_rolled_back() {
    let env = Env::start();
    let mut c = env.client();
    identified(c.register_tm("2.2.0"));
    let xid = c.begin("transfer");
    let (r, status) = end(c.call(Message::GlobalRollbackRequest(xid_request(&xid))));
    assert_eq!(r.result_code, ResultCode::Success, "{r:?}");
    assert_eq!(status, GlobalStatus::Rollbacked);
}

#[test]
fn at_branches_lock_rows_and_conflict_across_transactions_called_directly() {
    at_branches_lock_rows_and_conflict_across_transactions(Env::start());
}

#[test]
fn at_branches_lock_rows_and_conflict_across_transactions_over_tars() {
    at_branches_lock_rows_and_conflict_across_transactions(Env::start_over_tars());
}

/// AT rows locked by one transaction conflict with another's until the commit frees them.
fn at_branches_lock_rows_and_conflict_across_transactions(env: Env) {
    let mut tm = env.client();
    identified(tm.register_tm("2.2.0"));
    let mut rm = env.client();
    assert!(identified(rm.register_rm("2.2.0", DB)).identified);
    let (xid1, xid2) = (tm.begin("a"), tm.begin("b"));

    let first = rm.call(Message::BranchRegisterRequest(branch(
        &xid1,
        DB,
        "account:1,2",
    )));
    let Message::BranchRegisterResponse(first) = first else {
        panic!("{first:?}")
    };
    assert_eq!(first.result.result_code, ResultCode::Success, "{first:?}");
    assert!(first.branch_id > 0);

    let second = rm.call(Message::BranchRegisterRequest(branch(
        &xid2,
        DB,
        "account:2",
    )));
    let Message::BranchRegisterResponse(second) = second else {
        panic!("{second:?}")
    };
    assert_eq!(second.result.result_code, ResultCode::Failed);
    assert_eq!(
        second.result.exception_code,
        TransactionExceptionCode::LockKeyConflict,
        "{second:?}"
    );

    let query = |c: &mut Client, xid: &str, keys: &str| {
        lockable(c.call(Message::GlobalLockQueryRequest(branch(xid, DB, keys))))
    };
    assert!(!query(&mut rm, &xid2, "account:2"));
    assert!(query(&mut rm, &xid2, "account:3"));
    assert!(query(&mut rm, &xid1, "account:1"), "own locks are lockable");

    // The commit decision releases the AT locks.
    let (r, status) = end(tm.call(Message::GlobalCommitRequest(xid_request(&xid1))));
    assert_eq!(r.result_code, ResultCode::Success, "{r:?}");
    assert_eq!(status, GlobalStatus::Committed);
    // The branch is committed asynchronously: the RM gets it and says done.
    let frame = rm.recv_frame();
    let request = frame.message().expect("decode").expect("body");
    let Message::BranchCommitRequest(commit) = &request else {
        panic!("not a branch commit: {request:?}")
    };
    assert_eq!(
        (commit.xid.as_str(), commit.branch_id),
        (xid1.as_str(), first.branch_id)
    );
    assert_eq!(commit.resource_id, DB);
    rm.answer(
        frame.request_id,
        &Message::BranchCommitResponse(BranchPhaseTwoResponse {
            result: TransactionResponse::success(),
            xid: xid1.clone(),
            branch_id: first.branch_id,
            branch_status: BranchStatus::PhaseTwoCommitted,
        }),
    );
    assert!(query(&mut rm, &xid2, "account:2"));
}

#[test]
fn branch_report_is_forwarded() {
    let env = Env::start();
    let mut c = env.client();
    identified(c.register_rm("2.2.0", DB));
    identified(c.register_tm("2.2.0"));
    let xid = c.begin("report");
    let Message::BranchRegisterResponse(b) =
        c.call(Message::BranchRegisterRequest(branch(&xid, DB, "t:9")))
    else {
        panic!("not a branch register response")
    };
    let report = c.call(Message::BranchReportRequest(BranchReportRequest {
        xid: xid.clone(),
        branch_id: b.branch_id,
        status: BranchStatus::PhaseOneFailed,
        resource_id: DB.into(),
        application_data: String::new(),
        branch_type: BranchType::At,
    }));
    assert_eq!(
        report,
        Message::BranchReportResponse(TransactionResponse::success())
    );
}

#[test]
fn unknown_xids_are_finished_and_refuse_branches_called_directly() {
    unknown_xids_are_finished_and_refuse_branches(Env::start());
}

#[test]
fn unknown_xids_are_finished_and_refuse_branches_over_tars() {
    unknown_xids_are_finished_and_refuse_branches(Env::start_over_tars());
}

/// An XID nobody began: its commit says Finished, a branch of it is refused.
fn unknown_xids_are_finished_and_refuse_branches(env: Env) {
    let mut c = env.client();
    identified(c.register_tm("2.2.0"));
    let ghost = "127.0.0.1:1:424242";
    let (r, status) = end(c.call(Message::GlobalCommitRequest(xid_request(ghost))));
    assert_eq!(r.result_code, ResultCode::Success);
    assert_eq!(status, GlobalStatus::Finished);
    let Message::BranchRegisterResponse(b) =
        c.call(Message::BranchRegisterRequest(branch(ghost, DB, "t:1")))
    else {
        panic!("not a branch register response")
    };
    assert_eq!(b.result.result_code, ResultCode::Failed);
    assert_eq!(
        b.result.exception_code,
        TransactionExceptionCode::GlobalTransactionNotExist
    );
}

fn merged_round(c: &mut Client, msg_ids: bool) {
    let xid = c.begin("merged");
    let msgs = vec![
        Message::GlobalStatusRequest(xid_request(&xid)),
        Message::GlobalLockQueryRequest(branch(&xid, DB, "t:1")),
        Message::GlobalBeginRequest(GlobalBeginRequest {
            timeout: 1000,
            transaction_name: "inner".into(),
        }),
    ];
    let msg_ids = if msg_ids { vec![11, 12, 13] } else { vec![] };
    let id = c.send(&Message::MergedWarpMessage(MergedWarpMessage {
        msgs,
        msg_ids,
    }));
    let Message::MergeResultMessage(result) = c.response(id) else {
        panic!("not a merge result")
    };
    assert_eq!(result.msgs.len(), 3, "{result:?}");
    assert!(
        matches!(&result.msgs[0], Message::GlobalStatusResponse(r) if r.global_status == GlobalStatus::Begin),
        "{result:?}"
    );
    assert!(
        matches!(&result.msgs[1], Message::GlobalLockQueryResponse(r) if r.lockable),
        "{result:?}"
    );
    assert!(
        matches!(&result.msgs[2], Message::GlobalBeginResponse(r) if r.result.result_code == ResultCode::Success && !r.xid.is_empty() && r.xid != xid),
        "{result:?}"
    );
}

#[test]
fn merged_requests_are_answered_in_order_called_directly() {
    merged_requests_are_answered_in_order_with_and_without_msg_ids(Env::start());
}

#[test]
fn merged_requests_are_answered_in_order_over_tars() {
    merged_requests_are_answered_in_order_with_and_without_msg_ids(Env::start_over_tars());
}

/// Merged requests, with and without message ids, answered in request order.
fn merged_requests_are_answered_in_order_with_and_without_msg_ids(env: Env) {
    let mut c = env.client();
    identified(c.register_tm("2.2.0"));
    identified(c.register_rm("2.2.0", DB));
    merged_round(&mut c, false);
    merged_round(&mut c, true);
}

#[test]
fn a_transaction_request_before_registration_closes_the_connection() {
    let env = Env::start();
    let mut c = env.client();
    c.send(&Message::GlobalBeginRequest(GlobalBeginRequest {
        timeout: 1000,
        transaction_name: "early".into(),
    }));
    c.expect_closed();
    // The front end goes on serving others.
    let mut other = env.client();
    identified(other.register_tm("2.2.0"));
    other.begin("later");
}

#[test]
fn bad_magic_closes_the_connection() {
    let env = Env::start();
    let mut c = env.client();
    identified(c.register_tm("2.2.0"));
    let mut wire = BytesMut::new();
    Frame::ping(1).encode(&mut wire).expect("encode");
    wire[0] = 0xCA;
    c.write(&wire);
    c.expect_closed();
}

#[test]
fn a_frame_over_the_cap_closes_the_connection() {
    let env = Env::start();
    let mut c = env.client();
    // A header announcing 9 MiB.
    let mut header = vec![0xDA, 0xDA, 1];
    header.extend_from_slice(&(9 * 1024 * 1024u32).to_be_bytes());
    header.extend_from_slice(&16u16.to_be_bytes());
    header.extend_from_slice(&[0, 1, 0]);
    header.extend_from_slice(&1i32.to_be_bytes());
    c.write(&header);
    c.expect_closed();
}

#[test]
fn two_frames_in_one_write_and_a_split_frame_are_answered() {
    let env = Env::start();
    let mut c = env.client();
    identified(c.register_tm("2.2.0"));
    let xid = c.begin("framing");
    // Two frames in one write.
    let (a, mut wire) = c.request_bytes(&Message::GlobalStatusRequest(xid_request(&xid)));
    let mut ping = BytesMut::new();
    Frame::ping(999).encode(&mut ping).expect("encode");
    wire.extend_from_slice(&ping);
    c.write(&wire);
    // The PONG is answered at once, the status once the coordinator replied: any order.
    let mut got = [c.recv_frame(), c.recv_frame()];
    got.sort_by_key(|f| f.request_id);
    assert_eq!(got[0].request_id, a);
    assert_eq!(got[1], Frame::pong(999));
    // One frame in three writes.
    let (b, wire) = c.request_bytes(&Message::GlobalStatusRequest(xid_request(&xid)));
    for part in [&wire[..3], &wire[3..20], &wire[20..]] {
        c.write(part);
        std::thread::sleep(Duration::from_millis(30));
    }
    let (r, status) = end(c.response(b));
    assert_eq!(r.result_code, ResultCode::Success);
    assert_eq!(status, GlobalStatus::Begin);
}

#[test]
fn an_old_client_gets_answers_it_can_decode() {
    let env = Env::start();
    let mut c = env.client();
    assert!(identified(c.register_tm("1.0")).identified);
    identified(c.register_rm("1.0", DB));
    let xid = c.begin("python");
    let (r, status) = end(c.call(Message::GlobalRollbackRequest(xid_request(&xid))));
    assert_eq!(r.result_code, ResultCode::Success);
    assert_eq!(status, GlobalStatus::Rollbacked);
}

#[test]
fn rm_connections_are_registered_and_reachable_by_request_id() {
    let env = Env::start();
    let mut rm = env.client();
    identified(rm.register_rm("2.2.0", "db1"));
    identified(rm.register_rm("2.2.0", "db2,db3"));
    let registry = env.front.rm_registry();
    let found = registry.for_resource("db2");
    assert_eq!(found.len(), 1, "{registry:?}");
    let conn = &found[0];
    assert_eq!(
        conn.resource_ids
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["db1", "db2", "db3"]
    );
    let local = rm.stream.local_addr().expect("addr");
    assert_eq!(conn.peer, local);
    assert_eq!(conn.client_id(), format!("test-app:{local}"));
    assert!(registry.for_resource("db4").is_empty());

    // TC -> RM: a branch commit request, answered by the client with the same id.
    let request = Message::BranchCommitRequest(BranchPhaseTwoRequest {
        xid: "127.0.0.1:8091:1".into(),
        branch_id: 7,
        branch_type: BranchType::At,
        resource_id: "db2".into(),
        application_data: String::new(),
    });
    let pending = registry.send_request(conn.conn, &request, Duration::from_secs(10));
    let frame = rm.recv_frame();
    assert_eq!(frame.message_type, MessageType::Request);
    assert_eq!(frame.message().expect("decode"), Some(request.clone()));
    let answer = Message::BranchCommitResponse(BranchPhaseTwoResponse {
        result: TransactionResponse::success(),
        xid: "127.0.0.1:8091:1".into(),
        branch_id: 7,
        branch_status: BranchStatus::PhaseTwoCommitted,
    });
    let mut wire = BytesMut::new();
    Frame::with_message(MessageType::Response, frame.request_id, &answer)
        .expect("frame")
        .encode(&mut wire)
        .expect("encode");
    rm.write(&wire);
    assert_eq!(futures::executor::block_on(pending), Ok(answer));

    // A request whose connection closes fails.
    let pending = registry.send_request(conn.conn, &request, Duration::from_secs(10));
    let _ = rm.recv_frame();
    drop(rm);
    assert_eq!(
        futures::executor::block_on(pending),
        Err(RequestError::Closed)
    );
    assert!(registry.for_resource("db2").is_empty());
    assert!(matches!(
        futures::executor::block_on(registry.send_request(
            conn.conn,
            &request,
            Duration::from_secs(10)
        )),
        Err(RequestError::NoConnection(_))
    ));
}

#[test]
fn stop_closes_connections() {
    let mut env = Env::start();
    let mut c = env.client();
    identified(c.register_tm("2.2.0"));
    env.front.stop();
    c.expect_closed();
}

#[test]
fn batch_results_only_for_new_clients_with_msg_ids_when_enabled() {
    let env = Env::start_with(|c| c.batch_responses = true);
    let mut c = env.client();
    identified(c.register_tm("1.5.0"));
    let xid = c.begin("batched");
    let msgs = vec![
        Message::GlobalStatusRequest(xid_request(&xid)),
        Message::GlobalLockQueryRequest(branch(&xid, DB, "t:1")),
        Message::GlobalStatusRequest(xid_request("127.0.0.1:1:5")),
    ];
    let id = c.send(&Message::MergedWarpMessage(MergedWarpMessage {
        msgs: msgs.clone(),
        msg_ids: vec![21, 22, 23],
    }));
    // One BatchResultMessage per result, on the merged request's id, in any order.
    let mut results = std::collections::BTreeMap::new();
    while results.len() < 3 {
        let Message::BatchResultMessage(batch) = c.response(id) else {
            panic!("not a batch result")
        };
        assert_eq!(batch.msgs.len(), batch.msg_ids.len());
        for (msg_id, msg) in batch.msg_ids.into_iter().zip(batch.msgs) {
            assert!(
                results.insert(msg_id, msg).is_none(),
                "msg id {msg_id} twice"
            );
        }
    }
    assert_eq!(results.keys().copied().collect::<Vec<_>>(), [21, 22, 23]);
    assert!(
        matches!(&results[&21], Message::GlobalStatusResponse(r) if r.global_status == GlobalStatus::Begin)
    );
    assert!(matches!(&results[&22], Message::GlobalLockQueryResponse(r) if r.lockable));
    assert!(
        matches!(&results[&23], Message::GlobalStatusResponse(r) if r.global_status == GlobalStatus::Finished)
    );
    // Without message ids, the one MergeResultMessage.
    merged_round(&mut c, false);

    // A client below 1.5 always gets a MergeResultMessage.
    let mut old = env.client();
    identified(old.register_tm("1.4.2"));
    merged_round(&mut old, true);
}
