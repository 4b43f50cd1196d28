//! The coordinator in cluster mode, in process, against real etcd members: nodes lead
//! fragments through leases, transactions are stored in etcd, AT rows are locked across
//! fragments, a standby takes a dead leader's fragments over with everything acknowledged,
//! and a leader that lost its key cannot write.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tars::client::Communicator;
use tars::server::{Servants, Server, ServerConfig};
use tars_cluster::coordinator::leadership::{campaign, create_fragment, resign};
use tars_cluster::coordinator::manager::{
    publish_node, FragmentManager, ManagerConfig, NodeIdentity,
};
use tars_cluster::coordinator::router::ClusterCoordinator;
use tars_cluster::coordinator::standby::WarmCopy;
use tars_cluster::coordinator::store::{stored_sessions, FragmentStore};
use tars_cluster::etcd::{Etcd, EtcdConfig};
use tars_cluster::keys::{Assignment, NodeInfo};
use tars_cluster::lease::NodeLease;
use tars_coordinator::core::Journal;
use tars_coordinator::service::{CoordinatorConfig, COORDINATOR_OBJ};
use tars_coordinator::session::GlobalSession;
use tars_coordinator::store::{StoreError, TxStore};
use tars_coordinator::xid::{Xid, XidGenerator};
use tars_protocols::tarstx::{
    BranchType, CoordinatorProxy, CoordinatorServant, GlobalStatus as G, ResultCode,
    TransactionExceptionCode as Code,
};
use tars_test_support::{poll_until, serve_on, TestEtcd};

const TTL: Duration = Duration::from_secs(2);

struct TestNode {
    id: String,
    manager: Arc<FragmentManager>,
    server: Option<Server>,
    port: u16,
}

impl TestNode {
    fn start(etcd: &TestEtcd, id: &str) -> TestNode {
        Self::start_with(etcd, id, ManagerConfig::default(), 3000)
    }

    fn start_with(
        etcd: &TestEtcd,
        id: &str,
        manager: ManagerConfig,
        request_timeout_ms: u64,
    ) -> TestNode {
        let config = EtcdConfig {
            endpoints: etcd.urls(),
            request_timeout_ms,
            ..EtcdConfig::default()
        };
        let client = Etcd::connect(&config).expect("connect to etcd");
        let lease = NodeLease::grant(&client, TTL).expect("lease");
        let router = Arc::new(ClusterCoordinator::new(Communicator::new(), 3000));
        let mut servants = Servants::new();
        servants.add(
            COORDINATOR_OBJ,
            Arc::new(CoordinatorServant(router.clone())),
        );
        let (server, port) = serve_on(0, servants, 0, ServerConfig::default());
        let info = NodeInfo {
            node_id: id.into(),
            advertise: "127.0.0.1".into(),
            registry_port: 0,
            coordinator_port: port,
            started_ms: 0,
        };
        publish_node(&client, &lease, &info).expect("publish the node");
        let manager = FragmentManager::start(
            client,
            lease,
            NodeIdentity {
                node_id: id.into(),
                info,
                coordinator: format!("127.0.0.1:{port}"),
                xid_address: format!("127.0.0.1:{port}"),
            },
            Communicator::new(),
            CoordinatorConfig {
                phase_two_timeout_ms: 300,
                retry_period_ms: 100,
                max_backoff_ms: 200,
                timeout_check_ms: 100,
                async_commit_ms: 50,
                ..CoordinatorConfig::default()
            },
            manager,
        )
        .expect("fragment manager");
        router.attach(manager.clone());
        TestNode {
            id: id.into(),
            manager,
            server: Some(server),
            port,
        }
    }

    fn proxy(&self) -> CoordinatorProxy {
        CoordinatorProxy::new(
            Communicator::new()
                .string_to_proxy(&format!(
                    "{COORDINATOR_OBJ}@tcp -h 127.0.0.1 -p {} -t 5000",
                    self.port
                ))
                .expect("proxy"),
        )
    }

