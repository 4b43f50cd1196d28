//! The registry in cluster mode against real etcd (3 members on 127.0.0.1) with two or three
//! registry nodes in this process, each with its own etcd connection and serving QueryObj and
//! RegistryObj on a free port: a registration acknowledged by one node is listed there at once
//! and by the others within a bounded wait; deregistration; `watch` long polls on one node
//! answered by a registration on another; heartbeat expiry, revival and load across nodes;
//! with 1 of 3 etcd members killed every write goes through; with 2 of 3 killed, writes are
//! refused with STORE_UNAVAILABLE while lookups
//! keep answering, and writes work again once the members are back.
//!
//! The tests run one at a time (each starts its own etcd cluster; the machine has 2 cores).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tars::client::Communicator;
use tars::server::Server;
use tars::TarsString;
use tars_cluster::etcd::{Etcd, EtcdConfig};
use tars_cluster::registry::open_registry;
use tars_protocols::tars::{EndpointF, QueryFProxy};
use tars_protocols::tarsrs::{
    DynamicMeta, HealthStatus, Instance, InstanceFilter, RegistryProxy, StaticMeta,
};
use tars_registry::servant::STORE_UNAVAILABLE;
use tars_registry::service::ADAPTER;
use tars_registry::{RegistryConfig, RegistryService, QUERY_OBJ, REGISTRY_OBJ};
use tars_test_support::{poll_until, wait_until, TestEtcd};

/// One test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const OBJ: &str = "App.Cluster.Obj";

/// A registry node: its own etcd connection, its registry, its server.
struct Node {
    service: RegistryService,
    server: Option<Server>,
    port: u16,
    _etcd: Etcd,
}

impl Node {
    fn start(etcd: &TestEtcd, name: &str, heartbeat_timeout_ms: u64) -> Node {
        let config = EtcdConfig {
            endpoints: etcd.urls(),
            prefix: "/test/".into(),
            connect_timeout_ms: 3000,
            request_timeout_ms: 1500,
        };
        let conn = Etcd::connect(&config).expect("etcd connects");
        let service = open_registry(
            &conn,
            name,
            RegistryConfig {
                host: "127.0.0.1".into(),
                port: 0,
                heartbeat_timeout_ms,
                ..RegistryConfig::default()
            },
        )
        .expect("the registry opens on etcd");
        let server = service.start().expect("the registry serves");
        let port = server.local_addr(ADAPTER).expect("bound").port();
        Node {
            service,
            server: Some(server),
            port,
            _etcd: conn,
        }
    }

    fn obj(&self, name: &str) -> String {
        format!("{name}@tcp -h 127.0.0.1 -p {} -t 10000", self.port)
    }

    fn registry(&self) -> RegistryProxy {
        RegistryProxy::new(
            Communicator::new()
                .string_to_proxy(&self.obj(REGISTRY_OBJ))
                .expect("proxy"),
        )
    }

