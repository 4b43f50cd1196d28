//! The scheduler against real etcd members: election and takeover, initial placement,
//! rebalancing when a node joins, replacement when one leaves, the fencing of a deposed
//! scheduler, auto-grow, and `cluster status`. Nodes are simulated by `nodes/<id>` keys written
//! with leases of their own; fragment leaders by `leader` keys.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tars_cluster::etcd::{Etcd, EtcdConfig};
use tars_cluster::keys::{Assignment, LeaderInfo, LoadSample, NodeInfo};
use tars_cluster::lease::NodeLease;
use tars_cluster::placement;
use tars_cluster::scheduler::{Scheduler, SchedulerConfig};
use tars_cluster::status::ClusterStatus;
use tars_test_support::TestEtcd;

fn connect(etcd: &TestEtcd) -> Etcd {
    Etcd::connect(&EtcdConfig {
        endpoints: etcd.urls(),
        prefix: "/test-sched/".into(),
        ..EtcdConfig::default()
    })
    .expect("connect to etcd")
}

fn fast() -> SchedulerConfig {
    SchedulerConfig {
        period_ms: 100,
        failover_grace_ms: 2000,
        ..SchedulerConfig::default()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A simulated node: its lease and its `nodes/<id>` key.
fn add_node(etcd: &Etcd, id: &str) -> NodeLease {
    add_node_ttl(etcd, id, Duration::from_secs(2))
}

/// [`add_node`] with a lease of `ttl`.
fn add_node_ttl(etcd: &Etcd, id: &str, ttl: Duration) -> NodeLease {
    // Retried: with a member down, a request may go to it first.
    let lease = wait_for(Duration::from_secs(20), "a lease", || {
        NodeLease::grant(etcd, ttl).ok()
    });
    let info = NodeInfo {
        node_id: id.into(),
        advertise: "127.0.0.1".into(),
        registry_port: 17890,
        coordinator_port: 8091,
        started_ms: now_ms(),
    };
    put(
        etcd,
        &etcd.keys().node(id),
        &serde_json::to_vec(&info).unwrap(),
        Some(&lease),
    );
    lease
}

fn put(etcd: &Etcd, key: &str, value: &[u8], lease: Option<&NodeLease>) {
    wait_for(Duration::from_secs(20), "a put", || {
        let mut c = etcd.client();
        let options = lease.map(|l| etcd_client::PutOptions::new().with_lease(l.id()));
        let (key, value) = (key.to_owned(), value.to_vec());
        etcd.block_on(async move { c.put(key, value, options).await })
            .ok()
    });
}

fn delete(etcd: &Etcd, key: &str) {
    let mut c = etcd.client();
    let key = key.to_owned();
    etcd.block_on(async move { c.delete(key, None).await })
        .expect("delete");
}

fn status(etcd: &Etcd) -> ClusterStatus {
    ClusterStatus::read(etcd).expect("status")
}

/// The assignments in `s`, of the fragments that have one.
fn assignments(s: &ClusterStatus) -> BTreeMap<u32, Assignment> {
    s.fragments
        .iter()
        .filter_map(|f| {
            f.assigned_leader.as_ref().map(|l| {
                (
                    f.id,
                    Assignment {
                        leader: l.clone(),
                        standbys: f.standbys.clone(),
                    },
                )
            })
        })
        .collect()
}

/// Whether every fragment in `s` is validly placed on `nodes`, balanced within ±1.
fn balanced(s: &ClusterStatus, nodes: &[&str], replicas: usize) -> bool {
    let nodes: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
    let a = assignments(s);
    if a.len() != s.fragments.len() || a.is_empty() {
        return false;
    }
    if !a.values().all(|x| placement::is_valid(&nodes, x, replicas)) {
        return false;
    }
    let c = placement::counts(&nodes, &a);
    let spread = |f: fn(&(usize, usize)) -> usize| {
        let v: Vec<usize> = c.values().map(f).collect();
        v.iter().max().unwrap() - v.iter().min().unwrap()
    };
    spread(|c| c.0) <= 1 && spread(|c| c.1) <= 1
}

/// Polls `f` every 100 ms until it returns `Some`, at most `limit`.
fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn leaders(schedulers: &[&Scheduler]) -> Vec<String> {
    schedulers
        .iter()
        .filter(|s| s.is_leader())
        .map(|s| s.node_id().to_owned())
        .collect()
}

#[test]
fn one_scheduler_is_elected_places_the_fragments_and_another_takes_over() {
    if !TestEtcd::available("one_scheduler_is_elected_places_the_fragments_and_another_takes_over")
    {
        return;
    }
    let cluster = TestEtcd::start(3);
    let etcd = connect(&cluster);
    let l1 = add_node(&etcd, "n1");
    let l2 = add_node(&etcd, "n2");
    let l3 = add_node(&etcd, "n3");
    let s1 = Scheduler::start(etcd.clone(), "n1".into(), l1.clone(), fast());
    let s2 = Scheduler::start(etcd.clone(), "n2".into(), l2.clone(), fast());

    let first = wait_for(Duration::from_secs(10), "a scheduler is elected", || {
        let l = leaders(&[&s1, &s2]);
        (l.len() == 1).then(|| l[0].clone())
    });
    let s = wait_for(Duration::from_secs(10), "6 balanced fragments", || {
        let s = status(&etcd);
        (s.fragments.len() == 6 && balanced(&s, &["n1", "n2", "n3"], 3)).then_some(s)
    });
    assert_eq!(s.scheduler.as_deref(), Some(first.as_str()));
    assert!(s.fragments.iter().all(|f| f.meta.is_some()));
    // Never two at once.
    for _ in 0..10 {
        assert_eq!(leaders(&[&s1, &s2]).len(), 1);
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = s.to_string();
    assert!(text.contains(&format!("scheduler: {first}")), "{text}");
    for n in ["n1", "n2", "n3", "00005"] {
        assert!(text.contains(n), "{text}");
    }
    println!("{text}");

    // The scheduler's node dies: its lease goes, and with it its node and scheduler keys.
    let (dead, survivor, survivor_node) = if first == "n1" {
        (&l1, &s2, "n2")
    } else {
        (&l2, &s1, "n1")
    };
    let t = Instant::now();
    dead.revoke(&etcd);
    wait_for(
        Duration::from_secs(5),
        "the other scheduler takes over",
        || (survivor.is_leader() && leaders(&[&s1, &s2]).len() == 1).then_some(()),
    );
    println!("takeover after {:?}", t.elapsed());
    let live = ["n3", survivor_node];
    let s = wait_for(
        Duration::from_secs(10),
        "re-placed on the two live nodes",
        || {
            let s = status(&etcd);
            (s.fragments.len() == 6 && balanced(&s, &live, 3)).then_some(s)
        },
    );
    assert_eq!(s.scheduler.as_deref(), Some(survivor_node));

    // A graceful stop resigns: a third scheduler takes over without waiting for a lease.
    let s3 = Scheduler::start(etcd.clone(), "n3".into(), l3.clone(), fast());
    std::thread::sleep(Duration::from_millis(300));
    assert!(!s3.is_leader());
    let t = Instant::now();
    survivor.stop();
    assert!(!survivor.is_leader());
    wait_for(
        Duration::from_secs(3),
        "n3 takes over after the resignation",
        || s3.is_leader().then_some(()),
    );
    println!("takeover after a resignation: {:?}", t.elapsed());
    s3.stop();
    s1.stop();
    s2.stop();
}

/// Writes `fragments/<f>/leader` for `node`, with its lease, as a leader would.
fn lead(etcd: &Etcd, f: u32, node: &str, lease: &NodeLease, epoch: u64) {
    let info = LeaderInfo {
        node_id: node.into(),
        epoch,
        coordinator: "127.0.0.1:8091".into(),
    };
    put(
        etcd,
        &etcd.keys().leader(f),
        &serde_json::to_vec(&info).unwrap(),
        Some(lease),
    );
    put(
        etcd,
        &etcd.keys().epoch(f),
        epoch.to_string().as_bytes(),
        None,
    );
}

#[test]
fn a_joining_node_gets_its_share() {
    if !TestEtcd::available("a_joining_node_gets_its_share") {
        return;
    }
    let cluster = TestEtcd::start(1);
    let etcd = connect(&cluster);
    let mut leases = BTreeMap::new();
    for n in ["n1", "n2", "n3"] {
        leases.insert(n, add_node(&etcd, n));
    }
    let s1 = Scheduler::start(etcd.clone(), "n1".into(), leases["n1"].clone(), fast());
    let before = wait_for(Duration::from_secs(10), "6 balanced fragments", || {
        let s = status(&etcd);
        (s.fragments.len() == 6 && balanced(&s, &["n1", "n2", "n3"], 3)).then_some(s)
    });
    // The assigned leaders take their fragments, as the nodes would.
    for (f, a) in assignments(&before) {
        lead(&etcd, f, &a.leader, &leases[a.leader.as_str()], 1);
    }

    leases.insert("n4", add_node(&etcd, "n4"));
    let all = ["n1", "n2", "n3", "n4"];
    let after = wait_for(Duration::from_secs(30), "rebalanced over 4 nodes", || {
        let s = status(&etcd);
        balanced(&s, &all, 3).then_some(s)
    });
    let a = assignments(&after);
    let c = placement::counts(&all.map(String::from), &a);
    assert!(c["n4"].0 >= 1, "n4 leads its share: {c:?}");
    assert!(c["n4"].1 >= 4, "n4 holds its share: {c:?}");
    // Leadership only moved to n4, and the old leader stays as a standby (it has the data).
    let old = assignments(&before);
    for (f, x) in &a {
        if x.leader != old[f].leader {
            assert_eq!(x.leader, "n4", "fragment {f}: {:?} -> {x:?}", old[f]);
            assert!(
                x.standbys.contains(&old[f].leader),
                "the old leader stays as a standby"
            );
        }
    }
    // While the handovers are pending (the old leaders still hold the keys), nothing moves.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(assignments(&status(&etcd)), a);
    println!("{}", status(&etcd));
    s1.stop();
}

#[test]
fn a_leaving_node_is_replaced_and_a_standby_that_took_over_is_adopted() {
    if !TestEtcd::available("a_leaving_node_is_replaced_and_a_standby_that_took_over_is_adopted") {
        return;
    }
    let cluster = TestEtcd::start(1);
    let etcd = connect(&cluster);
    let all = ["n1", "n2", "n3", "n4"];
    let mut leases = BTreeMap::new();
    for n in all {
        leases.insert(n, add_node(&etcd, n));
    }
    let config = SchedulerConfig {
        initial_fragments: 8,
        ..fast()
    };
    let s1 = Scheduler::start(etcd.clone(), "n1".into(), leases["n1"].clone(), config);
    let before = wait_for(Duration::from_secs(10), "8 balanced fragments", || {
        let s = status(&etcd);
        (s.fragments.len() == 8 && balanced(&s, &all, 3)).then_some(s)
    });
    let old = assignments(&before);
    for (f, a) in &old {
        lead(&etcd, *f, &a.leader, &leases[a.leader.as_str()], 1);
    }
    // n3 dies. In one of the fragments it led, its *second* standby wins the failover.
    let (&won, _) = old
        .iter()
        .find(|(_, a)| a.leader == "n3")
        .expect("n3 leads a fragment");
    let winner = old[&won].standbys[1].clone();
    leases["n3"].revoke(&etcd);
    lead(&etcd, won, &winner, &leases[winner.as_str()], 2);

    let live = ["n1", "n2", "n4"];
    let after = wait_for(
        Duration::from_secs(30),
        "re-placed on the live nodes",
        || {
            let s = status(&etcd);
            balanced(&s, &live, 3).then_some(s)
        },
    );
    let a = assignments(&after);
    assert!(a
        .values()
        .all(|x| x.leader != "n3" && !x.standbys.iter().any(|s| s == "n3")));
    assert_eq!(
        a[&won].leader, winner,
        "the standby that took over is adopted"
    );
    for (f, x) in &old {
        if x.leader != "n3" && f != &won {
            // Fragments that did not lose their leader keep it unless leaders must move to
            // stay balanced (8 fragments over 3 nodes: 3, 3, 2).
            let c = placement::counts(&live.map(String::from), &a);
            assert!(a[f].leader == x.leader || c.values().all(|c| c.0 >= 2));
        }
    }
    println!("{after}");
    s1.stop();
}

#[test]
fn a_deposed_scheduler_cannot_write() {
    if !TestEtcd::available("a_deposed_scheduler_cannot_write") {
        return;
    }
    let cluster = TestEtcd::start(1);
    let etcd = connect(&cluster);
    let l1 = add_node(&etcd, "n1");
    let _l2 = add_node(&etcd, "n2");
    let s1 = Scheduler::start(etcd.clone(), "n1".into(), l1, fast());
    let before = wait_for(Duration::from_secs(10), "6 balanced fragments", || {
        let s = status(&etcd);
        (s.fragments.len() == 6 && balanced(&s, &["n1", "n2"], 3)).then_some(s)
    });
    // Someone else holds the scheduler key now (as if n1's had expired and another node won).
    delete(&etcd, &etcd.keys().scheduler());
    put(&etcd, &etcd.keys().scheduler(), b"intruder", None);
    wait_for(Duration::from_secs(3), "n1 steps down", || {
        (!s1.is_leader()).then_some(())
    });
    let _l3 = add_node(&etcd, "n3");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        assignments(&status(&etcd)),
        assignments(&before),
        "a deposed scheduler wrote"
    );
    assert!(!s1.is_leader());
    assert_eq!(status(&etcd).scheduler.as_deref(), Some("intruder"));
    // The key goes away: n1 campaigns again and places n3.
    delete(&etcd, &etcd.keys().scheduler());
    wait_for(
        Duration::from_secs(10),
        "n1 is elected again and places n3",
        || {
            let s = status(&etcd);
            (s1.is_leader() && balanced(&s, &["n1", "n2", "n3"], 3)).then_some(())
        },
    );
    s1.stop();
    assert_eq!(status(&etcd).scheduler, None, "a stopped scheduler resigns");
}

#[test]
fn an_overloaded_fragment_grows_a_new_one() {
    if !TestEtcd::available("an_overloaded_fragment_grows_a_new_one") {
        return;
    }
    let cluster = TestEtcd::start(1);
    let etcd = connect(&cluster);
    let l1 = add_node(&etcd, "n1");
    let _l2 = add_node(&etcd, "n2");
    let _l3 = add_node(&etcd, "n3");
    let config = SchedulerConfig {
        initial_fragments: 3,
        max_fragments: 4,
        autogrow_threshold: 100,
        autogrow_window_ms: 3000,
        autogrow_min_samples: 4,
        ..fast()
    };
    let s1 = Scheduler::start(etcd.clone(), "n1".into(), l1, config);
    wait_for(Duration::from_secs(10), "3 balanced fragments", || {
        let s = status(&etcd);
        (s.fragments.len() == 3 && balanced(&s, &["n1", "n2", "n3"], 3)).then_some(())
    });
    // Fragment 1 is busy: above the threshold in every other sample; the others are quiet.
    let sample = |f: u32, active: u64| {
        let s = LoadSample {
            active,
            at_ms: now_ms(),
        };
        put(
            &etcd,
            &etcd.keys().load(f),
            &serde_json::to_vec(&s).unwrap(),
            None,
        );
    };
    let t = Instant::now();
    let mut i = 0u64;
    let grown = wait_for(Duration::from_secs(20), "a fourth fragment", || {
        i += 1;
        sample(0, 5);
        sample(1, if i.is_multiple_of(2) { 500 } else { 50 });
        sample(2, 5);
        std::thread::sleep(Duration::from_millis(150));
        let s = status(&etcd);
        (s.fragments.len() == 4).then_some(s)
    });
    println!("grew after {:?}", t.elapsed());
    let meta = grown.fragments[3]
        .meta
        .clone()
        .expect("the new fragment's meta");
    assert_eq!(grown.fragments[3].id, 3);
    assert!(meta.reason.contains("fragment 1 overloaded"), "{meta:?}");
    wait_for(
        Duration::from_secs(10),
        "the new fragment is placed",
        || {
            let s = status(&etcd);
            balanced(&s, &["n1", "n2", "n3"], 3).then_some(())
        },
    );
    // At max_fragments it grows no more, however busy.
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        sample(1, 500);
        std::thread::sleep(Duration::from_millis(150));
    }
    let s = status(&etcd);
    assert_eq!(s.fragments.len(), 4);
    assert_eq!(s.fragments[1].active, Some(500));
    println!("{s}");
    s1.stop();
}

#[test]
fn quiet_fragments_do_not_grow() {
    if !TestEtcd::available("quiet_fragments_do_not_grow") {
        return;
    }
    let cluster = TestEtcd::start(1);
    let etcd = connect(&cluster);
    let l1 = add_node(&etcd, "n1");
    let config = SchedulerConfig {
        initial_fragments: 2,
        autogrow_threshold: 100,
        autogrow_window_ms: 2000,
        autogrow_min_samples: 10,
        ..fast()
    };
    let s1 = Scheduler::start(etcd.clone(), "n1".into(), l1, config);
    wait_for(Duration::from_secs(10), "2 fragments", || {
        (status(&etcd).fragments.len() == 2).then_some(())
    });
    // One sample in 20 above the threshold: 5%.
    for i in 0..40 {
        let s = LoadSample {
            active: if i % 20 == 10 { 1000 } else { 100 },
            at_ms: now_ms(),
        };
        put(
            &etcd,
            &etcd.keys().load(0),
            &serde_json::to_vec(&s).unwrap(),
            None,
        );
        std::thread::sleep(Duration::from_millis(110));
    }
    assert_eq!(status(&etcd).fragments.len(), 2);
    s1.stop();
}

#[test]
fn status_reads_fragments_past_their_sessions_and_stray_keys() {
    if !TestEtcd::available("status_reads_fragments_past_their_sessions_and_stray_keys") {
        return;
    }
    let cluster = TestEtcd::start(1);
    let etcd = connect(&cluster);
    let l1 = add_node(&etcd, "n1");
    let config = SchedulerConfig {
        initial_fragments: 3,
        ..fast()
    };
    let s1 = Scheduler::start(etcd.clone(), "n1".into(), l1.clone(), config);
    wait_for(Duration::from_secs(10), "3 placed fragments", || {
        let s = status(&etcd);
        (s.fragments.len() == 3 && balanced(&s, &["n1"], 3)).then_some(())
    });
    for i in 0..200 {
        put(&etcd, &etcd.keys().log_entry(1, i), b"x", None);
    }
    put(
        &etcd,
        &format!("{}junk", etcd.keys().fragments()),
        b"x",
        None,
    );
    lead(&etcd, 1, "n1", &l1, 7);
    let s = status(&etcd);
    assert_eq!(
        s.fragments.iter().map(|f| f.id).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(s.fragments[1].epoch, Some(7));
    assert_eq!(s.fragments[1].leader.as_deref(), Some("n1"));
    assert_eq!(s.nodes[0].leading, 1);
    assert!(s.to_json().contains("\"epoch\": 7"));
    // The scheduler does not mistake them for fragments either.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(status(&etcd).fragments.len(), 3);
    s1.stop();
}

#[test]
fn scheduling_goes_on_when_an_etcd_member_dies() {
    if !TestEtcd::available("scheduling_goes_on_when_an_etcd_member_dies") {
        return;
    }
    let mut cluster = TestEtcd::start(3);
    let etcd = connect(&cluster);
    // Leases long enough to outlive the client noticing the dead member (with 2 s leases a
    // node whose keep-alive stream was on that member may lose its lease: see lease.rs).
    let ttl = Duration::from_secs(10);
    let l1 = add_node_ttl(&etcd, "n1", ttl);
    let _l2 = add_node_ttl(&etcd, "n2", ttl);
    let s1 = Scheduler::start(etcd.clone(), "n1".into(), l1.clone(), fast());
    wait_for(Duration::from_secs(10), "6 balanced fragments", || {
        let s = status(&etcd);
        (s.fragments.len() == 6 && balanced(&s, &["n1", "n2"], 3)).then_some(())
    });
    cluster.kill(0);
    let _l3 = add_node_ttl(&etcd, "n3", ttl);
    wait_for(
        Duration::from_secs(30),
        "n3 placed with a member down",
        || {
            let s = ClusterStatus::read(&etcd).ok()?;
            (s1.is_leader() && balanced(&s, &["n1", "n2", "n3"], 3)).then_some(())
        },
    );
    assert!(l1.is_alive());
    s1.stop();
}
