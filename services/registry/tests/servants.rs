//! QueryObj and RegistryObj over real TCP (127.0.0.1) through the generated proxies.

use std::time::Duration;

use tars_protocols::tars::{EndpointF, QueryFProxy};
use tars_protocols::tarsrs::{DynamicMeta, Instance, InstanceFilter, RegistryProxy, StaticMeta};
use tars_registry::servant::INVALID_INSTANCE;
use tars_registry::GroupRule;
use tars_test_support::{poll_until, TestRegistry};

const OBJ: &str = "App.Server.Obj";

struct Running {
    _registry: TestRegistry,
    query: QueryFProxy,
    registry: RegistryProxy,
}

fn start(groups: Vec<GroupRule>, heartbeat_timeout_ms: u64) -> Running {
    let registry = TestRegistry::start_with(|c| {
        c.heartbeat_timeout_ms = heartbeat_timeout_ms;
        c.groups = groups;
    });
    Running {
        query: registry.query_proxy(),
        registry: registry.registry_proxy(),
        _registry: registry,
    }
}

fn instance(host: &str, region: &str, set: &str) -> Instance {
    let mut i = Instance {
        meta: StaticMeta {
            region: region.into(),
            environment: if region == "sz" { "prod" } else { "staging" }.into(),
            ..StaticMeta::default()
        },
        ..tars_test_support::instance(OBJ, host, 9000)
    };
    i.endpoint.set_id = set.into();
    i
}

/// A (sz, set app.sz.1), B (sh, app.sz.2), C (sz, no SET), D (sh, app.sh.1).
fn register_four(r: &Running) {
    for i in [
        instance("10.0.0.1", "sz", "app.sz.1"),
        instance("10.0.0.2", "sh", "app.sz.2"),
        instance("10.0.0.3", "sz", ""),
        instance("10.0.0.4", "sh", "app.sh.1"),
    ] {
        assert_eq!(r.registry.register_instance(&i).expect("register"), 0);
    }
}

fn hosts(eps: &[EndpointF]) -> Vec<&str> {
    eps.iter().map(|e| e.host.as_str()).collect()
}

#[test]
fn query_f_finds_with_group_station_and_set_semantics() {
    // Callers from 127.x are in group "sh".
    let r = start(
        vec![GroupRule {
            group: "sh".into(),
            ip_prefixes: vec!["127.".into()],
        }],
        30_000,
    );
    register_four(&r);
    let q = &r.query;
    let all = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"];
    assert_eq!(hosts(&q.find_object_by_id(OBJ).expect("find")), all);
    let (ret, active, inactive) = q.find_object_by_id4_any(OBJ).expect("4any");
    assert_eq!((ret, hosts(&active), inactive.len()), (0, all.to_vec(), 0));
    let (ret, active, _) = q.find_object_by_id4_all(OBJ).expect("4all");
    assert_eq!((ret, active.len()), (0, 4));
    // Every endpoint carries the fields Tars clients require.
    assert!(active
        .iter()
        .all(|e| e.port == 9000 && e.timeout == 3000 && e.istcp == 1));

    let (ret, active, _) = q.find_object_by_id_in_same_group(OBJ).expect("group");
    assert_eq!((ret, hosts(&active)), (0, vec!["10.0.0.2", "10.0.0.4"]));

    let (_, active, _) = q
        .find_object_by_id_in_same_station(OBJ, "sz")
        .expect("station");
    assert_eq!(hosts(&active), ["10.0.0.1", "10.0.0.3"]);
    let (_, active, _) = q
        .find_object_by_id_in_same_station(OBJ, "gz")
        .expect("station");
    assert!(active.is_empty());

    let set = |s: &str| q.find_object_by_id_in_same_set(OBJ, s).expect("set").1;
    assert_eq!(hosts(&set("app.sz.1")), ["10.0.0.1"]);
    assert_eq!(hosts(&set("app.sz.*")), ["10.0.0.1", "10.0.0.2"]);
    // No instance in the SET: the ones in no SET.
    assert_eq!(hosts(&set("app.gz.1")), ["10.0.0.3"]);

    let (ret, nodes) = q.find_object_node_name(OBJ).expect("nodes");
    assert_eq!(
        (ret, nodes),
        (0, all.iter().map(|s| tars::TarsString::from(*s)).collect())
    );
    assert!(q
        .find_object_by_id("Unknown.Obj")
        .expect("unknown")
        .is_empty());
}

