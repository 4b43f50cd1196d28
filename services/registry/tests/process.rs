//! The `tars-registry` binary as a child process: a TOML `--config` file is honoured (group
//! rules reach `findObjectByIdInSameGroup`), SIGTERM shuts it down cleanly (exit status 0),
//! and `kill -9` while registrations are in flight loses none that was acknowledged.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tars::client::Communicator;
use tars_protocols::tars::QueryFProxy;
use tars_protocols::tarsrs::{Instance, InstanceFilter, RegistryProxy, StaticMeta};
use tars_registry::{QUERY_OBJ, REGISTRY_OBJ};
use tars_test_support::{proxy_string, wait_until, ChildProcess, Signal};

/// The registry binary (killed by pid when dropped) and its port.
struct Process {
    child: ChildProcess,
    port: u16,
}

impl Process {
    fn start(args: &[&std::ffi::OsStr]) -> Process {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tars-registry"));
        command.args(args).stderr(Stdio::null());
        let child = ChildProcess::start(command, Duration::from_secs(20));
        let port = child.ready_port();
        Process { child, port }
    }

    fn on_dir(dir: &std::path::Path) -> Process {
        Process::start(&[
            "--port".as_ref(),
            "0".as_ref(),
            "--data-dir".as_ref(),
            dir.as_os_str(),
        ])
    }

    fn at(&self, obj: &str) -> tars::client::ServantProxy {
        Communicator::new()
            .string_to_proxy(&proxy_string(obj, self.port))
            .expect("proxy")
    }
}

fn instance(obj: &str, host: &str, port: i32, region: &str) -> Instance {
    Instance {
        meta: StaticMeta {
            region: region.into(),
            ..StaticMeta::default()
        },
        ..tars_test_support::instance(obj, host, port)
    }
}

#[test]
fn config_file_is_honoured_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let config = dir.path().join("registry.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nhost = \"127.0.0.1\"\nport = 0\nheartbeat_timeout_ms = 60000\n\
             threads = 2\nnet_threads = 2\n\n[[groups]]\ngroup = \"sh\"\nip_prefixes = [\"127.\"]\n",
            data.display().to_string()
        ),
    )
    .expect("write config");
    let mut p = Process::start(&["--config".as_ref(), config.as_os_str()]);
    let registry = RegistryProxy::new(p.at(REGISTRY_OBJ));
    for (host, region) in [("10.0.0.1", "sz"), ("10.0.0.2", "sh")] {
        let i = instance("App.Server.Obj", host, 9000, region);
        assert_eq!(registry.register_instance(&i).expect("register"), 0);
    }
    let query = QueryFProxy::new(p.at(QUERY_OBJ));
    let (ret, active, inactive) = query
        .find_object_by_id_in_same_group("App.Server.Obj")
        .expect("group");
    assert_eq!(ret, 0);
    assert_eq!(
        active.iter().map(|e| e.host.as_str()).collect::<Vec<_>>(),
        ["10.0.0.2"],
        "the group rule of the config file puts 127.0.0.1 in \"sh\""
    );
    assert!(inactive.is_empty());
    assert!(
        data.join("registry.redb").exists(),
        "data_dir of the config file"
    );

    p.child.signal(Signal::SIGTERM);
    let status = p.child.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "SIGTERM: clean exit, got {status:?}");
}

#[test]
fn seconds_runs_that_long_then_exits_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut p = Process::start(&[
        "--port".as_ref(),
        "0".as_ref(),
        "--data-dir".as_ref(),
        dir.path().as_os_str(),
        "--seconds".as_ref(),
        "1".as_ref(),
    ]);
    let status = p.child.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "--seconds: clean exit, got {status:?}");
}

