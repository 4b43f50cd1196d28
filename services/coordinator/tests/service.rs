//! The coordinator over TCP (127.0.0.1): TM calls through the generated proxy, phase two
//! driven against real participant servers, background retries and timeouts, recovery.

mod common;

use std::time::Duration;

use common::{eventually, fast_config, Coordinator, Participants, Script};
use tars_coordinator::service::CoordinatorConfig;
use tars_protocols::tarstx::{
    BranchStatus as B, BranchType, GlobalStatus as G, ResultCode, TransactionExceptionCode as Code,
};

const A: &str = "Bank.A.ParticipantObj";
const C: &str = "Bank.C.ParticipantObj";

fn begin(c: &Coordinator) -> String {
    let (r, xid) = c.proxy.begin("bank", "transfer", 30_000).expect("begin");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    xid.to_string()
}

fn register(c: &Coordinator, xid: &str, t: BranchType, resource: &str, keys: &str) -> i64 {
    let (r, id) = c
        .proxy
        .branch_register(xid, t, resource, "client-1", keys, "data")
        .expect("register");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    id
}

#[test]
fn tcc_commit_drives_participants_in_order_and_rollback_in_reverse() {
    let p = Participants::start(&[A, C], 0, Script::default());
    let c = Coordinator::start(fast_config(None));

    let xid = begin(&c);
    let parsed: tars_coordinator::xid::Xid = xid.parse().expect("an XID");
    assert_eq!(parsed.id.fragment, 7, "fragment 7 in {xid}");
    // Seata's form: the coordinator's real address, then the id.
    let port = c
        .server
        .as_ref()
        .and_then(|s| s.local_addr(tars_coordinator::service::ADAPTER))
        .expect("bound")
        .port();
    assert_eq!(parsed.address, format!("127.0.0.1:{port}"));
    let a = register(&c, &xid, BranchType::TCC, &p.resource(A), "");
    let b = register(&c, &xid, BranchType::TCC, &p.resource(C), "");
    assert_ne!(a, b);
    assert_eq!(c.proxy.get_status(&xid).expect("status").1, G::Begin);
    let (r, status) = c.proxy.commit(&xid).expect("commit");
    assert_eq!((r.code, status), (ResultCode::Success, G::Committed));
    assert_eq!(
        p.script.calls_of(&xid),
        [(A.into(), "commit"), (C.into(), "commit")]
    );
    let calls = p.script.calls();
    assert_eq!(
        (calls[0].branch_id, calls[0].application_data.as_str()),
        (a, "data")
    );
    assert_eq!(c.proxy.get_status(&xid).expect("status").1, G::Finished);

    let xid = begin(&c);
    register(&c, &xid, BranchType::TCC, &p.resource(A), "");
    register(&c, &xid, BranchType::TCC, &p.resource(C), "");
    let (_, status) = c.proxy.rollback(&xid).expect("rollback");
    assert_eq!(status, G::Rollbacked);
    assert_eq!(
        p.script.calls_of(&xid),
        [(C.into(), "rollback"), (A.into(), "rollback")]
    );
    c.stop();
}

#[test]
fn error_codes_reach_the_caller() {
    let c = Coordinator::start(fast_config(None));
    let (r, _) = c
        .proxy
        .branch_register("7:1:999", BranchType::TCC, "r", "c", "", "")
        .expect("call");
    assert_eq!(
        (r.code, r.error),
        (ResultCode::Failed, Code::GlobalTransactionNotExist)
    );
    assert_eq!(c.proxy.commit("7:1:999").expect("commit").1, G::Finished);
    assert_eq!(
        c.proxy.rollback("nonsense").expect("rollback").1,
        G::Finished
    );

    // AT locks: conflict between transactions, lockQuery, release by (async) commit.
    let x1 = begin(&c);
    let x2 = begin(&c);
    register(&c, &x1, BranchType::AT, "jdbc:bank", "account:1,2");
    let (r, _) = c
        .proxy
        .branch_register(&x2, BranchType::AT, "jdbc:bank", "c", "account:2", "")
        .expect("call");
    assert_eq!(r.error, Code::LockKeyConflict, "{r:?}");
    assert!(r.message.contains("account^^^2"), "{}", r.message);
    let (r, lockable) = c
        .proxy
        .lock_query(&x2, BranchType::AT, "jdbc:bank", "account:2")
        .expect("query");
    assert_eq!((r.code, lockable), (ResultCode::Success, false));
    let (r, _) = c
        .proxy
        .lock_query(&x2, BranchType::AT, "jdbc:bank", "account:")
        .expect("query");
    assert_eq!(r.error, Code::LockableCheckFailed);
    // x1 is all AT: the TM sees Committed at once and the rows are free.
    assert_eq!(c.proxy.commit(&x1).expect("commit").1, G::Committed);
    assert!(
        c.proxy
            .lock_query(&x2, BranchType::AT, "jdbc:bank", "account:1,2")
            .expect("query")
            .1
    );
    // Closed: no more branches.
    let (r, _) = c
        .proxy
        .branch_register(&x1, BranchType::AT, "jdbc:bank", "c", "account:9", "")
        .expect("call");
    assert!(
        matches!(
            r.error,
            Code::GlobalTransactionNotActive | Code::GlobalTransactionNotExist
        ),
        "{r:?}"
    );
    let (r, _) = c
        .proxy
        .branch_report(&x2, 12345, B::PhaseOne_Done, "")
        .map(|r| (r, ()))
        .expect("report");
    assert_eq!(r.error, Code::BranchTransactionNotExist);

    // globalReport: only end states.
    let (r, _) = c.proxy.global_report(&x2, G::Committing).expect("report");
    assert_eq!(r.error, Code::GlobalTransactionStatusInvalid);
    let (r, now) = c.proxy.global_report(&x2, G::Committed).expect("report");
    assert_eq!((r.code, now), (ResultCode::Success, G::Committed));
    assert_eq!(c.proxy.get_status(&x2).expect("status").1, G::Finished);
    c.stop();
}