#[test]
fn same_group_falls_back_to_all() {
    // No rule: the caller's group comes from instances on its host; there are none.
    let r = start(Vec::new(), 30_000);
    register_four(&r);
    let (_, active, _) = r.query.find_object_by_id_in_same_group(OBJ).expect("group");
    assert_eq!(active.len(), 4);
    // Once an instance is registered on the caller's host, its region is the caller's group.
    let mut local = instance("127.0.0.1", "sz", "");
    local.obj_name = "Other.Server.Obj".into();
    assert_eq!(r.registry.register_instance(&local).expect("register"), 0);
    let (_, active, _) = r.query.find_object_by_id_in_same_group(OBJ).expect("group");
    assert_eq!(hosts(&active), ["10.0.0.1", "10.0.0.3"]);
    // A group with no instance of the object falls back to all.
    let r = start(
        vec![GroupRule {
            group: "gz".into(),
            ip_prefixes: vec!["127.0.0.1".into()],
        }],
        30_000,
    );
    register_four(&r);
    let (_, active, _) = r.query.find_object_by_id_in_same_group(OBJ).expect("group");
    assert_eq!(active.len(), 4);
}

#[test]
fn registry_interface_validates_lists_and_tracks_liveness() {
    let r = start(Vec::new(), 300);
    let reg = &r.registry;
    let mut bad = instance("10.0.0.1", "sz", "");
    bad.obj_name.clear();
    assert_eq!(reg.register_instance(&bad).expect("call"), INVALID_INSTANCE);
    let mut bad = instance("10.0.0.1", "sz", "");
    bad.endpoint.port = 0;
    assert_eq!(reg.register_instance(&bad).expect("call"), INVALID_INSTANCE);
    let mut bad = instance("", "sz", "");
    bad.endpoint.host.clear();
    assert_eq!(reg.register_instance(&bad).expect("call"), INVALID_INSTANCE);

    register_four(&r);
    let filter = InstanceFilter {
        environment: "prod".into(),
        ..InstanceFilter::default()
    };
    let (ret, listed) = reg.list(&filter).expect("list");
    assert_eq!(ret, 0);
    assert_eq!(
        listed
            .iter()
            .map(|i| i.endpoint.host.as_str())
            .collect::<Vec<_>>(),
        ["10.0.0.1", "10.0.0.3"]
    );
    assert!(listed.iter().all(|i| i.active));

    assert_eq!(
        reg.heartbeat("No.Such.Obj", "10.0.0.1", 9000, &DynamicMeta::default())
            .expect("hb"),
        1
    );
    assert_eq!(reg.deregister(OBJ, "10.0.0.4", 9000).expect("dereg"), 0);
    assert_eq!(reg.deregister(OBJ, "10.0.0.4", 9000).expect("dereg"), 1);

    // Without heartbeats every instance goes inactive (and QueryF lists it as inactive)...
    let inactive = poll_until("instances to go inactive", Duration::from_secs(10), || {
        let (_, active, inactive) = r.query.find_object_by_id4_any(OBJ).expect("4any");
        active.is_empty().then_some(inactive)
    });
    assert_eq!(inactive.len(), 3);
    // ...and one comes back with its heartbeat, carrying the reported load.
    let load = DynamicMeta {
        active_transactions: 4,
        avg_transaction_ms: 2.5,
        ..DynamicMeta::default()
    };
    assert_eq!(reg.heartbeat(OBJ, "10.0.0.2", 9000, &load).expect("hb"), 0);
    let (_, active, inactive) = r.query.find_object_by_id4_any(OBJ).expect("4any");
    assert_eq!((hosts(&active), inactive.len()), (vec!["10.0.0.2"], 2));
    let (_, listed) = reg
        .list(&InstanceFilter {
            obj_name: OBJ.into(),
            ..InstanceFilter::default()
        })
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].load, load);
    assert!(listed[0].last_heartbeat_ms > 0);
}
