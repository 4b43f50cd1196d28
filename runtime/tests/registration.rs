//! Self-registration over real TCP (127.0.0.1): a server configured with a registry registers
//! its servants (with their reported load), heartbeats with its dynamic metadata, registers
//! again when the registry has forgotten it, and deregisters on shutdown once it has answered
//! what it was serving. The registry here records every call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tars::TarsString;

use tars::packet::{ParamReader, ParamWriter};
use tars::protocol::tarsrs::{
    DynamicMeta, HealthStatus, Instance, InstanceFilter, Registry, RegistryServant, StaticMeta,
};
use tars::registration::RegistrationConfig;
use tars::server::{
    AdapterConfig, AdminServant, Current, Dispatch, DispatchError, Endpoint, ServantError,
    Servants, Server, ServerConfig,
};
use tars_test_support::servants::{sleep, sleeping};
use tars_test_support::{free_port, poll_until, poll_until_ok, proxy, Echo};

#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // a test log; size does not matter
enum Event {
    Register(Instance),
    Heartbeat(String, i32, DynamicMeta),
    Deregister(String, i32),
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
    /// Answer the next heartbeat with 1 (unknown instance).
    forget_next: AtomicBool,
    /// The app's Echo servant: each deregistration records how many of its calls still run.
    app: Mutex<Option<Arc<Echo>>>,
    running_at_deregister: Mutex<Vec<usize>>,
}

impl Recorder {
    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// Waits (at most 10 s) until `pred` holds for the recorded events.
    fn wait_for(&self, what: &str, pred: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        poll_until_ok(what, Duration::from_secs(10), || {
            let events = self.events();
            if pred(&events) {
                Ok(events)
            } else {
                Err(events)
            }
        })
    }
}

impl Registry for Recorder {
    fn register_instance(
        &self,
        _current: &mut Current,
        instance: Instance,
    ) -> Result<i32, ServantError> {
        self.events.lock().unwrap().push(Event::Register(instance));
        Ok(0)
    }

    fn heartbeat(
        &self,
        _current: &mut Current,
        obj_name: TarsString,
        _host: TarsString,
        port: i32,
        load: DynamicMeta,
    ) -> Result<i32, ServantError> {
        self.events
            .lock()
            .unwrap()
            .push(Event::Heartbeat(obj_name.to_string(), port, load));
        Ok(if self.forget_next.swap(false, Ordering::SeqCst) {
            1
        } else {
            0
        })
    }

    fn deregister(
        &self,
        _current: &mut Current,
        obj_name: TarsString,
        _host: TarsString,
        port: i32,
    ) -> Result<i32, ServantError> {
        if let Some(app) = &*self.app.lock().unwrap() {
            self.running_at_deregister
                .lock()
                .unwrap()
                .push(app.sleeping());
        }
        self.events
            .lock()
            .unwrap()
            .push(Event::Deregister(obj_name.to_string(), port));
        Ok(0)
    }

    fn list(
        &self,
        _current: &mut Current,
        _filter: InstanceFilter,
    ) -> Result<(i32, Vec<Instance>), ServantError> {
        Ok((0, Vec::new()))
    }

    fn watch(
        &self,
        _current: &mut Current,
        _known: std::collections::BTreeMap<TarsString, i64>,
        _wait_ms: i32,
    ) -> Result<(i32, Vec<tars::protocol::tarsrs::ObjectInstances>), ServantError> {
        Ok((0, Vec::new())) // servers never watch
    }
}

struct Nop;

impl Dispatch for Nop {
    fn functions(&self) -> &'static [&'static str] {
        &[]
    }

    fn dispatch(
        &self,
        current: &mut Current,
        _params: &mut ParamReader<'_>,
        _out: &mut ParamWriter,
    ) -> Result<(), DispatchError> {
        Err(DispatchError::NoFunc(current.func_name().into()))
    }
}