    /// As if the process died: nothing handed over, the lease left to expire.
    fn halt(&mut self) {
        self.manager.halt();
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.halt();
    }
}

fn connect(etcd: &TestEtcd) -> Etcd {
    Etcd::connect(&EtcdConfig {
        endpoints: etcd.urls(),
        ..EtcdConfig::default()
    })
    .expect("connect to etcd")
}

fn create_fragments(etcd: &Etcd, n: u32) {
    for f in 0..n {
        etcd.block_on(create_fragment(etcd, f, "test"))
            .expect("create fragment");
    }
}

fn begin(p: &CoordinatorProxy) -> String {
    let (r, xid) = p.begin("app", "tx", 60_000).expect("begin call");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    xid.to_string()
}

fn register_at(p: &CoordinatorProxy, xid: &str, rows: &str) -> (ResultCode, Code, i64) {
    let (r, id) = p
        .branch_register(xid, BranchType::AT, "jdbc:db", "client", rows, "")
        .expect("register call");
    (r.code, r.error, id)
}

/// Writes the scheduler's placement of fragment `f`.
fn assign(etcd: &Etcd, f: u32, leader: &str, standby: &str) {
    let assignment = Assignment {
        leader: leader.into(),
        standbys: vec![standby.into()],
    };
    let value = serde_json::to_vec(&assignment).expect("json");
    etcd.block_on(etcd.put(etcd.keys().assignment(f), value, None))
        .expect("assign");
}

fn lock_holder(etcd: &Etcd, row: &str) -> Option<String> {
    let key = etcd.keys().lock(row);
    let mut c = etcd.client();
    let got = etcd
        .block_on(async move { c.get(key, None).await })
        .expect("get");
    got.kvs()
        .first()
        .map(|kv| String::from_utf8_lossy(kv.value()).into_owned())
}

#[test]
fn a_node_leads_fragments_stores_in_etcd_and_locks_rows_across_fragments() {
    if !TestEtcd::available("a_node_leads_fragments_stores_in_etcd_and_locks_rows_across_fragments")
    {
        return;
    }
    let etcd = TestEtcd::start(1);
    let admin = connect(&etcd);
    create_fragments(&admin, 2);
    let node = TestNode::start(&etcd, "n1");
    poll_until("n1 leads both fragments", Duration::from_secs(10), || {
        (node.manager.led_ids() == [0, 1]).then_some(())
    });
    let p = node.proxy();
    let (x1, x2) = (begin(&p), begin(&p));
    let (f1, f2) = (
        Xid::fragment_of(&x1).expect("xid"),
        Xid::fragment_of(&x2).expect("xid"),
    );
    assert_ne!(f1, f2, "begins alternate over the led fragments: {x1} {x2}");
    assert!(x1.starts_with(&format!("127.0.0.1:{}:", node.port)), "{x1}");

    // The session is in etcd once begin was acknowledged.
    let stored = stored_sessions(&admin, f1).expect("read the session log");
    assert!(
        stored.iter().any(|s| s.xid == x1),
        "session of {x1} stored: {stored:?}"
    );

    // Rows: x1 takes account 1 and 2; x2 (another fragment) is refused row 2, and takes 3.
    let (code, _, b1) = register_at(&p, &x1, "account:1,2");
    assert_eq!(code, ResultCode::Success);
    assert!(b1 > 0);
    assert_eq!(
        lock_holder(&admin, "jdbc:db^^^account^^^2").as_deref(),
        Some(x1.as_str())
    );
    let (code, err, _) = register_at(&p, &x2, "account:2,3");
    assert_eq!((code, err), (ResultCode::Failed, Code::LockKeyConflict));
    // All or nothing: row 3 was not taken either.
    assert_eq!(lock_holder(&admin, "jdbc:db^^^account^^^3"), None);
    // Re-entrant for the same transaction.
    assert_eq!(register_at(&p, &x1, "account:2").0, ResultCode::Success);

    // An all-AT commit releases the rows (async commit); then x2 gets them.
    let (r, status) = p.commit(&x1).expect("commit");
    assert_eq!((r.code, status), (ResultCode::Success, G::Committed));
    poll_until("row 2 freed in etcd", Duration::from_secs(5), || {
        lock_holder(&admin, "jdbc:db^^^account^^^2")
            .is_none()
            .then_some(())
    });
    assert_eq!(register_at(&p, &x2, "account:2,3").0, ResultCode::Success);
    assert_eq!(
        lock_holder(&admin, "jdbc:db^^^account^^^3").as_deref(),
        Some(x2.as_str())
    );
    let (r, status) = p.rollback(&x2).expect("rollback");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    assert!(
        matches!(status, G::Rollbacking | G::RollbackRetrying | G::Rollbacked),
        "{status:?}"
    );
    // Unknown XIDs read Finished, as on one node.
    assert_eq!(
        p.get_status("127.0.0.1:1:99").expect("status").1,
        G::Finished
    );
}

