//! Every state transition and error code of the coordinator core, driven deterministically
//! (time is passed in).

use std::time::{Duration, Instant};

use tars_coordinator::core::{Direction, Step, TransactionCore};
use tars_coordinator::xid::{Xid, XidGenerator};
use tars_protocols::tarstx::{
    BranchStatus as B, BranchType, GlobalStatus as G, TransactionExceptionCode as Code,
};

const MINUTE: Duration = Duration::from_secs(60);

fn core() -> TransactionCore {
    TransactionCore::new(XidGenerator::new("127.0.0.1:17891", 4, 9).expect("ids"))
}

fn tcc(core: &TransactionCore, xid: &str, resource: &str) -> i64 {
    core.branch_register(xid, BranchType::TCC, resource, "client", "", "data")
        .expect("register")
}

/// Drives phase two with one answer per branch; the resources called, in order.
fn drive(core: &TransactionCore, xid: &str, answer: impl Fn(&Step) -> B) -> (Vec<String>, G) {
    let mut called = Vec::new();
    let mut status = core.status(xid);
    while let Some(step) = core.next_step(xid) {
        called.push(step.branch.resource_id.clone());
        let before = core.status(xid);
        status = core.complete_step(&step, answer(&step));
        if status != before && status != G::Committing && status != G::Rollbacking {
            break; // a retry state or an end state
        }
    }
    (called, status)
}

#[test]
fn begin_gives_fragment_xids_and_unknown_xids_read_finished() {
    let c = core();
    let now = Instant::now();
    let xid = c.begin("bank", "transfer", MINUTE, now).expect("begin");
    let parsed: Xid = xid.parse().expect("xid");
    assert_eq!((parsed.id.fragment, parsed.id.epoch), (4, 9));
    assert_eq!(parsed.address, "127.0.0.1:17891");
    assert_eq!(c.status(&xid), G::Begin);
    assert_eq!(c.status("4:9:999"), G::Finished);
    assert_eq!(c.commit("4:9:999", now), G::Finished);
    assert_eq!(c.rollback("4:9:999", now), G::Finished);
    let other = c.begin("bank", "transfer", MINUTE, now).expect("begin");
    assert_ne!(xid, other);
}

#[test]
fn branch_register_and_report_errors() {
    let c = core();
    let now = Instant::now();
    let err = c
        .branch_register("4:9:77", BranchType::TCC, "r", "c", "", "")
        .unwrap_err();
    assert_eq!(err.code, Code::GlobalTransactionNotExist);

    let xid = c.begin("a", "t", MINUTE, now).expect("begin");
    let b = tcc(&c, &xid, "Bank.A.ParticipantObj");
    assert_eq!(
        c.branch_report("4:9:77", b, B::PhaseOne_Done, "")
            .unwrap_err()
            .code,
        Code::GlobalTransactionNotExist
    );
    assert_eq!(
        c.branch_report(&xid, b + 100, B::PhaseOne_Done, "")
            .unwrap_err()
            .code,
        Code::BranchTransactionNotExist
    );
    c.branch_report(&xid, b, B::PhaseOne_Done, "new data")
        .expect("report");
    let s = c.session(&xid).expect("session");
    assert_eq!(s.branches[0].status, B::PhaseOne_Done);
    assert_eq!(s.branches[0].application_data, "new data");

    // Once the TM decided, no more branches.
    assert_eq!(c.commit(&xid, now), G::Committing);
    assert_eq!(
        c.branch_register(&xid, BranchType::TCC, "r", "c", "", "")
            .unwrap_err()
            .code,
        Code::GlobalTransactionNotActive
    );
}

