//! Phase two to Seata RMs: the coordinator's BranchCommit / BranchRollback reach the RM
//! connection the branch was registered from (through the bridge), its answer decides the
//! branch, an RM that reconnects gets what is left, and UndoLogDelete goes out on schedule.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{xid_request, Client, Env, Next};
use parking_lot::Mutex;
use tars_seata::message::{
    BranchPhaseTwoRequest, BranchPhaseTwoResponse, BranchRegisterRequest, BranchRegisterResponse,
    GlobalEndResponse, TransactionResponse, UndoLogDeleteRequest,
};
use tars_seata::{BranchStatus, BranchType, GlobalStatus, Message, MessageType, ResultCode};

/// What an RM was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Commit(BranchPhaseTwoRequest),
    Rollback(BranchPhaseTwoRequest),
    UndoLogDelete(UndoLogDeleteRequest),
}

impl Seen {
    fn branch_id(&self) -> Option<i64> {
        match self {
            Seen::Commit(r) | Seen::Rollback(r) => Some(r.branch_id),
            Seen::UndoLogDelete(_) => None,
        }
    }
}

/// How an RM answers the n-th (0-based) phase-two request: a status, or `None` to leave it
/// unanswered.
type Script = Box<dyn Fn(&Seen, usize) -> Option<BranchStatus> + Send>;

fn always_succeed() -> Script {
    Box::new(|seen, _| {
        Some(match seen {
            Seen::Commit(_) => BranchStatus::PhaseTwoCommitted,
            _ => BranchStatus::PhaseTwoRollbacked,
        })
    })
}

/// An RM connection served by a thread of its own: records every request the coordinator
/// sends and answers as its script says.
struct Rm {
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Rm {
    fn serve(mut client: Client, script: Script) -> Rm {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut phase_two = 0;
                while !stop.load(Ordering::Acquire) {
                    let frame = match client.next_frame(Duration::from_millis(50)) {
                        Next::Frame(frame) => frame,
                        Next::Timeout => continue,
                        Next::Closed => return,
                    };
                    let msg = frame.message().expect("decode").expect("a body");
                    let (item, answer_type): (Seen, fn(BranchPhaseTwoResponse) -> Message) =
                        match msg {
                            Message::BranchCommitRequest(r) => {
                                (Seen::Commit(r), Message::BranchCommitResponse)
                            }
                            Message::BranchRollbackRequest(r) => {
                                (Seen::Rollback(r), Message::BranchRollbackResponse)
                            }
                            Message::UndoLogDeleteRequest(r) => {
                                assert_eq!(frame.message_type, MessageType::OneWay);
                                seen.lock().push(Seen::UndoLogDelete(r));
                                continue;
                            }
                            other => panic!("unexpected message to an RM: {other:?}"),
                        };
                    assert_eq!(frame.message_type, MessageType::Request);
                    let answer = script(&item, phase_two);
                    phase_two += 1;
                    let (Seen::Commit(r) | Seen::Rollback(r)) = &item else {
                        unreachable!()
                    };
                    let response = answer.map(|status| {
                        answer_type(BranchPhaseTwoResponse {
                            result: TransactionResponse::success(),
                            xid: r.xid.clone(),
                            branch_id: r.branch_id,
                            branch_status: status,
                        })
                    });
                    seen.lock().push(item);
                    if let Some(response) = response {
                        client.answer(frame.request_id, &response);
                    }
                }
            })
        };
        Rm {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }

    /// Waits until the RM saw `n` phase-two requests.
    fn wait_for(&self, n: usize, what: &str) -> Vec<Seen> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen: Vec<Seen> = self
                .seen()
                .into_iter()
                .filter(|s| s.branch_id().is_some())
                .collect();
            if seen.len() >= n {
                return seen;
            }
            assert!(Instant::now() < deadline, "{what}: saw only {seen:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Closes the connection.
    fn close(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.join().expect("rm thread");
        }
    }
}

impl Drop for Rm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn register_branch(rm: &mut Client, xid: &str, resource: &str, data: &str) -> i64 {
    match rm.call(Message::BranchRegisterRequest(BranchRegisterRequest {
        xid: xid.into(),
        branch_type: BranchType::Tcc,
        resource_id: resource.into(),
        lock_key: String::new(),
        application_data: data.into(),
    })) {
        Message::BranchRegisterResponse(BranchRegisterResponse { result, branch_id }) => {
            assert_eq!(result.result_code, ResultCode::Success, "{result:?}");
            branch_id
        }
        other => panic!("not a branch register response: {other:?}"),
    }
}