#[test]
fn a_standby_takes_a_dead_leaders_fragments_over_with_what_was_acknowledged() {
    if !TestEtcd::available(
        "a_standby_takes_a_dead_leaders_fragments_over_with_what_was_acknowledged",
    ) {
        return;
    }
    let etcd = TestEtcd::start(3);
    let admin = connect(&etcd);
    create_fragments(&admin, 2);
    // Placed as the scheduler would: a leads, b stands by (and keeps a warm copy).
    for f in 0..2 {
        assign(&admin, f, "a", "b");
    }
    let mut a = TestNode::start(&etcd, "a");
    poll_until("a leads both fragments", Duration::from_secs(10), || {
        (a.manager.led_ids() == [0, 1]).then_some(())
    });
    let b = TestNode::start(&etcd, "b");
    let pa = a.proxy();
    let xids: Vec<String> = (0..6).map(|_| begin(&pa)).collect();
    for (i, x) in xids.iter().enumerate() {
        assert_eq!(
            register_at(&pa, x, &format!("t:{i}")).0,
            ResultCode::Success
        );
    }
    // b forwards calls for a's fragments to a, and keeps warm copies of them.
    let pb = b.proxy();
    poll_until(
        "b's warm copies are current",
        Duration::from_secs(10),
        || (b.manager.warm_copies() == [(0, true), (1, true)]).then_some(()),
    );
    assert_eq!(pb.get_status(&xids[0]).expect("status").1, G::Begin);
    let old_epoch = xids[0].parse::<Xid>().expect("xid").id.epoch;

    let killed = Instant::now();
    a.halt();
    let took_over = poll_until("b serves begins", Duration::from_secs(10), || {
        let (r, xid) = pb.begin("app", "tx", 60_000).ok()?;
        (r.code == ResultCode::Success).then_some(xid.to_string())
    });
    let unavailable = killed.elapsed();
    eprintln!("fragments served again {unavailable:?} after the leader stopped");
    assert!(unavailable < Duration::from_secs(5), "{unavailable:?}");
    assert!(took_over.parse::<Xid>().expect("xid").id.epoch > old_epoch);
    poll_until("b leads both fragments", Duration::from_secs(10), || {
        (b.manager.led_ids() == [0, 1]).then_some(())
    });
    for f in [0, 1] {
        let loaded = b.manager.led(f).expect("led").loaded();
        assert!(loaded.from_warm_copy, "fragment {f}: {loaded:?}");
        assert_eq!(loaded.sessions, 3, "fragment {f}: {loaded:?}");
        // Everything was already in the copy (nothing changed since the last watch event).
        assert!(
            loaded.values_read < loaded.records,
            "fragment {f}: {loaded:?}"
        );
    }
    // Every acknowledged transaction is there; undecided ones are rolled back, and their
    // rows stay locked until the rollback reaches the participant.
    for (i, x) in xids.iter().enumerate() {
        let status = pb.get_status(x).expect("status").1;
        assert!(
            matches!(status, G::Rollbacking | G::RollbackRetrying),
            "{x}: {status:?}"
        );
        assert_eq!(
            lock_holder(&admin, &format!("jdbc:db^^^t^^^{i}")).as_deref(),
            Some(x.as_str())
        );
    }
    let (code, err, _) = register_at(&pb, &took_over, "t:0");
    assert_eq!((code, err), (ResultCode::Failed, Code::LockKeyConflict));
    drop(b);
    let _ = a.id.len();
}

