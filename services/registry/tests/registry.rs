//! Registrations survive reopening the store, heartbeats drive active/inactive, and list
//! filters select by metadata.

use std::collections::BTreeMap;
use std::time::Duration;

use tars_protocols::tarsrs::{DynamicMeta, HealthStatus, Instance, InstanceFilter, StaticMeta};
use tars_registry::{HeartbeatOutcome, Registry};

fn instance(obj: &str, port: i32, region: &str, env: &str, features: &[&str]) -> Instance {
    Instance {
        meta: StaticMeta {
            weight: 100,
            region: region.into(),
            environment: env.into(),
            business_type: "payments".into(),
            capacity: 10,
            features: features
                .iter()
                .map(|f| (tars::TarsString::from(*f), true))
                .collect::<BTreeMap<_, _>>(),
            ..Default::default()
        },
        ..tars_test_support::instance(obj, "127.0.0.1", port)
    }
}

fn ports(list: &[Instance]) -> Vec<i32> {
    list.iter().map(|i| i.endpoint.port).collect()
}

fn all() -> InstanceFilter {
    InstanceFilter {
        include_inactive: true,
        ..Default::default()
    }
}

#[test]
fn registrations_survive_reopening_and_come_back_inactive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    {
        let r = Registry::open(&path, Duration::from_secs(30)).unwrap();
        for port in [1001, 1002, 1003] {
            r.register(instance("A.B.Obj", port, "sz", "prod", &[]))
                .unwrap();
        }
        assert!(r.deregister("A.B.Obj", "127.0.0.1", 1002).unwrap());
        assert!(!r.deregister("A.B.Obj", "127.0.0.1", 9999).unwrap());
        assert_eq!(ports(&r.list(&all())), [1001, 1003]);
        assert!(r.list(&all()).iter().all(|i| i.active));
    }
    let r = Registry::open(&path, Duration::from_secs(30)).unwrap();
    let listed = r.list(&all());
    assert_eq!(ports(&listed), [1001, 1003]);
    assert_eq!(listed[0].meta.region, "sz", "static metadata is stored");
    assert!(
        listed.iter().all(|i| !i.active),
        "no heartbeat since the restart yet"
    );
    let load = DynamicMeta {
        cpu_load: 0.5,
        ..Default::default()
    };
    assert_eq!(
        r.heartbeat("A.B.Obj", "127.0.0.1", 1003, load),
        HeartbeatOutcome::Recorded
    );
    let (active, inactive) = r.endpoints("A.B.Obj", |_| true);
    assert_eq!((active.len(), inactive.len()), (1, 1));
    assert_eq!(active[0].port, 1003);
}

#[test]
fn missed_heartbeats_make_an_instance_inactive_until_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let r = Registry::open(&dir.path().join("r.redb"), Duration::from_millis(200)).unwrap();
    r.register(instance("A.B.Obj", 1, "sz", "prod", &[]))
        .unwrap();
    assert!(r.list(&InstanceFilter::default())[0].active);
    std::thread::sleep(Duration::from_millis(350));
    assert!(
        r.list(&InstanceFilter::default()).is_empty(),
        "inactive instances are hidden unless asked for"
    );
    let listed = r.list(&all());
    assert!(!listed[0].active);
    let load = DynamicMeta {
        health: HealthStatus::DEGRADED,
        active_transactions: 7,
        avg_transaction_ms: 12.5,
        ..Default::default()
    };
    assert_eq!(
        r.heartbeat("A.B.Obj", "127.0.0.1", 1, load.clone()),
        HeartbeatOutcome::Recorded
    );
    let back = r.list(&InstanceFilter::default());
    assert_eq!(back.len(), 1);
    assert!(back[0].active && back[0].last_heartbeat_ms > 0);
    assert_eq!(back[0].load, load);
    assert_eq!(
        r.heartbeat("A.B.Obj", "127.0.0.1", 2, DynamicMeta::default()),
        HeartbeatOutcome::Unknown
    );
}