#[test]
fn at_locks_conflict_and_are_released_by_async_commit() {
    let c = core();
    let now = Instant::now();
    let x1 = c.begin("a", "t", MINUTE, now).expect("begin");
    let x2 = c.begin("a", "t", MINUTE, now).expect("begin");
    c.branch_register(&x1, BranchType::AT, "db", "c", "account:1,2", "")
        .expect("register");
    let err = c
        .branch_register(&x2, BranchType::AT, "db", "c", "account:2,3", "")
        .unwrap_err();
    assert_eq!(err.code, Code::LockKeyConflict);
    assert_eq!(
        c.branch_register(&x2, BranchType::AT, "db", "c", "account", "")
            .unwrap_err()
            .code,
        Code::BranchRegisterFailed
    );
    assert!(!c.lock_query(&x2, "db", "account:2").expect("query"));
    assert!(c.lock_query(&x1, "db", "account:2").expect("query"));
    assert_eq!(
        c.lock_query(&x2, "db", "account:").unwrap_err().code,
        Code::LockableCheckFailed
    );

    // All branches AT: the TM sees Committed at once and the rows are free.
    assert_eq!(c.commit(&x1, now), G::Committed);
    assert_eq!(c.status(&x1), G::AsyncCommitting);
    assert!(c.lock_query(&x2, "db", "account:1,2").expect("query"));
    // The undo logs are deleted in the background: one commit step per branch.
    let (called, status) = drive(&c, &x1, |_| B::PhaseTwo_Committed);
    assert_eq!((called, status), (vec!["db".to_string()], G::Committed));
    assert_eq!(c.status(&x1), G::Finished);
}

#[test]
fn tcc_commit_goes_in_registration_order() {
    let c = core();
    let now = Instant::now();
    let xid = c.begin("a", "t", MINUTE, now).expect("begin");
    for r in ["first", "second", "third"] {
        tcc(&c, &xid, r);
    }
    assert_eq!(c.commit(&xid, now), G::Committing);
    // Committing twice answers the current status and changes nothing.
    assert_eq!(c.commit(&xid, now), G::Committing);
    assert_eq!(c.rollback(&xid, now), G::Committing);
    let (called, status) = drive(&c, &xid, |s| {
        assert_eq!(s.direction, Direction::Commit);
        B::PhaseTwo_Committed
    });
    assert_eq!(called, ["first", "second", "third"]);
    assert_eq!(status, G::Committed);
    assert_eq!(c.status(&xid), G::Finished);
}

#[test]
fn commit_failures_retry_or_fail() {
    let c = core();
    let now = Instant::now();
    let xid = c.begin("a", "t", MINUTE, now).expect("begin");
    tcc(&c, &xid, "a");
    tcc(&c, &xid, "b");
    c.commit(&xid, now);
    // b fails retryably: CommitRetrying, and the retry resumes at b (a is done).
    let (called, status) = drive(&c, &xid, |s| {
        if s.branch.resource_id == "b" {
            B::PhaseTwo_CommitFailed_Retryable
        } else {
            B::PhaseTwo_Committed
        }
    });
    assert_eq!(
        (called, status),
        (vec!["a".into(), "b".into()], G::CommitRetrying)
    );
    assert_eq!(c.in_phase_two(), vec![xid.clone()]);
    assert_eq!(c.next_step(&xid).expect("step").branch.resource_id, "b");
    // Then it fails for good.
    let (_, status) = drive(&c, &xid, |_| B::PhaseTwo_CommitFailed_Unretryable);
    assert_eq!(status, G::CommitFailed);
    assert_eq!(c.status(&xid), G::Finished);
    assert!(c.in_phase_two().is_empty());
}

#[test]
fn rollback_goes_in_reverse_and_keeps_locks_of_failed_branches() {
    let c = core();
    let now = Instant::now();
    let xid = c.begin("a", "t", MINUTE, now).expect("begin");
    tcc(&c, &xid, "first");
    c.branch_register(&xid, BranchType::AT, "db", "c", "t:1", "")
        .expect("register");
    tcc(&c, &xid, "third");
    assert_eq!(c.rollback(&xid, now), G::Rollbacking);
    let (called, status) = drive(&c, &xid, |_| B::PhaseTwo_Rollbacked);
    assert_eq!(called, ["third", "db", "first"]);
    assert_eq!(status, G::Rollbacked);
    assert!(c.locks().held_by(&xid).is_empty());

    // Retryable, then unretryable: the AT rows stay locked.
    let xid = c.begin("a", "t", MINUTE, now).expect("begin");
    c.branch_register(&xid, BranchType::AT, "db", "c", "t:5", "")
        .expect("register");
    c.rollback(&xid, now);
    let (_, status) = drive(&c, &xid, |_| B::PhaseTwo_RollbackFailed_Retryable);
    assert_eq!(status, G::RollbackRetrying);
    let (_, status) = drive(&c, &xid, |_| B::PhaseTwo_RollbackFailed_Unretryable);
    assert_eq!(status, G::RollbackFailed);
    assert_eq!(c.locks().held_by(&xid), ["db^^^t^^^5"]);
}