#[test]
fn a_leader_whose_key_is_gone_cannot_write() {
    if !TestEtcd::available("a_leader_whose_key_is_gone_cannot_write") {
        return;
    }
    let etcd = TestEtcd::start(1);
    let admin = connect(&etcd);
    create_fragments(&admin, 1);
    let lease = NodeLease::grant(&admin, TTL).expect("lease");
    let fence = admin
        .block_on(campaign(&admin, 0, lease.id(), "old", "127.0.0.1:1"))
        .expect("campaign")
        .expect("won");
    let (store, recovered) = FragmentStore::open(&admin, fence.clone()).expect("open");
    assert!(recovered.is_empty());
    let xids = XidGenerator::new("127.0.0.1:1", 0, fence.epoch).expect("ids");
    let session = |xid: String| GlobalSession {
        xid,
        application_id: "a".into(),
        owner: String::new(),
        transaction_name: "t".into(),
        status: G::Begin,
        active: true,
        began: Instant::now(),
        begin_time_ms: 0,
        timeout: Duration::from_secs(60),
        branches: Vec::new(),
    };
    store.put(&session(xids.next_xid().expect("id").to_string()));
    TxStore::sync(&store).expect("stored while leading");

    // Another node takes the fragment (the old leader's key is gone: its lease expired).
    assert!(admin.block_on(resign(&admin, &fence)).expect("resign"));
    let lease2 = NodeLease::grant(&admin, TTL).expect("lease");
    let fence2 = admin
        .block_on(campaign(&admin, 0, lease2.id(), "new", "127.0.0.1:2"))
        .expect("campaign")
        .expect("won");
    assert!(fence2.epoch > fence.epoch);

    // The old leader still believes it leads: its next write is refused by etcd.
    let late = xids.next_xid().expect("id").to_string();
    store.put(&session(late.clone()));
    assert_eq!(
        TxStore::sync(&store),
        Err(StoreError::NotLeader { fragment: 0 })
    );
    // Nothing of it reached etcd, and later writes fail at once.
    let stored = stored_sessions(&admin, 0).expect("read the session log");
    assert!(stored.iter().all(|s| s.xid != late), "{stored:?}");
    store.put(&session("x".into()));
    assert!(TxStore::sync(&store).is_err());
    let (_, sessions) = FragmentStore::open(&admin, fence2).expect("new leader opens");
    assert_eq!(
        sessions.len(),
        1,
        "only what the old leader wrote while leading"
    );
}

/// A participant that records the phase-two calls it gets.
#[derive(Default, Clone)]
struct Recorder {
    calls: Arc<parking_lot::Mutex<Vec<&'static str>>>,
}

impl tars_protocols::tarstx::Participant for Recorder {
    fn branch_commit(
        &self,
        _c: &mut tars::server::Current,
        _x: tars::TarsString,
        _b: i64,
        _t: BranchType,
        _r: tars::TarsString,
        _d: tars::TarsString,
    ) -> Result<tars_protocols::tarstx::BranchStatus, tars::server::ServantError> {
        self.calls.lock().push("commit");
        Ok(tars_protocols::tarstx::BranchStatus::PhaseTwo_Committed)
    }