#[test]
fn kill_9_during_registrations_keeps_every_acknowledged_one() {
    const WRITERS: i32 = 4;
    const PER_WRITER: i32 = 1_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let p = Process::on_dir(dir.path());
    let proxy = RegistryProxy::new(p.at(REGISTRY_OBJ)).with_timeout(Duration::from_secs(3));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (proxy, acked, count, stop) =
                (proxy.clone(), acked.clone(), count.clone(), stop.clone());
            std::thread::spawn(move || {
                for n in 0..PER_WRITER {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = instance(&format!("App.W{w}.Obj"), "10.2.0.1", 1 + n, "");
                    match proxy.register_instance(&i) {
                        Ok(0) => {
                            acked.lock().expect("lock").push((i.obj_name, n + 1));
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        // Refused or lost with the process: not acknowledged; stop.
                        _ => break,
                    }
                }
            })
        })
        .collect();
    // Kill it while the writers are still going.
    wait_until(
        "150 acknowledged registrations",
        Duration::from_secs(60),
        || count.load(Ordering::Relaxed) >= 150,
    );
    drop(p); // SIGKILL by pid, and reap.
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer thread");
    }
    let acked = std::mem::take(&mut *acked.lock().expect("lock"));
    assert!(
        acked.len() < (WRITERS * PER_WRITER) as usize,
        "the kill should land while registrations are in flight"
    );

    let p = Process::on_dir(dir.path());
    let (_, listed) = RegistryProxy::new(p.at(REGISTRY_OBJ))
        .list(&InstanceFilter {
            include_inactive: true,
            ..InstanceFilter::default()
        })
        .expect("list");
    let stored: std::collections::BTreeSet<(tars::TarsString, i32)> = listed
        .iter()
        .map(|i| (i.obj_name.clone(), i.endpoint.port))
        .collect();
    let missing: Vec<_> = acked.iter().filter(|k| !stored.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged registrations lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    // At most the calls in flight at the kill (one per writer) were stored unacknowledged.
    assert!(stored.len() <= acked.len() + WRITERS as usize);
    assert!(
        listed.iter().all(|i| !i.active),
        "inactive until a heartbeat"
    );
}

#[test]
fn acknowledged_registrations_and_deregistrations_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = Process::on_dir(dir.path());
    let registry = RegistryProxy::new(first.at(REGISTRY_OBJ));
    let all: Vec<Instance> = (0..200)
        .map(|n| {
            instance(
                &format!("App.Server{}.Obj", n % 7),
                "10.1.0.1",
                10_000 + n,
                "",
            )
        })
        .collect();
    for i in &all {
        assert_eq!(registry.register_instance(i).expect("register"), 0);
    }
    // Every tenth one is deregistered (acknowledged): it must stay gone.
    let (gone, kept): (Vec<_>, Vec<_>) = all.iter().enumerate().partition(|(n, _)| n % 10 == 0);
    for (_, i) in &gone {
        let ep = &i.endpoint;
        assert_eq!(
            registry
                .deregister(&i.obj_name, &ep.host, ep.port)
                .expect("deregister"),
            0
        );
    }
    drop(first); // SIGKILL by pid, and reap.

    let second = Process::on_dir(dir.path());
    let registry = RegistryProxy::new(second.at(REGISTRY_OBJ));
    let (_, listed) = registry
        .list(&InstanceFilter {
            include_inactive: true,
            ..InstanceFilter::default()
        })
        .expect("list");
    let key = |i: &Instance| (i.obj_name.clone(), i.endpoint.port);
    let mut want: Vec<_> = kept.iter().map(|(_, i)| key(i)).collect();
    let mut have: Vec<_> = listed.iter().map(key).collect();
    want.sort_unstable();
    have.sort_unstable();
    assert_eq!(
        have, want,
        "exactly the acknowledged, not deregistered instances"
    );
    // Inactive until they heartbeat; a heartbeat makes one active.
    assert!(listed.iter().all(|i| !i.active));
    let (_, i) = kept[0];
    let ep = &i.endpoint;
    assert_eq!(
        registry
            .heartbeat(&i.obj_name, &ep.host, ep.port, &Default::default())
            .expect("heartbeat"),
        0
    );
    let (_, active) = registry.list(&InstanceFilter::default()).expect("list");
    assert_eq!(active.iter().map(key).collect::<Vec<_>>(), vec![key(i)]);
}