    fn query(&self) -> QueryFProxy {
        QueryFProxy::new(
            Communicator::new()
                .string_to_proxy(&self.obj(QUERY_OBJ))
                .expect("proxy"),
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
    }
}

fn instance(host: &str, port: i32) -> Instance {
    Instance {
        meta: StaticMeta {
            region: "sz".into(),
            weight: 7,
            ..StaticMeta::default()
        },
        ..tars_test_support::instance(OBJ, host, port)
    }
}

fn hosts(eps: &[EndpointF]) -> Vec<String> {
    eps.iter()
        .map(|e| format!("{}:{}", e.host, e.port))
        .collect()
}

/// `(active, inactive)` endpoints of [`OBJ`] as `q` lists them.
fn lookup(q: &QueryFProxy) -> (Vec<String>, Vec<String>) {
    let (ret, active, inactive) = q.find_object_by_id4_any(OBJ).expect("findObjectById4Any");
    assert_eq!(ret, 0);
    (hosts(&active), hosts(&inactive))
}

fn all_of(r: &RegistryProxy) -> Vec<Instance> {
    let (ret, list) = r
        .list(&InstanceFilter {
            obj_name: OBJ.into(),
            include_inactive: true,
            ..InstanceFilter::default()
        })
        .expect("list");
    assert_eq!(ret, 0);
    list
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_registration_on_one_node_is_listed_by_every_node_and_wakes_their_watches() {
    if !TestEtcd::available("registry_cluster registration") {
        return;
    }
    let _serial = serial();
    let etcd = TestEtcd::start(3);
    let a = Node::start(&etcd, "a", 30_000);
    let b = Node::start(&etcd, "b", 30_000);
    let (ra, qa, rb, qb) = (a.registry(), a.query(), b.registry(), b.query());

    // A `watch` held on B (OBJ never had instances: version 0) ...
    let watcher = {
        let rb = b.registry();
        std::thread::spawn(move || {
            let started = Instant::now();
            let known = BTreeMap::from([(TarsString::from(OBJ), 0i64)]);
            let answer = rb.watch(&known, 8000).expect("watch");
            (answer, started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(300));

    // ... registered on A: A lists it at once (read your writes), B within a bounded wait.
    assert_eq!(
        ra.register_instance(&instance("10.0.0.1", 9000))
            .expect("register"),
        0
    );
    assert_eq!(lookup(&qa).0, ["10.0.0.1:9000"]);
    wait_until(
        "B lists the registration made on A",
        Duration::from_secs(5),
        || lookup(&qb).0 == ["10.0.0.1:9000"],
    );
    // B has the static metadata too.
    let listed = all_of(&rb);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].meta.region.as_str(), listed[0].meta.weight),
        ("sz", 7)
    );

    // The watch on B was answered by the registration on A, well before its wait ended.
    let ((ret, changes), took) = watcher.join().expect("watcher");
    assert_eq!(ret, 0);
    assert!(
        took < Duration::from_secs(5),
        "watch answered after {took:?}"
    );
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].obj_name, OBJ);
    assert_ne!(changes[0].version, 0);
    assert_eq!(changes[0].instances.len(), 1);
    assert_eq!(changes[0].instances[0].endpoint.host, "10.0.0.1");

    // A third node started now reads it from etcd, active (registered moments ago).
    let c = Node::start(&etcd, "c", 30_000);
    assert_eq!(lookup(&c.query()).0, ["10.0.0.1:9000"]);

    // Registered on B: A sees both; heartbeats reach either node.
    assert_eq!(
        rb.register_instance(&instance("10.0.0.2", 9000))
            .expect("register"),
        0
    );
    assert_eq!(lookup(&qb).0, ["10.0.0.1:9000", "10.0.0.2:9000"]);
    wait_until("A lists both", Duration::from_secs(5), || {
        lookup(&qa).0 == ["10.0.0.1:9000", "10.0.0.2:9000"]
    });
    assert_eq!(
        rb.heartbeat(OBJ, "10.0.0.1", 9000, &DynamicMeta::default())
            .expect("heartbeat"),
        0
    );

    // Deregistered through B: gone from B at once, from A and C within a bounded wait.
    assert_eq!(rb.deregister(OBJ, "10.0.0.1", 9000).expect("deregister"), 0);
    assert_eq!(lookup(&qb), (vec!["10.0.0.2:9000".to_owned()], vec![]));
    wait_until(
        "A and C drop the deregistered instance",
        Duration::from_secs(5),
        || {
            lookup(&qa) == (vec!["10.0.0.2:9000".to_owned()], vec![])
                && all_of(&c.registry()).len() == 1
        },
    );
    assert_eq!(
        ra.deregister(OBJ, "10.0.0.1", 9000).expect("deregister"),
        1,
        "gone"
    );
    // A heartbeat of the deregistered instance: "unknown" (register again) on every node.
    assert_eq!(
        ra.heartbeat(OBJ, "10.0.0.1", 9000, &DynamicMeta::default())
            .expect("heartbeat"),
        1
    );
    // Re-registered on A right after: listed by every node.
    assert_eq!(
        ra.register_instance(&instance("10.0.0.1", 9000))
            .expect("register"),
        0
    );
    wait_until(
        "B lists the re-registration",
        Duration::from_secs(5),
        || lookup(&qb).0 == ["10.0.0.1:9000", "10.0.0.2:9000"],
    );
    assert_eq!(b.service.registry().len(), 2);
}