#[test]
fn timeouts_roll_back() {
    let c = core();
    let t0 = Instant::now();
    let later = t0 + Duration::from_secs(2);
    // Commit after the timeout: rolled back instead.
    let xid = c
        .begin("a", "t", Duration::from_secs(1), t0)
        .expect("begin");
    tcc(&c, &xid, "p");
    assert_eq!(c.commit(&xid, later), G::TimeoutRollbacking);
    let (called, status) = drive(&c, &xid, |s| {
        assert_eq!(s.direction, Direction::Rollback);
        B::PhaseTwo_Rollbacked
    });
    assert_eq!(
        (called, status),
        (vec!["p".to_string()], G::TimeoutRollbacked)
    );

    // The background check finds undecided transactions past their timeout, only those.
    let slow = c
        .begin("a", "t", Duration::from_secs(1), t0)
        .expect("begin");
    let fresh = c.begin("a", "t", MINUTE, t0).expect("begin");
    tcc(&c, &slow, "p");
    assert_eq!(c.expire(later), vec![slow.clone()]);
    assert_eq!(c.status(&fresh), G::Begin);
    assert_eq!(
        c.branch_register(&slow, BranchType::TCC, "r", "c", "", "")
            .unwrap_err()
            .code,
        Code::GlobalTransactionNotActive
    );
    let (_, status) = drive(&c, &slow, |_| B::PhaseTwo_RollbackFailed_Retryable);
    assert_eq!(status, G::TimeoutRollbackRetrying);
    let (_, status) = drive(&c, &slow, |_| B::PhaseTwo_RollbackFailed_Unretryable);
    assert_eq!(status, G::TimeoutRollbackFailed);

    // Rollback without branches ends at once.
    let empty = c
        .begin("a", "t", Duration::from_secs(1), t0)
        .expect("begin");
    assert_eq!(c.rollback(&empty, later), G::TimeoutRollbacked);
    let empty = c.begin("a", "t", MINUTE, t0).expect("begin");
    assert_eq!(c.rollback(&empty, t0), G::Rollbacked);
    let empty = c.begin("a", "t", MINUTE, t0).expect("begin");
    assert_eq!(c.commit(&empty, t0), G::Committed);
}

#[test]
fn branches_that_failed_phase_one_are_skipped() {
    let c = core();
    let now = Instant::now();
    let xid = c.begin("a", "t", MINUTE, now).expect("begin");
    let a = tcc(&c, &xid, "a");
    tcc(&c, &xid, "b");
    c.branch_report(&xid, a, B::PhaseOne_Failed, "")
        .expect("report");
    c.rollback(&xid, now);
    let (called, status) = drive(&c, &xid, |_| B::PhaseTwo_Rollbacked);
    assert_eq!((called, status), (vec!["b".to_string()], G::Rollbacked));

    // Only failed branches: nothing to drive, the decision ends the transaction.
    let xid = c.begin("a", "t", MINUTE, now).expect("begin");
    let a = tcc(&c, &xid, "a");
    c.branch_report(&xid, a, B::PhaseOne_Failed, "")
        .expect("report");
    assert_eq!(c.commit(&xid, now), G::Committed);
    assert_eq!(c.status(&xid), G::Finished);
    let xid = c
        .begin("a", "t", Duration::from_secs(1), now)
        .expect("begin");
    let a = tcc(&c, &xid, "a");
    c.branch_report(&xid, a, B::PhaseOne_Failed, "")
        .expect("report");
    assert!(c.expire(now + MINUTE).is_empty());
    assert_eq!(c.status(&xid), G::Finished);
}