    fn branch_rollback(
        &self,
        _c: &mut tars::server::Current,
        _x: tars::TarsString,
        _b: i64,
        _t: BranchType,
        _r: tars::TarsString,
        _d: tars::TarsString,
    ) -> Result<tars_protocols::tarstx::BranchStatus, tars::server::ServantError> {
        self.calls.lock().push("rollback");
        Ok(tars_protocols::tarstx::BranchStatus::PhaseTwo_Rollbacked)
    }
}

/// A commit whose decision could not be written is answered with a failure and never
/// driven: the decision lives only in the leader's memory, and the next leader reads the
/// transaction back undecided and rolls it back. Before the fix the phase-two driver's
/// background retry (every 100 ms here) drove it as soon as the failed write released it,
/// until the fragment manager noticed the failed store (its next round: 100 ms by default,
/// seconds while etcd is slow) — committing a branch that the next leader rolled back.
#[test]
fn a_decision_whose_write_failed_is_never_driven() {
    if !TestEtcd::available("a_decision_whose_write_failed_is_never_driven") {
        return;
    }
    let etcd = TestEtcd::start(1);
    let admin = connect(&etcd);
    create_fragments(&admin, 1);
    // A slow manager: the failed store is noticed late, as while etcd struggles.
    let node = TestNode::start_with(
        &etcd,
        "n1",
        ManagerConfig {
            period_ms: 3000,
            ..ManagerConfig::default()
        },
        3000,
    );
    poll_until("n1 leads the fragment", Duration::from_secs(10), || {
        (node.manager.led_ids() == [0]).then_some(())
    });
    let recorder = Recorder::default();
    let (_participant, port) = tars_test_support::serve_one(
        "Test.Recorder.ParticipantObj",
        Arc::new(tars_protocols::tarstx::ParticipantServant::new(
            recorder.clone(),
        )),
    );
    let resource = tars_test_support::proxy_string("Test.Recorder.ParticipantObj", port);
    let p = node.proxy();
    let xid = begin(&p);
    let (r, _) = p
        .branch_register(&xid, BranchType::TCC, &resource, "client", "", "")
        .expect("register");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");

    // The leader key goes (as when etcd expired it): the commit decision is not stored.
    let key = admin.keys().leader(0);
    let mut c = admin.client();
    admin
        .block_on(async move { c.delete(key, None).await })
        .expect("delete the leader key");
    let (r, _) = p.commit(&xid).expect("commit answers");
    assert_eq!(r.code, ResultCode::Failed, "{r:?}");
    std::thread::sleep(Duration::from_millis(1000));
    let seen = recorder.calls.lock().clone();
    assert!(
        !seen.contains(&"commit"),
        "an unstored commit decision was driven: {seen:?}"
    );
    // The fragment is led again and the undecided transaction rolled back.
    poll_until(
        "the rollback reaches the participant",
        Duration::from_secs(20),
        || recorder.calls.lock().contains(&"rollback").then_some(()),
    );
    assert!(!recorder.calls.lock().contains(&"commit"));
}