fn end(msg: Message) -> GlobalEndResponse {
    match msg {
        Message::GlobalCommitResponse(r)
        | Message::GlobalRollbackResponse(r)
        | Message::GlobalStatusResponse(r) => {
            assert_eq!(r.result.result_code, ResultCode::Success, "{r:?}");
            r
        }
        other => panic!("not a global end response: {other:?}"),
    }
}

/// A TM and an RM of `test-app` holding `resources`, and a transaction with a TCC branch on
/// each of `branches` (resource, application data).
fn transaction(
    env: &Env,
    resources: &str,
    branches: &[(&str, &str)],
) -> (Client, Client, String, Vec<i64>) {
    let mut tm = env.client();
    tm.register_tm("2.2.0");
    let mut rm = env.client();
    rm.register_rm("2.2.0", resources);
    let xid = tm.begin("phase-two");
    let ids = branches
        .iter()
        .map(|(resource, data)| register_branch(&mut rm, &xid, resource, data))
        .collect();
    (tm, rm, xid, ids)
}

fn phase_two_request(
    xid: &str,
    branch_id: i64,
    resource: &str,
    data: &str,
) -> BranchPhaseTwoRequest {
    BranchPhaseTwoRequest {
        xid: xid.into(),
        branch_id,
        branch_type: BranchType::Tcc,
        resource_id: resource.into(),
        application_data: data.into(),
    }
}

/// Asks the status until the coordinator has forgotten `xid` (Finished) or `deadline`.
fn wait_finished(tm: &mut Client, xid: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = end(tm.call(Message::GlobalStatusRequest(xid_request(xid)))).global_status;
        if status == GlobalStatus::Finished {
            return;
        }
        assert!(Instant::now() < deadline, "{xid} still {status:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn commit_reaches_the_rm_in_registration_order_called_directly() {
    commit_reaches_the_rm_in_registration_order(Env::start());
}

#[test]
fn commit_reaches_the_rm_in_registration_order_over_tars() {
    commit_reaches_the_rm_in_registration_order(Env::start_over_tars());
}

/// A TCC commit is answered once both branch commits reached the RM, in order.
fn commit_reaches_the_rm_in_registration_order(env: Env) {
    let (mut tm, rm, xid, ids) = transaction(
        &env,
        "tcc-a,tcc-b",
        &[("tcc-a", "{\"a\":1}"), ("tcc-b", "")],
    );
    let rm = Rm::serve(rm, always_succeed());
    let r = end(tm.call(Message::GlobalCommitRequest(xid_request(&xid))));
    assert_eq!(r.global_status, GlobalStatus::Committed);
    // The TCC commit answered once phase two was done: the RM has seen both, in order.
    assert_eq!(
        rm.seen(),
        [
            Seen::Commit(phase_two_request(&xid, ids[0], "tcc-a", "{\"a\":1}")),
            Seen::Commit(phase_two_request(&xid, ids[1], "tcc-b", "")),
        ]
    );
    wait_finished(&mut tm, &xid);
}

#[test]
fn rollback_reaches_the_rm_in_reverse_order_called_directly() {
    rollback_reaches_the_rm_in_reverse_registration_order(Env::start());
}

#[test]
fn rollback_reaches_the_rm_in_reverse_order_over_tars() {
    rollback_reaches_the_rm_in_reverse_registration_order(Env::start_over_tars());
}

/// A rollback reaches the RM's branches in reverse registration order.
fn rollback_reaches_the_rm_in_reverse_registration_order(env: Env) {
    let (mut tm, rm, xid, ids) = transaction(
        &env,
        "tcc-a",
        &[("tcc-a", "1"), ("tcc-a", "2"), ("tcc-a", "3")],
    );
    let rm = Rm::serve(rm, always_succeed());
    let r = end(tm.call(Message::GlobalRollbackRequest(xid_request(&xid))));
    assert_eq!(r.global_status, GlobalStatus::Rollbacked);
    assert_eq!(
        rm.seen(),
        [
            Seen::Rollback(phase_two_request(&xid, ids[2], "tcc-a", "3")),
            Seen::Rollback(phase_two_request(&xid, ids[1], "tcc-a", "2")),
            Seen::Rollback(phase_two_request(&xid, ids[0], "tcc-a", "1")),
        ]
    );
}

#[test]
fn a_retryable_answer_is_retried_and_an_unretryable_one_fails_the_commit() {
    let env = Env::start();
    // The first answer is "retry", then success.
    let (mut tm, rm, xid, ids) = transaction(&env, "tcc-a", &[("tcc-a", "")]);
    let rm = Rm::serve(
        rm,
        Box::new(|_, n| {
            Some(if n == 0 {
                BranchStatus::PhaseTwoCommitFailedRetryable
            } else {
                BranchStatus::PhaseTwoCommitted
            })
        }),
    );
    end(tm.call(Message::GlobalCommitRequest(xid_request(&xid))));
    let seen = rm.wait_for(2, "the commit retried");
    assert_eq!(seen[0], seen[1], "the same branch asked again");
    assert_eq!(seen[0].branch_id(), Some(ids[0]));
    wait_finished(&mut tm, &xid);
    drop(rm);

    // An unretryable answer ends the transaction CommitFailed, without asking again.
    let (mut tm, rm, xid, _) = transaction(&env, "tcc-b", &[("tcc-b", "")]);
    let rm = Rm::serve(
        rm,
        Box::new(|_, _| Some(BranchStatus::PhaseTwoCommitFailedUnretryable)),
    );
    let r = end(tm.call(Message::GlobalCommitRequest(xid_request(&xid))));
    assert_eq!(r.global_status, GlobalStatus::CommitFailed);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rm.seen().len(), 1, "{:?}", rm.seen());
}

