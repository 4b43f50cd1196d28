//! Self-registration (`tars::registration`) against the real registry over TCP (127.0.0.1):
//! an instance is listed with its `LoadReporter`'s values from its first registration on,
//! before any heartbeat, and a re-registration replaces the load the registry had.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tars::registration::{DynamicMeta, HealthStatus, RegistrationConfig};
use tars::server::{AnnouncedServant, Announcer, ServerConfig};
use tars_protocols::tarsrs::{Instance, InstanceFilter};
use tars_test_support::{one_servant, serve_on, Echo, TestRegistry};

const OBJ: &str = "App.Server.EchoObj";

/// Long enough that no heartbeat is sent while a test looks: what is listed comes from the
/// registration.
const NO_HEARTBEAT: Duration = Duration::from_secs(600);

/// Every instance of `OBJ`, whatever its health, as a client listing them sees it.
fn listed(registry: &TestRegistry) -> Vec<Instance> {
    let (ret, instances) = registry
        .registry_proxy()
        .list(&InstanceFilter {
            obj_name: OBJ.into(),
            include_inactive: true,
            worst_health: HealthStatus::UNHEALTHY,
            ..InstanceFilter::default()
        })
        .expect("list");
    assert_eq!(ret, 0);
    instances
}

#[test]
fn first_registration_carries_the_reporters_load() {
    let registry = TestRegistry::start();
    let registration = RegistrationConfig::new(registry.registry_obj())
        .with_heartbeat_interval(NO_HEARTBEAT)
        .with_reporter(|_object: &str, load: &mut DynamicMeta| {
            load.health = HealthStatus::UNHEALTHY;
            load.active_transactions = 5;
        });
    let config = ServerConfig {
        announcer: Some(registration.into()),
        ..ServerConfig::default()
    };
    let (server, port) = serve_on(0, one_servant(OBJ, Arc::new(Echo::default())), 1, config);

    // Registered before start returned; listed at once with what the reporter says.
    let list = listed(&registry);
    assert_eq!(list.len(), 1, "{list:?}");
    let i = &list[0];
    assert_eq!(i.endpoint.port, i32::from(port));
    assert_eq!(i.load.health, HealthStatus::UNHEALTHY);
    assert_eq!(i.load.active_transactions, 5);
    assert!((0.0..=1.0).contains(&i.load.mem_load));
    assert_eq!(
        i.last_heartbeat_ms, 0,
        "no heartbeat yet: the load came with the registration"
    );

    server.shutdown();
    assert!(listed(&registry).is_empty(), "deregistered on shutdown");
}

#[test]
fn re_registration_replaces_the_previous_load() {
    let registry = TestRegistry::start();
    // The reporter's values, changed by the test between the two registrations.
    let health = Arc::new(AtomicI32::new(2));
    let active = Arc::new(AtomicI32::new(5));
    let reporter = {
        let (health, active) = (health.clone(), active.clone());
        move |_object: &str, load: &mut DynamicMeta| {
            load.health = match health.load(Ordering::SeqCst) {
                0 => HealthStatus::HEALTHY,
                1 => HealthStatus::DEGRADED,
                _ => HealthStatus::UNHEALTHY,
            };
            load.active_transactions = active.load(Ordering::SeqCst);
        }
    };
    let config = RegistrationConfig::new(registry.registry_obj())
        .with_heartbeat_interval(NO_HEARTBEAT)
        .with_reporter(reporter);
    // The announcement is what a server makes when it has bound its adapters; a second one
    // for the same address is the re-registration of a restarted instance whose predecessor
    // never deregistered.
    let servant = AnnouncedServant {
        adapter: "App".into(),
        object: OBJ.into(),
        addr: "127.0.0.1:4000".parse().expect("addr"),
        timeout_ms: 3_000,
    };
    let first = config
        .announce(std::slice::from_ref(&servant))
        .expect("announced");
    let list = listed(&registry);
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].load.health, list[0].load.active_transactions),
        (HealthStatus::UNHEALTHY, 5)
    );

    health.store(0, Ordering::SeqCst);
    active.store(1, Ordering::SeqCst);
    let second = config.announce(&[servant]).expect("announced again");
    let list = listed(&registry);
    assert_eq!(list.len(), 1, "the same instance: {list:?}");
    assert_eq!(
        (list[0].load.health, list[0].load.active_transactions),
        (HealthStatus::HEALTHY, 1),
        "the re-registration's load, not the previous one"
    );

    second.withdraw();
    assert!(listed(&registry).is_empty(), "withdrawn");
    first.withdraw();
}