#[test]
fn a_registration_is_listed_with_its_load_and_a_re_registration_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let r = Registry::open(&dir.path().join("r.redb"), Duration::from_secs(30)).unwrap();
    let unhealthy = DynamicMeta {
        health: HealthStatus::UNHEALTHY,
        active_transactions: 5,
        ..Default::default()
    };
    r.register(Instance {
        load: unhealthy.clone(),
        ..instance("A.B.Obj", 1, "sz", "prod", &[])
    })
    .unwrap();
    // Before any heartbeat: the load the registration carried.
    assert_eq!(r.list(&all())[0].load, unhealthy);

    // A heartbeat, then a re-registration (a restart at the same address) with other values:
    // the new registration's load wins over the last heartbeat's.
    let hb = DynamicMeta {
        health: HealthStatus::DEGRADED,
        active_transactions: 9,
        ..Default::default()
    };
    assert_eq!(
        r.heartbeat("A.B.Obj", "127.0.0.1", 1, hb),
        HeartbeatOutcome::Recorded
    );
    let healthy = DynamicMeta {
        active_transactions: 1,
        ..Default::default()
    };
    r.register(Instance {
        load: healthy.clone(),
        ..instance("A.B.Obj", 1, "sz", "prod", &[])
    })
    .unwrap();
    let listed = r.list(&all());
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].load, healthy);
    assert_eq!(
        listed[0].last_heartbeat_ms, 0,
        "no heartbeat since re-registering"
    );
}

#[test]
fn list_filters_by_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let r = Registry::open(&dir.path().join("r.redb"), Duration::from_secs(30)).unwrap();
    r.register(instance("A.B.Obj", 1, "sz", "prod", &["tcc"]))
        .unwrap();
    r.register(instance("A.B.Obj", 2, "sh", "prod", &["tcc", "saga"]))
        .unwrap();
    r.register(instance("A.B.Obj", 3, "sz", "staging", &[]))
        .unwrap();
    r.register(instance("C.D.Obj", 4, "sz", "prod", &["tcc"]))
        .unwrap();
    r.heartbeat(
        "A.B.Obj",
        "127.0.0.1",
        2,
        DynamicMeta {
            health: HealthStatus::UNHEALTHY,
            ..Default::default()
        },
    );
    let list = |f: InstanceFilter| ports(&r.list(&f));
    assert_eq!(list(Default::default()), [1, 2, 3, 4]);
    let by_obj = |f: InstanceFilter| InstanceFilter {
        obj_name: "A.B.Obj".into(),
        ..f
    };
    assert_eq!(list(by_obj(Default::default())), [1, 2, 3]);
    assert_eq!(
        list(by_obj(InstanceFilter {
            region: "sz".into(),
            ..Default::default()
        })),
        [1, 3]
    );
    assert_eq!(
        list(InstanceFilter {
            environment: "prod".into(),
            ..Default::default()
        }),
        [1, 2, 4]
    );
    assert_eq!(
        list(InstanceFilter {
            required_features: vec!["tcc".into(), "saga".into()],
            ..Default::default()
        }),
        [2]
    );
    assert_eq!(
        list(InstanceFilter {
            worst_health: HealthStatus::DEGRADED,
            ..Default::default()
        }),
        [1, 3, 4],
        "the unhealthy instance is filtered out"
    );
    assert_eq!(
        list(InstanceFilter {
            business_type: "other".into(),
            ..Default::default()
        }),
        Vec::<i32>::new()
    );
}

#[test]
fn registrations_past_the_limits_are_refused_and_re_registrations_are_not() {
    use tars_registry::registry::RegistrationLimits;
    use tars_registry::store::StoreError;
    let instance = |obj: &str, host: &str, port: i32| {
        let mut i = instance(obj, port, "", "", &[]);
        i.endpoint.host = host.into();
        i
    };
    let dir = tempfile::tempdir().unwrap();
    let r = Registry::open(&dir.path().join("r.redb"), Duration::from_secs(30)).unwrap();
    r.set_limits(RegistrationLimits {
        max_per_object: 3,
        max_per_host: 4,
    });
    for port in 1..=3 {
        r.register(instance("A.B.Obj", "10.0.0.1", port)).unwrap();
    }
    let refused = r.register(instance("A.B.Obj", "10.0.0.2", 9)).unwrap_err();
    assert!(matches!(refused, StoreError::LimitReached(_)), "{refused}");
    // Registering an instance again (its heartbeat lost, say) is not a new one.
    r.register(instance("A.B.Obj", "10.0.0.1", 2)).unwrap();
    // Per host, across objects.
    r.register(instance("C.D.Obj", "10.0.0.1", 1)).unwrap();
    let refused = r.register(instance("E.F.Obj", "10.0.0.1", 1)).unwrap_err();
    assert!(refused.to_string().contains("10.0.0.1"), "{refused}");
    // Room again once one is gone.
    r.deregister("A.B.Obj", "10.0.0.1", 1).unwrap();
    r.register(instance("E.F.Obj", "10.0.0.1", 1)).unwrap();
    assert_eq!(r.len(), 4);
}