#[test]
fn heartbeats_on_one_node_keep_an_instance_active_everywhere_and_expiry_is_cluster_wide() {
    if !TestEtcd::available("registry_cluster heartbeats") {
        return;
    }
    let _serial = serial();
    let etcd = TestEtcd::start(3);
    const TIMEOUT: Duration = Duration::from_millis(1500);
    let a = Node::start(&etcd, "a", TIMEOUT.as_millis() as u64);
    let b = Node::start(&etcd, "b", TIMEOUT.as_millis() as u64);
    let (ra, qa, rb, qb) = (a.registry(), a.query(), b.registry(), b.query());
    let me = ["10.0.0.9:9100".to_owned()];

    assert_eq!(
        ra.register_instance(&instance("10.0.0.9", 9100))
            .expect("register"),
        0
    );
    wait_until("B lists it active", Duration::from_secs(5), || {
        lookup(&qb).0 == me
    });

    // Heartbeats through A every 300 ms for twice the timeout: B never lists it inactive.
    let until = Instant::now() + TIMEOUT * 2;
    while Instant::now() < until {
        assert_eq!(
            ra.heartbeat(OBJ, "10.0.0.9", 9100, &DynamicMeta::default())
                .expect("hb"),
            0
        );
        assert_eq!(
            lookup(&qb).0,
            me,
            "B keeps it active while it heartbeats on A"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // A changed load reaches B.
    let degraded = DynamicMeta {
        health: HealthStatus::DEGRADED,
        cpu_load: 0.75,
        ..DynamicMeta::default()
    };
    assert_eq!(
        ra.heartbeat(OBJ, "10.0.0.9", 9100, &degraded).expect("hb"),
        0
    );
    wait_until(
        "B lists the load of A's heartbeat",
        Duration::from_secs(3),
        || {
            all_of(&rb)
                .first()
                .is_some_and(|i| i.load == degraded && i.last_heartbeat_ms > 0)
        },
    );

    // Heartbeats stop: both nodes list it inactive, B not before about timeout - timeout/3.
    let stopped = Instant::now();
    wait_until(
        "B lists it inactive",
        TIMEOUT + Duration::from_secs(3),
        || lookup(&qb) == (vec![], me.to_vec()),
    );
    let took = stopped.elapsed();
    assert!(took >= TIMEOUT / 2, "expired on B after only {took:?}");
    wait_until(
        "A lists it inactive",
        TIMEOUT + Duration::from_secs(3),
        || lookup(&qa) == (vec![], me.to_vec()),
    );

    // One heartbeat through B revives it on A at once (not paced).
    let revived = Instant::now();
    assert_eq!(
        rb.heartbeat(OBJ, "10.0.0.9", 9100, &DynamicMeta::default())
            .expect("hb"),
        0
    );
    assert_eq!(lookup(&qb).0, me);
    wait_until("A lists it active again", Duration::from_secs(2), || {
        lookup(&qa).0 == me
    });
    assert!(revived.elapsed() < Duration::from_secs(2));
}

#[test]
fn without_an_etcd_majority_writes_are_refused_and_lookups_still_answer() {
    if !TestEtcd::available("registry_cluster majority loss") {
        return;
    }
    let _serial = serial();
    let mut etcd = TestEtcd::start(3);
    let a = Node::start(&etcd, "a", 30_000);
    let b = Node::start(&etcd, "b", 30_000);
    let (ra, qa, rb, qb) = (a.registry(), a.query(), b.registry(), b.query());
    assert_eq!(
        ra.register_instance(&instance("10.0.0.1", 9000))
            .expect("register"),
        0
    );
    wait_until("B lists it", Duration::from_secs(5), || {
        lookup(&qb).0 == ["10.0.0.1:9000"]
    });

    // One member of three down: the majority holds, and every write goes through (the
    // client also picks the dead member; such requests are sent again elsewhere).
    etcd.kill(1);
    // (If it led, the others elect a new leader first: up to about 2 election timeouts.)
    wait_until(
        "writes with one member down",
        Duration::from_secs(10),
        || {
            ra.register_instance(&instance("10.0.1.99", 9000))
                .expect("answered")
                == 0
        },
    );
    assert_eq!(ra.deregister(OBJ, "10.0.1.99", 9000).expect("answered"), 0);
    for k in 0..10 {
        let (r, host) = (if k % 2 == 0 { &ra } else { &rb }, format!("10.0.1.{k}"));
        assert_eq!(
            r.register_instance(&instance(&host, 9000))
                .expect("answered"),
            0
        );
        assert_eq!(r.deregister(OBJ, &host, 9000).expect("answered"), 0);
    }

    // 2 of 3 members down: no majority.
    etcd.kill(2);
    let started = Instant::now();
    let refused = ra
        .register_instance(&instance("10.0.0.3", 9000))
        .expect("answered");
    assert_eq!(
        refused, STORE_UNAVAILABLE,
        "a write without a majority is refused"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "refused after {:?}",
        started.elapsed()
    );
    assert_eq!(
        rb.deregister(OBJ, "10.0.0.1", 9000).expect("answered"),
        STORE_UNAVAILABLE
    );
    // Lookups keep answering from the caches, unchanged: nothing was half-written.
    for q in [&qa, &qb] {
        assert_eq!(lookup(q).0, ["10.0.0.1:9000"]);
    }
    assert_eq!(all_of(&rb).len(), 1);
    // Heartbeats are still recorded (locally).
    assert_eq!(
        ra.heartbeat(OBJ, "10.0.0.1", 9000, &DynamicMeta::default())
            .expect("hb"),
        0
    );

    // The members come back: writes work again, and every node catches up. (A write
    // refused right after the loss may still have been taken by etcd — the surviving member
    // had proposed it while it led — and take effect now; it is idempotent, so the state
    // below is the same either way.)
    etcd.restart(1);
    etcd.restart(2);
    let back = Instant::now();
    wait_until("A accepts writes again", Duration::from_secs(30), || {
        ra.register_instance(&instance("10.0.0.3", 9000))
            .expect("answered")
            == 0
    });
    assert!(lookup(&qa).0.contains(&"10.0.0.3:9000".to_owned()));
    wait_until(
        "B lists the write made after the majority returned",
        Duration::from_secs(15),
        || lookup(&qb).0.contains(&"10.0.0.3:9000".to_owned()),
    );
    // B's connection may need a moment longer to reach the restarted members.
    let mut refused = 0;
    let late = poll_until(
        "B accepts writes again",
        Duration::from_secs(15),
        || match rb.deregister(OBJ, "10.0.0.1", 9000).expect("answered") {
            STORE_UNAVAILABLE => {
                refused += 1;
                None
            }
            ret => Some(ret),
        },
    );
    assert!(matches!(late, 0 | 1), "{late}");
    eprintln!("B refused {refused} writes after A's first one succeeded");
    eprintln!(
        "the refused deregistration took effect later: {}",
        late == 1
    );
    assert_eq!(lookup(&qb).0, ["10.0.0.3:9000"]);
    wait_until("A drops it", Duration::from_secs(5), || {
        lookup(&qa).0 == ["10.0.0.3:9000"]
    });
    eprintln!(
        "writes resumed {:?} after the members restarted",
        back.elapsed()
    );
}
