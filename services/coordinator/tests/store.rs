//! The session store on its own: what the core journals comes back after reopening, the
//! epoch grows with every open, later changes of a transaction replace earlier ones, and a
//! damaged record is reported with its key instead of being skipped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tars_coordinator::core::TransactionCore;
use tars_coordinator::store::{SessionStore, StoreError};
use tars_coordinator::xid::XidGenerator;
use tars_protocols::tarstx::{BranchStatus, BranchType, GlobalStatus};

const MINUTE: Duration = Duration::from_secs(60);

fn core_on(store: &Arc<SessionStore>, epoch: u64) -> TransactionCore {
    TransactionCore::new(XidGenerator::new("127.0.0.1:17891", 2, epoch).expect("ids"))
        .with_journal(store.clone())
}

#[test]
fn journaled_sessions_survive_reopening_and_the_epoch_grows() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("tx.redb");
    let (open, committing, epoch1) = {
        let (store, recovered) = SessionStore::open(&path).expect("open");
        assert!(recovered.sessions.is_empty());
        let store = Arc::new(store);
        let core = core_on(&store, recovered.epoch);
        let now = Instant::now();
        let open = core.begin("bank", "open", MINUTE, now).expect("begin");
        core.branch_register(&open, BranchType::AT, "db", "c1", "t:1,2", "undo")
            .expect("register");
        let committing = core.begin("bank", "decided", MINUTE, now).expect("begin");
        let b = core
            .branch_register(&committing, BranchType::TCC, "Bank.A.Obj", "c2", "", "d")
            .expect("register");
        core.branch_report(&committing, b, BranchStatus::PhaseOne_Done, "d2")
            .expect("report");
        assert_eq!(core.commit(&committing, now), GlobalStatus::Committing);
        // Ended transactions are forgotten.
        let gone = core.begin("bank", "empty", MINUTE, now).expect("begin");
        assert_eq!(core.rollback(&gone, now), GlobalStatus::Rollbacked);
        store.sync().expect("sync");
        let open_s = core.session(&open).expect("open session");
        let committing_s = core.session(&committing).expect("committing session");
        store.close();
        (open_s, committing_s, recovered.epoch)
    };
    let (store, recovered) = SessionStore::open(&path).expect("reopen");
    assert_eq!(recovered.epoch, epoch1 + 1);
    assert_eq!(recovered.sessions.len(), 2);
    let find = |xid: &str| {
        recovered
            .sessions
            .iter()
            .find(|s| s.xid == xid)
            .cloned()
            .expect("recovered")
    };
    for before in [&open, &committing] {
        // Everything but the monotonic start time round-trips exactly.
        let mut after = find(&before.xid);
        after.began = before.began;
        assert_eq!(&after, before);
    }
    assert_eq!(find(&committing.xid).branches[0].application_data, "d2");
    // The restored core rolls back the undecided one and re-locks its rows.
    let store = Arc::new(store);
    let core = core_on(&store, recovered.epoch);
    let drive = core.restore(recovered.sessions);
    assert_eq!(drive.len(), 2);
    assert_eq!(core.status(&open.xid), GlobalStatus::Rollbacking);
    assert_eq!(core.locks().held_by(&open.xid).len(), 2);
    assert_eq!(core.status(&committing.xid), GlobalStatus::Committing);
    // While this store is open, a second opener is refused with a clear error.
    assert!(
        matches!(SessionStore::open(&path), Err(StoreError::Db(m)) if m.contains("already open"))
    );
    drop(core);
    drop(store);
    let (_, again) = SessionStore::open(&path).expect("third open");
    assert_eq!(again.epoch, epoch1 + 2);
    // The rollback decision taken at restore was journaled too.
    let restored = again
        .sessions
        .iter()
        .find(|s| s.xid == open.xid)
        .expect("open");
    assert_eq!(restored.status, GlobalStatus::Rollbacking);
}

#[test]
fn writes_are_coalesced_per_transaction_and_counted() {
    let (store, recovered) = SessionStore::in_memory().expect("memory");
    let store = Arc::new(store);
    let core = core_on(&store, recovered.epoch);
    let now = Instant::now();
    let xid = core.begin("a", "t", MINUTE, now).expect("begin");
    for i in 0..20 {
        core.branch_register(&xid, BranchType::TCC, &format!("r{i}"), "c", "", "")
            .expect("register");
    }
    store.sync().expect("sync");
    let stats = store.stats();
    assert_eq!(stats.changes, 21);
    assert!(
        stats.commits >= 1 && stats.writes <= stats.changes,
        "{stats:?}"
    );
    // A store that is closed answers waiters with an error instead of hanging.
    store.close();
    core.begin("a", "late", MINUTE, now).expect("begin");
    assert_eq!(store.sync(), Err(StoreError::Closed));
}

#[test]
fn a_damaged_record_is_reported_with_its_key() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("tx.redb");
    drop(SessionStore::open(&path).expect("create"));
    {
        let db = redb::Database::create(&path).expect("db");
        let tx = db.begin_write().expect("write");
        {
            let mut t = tx
                .open_table(redb::TableDefinition::<&str, &[u8]>::new("sessions"))
                .expect("table");
            t.insert("2:1:9", &[0x0f_u8, 0xff, 0x01][..])
                .expect("insert");
        }
        tx.commit().expect("commit");
    }
    match SessionStore::open(&path) {
        Err(StoreError::Corrupt { key, .. }) => assert_eq!(key, "2:1:9"),
        other => panic!("expected a corrupt-record error, got {other:?}"),
    }
}