#[test]
fn a_commit_or_rollback_after_the_end_answers_how_it_really_ended() {
    let c = core();
    let now = Instant::now();
    // Someone else rolled it back: the TM's commit hears Rollbacked, not Finished.
    let xid = c.begin("a", "t", MINUTE, now).expect("begin");
    assert_eq!(c.rollback(&xid, now), G::Rollbacked);
    assert_eq!(c.commit(&xid, now), G::Rollbacked);
    assert_eq!(c.outcome(&xid), Some(G::Rollbacked));
    // getStatus keeps the Seata TC's answer for an ended transaction.
    assert_eq!(c.status(&xid), G::Finished);
    // A commit repeated after its own success (a lost answer) hears Committed; a rollback
    // after a commit hears it too.
    let xid = c.begin("a", "t", MINUTE, now).expect("begin");
    assert_eq!(c.commit(&xid, now), G::Committed);
    assert_eq!(c.commit(&xid, now), G::Committed);
    assert_eq!(c.rollback(&xid, now), G::Committed);
    // Past its timeout, a late commit hears TimeoutRollbacked.
    let xid = c
        .begin("a", "t", Duration::from_millis(1), now)
        .expect("begin");
    let later = now + Duration::from_secs(1);
    assert!(c.expire(later).is_empty());
    assert_eq!(c.commit(&xid, later), G::TimeoutRollbacked);
    // Never known: Finished, as before.
    assert_eq!(c.commit("127.0.0.1:1:77", now), G::Finished);
    assert_eq!(c.outcome("127.0.0.1:1:77"), None);
}

#[test]
fn only_the_most_recent_outcomes_are_remembered() {
    let c = core();
    let now = Instant::now();
    let first = c.begin("a", "t", MINUTE, now).expect("begin");
    assert_eq!(c.rollback(&first, now), G::Rollbacked);
    for _ in 0..tars_coordinator::core::ENDED_REMEMBERED {
        let xid = c.begin("a", "t", MINUTE, now).expect("begin");
        c.commit(&xid, now);
    }
    assert_eq!(c.outcome(&first), None, "the oldest is forgotten first");
    assert_eq!(c.commit(&first, now), G::Finished);
}