/// A node whose fragment store failed (etcd did not answer one write in time) while its
/// lease lived on gives the fragment up — and must let its leader key go too: the key lives
/// as long as the lease, so before the fix nobody ever took the fragment over (the node
/// itself skipped fragments with a leader, and the others waited for the key to expire).
#[test]
fn a_fragment_given_up_while_the_lease_lives_is_led_again() {
    if !TestEtcd::available("a_fragment_given_up_while_the_lease_lives_is_led_again") {
        return;
    }
    let etcd = TestEtcd::start(1);
    let admin = connect(&etcd);
    create_fragments(&admin, 1);
    // Requests time out well within the lease TTL.
    let node = TestNode::start_with(&etcd, "n1", ManagerConfig::default(), 400);
    poll_until("n1 leads the fragment", Duration::from_secs(10), || {
        (node.manager.led_ids() == [0]).then_some(())
    });
    let p = node.proxy();
    let first = begin(&p).parse::<Xid>().expect("xid").id.epoch;
    // etcd stalls for less than the lease: a begin's write times out, the store fails.
    etcd.pause(0, true);
    let (r, _) = p.begin("app", "tx", 60_000).expect("begin answers");
    std::thread::sleep(Duration::from_millis(300));
    etcd.pause(0, false);
    assert_eq!(r.code, ResultCode::Failed, "{r:?}");
    assert!(
        node.manager.lease().is_alive(),
        "the lease should outlive the stall"
    );
    // The fragment is led again, under a new epoch.
    let xid = poll_until("begins succeed again", Duration::from_secs(10), || {
        let (r, xid) = p.begin("app", "tx", 60_000).ok()?;
        (r.code == ResultCode::Success).then_some(xid)
    });
    assert!(xid.parse::<Xid>().expect("xid").id.epoch > first, "{xid}");
}

#[test]
fn a_graceful_handover_keeps_undecided_transactions_open() {
    if !TestEtcd::available("a_graceful_handover_keeps_undecided_transactions_open") {
        return;
    }
    let etcd = TestEtcd::start(1);
    let admin = connect(&etcd);
    create_fragments(&admin, 1);
    assign(&admin, 0, "a", "b");
    let a = TestNode::start(&etcd, "a");
    poll_until("a leads", Duration::from_secs(10), || {
        (a.manager.led_ids() == [0]).then_some(())
    });
    let b = TestNode::start(&etcd, "b");
    let pa = a.proxy();
    let xid = begin(&pa);
    assert_eq!(register_at(&pa, &xid, "t:1").0, ResultCode::Success);

    // The scheduler moves the fragment to b: a flushes, records the handover and resigns.
    assign(&admin, 0, "b", "a");
    poll_until("b leads", Duration::from_secs(10), || {
        (b.manager.led_ids() == [0]).then_some(())
    });
    assert!(a.manager.led_ids().is_empty());
    let led = b.manager.led(0).expect("led");
    assert!(led.fence().graceful, "{:?}", led.fence());
    // The transaction is still open: its TM goes on through either node.
    let pb = b.proxy();
    assert_eq!(pb.get_status(&xid).expect("status").1, G::Begin);
    // Through a: forwarded to b once a's view caught up (NotRaftLeader until then, which
    // promises nothing was done).
    let (code, err, _) = poll_until("register through a", Duration::from_secs(5), || {
        let r = register_at(&pa, &xid, "t:2");
        (r.1 != Code::NotRaftLeader).then_some(r)
    });
    assert_eq!((code, err), (ResultCode::Success, Code::Unknown));
    assert_eq!(
        lock_holder(&admin, "jdbc:db^^^t^^^1").as_deref(),
        Some(xid.as_str())
    );
    let (r, status) = pb.commit(&xid).expect("commit");
    assert_eq!((r.code, status), (ResultCode::Success, G::Committed));

    // A crash is not a handover: b dies, a takes over and rolls undecided ones back.
    let open = begin(&pb);
    assign(&admin, 0, "b", "a");
    let mut b = b;
    b.halt();
    poll_until("a leads again", Duration::from_secs(10), || {
        (a.manager.led_ids() == [0]).then_some(())
    });
    assert!(!a.manager.led(0).expect("led").fence().graceful);
    let status = pa.get_status(&open).expect("status").1;
    assert!(
        matches!(
            status,
            G::Rollbacking | G::RollbackRetrying | G::Rollbacked | G::Finished
        ),
        "{status:?}"
    );
}