#[test]
fn an_rm_that_reconnects_gets_the_branches_of_its_application_only() {
    let env = Env::start();
    let (mut tm, rm, xid, ids) = transaction(&env, "tcc-a", &[("tcc-a", "x")]);
    // The RM is gone before phase two: the commit is decided, its branch keeps retrying.
    drop(rm);
    let r = end(tm.call(Message::GlobalCommitRequest(xid_request(&xid))));
    assert!(
        matches!(
            r.global_status,
            GlobalStatus::CommitRetrying | GlobalStatus::Committing
        ),
        "{r:?}"
    );
    // An RM of another application with the same resource id is never asked.
    let mut other = env.client();
    other.register_rm_as("other-app", "2.2.0", "tcc-a");
    let other = Rm::serve(other, always_succeed());
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(other.seen(), []);
    // A new connection of the same application and resource is.
    let mut again = env.client();
    again.register_rm("2.2.0", "tcc-a");
    let again = Rm::serve(again, always_succeed());
    let seen = again.wait_for(1, "the branch reached the reconnected RM");
    assert_eq!(
        seen[0],
        Seen::Commit(phase_two_request(&xid, ids[0], "tcc-a", "x"))
    );
    wait_finished(&mut tm, &xid);
    assert_eq!(other.seen(), []);
    again.close();
}

#[test]
fn an_rm_that_does_not_answer_is_asked_again() {
    // The coordinator's phase-two calls time out after 300 ms (the environment's setting);
    // the bridge gives up on the RM a little before.
    let env = Env::start();
    let (mut tm, rm, xid, _) = transaction(&env, "tcc-a", &[("tcc-a", "")]);
    let rm = Rm::serve(
        rm,
        Box::new(|_, n| (n >= 2).then_some(BranchStatus::PhaseTwoCommitted)),
    );
    end(tm.call(Message::GlobalCommitRequest(xid_request(&xid))));
    rm.wait_for(3, "asked until it answered");
    wait_finished(&mut tm, &xid);
}

#[test]
fn undo_log_delete_goes_to_one_connection_per_resource_on_schedule() {
    let env = Env::start_with(|c| {
        c.undo_log.delay = Duration::from_millis(100);
        c.undo_log.period = Duration::from_millis(200);
        c.undo_log.save_days = 3;
    });
    let mut first = env.client();
    first.register_rm("2.2.0", "jdbc:mysql://db/a,jdbc:mysql://db/b");
    let mut second = env.client();
    second.register_rm("2.2.0", "jdbc:mysql://db/b");
    let first = Rm::serve(first, always_succeed());
    let second = Rm::serve(second, always_succeed());
    let deadline = Instant::now() + Duration::from_secs(10);
    let undo = |rm: &Rm| -> Vec<UndoLogDeleteRequest> {
        rm.seen()
            .into_iter()
            .filter_map(|s| match s {
                Seen::UndoLogDelete(r) => Some(r),
                _ => None,
            })
            .collect()
    };
    while undo(&first).len() < 4 {
        assert!(Instant::now() < deadline, "{:?}", first.seen());
        std::thread::sleep(Duration::from_millis(20));
    }
    let requests = undo(&first);
    // Each round asks once per resource id, on the oldest connection holding it.
    for r in &requests {
        assert_eq!(r.branch_type, BranchType::At);
        assert_eq!(r.save_days, 3);
    }
    let a = requests
        .iter()
        .filter(|r| r.resource_id == "jdbc:mysql://db/a")
        .count();
    let b = requests
        .iter()
        .filter(|r| r.resource_id == "jdbc:mysql://db/b")
        .count();
    assert!(a >= 2 && b >= 2 && a.abs_diff(b) <= 1, "{requests:?}");
    assert_eq!(undo(&second), [], "one connection per resource");
}