fn endpoint() -> Endpoint {
    "tcp -h 127.0.0.1 -p 0 -t 30000".parse().expect("endpoint")
}

fn start_registry(port: u16) -> (Server, Arc<Recorder>, String) {
    let recorder = Arc::new(Recorder::default());
    let mut servants = Servants::new();
    servants.add(
        "tars.tarsregistry.RegistryObj",
        Arc::new(RegistryServant(recorder.clone())),
    );
    let server = Server::start(
        ServerConfig::default(),
        vec![AdapterConfig::new(
            "Registry",
            format!("tcp -h 127.0.0.1 -p {port} -t 30000")
                .parse()
                .expect("endpoint"),
            Arc::new(servants),
        )],
    )
    .expect("registry starts");
    let port = server.local_addr("Registry").expect("bound").port();
    let registry = format!("tars.tarsregistry.RegistryObj@tcp -h 127.0.0.1 -p {port}");
    (server, recorder, registry)
}

fn start_app(registration: RegistrationConfig) -> (Server, i32) {
    let mut servants = Servants::new();
    servants.add("App.Server.AObj", Arc::new(Nop));
    servants.add("App.Server.BObj", Arc::new(Nop));
    servants.add("AdminObj", Arc::new(AdminServant::new("App.Server")));
    let config = ServerConfig {
        announcer: Some(registration.into()),
        ..ServerConfig::default()
    };
    let server = Server::start(
        config,
        vec![AdapterConfig::new("App", endpoint(), Arc::new(servants))],
    )
    .expect("app starts");
    let port = i32::from(server.local_addr("App").expect("bound").port());
    (server, port)
}