/// The session log is checkpointed as it grows: etcd keeps a bounded number of keys for the
/// fragment, and a new leader (cold, or from a warm copy that followed the checkpoints) reads
/// back exactly the sessions the old one last stored, every change included.
#[test]
fn the_session_log_is_checkpointed_and_read_back_exactly() {
    if !TestEtcd::available("the_session_log_is_checkpointed_and_read_back_exactly") {
        return;
    }
    let etcd = TestEtcd::start(1);
    let admin = connect(&etcd);
    create_fragments(&admin, 1);
    let warm = WarmCopy::start(&admin, 0);
    let lease = NodeLease::grant(&admin, TTL).expect("lease");
    let fence = admin
        .block_on(campaign(&admin, 0, lease.id(), "old", "127.0.0.1:1"))
        .expect("campaign")
        .expect("won");
    let (store, _) = FragmentStore::open(&admin, fence.clone()).expect("open");
    let xids = XidGenerator::new("127.0.0.1:1", 0, fence.epoch).expect("ids");
    // The model: XID -> transaction name (changed on updates).
    let mut model: std::collections::BTreeMap<String, String> = Default::default();
    let session = |xid: &str, name: &str| GlobalSession {
        xid: xid.to_owned(),
        application_id: "a".into(),
        owner: String::new(),
        transaction_name: name.to_owned(),
        status: G::Begin,
        active: true,
        began: Instant::now(),
        begin_time_ms: 0,
        timeout: Duration::from_secs(60),
        branches: Vec::new(),
    };
    let rounds = 3 * tars_cluster::coordinator::log::CHECKPOINT_ENTRIES as usize + 7;
    for round in 0..rounds {
        // Each round is a batch of its own: two begins, an update and (mostly) a removal.
        for _ in 0..2 {
            let xid = xids.next_xid().expect("id").to_string();
            store.put(&session(&xid, "new"));
            model.insert(xid, "new".into());
        }
        let keys: Vec<String> = model.keys().cloned().collect();
        let updated = &keys[round * 7 % keys.len()];
        let name = format!("round {round}");
        store.put(&session(updated, &name));
        model.insert(updated.clone(), name);
        if round % 5 != 0 {
            let gone = keys[round * 3 % keys.len()].clone();
            store.remove(&gone);
            model.remove(&gone);
        }
        TxStore::sync(&store).expect("stored");
    }
    let stored = |sessions: Vec<GlobalSession>| -> std::collections::BTreeMap<String, String> {
        sessions
            .into_iter()
            .map(|s| (s.xid, s.transaction_name))
            .collect()
    };
    assert_eq!(
        stored(stored_sessions(&admin, 0).expect("read back")),
        model
    );
    // The log was cut at checkpoints: far fewer keys than batches. (A checkpoint is due at
    // CHECKPOINT_ENTRIES entries only once the log is half the image in bytes, and the image
    // has chunks of its own, so the bound leaves room for both.)
    let prefix = admin.keys().sessions(0);
    let mut c = admin.client();
    let held = admin
        .block_on(async move {
            c.get(
                prefix,
                Some(
                    etcd_client::GetOptions::new()
                        .with_prefix()
                        .with_keys_only(),
                ),
            )
            .await
        })
        .expect("get");
    let n = held.kvs().len();
    assert!(n < rounds / 2, "{n} keys after {rounds} batches");
    assert!(held
        .kvs()
        .iter()
        .any(|kv| kv.key_str().is_ok_and(|k| k.ends_with("/checkpoint"))));

    // A new leader from the warm copy that followed all of it.
    poll_until("the warm copy is current", Duration::from_secs(10), || {
        let s = warm.snapshot()?;
        (s.revision >= held.header()?.revision()).then_some(())
    });
    store.close();
    assert!(admin.block_on(resign(&admin, &fence)).expect("resign"));
    let fence2 = admin
        .block_on(campaign(&admin, 0, lease.id(), "new", "127.0.0.1:2"))
        .expect("campaign")
        .expect("won");
    let (store2, sessions, loaded) =
        FragmentStore::open_warm(&admin, fence2, warm.snapshot()).expect("open warm");
    assert!(loaded.from_warm_copy, "{loaded:?}");
    assert_eq!(loaded.values_read, 0, "{loaded:?}");
    assert_eq!(stored(sessions), model);
    // It goes on writing after what it read (its sequence numbers are above the old ones).
    let xid = XidGenerator::new("127.0.0.1:2", 0, 99)
        .expect("ids")
        .next_xid()
        .expect("id")
        .to_string();
    store2.put(&session(&xid, "after"));
    TxStore::sync(&store2).expect("stored");
    model.insert(xid, "after".into());
    assert_eq!(
        stored(stored_sessions(&admin, 0).expect("read back")),
        model
    );
}