#[test]
fn phase_two_retried_too_long_gives_up_stays_visible_and_can_be_retried() {
    let c = core();
    let now = Instant::now();
    let hour = Duration::from_secs(3600);
    // A TCC commit whose participant keeps failing.
    let commit = c.begin("a", "t", MINUTE, now).expect("begin");
    tcc(&c, &commit, "Bank.A.Obj");
    assert_eq!(c.commit(&commit, now), G::Committing);
    let (_, status) = drive(&c, &commit, |_| B::PhaseTwo_CommitFailed_Retryable);
    assert_eq!(status, G::CommitRetrying);
    // An AT rollback whose undo keeps failing: its rows must stay locked when it gives up.
    let rollback = c.begin("a", "t", MINUTE, now).expect("begin");
    c.branch_register(&rollback, BranchType::AT, "db", "rm", "t:1", "")
        .expect("register");
    assert_eq!(c.rollback(&rollback, now), G::Rollbacking);
    let (_, status) = drive(&c, &rollback, |_| B::PhaseTwo_RollbackFailed_Retryable);
    assert_eq!(status, G::RollbackRetrying);

    let began = c.session(&commit).expect("session").begin_time_ms;
    // Within the limit, or being driven: nothing gives up.
    assert!(c
        .give_up_retrying(Some(hour), Some(hour), began + 1000, |_| false)
        .is_empty());
    let later = began + 2 * 3600 * 1000;
    assert!(c
        .give_up_retrying(Some(hour), Some(hour), later, |_| true)
        .is_empty());
    // Without a limit: forever.
    assert!(c.give_up_retrying(None, None, later, |_| false).is_empty());

    let gave_up = c.give_up_retrying(Some(hour), Some(hour), later, |_| false);
    let mut expected = vec![
        (commit.clone(), G::CommitRetryTimeout),
        (rollback.clone(), G::RollbackRetryTimeout),
    ];
    expected.sort();
    assert_eq!(gave_up, expected);
    // Visible, not driven any more.
    assert_eq!(c.status(&commit), G::CommitRetryTimeout);
    assert_eq!(c.status(&rollback), G::RollbackRetryTimeout);
    assert!(c.in_phase_two().is_empty());
    assert!(c.next_step(&commit).is_none());
    // The rolled-back rows stay locked; nobody else gets them.
    let other = c.begin("a", "t", MINUTE, now).expect("begin");
    assert!(!c.lock_query(&other, "db", "t:1").expect("query"));

    // An operator retries: driven again, with the full time from now.
    assert!(c.retry(&commit, later));
    assert!(!c.retry(&commit, later), "already retrying");
    assert_eq!(c.status(&commit), G::CommitRetrying);
    assert!(c
        .give_up_retrying(Some(hour), Some(hour), later + 1000, |_| false)
        .is_empty());
    let (_, status) = drive(&c, &commit, |_| B::PhaseTwo_Committed);
    assert_eq!(status, G::Committed);
    assert!(c.retry(&rollback, later));
    let (_, status) = drive(&c, &rollback, |_| B::PhaseTwo_Rollbacked);
    assert_eq!(status, G::Rollbacked);
    assert!(c.lock_query(&other, "db", "t:1").expect("query"));
}

#[test]
fn begin_is_refused_past_the_admitted_open_transactions_and_timeouts_are_capped() {
    use tars_coordinator::core::Admission;
    let c = TransactionCore::new(XidGenerator::new("127.0.0.1:17891", 4, 9).expect("ids"))
        .with_admission(Admission {
            max_open: 5,
            max_open_per_application: 3,
            max_async_backlog: 2,
            max_timeout: Duration::from_secs(10),
        });
    let now = Instant::now();
    let overloaded = |r: Result<String, tars_coordinator::core::TxError>, what: &str| {
        let e = r.expect_err("refused");
        assert_eq!(
            e.code,
            tars_protocols::tarstx::TransactionExceptionCode::BeginFailed
        );
        assert!(
            e.message.contains("overloaded") && e.message.contains(what),
            "{e:?}"
        );
    };
    // Per application.
    let a: Vec<String> = (0..3)
        .map(|_| c.begin("a", "t", MINUTE, now).expect("begin"))
        .collect();
    overloaded(c.begin("a", "t", MINUTE, now), "per application");
    // Timeouts are cut to the maximum.
    assert_eq!(
        c.session(&a[0]).expect("session").timeout,
        Duration::from_secs(10)
    );
    // In all.
    let b1 = c.begin("b", "t", MINUTE, now).expect("begin");
    let _b2 = c.begin("b", "t", MINUTE, now).expect("begin");
    overloaded(c.begin("c", "t", MINUTE, now), "open transactions");
    // Ending transactions makes room, for their application too.
    assert_eq!(c.rollback(&a[0], now), G::Rollbacked);
    assert_eq!(c.rollback(&b1, now), G::Rollbacked);
    let a3 = c.begin("a", "t", MINUTE, now).expect("room again");
    // The async-commit backlog holds begin back.
    for xid in [&a[1], &a[2]] {
        c.branch_register(xid, BranchType::AT, "db", "rm", &format!("t:{xid}"), "")
            .expect("register");
        assert_eq!(c.commit(xid, now), G::Committed);
    }
    assert_eq!(c.rollback(&a3, now), G::Rollbacked);
    overloaded(c.begin("d", "t", MINUTE, now), "async commit");
    let (_, status) = drive(&c, &a[1], |_| B::PhaseTwo_Committed);
    assert_eq!(status, G::Committed);
    c.begin("d", "t", MINUTE, now).expect("the backlog shrank");
}
