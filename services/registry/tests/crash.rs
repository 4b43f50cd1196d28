//! `kill -9` durability: every registration the registry acknowledged over the wire is there
//! after the process is killed with SIGKILL and started again on the same data directory.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tars::client::Communicator;
use tars_protocols::tars::EndpointF;
use tars_protocols::tarsrs::{DynamicMeta, Instance, InstanceFilter, RegistryProxy};
use tars_registry::REGISTRY_OBJ;

/// The registry binary; killed (SIGKILL) when dropped.
struct Process {
    child: Child,
    port: u16,
}

impl Process {
    fn start(dir: &std::path::Path) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tars-registry"))
            .args(["--port", "0", "--data-dir"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tars-registry");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("READY ") {
                    let _ = tx.send(port.trim().parse::<u16>().ok());
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .ok()
            .flatten()
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("tars-registry did not print READY <port> within 20 s")
            });
        Process { child, port }
    }

    fn proxy(&self) -> RegistryProxy {
        RegistryProxy::new(
            Communicator::new()
                .string_to_proxy(&format!(
                    "{REGISTRY_OBJ}@tcp -h 127.0.0.1 -p {} -t 3000",
                    self.port
                ))
                .expect("proxy"),
        )
    }

    fn kill9(mut self) {
        // Child::kill sends SIGKILL on Unix.
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn instance(n: i32) -> Instance {
    Instance {
        obj_name: format!("App.Server{}.Obj", n % 7),
        endpoint: EndpointF {
            host: "10.1.0.1".into(),
            port: 10_000 + n,
            timeout: 3000,
            istcp: 1,
            ..EndpointF::default()
        },
        ..Instance::default()
    }
}

#[test]
fn acknowledged_registrations_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = Process::start(dir.path());
    let registry = first.proxy();
    let mut acknowledged = Vec::new();
    for n in 0..200 {
        let i = instance(n);
        if registry.register_instance(&i).expect("register") == 0 {
            acknowledged.push(i);
        }
    }
    assert_eq!(acknowledged.len(), 200);
    // Deregister every tenth one: those must stay gone.
    let (gone, kept): (Vec<_>, Vec<_>) = acknowledged
        .into_iter()
        .enumerate()
        .partition(|(n, _)| n % 10 == 0);
    for (_, i) in &gone {
        let ep = &i.endpoint;
        assert_eq!(
            registry
                .deregister(&i.obj_name, &ep.host, ep.port)
                .expect("deregister"),
            0
        );
    }
    first.kill9();

    let second = Process::start(dir.path());
    let registry = second.proxy();
    let all = InstanceFilter {
        include_inactive: true,
        ..InstanceFilter::default()
    };
    let (_, listed) = registry.list(&all).expect("list");
    let key = |i: &Instance| (i.obj_name.clone(), i.endpoint.port);
    let mut want: Vec<_> = kept.iter().map(|(_, i)| key(i)).collect();
    let mut have: Vec<_> = listed.iter().map(key).collect();
    want.sort_unstable();
    have.sort_unstable();
    assert_eq!(
        have, want,
        "exactly the acknowledged, not deregistered instances"
    );
    // They come back inactive until they heartbeat.
    assert!(listed.iter().all(|i| !i.active));
    let (_, i) = &kept[0];
    let ep = &i.endpoint;
    assert_eq!(
        registry
            .heartbeat(&i.obj_name, &ep.host, ep.port, &DynamicMeta::default())
            .expect("heartbeat"),
        0
    );
    let (_, active) = registry.list(&InstanceFilter::default()).expect("list");
    assert_eq!(active.iter().map(key).collect::<Vec<_>>(), vec![key(i)]);
}