/// A standby takes a dead leader's fragment over when its etcd watch sees the leader's keys
/// vanish, not at its manager's next period (here a minute).
#[test]
fn a_standby_is_woken_by_the_leaders_keys_vanishing() {
    if !TestEtcd::available("a_standby_is_woken_by_the_leaders_keys_vanishing") {
        return;
    }
    let etcd = TestEtcd::start(1);
    let admin = connect(&etcd);
    create_fragments(&admin, 1);
    assign(&admin, 0, "a", "b");
    let mut a = TestNode::start(&etcd, "a");
    poll_until("a leads the fragment", Duration::from_secs(10), || {
        (a.manager.led_ids() == [0]).then_some(())
    });
    let slow = ManagerConfig {
        period_ms: 60_000,
        ..ManagerConfig::default()
    };
    let b = TestNode::start_with(&etcd, "b", slow, 3000);
    poll_until("b keeps a warm copy", Duration::from_secs(10), || {
        (b.manager.warm_copies() == [(0, true)]).then_some(())
    });
    let halted = Instant::now();
    a.halt();
    poll_until("b leads the fragment", TTL + Duration::from_secs(5), || {
        (b.manager.led_ids() == [0]).then_some(())
    });
    let took = halted.elapsed();
    assert!(took < TTL + Duration::from_secs(2), "{took:?}");
}

/// A leader that handed its fragment over to an assigned leader that does not take it (alive
/// in `nodes/`, slow to campaign) takes it back only after its standby delay, not at once:
/// no leadership ping-pong burning an epoch every few milliseconds.
#[test]
fn a_handover_nobody_takes_is_taken_back_after_the_standby_delay() {
    if !TestEtcd::available("a_handover_nobody_takes_is_taken_back_after_the_standby_delay") {
        return;
    }
    let etcd = TestEtcd::start(1);
    let admin = connect(&etcd);
    create_fragments(&admin, 1);
    assign(&admin, 0, "a", "b");
    let a = TestNode::start(&etcd, "a");
    poll_until("a leads the fragment", Duration::from_secs(10), || {
        (a.manager.led_ids() == [0]).then_some(())
    });
    // "slow" is a live node (its key is published) that never campaigns.
    let lease = NodeLease::grant(&admin, TTL).expect("lease");
    let slow = NodeInfo {
        node_id: "slow".into(),
        advertise: "127.0.0.1".into(),
        registry_port: 0,
        coordinator_port: 1,
        started_ms: 0,
    };
    publish_node(&admin, &lease, &slow).expect("publish");
    let epoch = || {
        let key = admin.keys().epoch(0);
        let mut c = admin.client();
        let got = admin
            .block_on(async move { c.get(key, None).await })
            .expect("get");
        got.kvs()
            .first()
            .and_then(|kv| std::str::from_utf8(kv.value()).ok()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = epoch();
    assign(&admin, 0, "slow", "a");
    let window = Duration::from_secs(3);
    std::thread::sleep(window);
    let taken = epoch() - before;
    // With a 300 ms standby delay, at most one take-back per ~300 ms (plus the handover).
    let most = window.as_millis() as u64 / ManagerConfig::default().standby_delay_ms + 2;
    assert!(
        (1..=most).contains(&taken),
        "{taken} epochs in {window:?} (at most {most})"
    );
}