#[test]
fn retryable_failures_are_retried_in_the_background() {
    let script = Script::default();
    script.answer(
        C,
        "commit",
        &[
            B::PhaseTwo_CommitFailed_Retryable,
            B::PhaseTwo_CommitFailed_Retryable,
        ],
    );
    let p = Participants::start(&[A, C], 0, script);
    let c = Coordinator::start(fast_config(None));
    let xid = begin(&c);
    register(&c, &xid, BranchType::TCC, &p.resource(A), "");
    register(&c, &xid, BranchType::TCC, &p.resource(C), "");
    assert_eq!(c.proxy.commit(&xid).expect("commit").1, G::CommitRetrying);
    eventually("the retries to commit", || {
        c.proxy.get_status(&xid).expect("status").1 == G::Finished
    });
    // A was committed once; C three times (two failures, then success).
    assert_eq!(
        p.script.calls_of(&xid),
        [
            (A.into(), "commit"),
            (C.into(), "commit"),
            (C.into(), "commit"),
            (C.into(), "commit")
        ]
    );

    // Unretryable: the transaction ends as CommitFailed.
    p.script
        .answer(A, "commit", &[B::PhaseTwo_CommitFailed_Unretryable]);
    let xid = begin(&c);
    register(&c, &xid, BranchType::TCC, &p.resource(A), "");
    assert_eq!(c.proxy.commit(&xid).expect("commit").1, G::CommitFailed);

    // An unreachable participant is a retryable failure too.
    let xid = begin(&c);
    register(&c, &xid, BranchType::TCC, &common::resource(A, 1), "");
    assert_eq!(
        c.proxy.rollback(&xid).expect("rollback").1,
        G::RollbackRetrying
    );
    c.stop();
}

#[test]
fn undecided_transactions_time_out_and_roll_back() {
    let p = Participants::start(&[A], 0, Script::default());
    let c = Coordinator::start(fast_config(None));
    let (_, xid) = c.proxy.begin("bank", "slow", 100).expect("begin");
    register(&c, &xid, BranchType::TCC, &p.resource(A), "");
    eventually("the timeout rollback", || {
        p.script.calls_of(&xid) == [(A.into(), "rollback")]
    });
    eventually("the end", || {
        c.proxy.get_status(&xid).expect("status").1 == G::Finished
    });
    // The TM's late commit is answered with how the transaction really ended (a Java TM
    // raises TimeoutRollback on it), not Finished.
    assert_eq!(
        c.proxy.commit(&xid).expect("commit").1,
        G::TimeoutRollbacked
    );
    c.stop();
}

