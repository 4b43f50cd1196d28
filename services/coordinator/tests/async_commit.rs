//! An all-AT commit: the TM is told Committed at once and the branches are committed right
//! after the decision is durable, not at the next async-commit period.

mod common;

use common::{eventually, fast_config, Coordinator, Participants, Script};
use tars_protocols::tarstx::{BranchType, GlobalStatus as G, ResultCode};

const A: &str = "Shop.A.ParticipantObj";
const C: &str = "Shop.C.ParticipantObj";

#[test]
fn all_at_commit_is_answered_at_once_and_driven_right_after() {
    let p = Participants::start(&[A, C], 0, Script::default());
    let dir = tempfile::tempdir().expect("dir");
    let mut config = fast_config(Some(dir.path()));
    // The periodic async commit would only come after a minute.
    config.async_commit_ms = 60_000;
    config.retry_period_ms = 60_000;
    let c = Coordinator::start(config);
    let (r, xid) = c.proxy.begin("shop", "order", 30_000).expect("begin");
    assert_eq!(r.code, ResultCode::Success);
    for (object, keys) in [(A, "stock:1"), (C, "account:9")] {
        let (r, _) = c
            .proxy
            .branch_register(&xid, BranchType::AT, p.resource(object), "rm", keys, "")
            .expect("register");
        assert_eq!(r.code, ResultCode::Success, "{r:?}");
    }
    assert_eq!(c.proxy.commit(&xid).expect("commit").1, G::Committed);
    // Well before the period (eventually() gives up after 10 s).
    eventually("async commit", || {
        c.proxy.get_status(&xid).expect("status").1 == G::Finished
    });
    assert_eq!(
        p.script.calls_of(&xid),
        [(A.into(), "commit"), (C.into(), "commit")]
    );
    // The rows were free from the commit on.
    let (_, lockable) = c
        .proxy
        .lock_query("other", BranchType::AT, p.resource(A), "stock:1")
        .expect("query");
    assert!(lockable);
    c.stop();
}