fn registered(events: &[Event]) -> Vec<Instance> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Register(i) => Some(i.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn server_registers_heartbeats_and_deregisters() {
    let (_registry, recorder, registry) = start_registry(0);
    let registration = RegistrationConfig::new(registry)
        .with_heartbeat_interval(Duration::from_millis(30))
        .with_meta(StaticMeta {
            weight: 40,
            region: "sz".into(),
            capacity: 16,
            environment: "staging".into(),
            ..StaticMeta::default()
        })
        .with_reporter(|object: &str, load: &mut DynamicMeta| {
            load.active_transactions = if object.ends_with("AObj") { 3 } else { 5 };
            load.health = HealthStatus::DEGRADED;
        });
    let (app, port) = start_app(registration);

    // Registered before start returned: both servants, AdminObj left out.
    let first = registered(&recorder.events());
    let mut names: Vec<&str> = first.iter().map(|i| i.obj_name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["App.Server.AObj", "App.Server.BObj"]);
    for i in &first {
        assert_eq!(
            (i.endpoint.host.as_str(), i.endpoint.port),
            ("127.0.0.1", port)
        );
        assert_eq!((i.endpoint.timeout, i.endpoint.istcp), (30_000, 1));
        assert_eq!((i.meta.weight, i.endpoint.weight), (40, 40));
        assert_eq!(
            (
                i.meta.region.as_str(),
                i.meta.capacity,
                i.meta.environment.as_str()
            ),
            ("sz", 16, "staging")
        );
        assert!(i.meta.start_time > 0);
        // The registration carries the reporter's load, as the heartbeats do.
        let want = if i.obj_name.ends_with("AObj") { 3 } else { 5 };
        assert_eq!(i.load.active_transactions, want, "{}", i.obj_name);
        assert_eq!(i.load.health, HealthStatus::DEGRADED);
        assert!((0.0..=1.0).contains(&i.load.mem_load));
    }

    // Heartbeats carry what the reporter set, per object.
    let events = recorder.wait_for("heartbeats of both objects", |events| {
        ["App.Server.AObj", "App.Server.BObj"].iter().all(|o| {
            events
                .iter()
                .any(|e| matches!(e, Event::Heartbeat(n, p, _) if n == o && *p == port))
        })
    });
    for e in &events {
        if let Event::Heartbeat(name, _, load) = e {
            let want = if name.ends_with("AObj") { 3 } else { 5 };
            assert_eq!(load.active_transactions, want);
            assert_eq!(load.health, HealthStatus::DEGRADED);
            assert!((0.0..=1.0).contains(&load.cpu_load));
            assert!((0.0..=1.0).contains(&load.mem_load));
        }
    }

    // The registry forgets one instance: the server registers it again.
    let before = registered(&recorder.events()).len();
    recorder.forget_next.store(true, Ordering::SeqCst);
    recorder.wait_for("a second registration", |events| {
        registered(events).len() > before
    });

    // Shutdown deregisters both before it returns.
    app.shutdown();
    let events = recorder.events();
    for o in ["App.Server.AObj", "App.Server.BObj"] {
        assert!(
            events.contains(&Event::Deregister(o.into(), port)),
            "{o} deregistered: {events:?}"
        );
    }
    // And heartbeats stop.
    let count = events.len();
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(recorder.events().len(), count, "no calls after shutdown");
}

#[test]
fn unreachable_registry_does_not_stop_the_server_and_is_retried() {
    // Nothing listens on this port yet.
    let port = free_port();
    let registration = RegistrationConfig::new(format!(
        "tars.tarsregistry.RegistryObj@tcp -h 127.0.0.1 -p {port}"
    ))
    .with_heartbeat_interval(Duration::from_millis(30));
    let (app, app_port) = start_app(registration);

    // The registry comes up later on that port: a heartbeat tick registers the servants.
    let (_registry, recorder, _) = start_registry(port);
    let events = recorder.wait_for("registrations", |events| registered(events).len() == 2);
    assert!(registered(&events)
        .iter()
        .all(|i| i.endpoint.port == app_port));
    app.shutdown();
}

#[test]
fn shutdown_answers_the_calls_in_flight_before_it_deregisters() {
    let (_registry, recorder, registry) = start_registry(0);
    let echo = Arc::new(Echo::default());
    *recorder.app.lock().unwrap() = Some(echo.clone());
    let mut servants = Servants::new();
    servants.add("App.Server.EchoObj", echo.clone());
    let mut adapter = AdapterConfig::new("App", endpoint(), Arc::new(servants));
    adapter.threads = 2;
    let config = ServerConfig {
        announcer: Some(RegistrationConfig::new(registry).into()),
        ..ServerConfig::default()
    };
    let app = Server::start(config, vec![adapter]).expect("app starts");
    let port = app.local_addr("App").expect("bound").port();
    assert_eq!(registered(&recorder.events()).len(), 1);

    // A call in flight (on a connection of its own) when the shutdown starts.
    let slow = std::thread::spawn(move || sleep(&proxy("App.Server.EchoObj", port), 500));
    let poll = proxy("App.Server.EchoObj", port);
    poll_until("the slow call to run", Duration::from_secs(10), || {
        (sleeping(&poll).ok()? == 1).then_some(())
    });
    app.shutdown();
    assert_eq!(slow.join().expect("caller").expect("answered"), 500);
    assert!(
        recorder.events().contains(&Event::Deregister(
            "App.Server.EchoObj".into(),
            i32::from(port)
        )),
        "deregistered before shutdown returned"
    );
    assert_eq!(
        *recorder.running_at_deregister.lock().unwrap(),
        [0],
        "deregistered only once the call in flight was answered"
    );
}

#[test]
fn bad_registry_string_is_a_config_error() {
    let mut servants = Servants::new();
    servants.add("App.Server.AObj", Arc::new(Nop));
    let config = ServerConfig {
        announcer: Some(RegistrationConfig::new("tars.tarsregistry.RegistryObj@tcp -h").into()),
        ..ServerConfig::default()
    };
    let err = Server::start(
        config,
        vec![AdapterConfig::new("App", endpoint(), Arc::new(servants))],
    )
    .expect_err("rejected");
    assert!(err.to_string().contains("registry"), "{err}");
}