#[test]
fn restart_resumes_decided_and_rolls_back_undecided_transactions() {
    let dir = tempfile::tempdir().expect("dir");
    let script = Script::default();
    // Participants are down while the first coordinator runs (port 1 refuses).
    let c = Coordinator::start(fast_config(Some(dir.path())));
    let epoch1 = c.service.epoch();
    let decided = begin(&c);
    let undecided = begin(&c);
    // Begun, but no branch registered before the stop: simply ends after the restart.
    let empty = begin(&c);
    // A free port for the participants that start later.
    let port = tars_test_support::free_port();
    register(
        &c,
        &decided,
        BranchType::TCC,
        &common::resource(A, port),
        "",
    );
    register(
        &c,
        &decided,
        BranchType::TCC,
        &common::resource(C, port),
        "",
    );
    register(
        &c,
        &undecided,
        BranchType::TCC,
        &common::resource(A, port),
        "",
    );
    register(
        &c,
        &undecided,
        BranchType::AT,
        &common::resource(C, port),
        "account:7",
    );
    assert_eq!(
        c.proxy.commit(&decided).expect("commit").1,
        G::CommitRetrying
    );
    c.stop();

    // The AT branch's rollback fails twice after the restart, so its rows stay locked a while.
    script.answer(
        C,
        "rollback",
        &[
            B::PhaseTwo_RollbackFailed_Retryable,
            B::PhaseTwo_RollbackFailed_Retryable,
        ],
    );
    let p = Participants::start(&[A, C], port, script);
    let c = Coordinator::start(fast_config(Some(dir.path())));
    assert!(c.service.epoch() > epoch1);
    // XIDs of the new epoch never repeat old ones.
    let fresh = begin(&c);
    assert!(fresh != decided && fresh != undecided);
    // The recovered AT rows are locked until the rollback finishes.
    let at = common::resource(C, port);
    let (_, lockable) = c
        .proxy
        .lock_query(&fresh, BranchType::AT, &at, "account:7")
        .expect("query");
    assert!(
        !lockable,
        "row locks of the undecided transaction were not restored"
    );
    eventually("recovery", || {
        c.proxy.get_status(&decided).expect("status").1 == G::Finished
            && c.proxy.get_status(&undecided).expect("status").1 == G::Finished
            && c.proxy.get_status(&empty).expect("status").1 == G::Finished
    });
    assert_eq!(
        p.script.calls_of(&decided),
        [(A.into(), "commit"), (C.into(), "commit")]
    );
    // Rolled back in reverse: the AT branch (twice failing, then done), then the TCC one.
    assert_eq!(
        p.script.calls_of(&undecided),
        [
            (C.into(), "rollback"),
            (C.into(), "rollback"),
            (C.into(), "rollback"),
            (A.into(), "rollback")
        ]
    );
    assert!(
        c.proxy
            .lock_query(&fresh, BranchType::AT, &at, "account:7")
            .expect("query")
            .1
    );
    c.stop();
}

#[test]
fn group_commit_batches_concurrent_writes() {
    let c = Coordinator::start(fast_config(Some(tempfile::tempdir().expect("dir").path())));
    let before = c.service.store().stats();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let proxy = c.proxy.clone();
            std::thread::spawn(move || {
                let futs: Vec<_> = (0..50)
                    .map(|_| proxy.begin_async("a", "t", 30_000))
                    .collect();
                for f in futs {
                    let (r, _) = tars::client::block_on(f).expect("begin");
                    assert_eq!(r.code, ResultCode::Success);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let after = c.service.store().stats();
    let changes = after.changes - before.changes;
    let commits = after.commits - before.commits;
    assert!(changes >= 400, "{changes}");
    assert!(
        commits * 4 < changes,
        "{commits} commits for {changes} changes: no batching"
    );
    let _ = Duration::ZERO;
    c.stop();
}

#[test]
fn phase_two_that_retries_too_long_gives_up_and_an_operator_can_retry_it() {
    let p = Participants::start(&[A], 0, Script::default());
    let c = Coordinator::start(CoordinatorConfig {
        max_commit_retry_ms: 600,
        max_rollback_retry_ms: 600,
        ..fast_config(None)
    });
    // Participants nobody serves: every phase-two call fails, retryably.
    let commit = begin(&c);
    register(&c, &commit, BranchType::TCC, &common::resource(A, 1), "");
    assert_eq!(
        c.proxy.commit(&commit).expect("commit").1,
        G::CommitRetrying
    );
    let rollback = begin(&c);
    register(&c, &rollback, BranchType::TCC, &common::resource(A, 1), "");
    assert_eq!(
        c.proxy.rollback(&rollback).expect("rollback").1,
        G::RollbackRetrying
    );
    eventually("both to give up", || {
        c.proxy.get_status(&commit).expect("status").1 == G::CommitRetryTimeout
            && c.proxy.get_status(&rollback).expect("status").1 == G::RollbackRetryTimeout
    });
    // They stay so: visible, no longer driven.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        c.proxy.get_status(&commit).expect("status").1,
        G::CommitRetryTimeout
    );
    // A TM asking again hears the same.
    assert_eq!(
        c.proxy.commit(&commit).expect("commit").1,
        G::CommitRetryTimeout
    );

    // An operator retries: it is driven again with the full time, and since its participant
    // is still unreachable, gives up again after it.
    assert!(c.service.retry(&commit));
    assert!(!c.service.retry(&commit), "already retrying");
    assert!(!c.service.retry("7:1:424242"), "unknown");
    assert_ne!(
        c.proxy.get_status(&commit).expect("status").1,
        G::CommitRetryTimeout
    );
    eventually("the retried commit to give up again", || {
        c.proxy.get_status(&commit).expect("status").1 == G::CommitRetryTimeout
    });
    // Transactions whose participants answer are not affected.
    let live = begin(&c);
    register(&c, &live, BranchType::TCC, &p.resource(A), "");
    assert_eq!(c.proxy.commit(&live).expect("commit").1, G::Committed);
    c.stop();
}
