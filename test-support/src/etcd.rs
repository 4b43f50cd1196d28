//! Real etcd clusters for tests: [`TestEtcd`] starts 1..n `etcd` members (Debian
//! `etcd-server`) on free 127.0.0.1 ports with their data in a temporary directory, waits until
//! each answers `/health`, and stops, pauses, restarts or kills members by pid. Every member is
//! killed (SIGKILL, by pid) and reaped when the cluster is dropped, also when the test panics.
//!
//! Tests that need etcd call [`TestEtcd::available`] first and return early — loudly — when
//! there is no `etcd` on `PATH`, unless `TARS_ETCD_REQUIRED=1` (CI sets it), which turns a
//! missing etcd into a failure.
//!
//! Members run with `--heartbeat-interval 100 --election-timeout 600`: the smallest lease TTL
//! etcd grants is 1.5 × the election timeout (0.9 s, so a 1 s TTL is granted as asked), and a
//! saturated 2-core machine holds those timings without spurious elections (see
//! docs/cluster.md).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::net::free_port;
use crate::process::{send_signal, Signal};

/// The etcd flags every test member runs with (besides names, ports and data dirs).
pub const TUNING: [&str; 4] = [
    "--heartbeat-interval=100",
    "--election-timeout=600",
    "--auto-compaction-mode=revision",
    "--auto-compaction-retention=10000",
];

/// One member: its ports, data dir and (while running) process.
#[derive(Debug)]
pub struct Member {
    /// Its name (`m0`, `m1`, ...).
    pub name: String,
    /// Client port.
    pub client_port: u16,
    /// Peer port.
    pub peer_port: u16,
    data_dir: PathBuf,
    child: Option<Child>,
    log: PathBuf,
}

impl Member {
    /// `http://127.0.0.1:<client port>`.
    pub fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }
}

/// A running etcd cluster (see the module docs).
#[derive(Debug)]
pub struct TestEtcd {
    members: Vec<Member>,
    initial_cluster: String,
    _dir: tempfile::TempDir,
}

impl TestEtcd {
    /// Whether an `etcd` binary is on `PATH`. When it is not, prints why the caller skips and
    /// returns false — or panics when `TARS_ETCD_REQUIRED=1`.
    pub fn available(test: &str) -> bool {
        let found = Command::new("etcd")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if found {
            return true;
        }
        if std::env::var("TARS_ETCD_REQUIRED").as_deref() == Ok("1") {
            panic!("{test}: etcd is not installed (apt-get install etcd-server) and TARS_ETCD_REQUIRED=1");
        }
        eprintln!(
            "SKIPPED {test}: no etcd on PATH (apt-get install etcd-server; CI sets TARS_ETCD_REQUIRED=1)"
        );
        false
    }

    /// Starts an `n`-member cluster and waits (at most 30 s) until every member is healthy.
    pub fn start(n: usize) -> TestEtcd {
        assert!(n >= 1, "an etcd cluster has at least one member");
        let dir = tempfile::tempdir().expect("a temporary directory for etcd");
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                data_dir: dir.path().join(format!("m{i}")),
                child: None,
                log: dir.path().join(format!("m{i}.log")),
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        let mut etcd = TestEtcd {
            members,
            initial_cluster,
            _dir: dir,
        };
        for i in 0..n {
            etcd.spawn(i);
        }
        for i in 0..n {
            etcd.wait_healthy(i, Duration::from_secs(30));
        }
        etcd
    }

    fn spawn(&mut self, i: usize) {
        let cluster = self.initial_cluster.clone();
        let m = &mut self.members[i];
        assert!(m.child.is_none(), "member {} is already running", m.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .expect("etcd log file");
        let child = Command::new("etcd")
            .arg(format!("--name={}", m.name))
            .arg(format!("--data-dir={}", m.data_dir.display()))
            .arg(format!("--listen-client-urls={}", m.client_url()))
            .arg(format!("--advertise-client-urls={}", m.client_url()))
            .arg(format!("--listen-peer-urls={}", m.peer_url()))
            .arg(format!("--initial-advertise-peer-urls={}", m.peer_url()))
            .arg(format!("--initial-cluster={cluster}"))
            .arg("--initial-cluster-state=new")
            .arg("--initial-cluster-token=tars-test")
            .args(TUNING)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start etcd {}: {e}", m.name));
        m.child = Some(child);
    }

    fn wait_healthy(&mut self, i: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if health(self.members[i].client_port) {
                return;
            }
            let m = &mut self.members[i];
            if let Some(status) = m.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let log = std::fs::read_to_string(&m.log).unwrap_or_default();
                panic!(
                    "etcd {} exited ({status}); log tail:\n{}",
                    m.name,
                    tail(&log)
                );
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&m.log).unwrap_or_default();
                panic!(
                    "etcd {} not healthy within {limit:?}; log tail:\n{}",
                    m.name,
                    tail(&log)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The members.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Every member's client URL, comma-separated (what `tarsd --cluster etcd=...` takes).
    pub fn endpoints(&self) -> String {
        self.urls().join(",")
    }

    /// Every member's client URL.
    pub fn urls(&self) -> Vec<String> {
        self.members.iter().map(Member::client_url).collect()
    }

    /// The pid of member `i` while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.members[i].child.as_ref().map(Child::id)
    }

    /// Kills member `i` (SIGKILL, by pid) and reaps it; its data stays for [`TestEtcd::restart`].
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Pauses (SIGSTOP) or resumes (SIGCONT) member `i`.
    pub fn pause(&self, i: usize, paused: bool) {
        if let Some(pid) = self.pid(i) {
            send_signal(
                pid,
                if paused {
                    Signal::SIGSTOP
                } else {
                    Signal::SIGCONT
                },
            );
        }
    }

    /// Starts member `i` again on its data and ports, and waits until it is healthy.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
        self.wait_healthy(i, Duration::from_secs(30));
    }

    /// The tail of member `i`'s log (for assertion messages).
    pub fn log_tail(&self, i: usize) -> String {
        tail(&std::fs::read_to_string(&self.members[i].log).unwrap_or_default())
    }
}

impl Drop for TestEtcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            // A stopped member cannot die of SIGKILL until it is continued; it can: SIGKILL
            // works on stopped processes. Reap it either way.
            self.kill(i);
        }
    }
}

/// Whether the member on `port` answers `GET /health` with `"health":"true"` within 1 s.
pub fn health(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(1),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.contains("\"health\":\"true\"")
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
