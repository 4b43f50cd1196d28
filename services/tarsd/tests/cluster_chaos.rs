//! Chaos tests of cluster mode with real processes: three etcd members ([`TestEtcd`]) and
//! three `tarsd --cluster` nodes as child processes, all on 127.0.0.1, under load from TMs in
//! the test process whose participants run in the test process too. Every process is stopped
//! by pid (also when a test panics), every wait is bounded, and the tests run one at a time
//! (each uses the whole machine).
//!
//! After each fault the recorded history is checked ([`common::history`]): acknowledged
//! commits committed every branch, acknowledged rollbacks committed none, no XID twice, no
//! AT row held twice, nothing acknowledged lost, no acknowledgement from a deposed leader.
//!
//! - `kill_9_of_a_leader_under_load_ten_times`: failover time (kill → first successful begin
//!   or commit on each of the victim's fragments), p50/p99 printed.
//! - `sigstop_of_a_leader_longer_than_its_lease`: the paused leader acknowledges nothing once
//!   its lease is gone.
//! - `partition_of_a_node_from_etcd`: a TCP proxy between one node and etcd black-holes its
//!   traffic; the node stops acknowledging, its fragments move; it rejoins after the heal.
//! - `loss_of_one_etcd_member_then_of_the_majority`: one member lost, service goes on; the
//!   majority lost, writes are refused with a clear code and registry reads still answer;
//!   writes resume when the majority is back.
//! - `a_node_joins_a_loaded_cluster`: balanced within 30 s, no call fails on the way.
//! - `autogrow_under_open_transactions`: an overloaded fragment spawns a new one that takes
//!   new begins.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tars::client::{CallError, Communicator};
use tars::server::{Current, ServantError, Servants, Server};
use tars::TarsString;
use tars_coordinator::xid::Xid;
use tars_protocols::tarsrs::{InstanceFilter, RegistryProxy};
use tars_protocols::tarstx::{
    BranchStatus, BranchType, CoordinatorProxy, GlobalStatus, Participant, ParticipantServant,
    ResultCode, TransactionExceptionCode as Code, TxResult,
};
use tars_test_support::{
    free_port, instance, poll_until, proxy_string, serve, wait_until, ChildProcess, Signal,
    TestEtcd,
};
use tarsd::cluster::tars_cluster::etcd::{Etcd, EtcdConfig};
use tarsd::cluster::tars_cluster::status::ClusterStatus;

use common::history::{self, Begin, End, Final, History, Phase2, Register, Told};

const COORDINATOR_OBJ: &str = "tars.tarscoordinator.CoordinatorObj";
const REGISTRY_OBJ: &str = "tars.tarsregistry.RegistryObj";
const PART_A: &str = "Chaos.BankA.ParticipantObj";
const PART_B: &str = "Chaos.BankB.ParticipantObj";
/// Global transaction timeout: abandoned transactions are rolled back after it.
const TX_TIMEOUT_MS: i32 = 5000;
/// How long a TM retries one call before it gives up on it.
const OP_DEADLINE: Duration = Duration::from_secs(15);
/// The nodes' lease TTL.
const TTL: Duration = Duration::from_secs(1);
/// Rows AT transactions lock (few, so that they contend).
const AT_ROWS: u64 = 12;

/// The tests share one machine: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn elapsed_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------
// The cluster: etcd members and tarsd nodes.

struct NodeSpec {
    id: String,
    data: PathBuf,
    registry: u16,
    coordinator: u16,
    etcd: String,
    config: PathBuf,
    log: PathBuf,
}

struct Cluster {
    // Nodes go first: they are killed before etcd.
    nodes: Vec<Option<ChildProcess>>,
    specs: Vec<NodeSpec>,
    status_client: Etcd,
    etcd: TestEtcd,
    dir: Option<tempfile::TempDir>,
    extra_config: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        // Keep the nodes' logs of a failed test.
        if std::thread::panicking() {
            if let Some(dir) = self.dir.take() {
                eprintln!("node logs kept in {}", dir.keep().display());
            }
        }
    }
}

impl Cluster {
    /// Three etcd members, no node yet.
    fn new(extra_config: &str) -> Cluster {
        let etcd = TestEtcd::start(3);
        let status_client = Etcd::connect(&EtcdConfig {
            endpoints: etcd.urls(),
            connect_timeout_ms: 2000,
            request_timeout_ms: 1500,
            ..EtcdConfig::default()
        })
        .expect("connect to etcd");
        Cluster {
            nodes: Vec::new(),
            specs: Vec::new(),
            status_client,
            etcd,
            dir: Some(tempfile::tempdir().expect("dir")),
            extra_config: extra_config.to_owned(),
        }
    }

    /// Three etcd members and `n` running nodes, balanced.
    fn with_nodes(n: usize, extra_config: &str) -> Cluster {
        let mut c = Cluster::new(extra_config);
        for _ in 0..n {
            let i = c.add_node(None);
            c.start(i);
        }
        c.wait_balanced(n, Duration::from_secs(30));
        c
    }

    /// A node (not started) on fixed free ports; it reaches etcd through `etcd` (default:
    /// every member).
    fn add_node(&mut self, etcd: Option<String>) -> usize {
        let i = self.specs.len();
        let id = format!("n{}", i + 1);
        let dir = self.dir.as_ref().expect("dir").path().to_path_buf();
        let config = dir.join(format!("{id}.toml"));
        std::fs::write(
            &config,
            format!(
                "[coordinator]\nphase_two_timeout_ms = 1000\nretry_period_ms = 100\n\
                 max_backoff_ms = 400\ntimeout_check_ms = 100\nasync_commit_ms = 100\n\
                 [cluster]\nlease_ttl_ms = {}\n{}\n",
                TTL.as_millis(),
                self.extra_config
            ),
        )
        .expect("write config");
        self.specs.push(NodeSpec {
            data: dir.join(&id),
            log: dir.join(format!("{id}.log")),
            id,
            registry: free_port(),
            coordinator: free_port(),
            etcd: etcd.unwrap_or_else(|| self.etcd.endpoints()),
            config,
        });
        self.nodes.push(None);
        i
    }

    fn start(&mut self, i: usize) {
        let s = &self.specs[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&s.log)
            .expect("log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_tarsd"));
        command
            .arg("--config")
            .arg(&s.config)
            .arg("--cluster")
            .arg(format!("etcd={}", s.etcd))
            .args(["--node-id", &s.id, "--advertise", "127.0.0.1"])
            .arg("--data-dir")
            .arg(&s.data)
            .args(["--registry-port", &s.registry.to_string()])
            .args(["--coordinator-port", &s.coordinator.to_string()])
            .env("RUST_LOG", "warn,tars_cluster=info")
            .stderr(log);
        let child = ChildProcess::start(command, Duration::from_secs(30));
        assert_eq!(
            child.ready_field("coordinator"),
            Some(s.coordinator),
            "READY {}",
            child.ready()
        );
        self.nodes[i] = Some(child);
    }

    /// kill -9, by pid, and reaped.
    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].take() {
            c.signal(Signal::SIGKILL);
            c.wait_exit(Duration::from_secs(10));
        }
    }

    fn signal(&self, i: usize, signal: Signal) {
        self.nodes[i].as_ref().expect("running").signal(signal);
    }

    /// The cluster as etcd says now (None while etcd does not answer).
    fn status(&self) -> Option<ClusterStatus> {
        ClusterStatus::read(&self.status_client).ok()
    }

    /// Fragments led by `node_id` now, with their epochs.
    fn led_by(&self, node_id: &str) -> BTreeMap<u32, u64> {
        self.status()
            .map(|s| {
                s.fragments
                    .iter()
                    .filter(|f| f.leader.as_deref() == Some(node_id))
                    .map(|f| (f.id, f.epoch.unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until `nodes` nodes are live, every fragment has a leader and the leaders are
    /// balanced ±1; returns how long it took.
    fn wait_balanced(&self, nodes: usize, limit: Duration) -> Duration {
        let t = Instant::now();
        let mut last = None;
        let ok = (|| loop {
            if let Some(s) = self.status() {
                let counts: Vec<usize> = s.nodes.iter().map(|n| n.leading).collect();
                let balanced = s.nodes.len() == nodes
                    && !s.fragments.is_empty()
                    && s.fragments.iter().all(|f| f.leader.is_some())
                    && counts.iter().max().unwrap_or(&0) - counts.iter().min().unwrap_or(&0) <= 1;
                if balanced {
                    return true;
                }
                last = Some(s);
            }
            if t.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        })();
        assert!(
            ok,
            "not balanced over {nodes} nodes within {limit:?}; last status:\n{}\n{}",
            last.map(|s| s.to_string()).unwrap_or_default(),
            self.log_tails()
        );
        t.elapsed()
    }

    fn coordinator(&self, i: usize, timeout_ms: u64) -> CoordinatorProxy {
        CoordinatorProxy::new(
            Communicator::new()
                .string_to_proxy(&format!(
                    "{COORDINATOR_OBJ}@tcp -h 127.0.0.1 -p {} -t {timeout_ms}",
                    self.specs[i].coordinator
                ))
                .expect("proxy"),
        )
    }

    fn registry(&self, i: usize) -> RegistryProxy {
        RegistryProxy::new(
            Communicator::new()
                .string_to_proxy(&format!(
                    "{REGISTRY_OBJ}@tcp -h 127.0.0.1 -p {} -t 6000",
                    self.specs[i].registry
                ))
                .expect("proxy"),
        )
    }

    fn log_tails(&self) -> String {
        let mut out = String::new();
        for s in &self.specs {
            let log = std::fs::read_to_string(&s.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            out.push_str(&format!("--- {} log tail:\n", s.id));
            out.push_str(&lines[lines.len().saturating_sub(15)..].join("\n"));
            out.push('\n');
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// Participants: record every phase-two call.

type Ledger = Arc<Mutex<Vec<Phase2>>>;

struct Account {
    ledger: Ledger,
}

impl Account {
    fn record(&self, xid: TarsString, branch: i64, commit: bool) {
        self.ledger.lock().push(Phase2 {
            xid: xid.to_string(),
            branch,
            commit,
            at: Instant::now(),
        });
    }
}

impl Participant for Account {
    fn branch_commit(
        &self,
        _c: &mut Current,
        xid: TarsString,
        branch_id: i64,
        _t: BranchType,
        _r: TarsString,
        _d: TarsString,
    ) -> Result<BranchStatus, ServantError> {
        self.record(xid, branch_id, true);
        Ok(BranchStatus::PhaseTwo_Committed)
    }

    fn branch_rollback(
        &self,
        _c: &mut Current,
        xid: TarsString,
        branch_id: i64,
        _t: BranchType,
        _r: TarsString,
        _d: TarsString,
    ) -> Result<BranchStatus, ServantError> {
        self.record(xid, branch_id, false);
        Ok(BranchStatus::PhaseTwo_Rollbacked)
    }
}

/// Both participants in one server; resource ids are full proxy strings (no registry needed).
fn start_participants(ledger: &Ledger) -> (Server, [String; 2]) {
    let mut servants = Servants::new();
    for obj in [PART_A, PART_B] {
        servants.add(
            obj,
            Arc::new(ParticipantServant::new(Account {
                ledger: ledger.clone(),
            })),
        );
    }
    let (server, port) = serve(servants, 4);
    (
        server,
        [proxy_string(PART_A, port), proxy_string(PART_B, port)],
    )
}

// ---------------------------------------------------------------------------------------
// The load: TMs retrying retryable errors over every node.

/// One attempt of one call, as the client saw it.
#[derive(Debug, Clone)]
struct Attempt {
    kind: &'static str,
    /// The node it was sent to.
    node: usize,
    /// The fragment of the XID it carried or got.
    fragment: Option<u32>,
    /// Fragment and epoch of the leader that issued what it got (the XID of a begin, the
    /// branch id of a register).
    issued_by: Option<(u32, u64)>,
    sent: Instant,
    answered: Instant,
    /// Success, a refusal code, or a call error.
    outcome: String,
}

impl Attempt {
    fn ok(&self) -> bool {
        self.outcome == "ok"
    }
}

enum Outcome<T> {
    Ok {
        value: T,
        first_sent: Instant,
        sent: Instant,
        ack: Instant,
    },
    Refused(TxResult),
    GaveUp,
}

fn retryable(r: &TxResult) -> bool {
    matches!(r.error, Code::NotRaftLeader | Code::FailedStore)
}

fn told(status: GlobalStatus) -> Told {
    use GlobalStatus::*;
    match status {
        Committed | Committing | CommitRetrying | AsyncCommitting => Told::Committed,
        Rollbacked
        | Rollbacking
        | RollbackRetrying
        | TimeoutRollbacked
        | TimeoutRollbacking
        | TimeoutRollbackRetrying => Told::RolledBack,
        other => Told::Unknown(format!("{other:?}")),
    }
}

fn final_of(status: GlobalStatus) -> Final {
    use GlobalStatus::*;
    match status {
        Finished => Final::Finished,
        Committed => Final::Committed,
        Rollbacked | TimeoutRollbacked => Final::RolledBack,
        other => Final::Open(format!("{other:?}")),
    }
}

#[derive(Default)]
struct Recorded {
    begins: Vec<Begin>,
    registers: Vec<Register>,
    ends: Vec<End>,
}

struct Shared {
    proxies: Vec<CoordinatorProxy>,
    resources: [String; 2],
    stop: AtomicBool,
    recorded: Mutex<Recorded>,
    attempts: Mutex<Vec<Attempt>>,
    /// Non-retryable refusals and give-ups: (when, what).
    failures: Mutex<Vec<(Instant, String)>>,
    /// Transactions the cluster ended under the TM (register refused as not active, say).
    aborted: AtomicU64,
    lock_conflicts: AtomicU64,
}

struct Load {
    started: Instant,
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

struct Worker {
    shared: Arc<Shared>,
    next: usize,
    rng: u64,
    /// How long one call is retried before the worker gives up on it.
    op_deadline: Duration,
}

impl Worker {
    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// One call, retried on retryable errors and call failures over the nodes in turn,
    /// with a bounded backoff, for at most [`OP_DEADLINE`].
    fn call<T: Clone>(
        &mut self,
        kind: &'static str,
        fragment: Option<u32>,
        mut f: impl FnMut(&CoordinatorProxy) -> Result<(TxResult, T), CallError>,
        issued_by: impl Fn(&T) -> Option<(u32, u64)>,
    ) -> Outcome<T> {
        let first_sent = Instant::now();
        let mut backoff = Duration::from_millis(10);
        loop {
            let node = self.next % self.shared.proxies.len();
            self.next += 1;
            let sent = Instant::now();
            let result = f(&self.shared.proxies[node]);
            let answered = Instant::now();
            let (outcome, done) = match &result {
                Ok((r, v)) if r.code == ResultCode::Success => ("ok".to_owned(), true),
                Ok((r, _)) if retryable(r) => (format!("{:?}", r.error), false),
                Ok((r, _)) => (format!("{:?}", r.error), true),
                Err(e) => (format!("call error: {e}"), false),
            };
            let issued_by = match &result {
                Ok((r, v)) if r.code == ResultCode::Success => issued_by(v),
                _ => None,
            };
            let fragment = fragment.or(issued_by.map(|(f, _)| f));
            self.shared.attempts.lock().push(Attempt {
                kind,
                node,
                fragment,
                issued_by,
                sent,
                answered,
                outcome,
            });
            if done {
                return match result {
                    Ok((r, value)) if r.code == ResultCode::Success => Outcome::Ok {
                        value,
                        first_sent,
                        sent,
                        ack: answered,
                    },
                    Ok((r, _)) => Outcome::Refused(r),
                    Err(_) => unreachable!(),
                };
            }
            if first_sent.elapsed() > self.op_deadline {
                return Outcome::GaveUp;
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(200));
        }
    }

    fn fail(&self, what: String) {
        self.shared.failures.lock().push((Instant::now(), what));
    }

    /// One transaction: begin; two TCC branches or one AT branch; commit (mostly), roll back,
    /// or leave it to time out.
    fn transaction(&mut self, n: u64) {
        let s = self.shared.clone();
        let xid = match self.call(
            "begin",
            None,
            |p| p.begin("chaos", "transfer", TX_TIMEOUT_MS),
            |x: &TarsString| history::xid_epoch(x),
        ) {
            Outcome::Ok {
                value, sent, ack, ..
            } => {
                s.recorded.lock().begins.push(Begin {
                    xid: value.to_string(),
                    sent,
                    ack,
                });
                value
            }
            Outcome::Refused(r) => return self.fail(format!("begin refused: {r:?}")),
            Outcome::GaveUp => return self.fail("begin: gave up".into()),
        };
        let fragment = Xid::fragment_of(&xid);
        let at = n.is_multiple_of(4);
        let mut branches: Vec<(BranchType, &str, String)> = Vec::new();
        if at {
            let row = self.random() % AT_ROWS;
            branches.push((BranchType::AT, &s.resources[0], format!("acct:{row}")));
        } else {
            branches.push((BranchType::TCC, &s.resources[0], String::new()));
            branches.push((BranchType::TCC, &s.resources[1], String::new()));
        }
        let mut forced_rollback = false;
        for (branch_type, resource, keys) in &branches {
            match self.call(
                "register",
                fragment,
                |p| p.branch_register(&xid, *branch_type, resource, "chaos-tm", keys, ""),
                |b| history::branch_epoch(*b),
            ) {
                Outcome::Ok {
                    value, sent, ack, ..
                } => s.recorded.lock().registers.push(Register {
                    xid: xid.to_string(),
                    branch: value,
                    rows: if keys.is_empty() {
                        Vec::new()
                    } else {
                        vec![keys.clone()]
                    },
                    sent,
                    ack,
                }),
                Outcome::Refused(r) if r.error == Code::LockKeyConflict => {
                    s.lock_conflicts.fetch_add(1, Ordering::Relaxed);
                    forced_rollback = true;
                    break;
                }
                Outcome::Refused(r) => {
                    // The transaction is gone under the TM (a failover or handover rolled it
                    // back, or it timed out).
                    s.aborted.fetch_add(1, Ordering::Relaxed);
                    self.fail(format!("register refused: {r:?}"));
                    forced_rollback = true;
                    break;
                }
                Outcome::GaveUp => return self.fail("register: gave up".into()),
            }
        }
        let commit = match n % 20 {
            _ if forced_rollback => false,
            0 => return, // abandoned: the coordinator rolls it back when it times out
            1..=3 => false,
            _ => true,
        };
        let answer = self.call(
            if commit { "commit" } else { "rollback" },
            fragment,
            |p| {
                if commit {
                    p.commit(&xid)
                } else {
                    p.rollback(&xid)
                }
            },
            |_| None,
        );
        match answer {
            Outcome::Ok {
                value,
                first_sent,
                ack,
                ..
            } => s.recorded.lock().ends.push(End {
                xid: xid.to_string(),
                commit,
                first_sent,
                ack,
                told: told(value),
            }),
            Outcome::Refused(r) => self.fail(format!("commit={commit} refused: {r:?}")),
            Outcome::GaveUp => self.fail(format!("commit={commit}: gave up")),
        }
    }
}

impl Load {
    /// `workers` TMs over the given nodes' coordinators.
    fn start(cluster: &Cluster, nodes: &[usize], resources: &[String; 2], workers: usize) -> Load {
        let shared = Arc::new(Shared {
            proxies: nodes
                .iter()
                .map(|i| cluster.coordinator(*i, 2000))
                .collect(),
            resources: resources.clone(),
            stop: AtomicBool::new(false),
            recorded: Mutex::default(),
            attempts: Mutex::default(),
            failures: Mutex::default(),
            aborted: AtomicU64::new(0),
            lock_conflicts: AtomicU64::new(0),
        });
        let threads = (0..workers)
            .map(|w| {
                let mut worker = Worker {
                    shared: shared.clone(),
                    next: w,
                    rng: 0x9E37_79B9_7F4A_7C15 ^ ((w as u64 + 1) * 0x1234_5678),
                    op_deadline: OP_DEADLINE,
                };
                std::thread::Builder::new()
                    .name(format!("tm-{w}"))
                    .spawn(move || {
                        let mut n = w as u64;
                        while !worker.shared.stop.load(Ordering::Relaxed) {
                            worker.transaction(n);
                            n += 1;
                        }
                    })
                    .expect("tm thread")
            })
            .collect();
        Load {
            started: Instant::now(),
            shared,
            threads,
        }
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join().expect("a TM thread panicked");
        }
    }

    fn attempts(&self) -> Vec<Attempt> {
        self.shared.attempts.lock().clone()
    }

    fn successes_since(&self, kinds: &[&str], since: Instant) -> usize {
        self.shared
            .attempts
            .lock()
            .iter()
            .filter(|a| a.ok() && a.sent >= since && kinds.contains(&a.kind))
            .count()
    }

    fn failures_since(&self, since: Instant) -> Vec<String> {
        self.shared
            .failures
            .lock()
            .iter()
            .filter(|(t, _)| *t >= since)
            .map(|(_, w)| w.clone())
            .collect()
    }

    /// Stops the load, waits until phase two settled, reads every acknowledged
    /// transaction's final status, and returns the history.
    fn finish(&mut self, ledger: &Ledger, name: &str) -> History {
        self.stop();
        let recorded = std::mem::take(&mut *self.shared.recorded.lock());
        let mut h = History {
            begins: recorded.begins,
            registers: recorded.registers,
            ends: recorded.ends,
            ..History::default()
        };
        // Phase two settles: abandoned transactions time out, retries finish.
        let t = Instant::now();
        loop {
            h.phase2 = ledger.lock().clone();
            let open = h.unsettled_branches();
            if open.is_empty() || t.elapsed() > Duration::from_secs(40) {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let settle = t.elapsed();
        // Final statuses, until none is open (or a bound).
        let mut worker = Worker {
            shared: self.shared.clone(),
            next: 0,
            rng: 1,
            op_deadline: Duration::from_secs(3),
        };
        let mut pending: Vec<String> = h.begins.iter().map(|b| b.xid.clone()).collect();
        let t = Instant::now();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for xid in pending {
                if t.elapsed() > Duration::from_secs(40) {
                    // Bounded: what was not asked is reported as not settled.
                    h.finals
                        .insert(xid, Final::Open("not asked: status phase over 40 s".into()));
                    continue;
                }
                let status = match worker.call(
                    "status",
                    Xid::fragment_of(&xid),
                    |p| p.get_status(&xid),
                    |_| None,
                ) {
                    Outcome::Ok { value, .. } => final_of(value),
                    Outcome::Refused(r) => Final::Open(format!("refused {r:?}")),
                    Outcome::GaveUp => Final::Open("no answer".into()),
                };
                if matches!(status, Final::Open(_)) && t.elapsed() < Duration::from_secs(20) {
                    still.push(xid.clone());
                }
                h.finals.insert(xid, status);
            }
            pending = still;
            if !pending.is_empty() {
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        h.phase2 = ledger.lock().clone();
        let told_commit = h.ends.iter().filter(|e| e.told == Told::Committed).count();
        let told_rollback = h.ends.iter().filter(|e| e.told == Told::RolledBack).count();
        let attempts = self.attempts();
        let mut codes: BTreeMap<String, usize> = BTreeMap::new();
        for a in attempts.iter().filter(|a| !a.ok()) {
            let key = if a.outcome.starts_with("call error") {
                "call error".to_owned()
            } else {
                a.outcome.clone()
            };
            *codes.entry(key).or_default() += 1;
        }
        eprintln!(
            "[{name}] history: {} begins, {} registers, {} told committed, {} told rolled back, \
             {} phase-two calls, {} AT lock conflicts, {} aborted under the TM, {} failures; \
             {} attempts, retried: {codes:?}; phase two settled in {settle:?}",
            h.begins.len(),
            h.registers.len(),
            told_commit,
            told_rollback,
            h.phase2.len(),
            self.shared.lock_conflicts.load(Ordering::Relaxed),
            self.shared.aborted.load(Ordering::Relaxed),
            self.shared.failures.lock().len(),
            attempts.len(),
        );
        h
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

fn assert_consistent(h: &History, name: &str) {
    let v = h.check();
    if !v.is_empty() {
        // What happened to the first few offending transactions.
        for xid in v
            .iter()
            .filter_map(|m| m.split(':').take(3).collect::<Vec<_>>().join(":").into())
            .take(5)
        {
            eprintln!("{}", h.describe(&xid));
        }
    }
    assert!(
        v.is_empty(),
        "[{name}] {} violations, first ones:\n{}",
        v.len(),
        v.iter().take(25).cloned().collect::<Vec<_>>().join("\n")
    );
    assert!(
        h.ends.iter().any(|e| e.told == Told::Committed),
        "[{name}] nothing was committed: the load did not run"
    );
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// Successful attempts that `pick`s whose answer was issued under one of the `old`
/// leaderships (fragment -> epoch): a deposed leader acknowledging.
fn stale_acks(
    attempts: &[Attempt],
    old: &BTreeMap<u32, u64>,
    pick: impl Fn(&Attempt) -> bool,
) -> Vec<String> {
    attempts
        .iter()
        .filter(|a| a.ok() && pick(a))
        .filter(|a| a.issued_by.is_some_and(|(f, e)| old.get(&f) == Some(&e)))
        .map(|a| format!("{a:?}"))
        .collect()
}

/// A node that leads at least one fragment now, preferring `hint`.
fn a_leader(cluster: &Cluster, hint: usize) -> (usize, BTreeMap<u32, u64>) {
    let n = cluster.specs.len();
    for k in 0..n {
        let i = (hint + k) % n;
        if cluster.nodes[i].is_none() {
            continue;
        }
        let led = cluster.led_by(&cluster.specs[i].id);
        if !led.is_empty() {
            return (i, led);
        }
    }
    panic!("no node leads a fragment:\n{:?}", cluster.status());
}

/// Waits until a successful begin or commit sent after `since` carried each of `fragments`;
/// returns, per fragment, the time from `since` to its answer.
fn first_success(load: &Load, fragments: &BTreeSet<u32>, since: Instant) -> Vec<Duration> {
    poll_until(
        "a successful begin or commit on each fragment of the victim",
        Duration::from_secs(30),
        || {
            let attempts = load.attempts();
            let found: Vec<Duration> = fragments
                .iter()
                .filter_map(|f| {
                    attempts
                        .iter()
                        .filter(|a| {
                            a.ok()
                                && a.sent >= since
                                && a.fragment == Some(*f)
                                && matches!(a.kind, "begin" | "commit")
                        })
                        .map(|a| a.answered - since)
                        .min()
                })
                .collect();
            (found.len() == fragments.len()).then_some(found)
        },
    )
}

// ---------------------------------------------------------------------------------------
// The tests.

macro_rules! needs_etcd {
    ($name:expr) => {
        if !TestEtcd::available($name) {
            return;
        }
    };
}

#[test]
fn kill_9_of_a_leader_under_load_ten_times() {
    needs_etcd!("kill_9_of_a_leader_under_load_ten_times");
    let _serial = SERIAL.lock();
    let mut cluster = Cluster::with_nodes(3, "");
    let ledger = Ledger::default();
    let (_participants, resources) = start_participants(&ledger);
    let mut load = Load::start(&cluster, &[0, 1, 2], &resources, 6);
    wait_until("load flows", Duration::from_secs(20), || {
        load.successes_since(&["commit"], load.started) >= 50
    });
    let rounds: usize = std::env::var("CHAOS_KILL_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let mut samples = Vec::new();
    let mut rebalance = Vec::new();
    for round in 0..rounds {
        let (victim, led) = a_leader(&cluster, round);
        let fragments: BTreeSet<u32> = led.keys().copied().collect();
        let killed = Instant::now();
        cluster.kill(victim);
        let times = first_success(&load, &fragments, killed);
        eprintln!(
            "round {round}: killed {} (fragments {fragments:?}): unavailable {:?}",
            cluster.specs[victim].id, times
        );
        samples.extend(times);
        cluster.start(victim);
        rebalance.push(cluster.wait_balanced(3, Duration::from_secs(30)));
    }
    let history = load.finish(&ledger, "kill -9");
    samples.sort();
    let (p50, p99, max) = (
        percentile(&samples, 50),
        percentile(&samples, 99),
        samples[samples.len() - 1],
    );
    rebalance.sort();
    eprintln!(
        "kill -9 failover over {} fragment samples in {rounds} rounds: p50 {:.0} ms, p99 {:.0} ms, \
         max {:.0} ms (lease TTL {TTL:?}); rebalance after restart: p50 {:?}, max {:?}",
        samples.len(),
        elapsed_ms(p50),
        elapsed_ms(p99),
        elapsed_ms(max),
        percentile(&rebalance, 50),
        rebalance[rebalance.len() - 1]
    );
    assert_consistent(&history, "kill -9");
    assert!(
        p99 < Duration::from_secs(3),
        "failover p99 {p99:?} (p50 {p50:?})"
    );
}

#[test]
fn sigstop_of_a_leader_longer_than_its_lease() {
    needs_etcd!("sigstop_of_a_leader_longer_than_its_lease");
    let _serial = SERIAL.lock();
    let cluster = Cluster::with_nodes(3, "");
    let ledger = Ledger::default();
    let (_participants, resources) = start_participants(&ledger);
    let mut load = Load::start(&cluster, &[0, 1, 2], &resources, 6);
    std::thread::sleep(Duration::from_secs(2));
    let (victim, led) = a_leader(&cluster, 0);
    let id = cluster.specs[victim].id.clone();
    let paused = Instant::now();
    cluster.signal(victim, Signal::SIGSTOP);
    // Its fragments move while it sleeps.
    let moved = poll_until(
        "the paused leader's fragments to get new leaders",
        Duration::from_secs(10),
        || {
            let s = cluster.status()?;
            let all = led.keys().all(|f| {
                s.fragments.iter().any(|fr| {
                    fr.id == *f && fr.leader.is_some() && fr.leader.as_deref() != Some(&id)
                })
            });
            all.then(|| paused.elapsed())
        },
    );
    let pause = Duration::from_secs(4);
    std::thread::sleep(pause.saturating_sub(paused.elapsed()));
    let resumed = Instant::now();
    cluster.signal(victim, Signal::SIGCONT);
    eprintln!(
        "paused {id} (fragments {led:?}) for {:?}; its fragments moved after {moved:?}",
        resumed - paused
    );
    // The old leader now answers what queued up while it slept.
    std::thread::sleep(Duration::from_secs(3));
    cluster.wait_balanced(3, Duration::from_secs(30));
    let attempts = load.attempts();
    let history = load.finish(&ledger, "SIGSTOP");
    // What the paused node answered for requests sent while it slept.
    let mut answered: BTreeMap<String, usize> = BTreeMap::new();
    for a in attempts
        .iter()
        .filter(|a| a.node == victim && a.sent >= paused && a.sent < resumed)
    {
        *answered
            .entry(format!(
                "{} {}",
                a.kind,
                a.outcome.split(':').next().unwrap_or("")
            ))
            .or_default() += 1;
    }
    eprintln!("requests sent to {id} while it was stopped: {answered:?}");
    // Whatever it got while stopped it handled after its lease was gone: nothing of that
    // may be acknowledged under its old epochs (forwarded to the new leaders, fine).
    let stale = stale_acks(&attempts, &led, |a| {
        a.node == victim && a.sent >= paused + Duration::from_millis(20) && a.sent < resumed
    });
    // Nor anything sent, to any node, once the lease ran out.
    let stale_any = stale_acks(&attempts, &led, |a| a.sent > paused + TTL);
    eprintln!(
        "acknowledged under {id}'s old epochs: {} sent to it while it was stopped, {} sent to any node after its lease",
        stale.len(),
        stale_any.len()
    );
    let stale: Vec<String> = stale.into_iter().chain(stale_any).collect();
    assert!(
        stale.is_empty(),
        "the paused leader acknowledged after its lease: {stale:?}"
    );
    assert_consistent(&history, "SIGSTOP");
}

/// A TCP proxy the test controls: forwards to a port, or black-holes everything (the bytes
/// are read and dropped, nothing comes back) until healed, which also cuts the connections
/// that were black-holed.
struct TcpProxy {
    port: u16,
    blocked: Arc<AtomicBool>,
    generation: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl TcpProxy {
    fn start(target: u16) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let proxy = TcpProxy {
            port,
            blocked: Arc::default(),
            generation: Arc::default(),
            stop: Arc::default(),
        };
        let (blocked, generation, stop) = (
            proxy.blocked.clone(),
            proxy.generation.clone(),
            proxy.stop.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let mine = generation.load(Ordering::SeqCst);
                for (from, to) in [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ] {
                    let (Ok(from), Ok(to)) = (from, to) else {
                        continue;
                    };
                    let (blocked, generation, stop) =
                        (blocked.clone(), generation.clone(), stop.clone());
                    std::thread::spawn(move || pump(from, to, &blocked, &generation, mine, &stop));
                }
            }
        });
        proxy
    }

    fn block(&self) {
        self.blocked.store(true, Ordering::SeqCst);
    }

    fn heal(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.blocked.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    blocked: &AtomicBool,
    generation: &AtomicU64,
    mine: u64,
    stop: &AtomicBool,
) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if stop.load(Ordering::Relaxed) || generation.load(Ordering::SeqCst) != mine {
            break;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if !blocked.load(Ordering::SeqCst) && to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[test]
fn partition_of_a_node_from_etcd() {
    needs_etcd!("partition_of_a_node_from_etcd");
    let _serial = SERIAL.lock();
    let mut cluster = Cluster::new("");
    // n3 reaches etcd only through proxies the test controls.
    let proxies: Vec<TcpProxy> = cluster
        .etcd
        .members()
        .iter()
        .map(|m| TcpProxy::start(m.client_port))
        .collect();
    let through: Vec<String> = proxies
        .iter()
        .map(|p| format!("http://127.0.0.1:{}", p.port))
        .collect();
    for etcd in [None, None, Some(through.join(","))] {
        let i = cluster.add_node(etcd);
        cluster.start(i);
    }
    cluster.wait_balanced(3, Duration::from_secs(30));
    let ledger = Ledger::default();
    let (_participants, resources) = start_participants(&ledger);
    let mut load = Load::start(&cluster, &[0, 1, 2], &resources, 6);
    std::thread::sleep(Duration::from_secs(2));
    let isolated = 2;
    let id = cluster.specs[isolated].id.clone();
    // The node behind the proxies must lead fragments when it is cut off. It may just have
    // given one up (a connection through the proxies broke: seen once in five runs, cause
    // not found) and be leading it again a moment later: wait for that, bounded.
    let led = poll_until(
        &format!("{id} leads a fragment before the cut"),
        Duration::from_secs(10),
        || Some(cluster.led_by(&id)).filter(|led| !led.is_empty()),
    );
    let cut = Instant::now();
    for p in &proxies {
        p.block();
    }
    let moved = poll_until(
        "the isolated node's fragments to get new leaders",
        Duration::from_secs(15),
        || {
            let s = cluster.status()?;
            let all = led.keys().all(|f| {
                s.fragments.iter().any(|fr| {
                    fr.id == *f && fr.leader.is_some() && fr.leader.as_deref() != Some(&id)
                })
            });
            all.then(|| cut.elapsed())
        },
    );
    let fragments: BTreeSet<u32> = led.keys().copied().collect();
    let served = first_success(&load, &fragments, cut);
    eprintln!(
        "partitioned {id} (fragments {led:?}): new leaders after {moved:?}, first successes after {served:?}"
    );
    // Keep it cut off a while longer, then heal.
    std::thread::sleep(Duration::from_secs(4));
    let healed = Instant::now();
    for p in &proxies {
        p.heal();
    }
    let rejoined = cluster.wait_balanced(3, Duration::from_secs(30));
    eprintln!("{id} rejoined and the cluster is balanced {rejoined:?} after the heal");
    let every: BTreeSet<u32> = cluster
        .status()
        .expect("status")
        .fragments
        .iter()
        .map(|f| f.id)
        .collect();
    first_success(&load, &every, healed + rejoined);
    std::thread::sleep(Duration::from_secs(1));
    let attempts = load.attempts();
    let history = load.finish(&ledger, "partition");
    // The isolated leader acknowledged nothing under its old epochs once its lease was gone.
    let late = stale_acks(&attempts, &led, |a| a.sent > cut + TTL);
    assert!(
        late.is_empty(),
        "the isolated leader acknowledged after its lease: {late:?}"
    );
    let last_ack = attempts
        .iter()
        .filter(|a| a.ok() && a.node == isolated && a.sent >= cut && a.answered < healed)
        .filter(|a| matches!(a.kind, "begin" | "register" | "commit" | "rollback"))
        .count();
    eprintln!(
        "writes the isolated node acknowledged (served or forwarded) while cut off: {last_ack}"
    );
    assert_consistent(&history, "partition");
}

#[test]
fn loss_of_one_etcd_member_then_of_the_majority() {
    needs_etcd!("loss_of_one_etcd_member_then_of_the_majority");
    let _serial = SERIAL.lock();
    let mut cluster = Cluster::with_nodes(3, "");
    let ledger = Ledger::default();
    let (_participants, resources) = start_participants(&ledger);
    let registry = cluster.registry(0);
    assert_eq!(
        registry
            .register_instance(&instance("Chaos.Before.Obj", "127.0.0.1", 1))
            .expect("register"),
        0
    );
    let mut load = Load::start(&cluster, &[0, 1, 2], &resources, 6);
    std::thread::sleep(Duration::from_secs(2));

    // One member lost: service goes on.
    cluster.etcd.kill(0);
    let one_lost = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let commits = load.successes_since(&["commit"], one_lost + Duration::from_secs(2));
    eprintln!("one etcd member lost: {commits} commits in the 3 s after the first 2 s");
    assert!(commits > 0, "no commit with one member lost");

    // The majority lost: writes are refused with a clear code.
    cluster.etcd.kill(1);
    let majority_lost = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let mut codes = Vec::new();
    for i in 0..3 {
        let c = cluster.coordinator(i, 8000);
        let t = Instant::now();
        let answer = c.begin("chaos", "probe", 10_000);
        eprintln!(
            "majority lost: begin on node {i} -> {answer:?} in {:?}",
            t.elapsed()
        );
        match answer {
            Ok((r, xid)) => {
                assert_eq!(
                    r.code,
                    ResultCode::Failed,
                    "a write acknowledged without a majority: {xid}"
                );
                assert!(
                    matches!(r.error, Code::FailedStore | Code::NotRaftLeader),
                    "unclear refusal {r:?}"
                );
                codes.push(r.error);
            }
            Err(e) => panic!("begin on node {i}: no answer, not a refusal: {e}"),
        }
        let reg = cluster.registry(i);
        let filter = InstanceFilter {
            include_inactive: true,
            ..InstanceFilter::default()
        };
        let (rc, listed) = reg.list(&filter).expect("registry list");
        assert_eq!(rc, 0, "registry read refused without a majority");
        assert!(
            listed
                .iter()
                .any(|x| x.obj_name.as_str() == "Chaos.Before.Obj"),
            "registry cache lost an instance: {listed:?}"
        );
        let rc = reg
            .register_instance(&instance("Chaos.During.Obj", "127.0.0.1", i as i32 + 1))
            .expect("register answers");
        assert_ne!(rc, 0, "a registry write acknowledged without a majority");
        eprintln!(
            "majority lost: registry on node {i}: list ok ({} instances), register -> {rc}",
            listed.len()
        );
    }
    let acked_while_lost: Vec<Attempt> = load
        .attempts()
        .into_iter()
        .filter(|a| {
            a.ok()
                && a.sent > majority_lost + Duration::from_millis(2500)
                && matches!(a.kind, "begin" | "register" | "commit" | "rollback")
        })
        .collect();
    assert!(
        acked_while_lost.is_empty(),
        "writes acknowledged without a majority: {:?}",
        &acked_while_lost[..acked_while_lost.len().min(5)]
    );

    // The majority back: writes resume.
    cluster.etcd.restart(0);
    cluster.etcd.restart(1);
    let back = Instant::now();
    let c = cluster.coordinator(0, 3000);
    poll_until("a begin to succeed again", Duration::from_secs(40), || {
        c.begin("chaos", "probe", 10_000)
            .ok()
            .filter(|(r, _)| r.code == ResultCode::Success)
    });
    let resumed = back.elapsed();
    cluster.wait_balanced(3, Duration::from_secs(30));
    // Every fragment serves again (a leader key alone is not enough).
    let every: BTreeSet<u32> = cluster
        .status()
        .expect("status")
        .fragments
        .iter()
        .map(|f| f.id)
        .collect();
    let served = first_success(&load, &every, back);
    eprintln!(
        "majority back: every fragment served again after {:?}",
        served.iter().max()
    );
    eprintln!("majority back: begins resumed after {resumed:?} (codes while lost: {codes:?})");
    std::thread::sleep(Duration::from_secs(2));
    let history = load.finish(&ledger, "etcd majority");
    let (_, listed) = cluster
        .registry(1)
        .list(&InstanceFilter {
            include_inactive: true,
            ..InstanceFilter::default()
        })
        .expect("list");
    assert!(
        !listed
            .iter()
            .any(|x| x.obj_name.as_str() == "Chaos.During.Obj"),
        "a refused registration was written after all"
    );
    assert_consistent(&history, "etcd majority");
}

#[test]
fn a_node_joins_a_loaded_cluster() {
    needs_etcd!("a_node_joins_a_loaded_cluster");
    let _serial = SERIAL.lock();
    let mut cluster = Cluster::with_nodes(2, "");
    let ledger = Ledger::default();
    let (_participants, resources) = start_participants(&ledger);
    let mut load = Load::start(&cluster, &[0, 1], &resources, 6);
    std::thread::sleep(Duration::from_secs(2));
    let i = cluster.add_node(None);
    let joined = Instant::now();
    cluster.start(i);
    let balanced = cluster.wait_balanced(3, Duration::from_secs(30));
    eprintln!(
        "n3 joined: balanced {balanced:?} after its start ({:?} after the spawn)",
        joined.elapsed()
    );
    assert!(balanced < Duration::from_secs(30));
    // Every node's coordinator is registered with the capacity of the fragments it leads (a
    // fragment carries the auto-grow threshold, 1000 by default), so CapacityRelative clients
    // send begins where there is room; the newcomer's share shows up there too.
    wait_until(
        "registered capacities follow the fragments led",
        Duration::from_secs(10),
        || {
            let Some(status) = cluster.status() else {
                return false;
            };
            let (_, listed) = cluster
                .registry(0)
                .list(&InstanceFilter {
                    obj_name: COORDINATOR_OBJ.into(),
                    ..InstanceFilter::default()
                })
                .expect("list");
            status.nodes.len() == 3
                && status.nodes.iter().all(|n| {
                    let port = cluster
                        .specs
                        .iter()
                        .find(|s| s.id == n.node_id)
                        .map(|s| i32::from(s.coordinator));
                    n.leading > 0
                        && listed.iter().any(|x| {
                            Some(x.endpoint.port) == port
                                && x.meta.capacity == i32::try_from(n.leading * 1000).unwrap_or(-1)
                        })
                })
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    let failed = load.failures_since(joined);
    let history = load.finish(&ledger, "join");
    assert_consistent(&history, "join");
    // A failed call: a give-up, or a non-retryable refusal. A graceful handover keeps the
    // fragment's undecided transactions open (the old leader flushed and recorded the
    // handover), so no TM in the middle of one may see its next register refused
    // (GlobalTransactionNotExist / NotActive / StatusInvalid) or its commit answered with a
    // rollback.
    let aborted_by_handover = |f: &String| {
        f.starts_with("register refused")
            && (f.contains("GlobalTransactionNotExist")
                || f.contains("GlobalTransactionNotActive")
                || f.contains("GlobalTransactionStatusInvalid"))
    };
    let rolled_back_commits = history
        .ends
        .iter()
        .filter(|e| e.commit && e.told == Told::RolledBack && e.first_sent >= joined)
        .count();
    let (known, other): (Vec<String>, Vec<String>) =
        failed.into_iter().partition(aborted_by_handover);
    eprintln!(
        "join: {} calls failed, {} transactions the handover rolled back under the TM \
         (register refused), {rolled_back_commits} commits answered with a rollback",
        other.len(),
        known.len()
    );
    assert!(
        other.is_empty(),
        "{} calls failed during the handover: {:?}",
        other.len(),
        &other[..other.len().min(10)]
    );
    assert!(
        known.is_empty() && rolled_back_commits == 0,
        "the handover rolled back {} live transactions: {known:?}",
        known.len() + rolled_back_commits
    );
}

#[test]
fn autogrow_under_open_transactions() {
    needs_etcd!("autogrow_under_open_transactions");
    let _serial = SERIAL.lock();
    let cluster = Cluster::with_nodes(
        2,
        "[cluster.manager]\nload_sample_ms = 200\n\
         [cluster.scheduler]\ninitial_fragments = 2\nautogrow_threshold = 5\n\
         autogrow_window_ms = 3000\nautogrow_min_samples = 3\nperiod_ms = 200\n",
    );
    let before = cluster.status().expect("status");
    assert_eq!(before.fragments.len(), 2, "{before}");
    // Load node 1's fragment past the threshold with open transactions.
    let c = cluster.coordinator(0, 3000);
    let mut open = Vec::new();
    for _ in 0..20 {
        let (r, xid) = c.begin("chaos", "open", 60_000).expect("begin");
        assert_eq!(r.code, ResultCode::Success, "{r:?}");
        open.push(xid);
    }
    let loaded: BTreeSet<Option<u32>> = open.iter().map(|x| Xid::fragment_of(x)).collect();
    eprintln!("20 open transactions on fragments {loaded:?}");
    let t = Instant::now();
    let grown = poll_until("a new fragment", Duration::from_secs(30), || {
        let s = cluster.status()?;
        (s.fragments.len() > 2 && s.fragments.iter().all(|f| f.leader.is_some())).then_some(s)
    });
    let new: Vec<u32> = grown
        .fragments
        .iter()
        .filter(|f| !before.fragments.iter().any(|b| b.id == f.id))
        .map(|f| f.id)
        .collect();
    eprintln!("auto-grow after {:?}:\n{grown}", t.elapsed());
    assert!(!new.is_empty());
    // New begins reach the new fragment.
    let proxies = [cluster.coordinator(0, 3000), cluster.coordinator(1, 3000)];
    let mut n = 0usize;
    let xid = poll_until(
        "a begin on the new fragment",
        Duration::from_secs(20),
        || {
            n += 1;
            let (r, xid) = proxies[n % 2].begin("chaos", "after", 10_000).ok()?;
            if r.code != ResultCode::Success {
                return None;
            }
            let f = Xid::fragment_of(&xid)?;
            let _ = proxies[n % 2].rollback(&xid);
            new.contains(&f).then_some(xid)
        },
    );
    eprintln!("begin on the new fragment after {n} begins: {xid}");
    for x in open {
        let (r, status) = c.rollback(&x).expect("rollback");
        assert_eq!(r.code, ResultCode::Success, "{r:?}");
        assert!(matches!(told(status), Told::RolledBack), "{status:?}");
    }
}
