//! `seata-bench`: global transactions per second through a Seata TC port (e.g. `tarsd
//! --seata-port`), spoken as Seata v1 clients do, and their latency.
//!
//! Each transaction is what a TM and its RMs do in Seata: on a TM connection
//! `GlobalBeginRequest` → `GlobalBeginResponse` (the XID); then two `BranchRegisterRequest`s on
//! an RM connection (Java sends branch registrations over the RM channel); then
//! `GlobalCommitRequest` on the TM connection, whose `GlobalCommitResponse` must be Success with
//! status `Committed`. Every response is checked (result code Success, non-empty XID, the
//! expected message); a failed transaction is counted by kind and fails the run.
//!
//! - `--mode tcc` (default): two TCC branches with empty lock keys; the coordinator commits
//!   both (BranchCommit to this RM) before it answers the commit, so phase two is inside the
//!   measured latency.
//! - `--mode at`: two AT branches with lock keys of their own per transaction
//!   (`t_bench0:<task>_<n>`, `t_bench1:<task>_<n>`); the commit answers `Committed` at once and
//!   the branch commits arrive afterwards (async commit).
//!
//! **Method.** A closed loop: `--concurrency` tasks each run one transaction after another;
//! task `i` uses connection pair `i mod --connections` (one TM and one RM connection each,
//! registered with RegisterTM / RegisterRM — the RM with its two resource ids
//! `<app>-<pair>-rm1,<app>-<pair>-rm2` — before the load starts; a refused registration stops
//! the run). Requests carry ids of their connection and responses are matched by id, in
//! whatever order they come, several frames per read; each connection has one reader and one
//! writer task (the writer sends everything queued in one write) on a small tokio runtime
//! (`--threads`, default 1). The RM connections answer the coordinator's BranchCommit /
//! BranchRollback requests at once (Success, same request id, xid and branch id echoed,
//! PhaseTwo_Committed / PhaseTwo_Rollbacked) and count them, and every connection answers a
//! PING with a PONG (and sends its own PING every `--ping-secs`). Latency is the whole
//! transaction (begin sent to commit answered) in an HDR histogram, for transactions that
//! ended in the measured window (after `--warmup`); failures count whenever they happen.
//!
//! After the window the load stops, and the bench waits (at most `--phase-two-wait`, 15 s)
//! until the RMs received two branch commits per transaction committed in the whole run
//! (warm-up included).
//!
//! The generator's own CPU time per transaction and the machine's busy cores over the window
//! are reported, to tell when the generator (not the coordinator) is the limit. `--mock`
//! runs a minimal in-memory TC in this process instead of `--target` (see [`mock`]): that
//! measures the generator alone.
//!
//! ```sh
//! cargo build --release -p tars-seatabench -p tarsd
//! target/release/tarsd --data-dir /tmp/tarsd-bench --coordinator-port 0 --seata-port 0 &
//! target/release/seata-bench --target 127.0.0.1:<seata port from READY> --mode tcc
//! ```
//!
//! The last line printed is one JSON object with the results. The run fails (non-zero exit,
//! the reasons on stderr) when a transaction failed, when a connection closed, or when the
//! branch commits of committed transactions have not all arrived in time
//! (`branch_commits_missing`). Results and comparison with `tx-bench`:
//! `bench/RESULTS-seata.md`, `bench/compare-seata.sh`.

mod client;
mod mock;

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use tars_seata::message::{
    BranchRegisterRequest, GlobalBeginRequest, GlobalXidRequest, RegisterRmRequest,
    RegisterTmRequest,
};
use tars_seata::{BranchType, GlobalStatus, Message, ResultCode};

use client::{CallError, Conn, Counters};

/// Branch type of the two branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Two TCC branches: commit drives both branch commits before it answers.
    Tcc,
    /// Two AT branches with lock keys of their own: commit answers at once (async commit).
    At,
}

impl Mode {
    fn branch_type(self) -> BranchType {
        match self {
            Mode::Tcc => BranchType::Tcc,
            Mode::At => BranchType::At,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Tcc => "tcc",
            Mode::At => "at",
        }
    }
}

#[derive(Parser, Debug, Clone)]
#[command(
    name = "seata-bench",
    about = "Global transactions/s (begin, 2 branch registers, commit) through a Seata v1 TC port"
)]
struct Args {
    /// `host:port` of the Seata TC port (e.g. tarsd's `seata=` port). Required unless --mock.
    #[arg(long, required_unless_present = "mock")]
    target: Option<String>,
    /// Run a minimal in-memory TC in this process and measure against it (the generator's
    /// own ceiling).
    #[arg(long)]
    mock: bool,
    /// Branch type of the two branches.
    #[arg(long, value_enum, default_value_t = Mode::Tcc)]
    mode: Mode,
    /// Transactions in flight.
    #[arg(short = 'c', long, default_value_t = 256)]
    concurrency: usize,
    /// TM/RM connection pairs (transactions are spread over them).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Seconds to measure (after the warm-up).
    #[arg(short = 't', long, default_value_t = 5.0)]
    seconds: f64,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Timeout of each request, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// The global transactions' timeout sent with GlobalBegin, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    tx_timeout_ms: i32,
    /// Threads of the load generator's runtime.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds to wait after the load for the branch commits of every committed transaction
    /// (0: do not wait, and do not fail on missing ones).
    #[arg(long, default_value_t = 15.0)]
    phase_two_wait: f64,
    /// Send a PING on every connection this often, in seconds (0: never).
    #[arg(long, default_value_t = 5.0)]
    ping_secs: f64,
    /// Application id of the TM and RM registrations.
    #[arg(long, default_value = "seata-bench")]
    application_id: String,
    /// Transaction service group of the registrations.
    #[arg(long, default_value = "default_tx_group")]
    tx_service_group: String,
    /// Client version sent with the registrations (1.5 or later gets every result code).
    #[arg(long, default_value = "2.2.0")]
    client_version: String,
    /// Label printed with the results.
    #[arg(long, default_value = "seata-bench")]
    label: String,
    /// A file of `pid starttime name` lines (e.g. the coordinator's): the CPU time of each of
    /// those processes over the measured window, per transaction.
    #[arg(long)]
    pids_file: Option<std::path::PathBuf>,
}

/// Why a transaction failed (each kind counted separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Failure {
    /// No usable response.
    Call(&'static str, CallError),
    /// Result code Failed, with this TransactionExceptionCode.
    Refused(&'static str, i8),
    /// A response of another message type (its type code).
    WrongResponse(&'static str, i16),
    /// GlobalBegin answered an empty XID.
    EmptyXid,
    /// GlobalCommit answered Success with a status other than Committed.
    CommitStatus(i8),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Call(op, e) => write!(f, "{op}: {e}"),
            Failure::Refused(op, code) => write!(f, "{op}: refused, exception code {code}"),
            Failure::WrongResponse(op, code) => {
                write!(f, "{op}: answered with message type code {code}")
            }
            Failure::EmptyXid => write!(f, "begin: empty xid"),
            Failure::CommitStatus(s) => write!(f, "commit: status {s} instead of Committed (9)"),
        }
    }
}

impl Failure {
    /// A short key for the JSON report.
    fn key(&self) -> String {
        match self {
            Failure::Call(op, e) => format!("{op}_{e:?}").to_lowercase(),
            Failure::Refused(op, code) => format!("{op}_refused_{code}"),
            Failure::WrongResponse(op, code) => format!("{op}_wrong_response_{code}"),
            Failure::EmptyXid => "begin_empty_xid".into(),
            Failure::CommitStatus(s) => format!("commit_status_{s}"),
        }
    }
}

/// One TM connection and one RM connection, and the RM's two resource ids.
struct Pair {
    tm: Conn,
    rm: Conn,
    resources: [String; 2],
}

/// What every transaction needs.
struct Plan {
    mode: Mode,
    timeout: Duration,
    tx_timeout_ms: i32,
    first_error: Mutex<Option<String>>,
}

impl Plan {
    fn note(&self, what: impl FnOnce() -> String) {
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(what());
        }
    }

    /// Sends `msg` on `conn`; a Failed result or a call error becomes a [`Failure`].
    async fn call(&self, op: &'static str, conn: &Conn, msg: &Message) -> Result<Message, Failure> {
        let reply = conn.call(msg, self.timeout).await.map_err(|e| {
            self.note(|| format!("{op}: {e}"));
            Failure::Call(op, e)
        })?;
        let result = match &reply {
            Message::GlobalBeginResponse(r) => &r.result,
            Message::BranchRegisterResponse(r) => &r.result,
            Message::GlobalCommitResponse(r) => &r.result,
            _ => return Ok(reply),
        };
        if result.result_code != ResultCode::Success {
            self.note(|| format!("{op}: Failed, {:?}: {}", result.exception_code, result.msg));
            return Err(Failure::Refused(op, result.exception_code.code()));
        }
        Ok(reply)
    }
}

/// One global transaction: begin, two branch registrations, commit.
async fn transaction(pair: &Pair, plan: &Plan, task: usize, seq: u64) -> Result<(), Failure> {
    let begin = Message::GlobalBeginRequest(GlobalBeginRequest {
        timeout: plan.tx_timeout_ms,
        transaction_name: "seata-bench".into(),
    });
    let xid = match plan.call("begin", &pair.tm, &begin).await? {
        Message::GlobalBeginResponse(r) => r.xid,
        other => return Err(Failure::WrongResponse("begin", other.type_code())),
    };
    if xid.is_empty() {
        plan.note(|| "begin: empty xid".into());
        return Err(Failure::EmptyXid);
    }
    for (b, resource) in pair.resources.iter().enumerate() {
        let lock_key = match plan.mode {
            Mode::At => format!("t_bench{b}:{task}_{seq}"),
            Mode::Tcc => String::new(),
        };
        let register = Message::BranchRegisterRequest(BranchRegisterRequest {
            xid: xid.clone(),
            branch_type: plan.mode.branch_type(),
            resource_id: resource.clone(),
            lock_key,
            application_data: String::new(),
        });
        match plan.call("branchRegister", &pair.rm, &register).await? {
            Message::BranchRegisterResponse(_) => {}
            other => return Err(Failure::WrongResponse("branchRegister", other.type_code())),
        }
    }
    let commit = Message::GlobalCommitRequest(GlobalXidRequest {
        xid: xid.clone(),
        extra_data: String::new(),
    });
    match plan.call("commit", &pair.tm, &commit).await? {
        Message::GlobalCommitResponse(r) if r.global_status == GlobalStatus::Committed => Ok(()),
        Message::GlobalCommitResponse(r) => {
            plan.note(|| format!("commit of {xid}: {:?}", r.global_status));
            Err(Failure::CommitStatus(r.global_status.code()))
        }
        other => Err(Failure::WrongResponse("commit", other.type_code())),
    }
}

/// The results of one task.
struct TaskResult {
    hist: Histogram<u64>,
    /// Committed in the measured window.
    ok: u64,
    /// Committed in the whole run (each leaves two branch commits to the RMs).
    all_ok: u64,
    failures: BTreeMap<Failure, u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds")
}

/// Runs transactions back to back until `stop`; records the successes that ended while
/// `measuring`, and every failure.
async fn task(
    pair: Arc<Pair>,
    plan: Arc<Plan>,
    index: usize,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> TaskResult {
    let mut r = TaskResult {
        hist: histogram(),
        ok: 0,
        all_ok: 0,
        failures: BTreeMap::new(),
    };
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        seq += 1;
        match transaction(&pair, &plan, index, seq).await {
            Ok(()) => {
                r.all_ok += 1;
                if measuring.load(Ordering::Relaxed) {
                    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    let _ = r.hist.record(us.clamp(1, 120_000_000));
                    r.ok += 1;
                }
            }
            Err(f) => {
                *r.failures.entry(f).or_default() += 1;
                // A broken connection fails every transaction on it at once: do not spin.
                if pair.tm.is_closed() || pair.rm.is_closed() {
                    break;
                }
            }
        }
    }
    r
}

/// Connects and registers one TM/RM pair.
async fn connect_pair(
    addr: SocketAddr,
    args: &Args,
    index: usize,
    counters: &Arc<Counters>,
    timeout: Duration,
) -> anyhow::Result<Pair> {
    let tm = Conn::connect(addr, counters.clone())
        .await
        .with_context(|| format!("TM connection {index} to {addr}"))?;
    let rm = Conn::connect(addr, counters.clone())
        .await
        .with_context(|| format!("RM connection {index} to {addr}"))?;
    let resources = [1, 2].map(|n| format!("{}-{index}-rm{n}", args.application_id));
    let register_tm = Message::RegisterTmRequest(RegisterTmRequest {
        version: args.client_version.clone(),
        application_id: args.application_id.clone(),
        transaction_service_group: args.tx_service_group.clone(),
        extra_data: String::new(),
    });
    match tm.call(&register_tm, timeout).await {
        Ok(Message::RegisterTmResponse(r)) if r.identified => {}
        other => bail!("RegisterTM on connection {index}: {other:?}"),
    }
    let register_rm = Message::RegisterRmRequest(RegisterRmRequest {
        version: args.client_version.clone(),
        application_id: args.application_id.clone(),
        transaction_service_group: args.tx_service_group.clone(),
        extra_data: String::new(),
        resource_ids: resources.join(","),
    });
    match rm.call(&register_rm, timeout).await {
        Ok(Message::RegisterRmResponse(r)) if r.identified => {}
        other => bail!("RegisterRM on connection {index}: {other:?}"),
    }
    Ok(Pair { tm, rm, resources })
}

/// CPU time (user + system) of this process so far.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Clock ticks are 100 per second on Linux.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// CPU time (user + system) so far of this process's threads whose name starts with
/// `prefix` (the mock TC's, to take them out of the generator's own).
fn threads_cpu(prefix: &str) -> Duration {
    let mut total = Duration::ZERO;
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return total;
    };
    for entry in dir.flatten() {
        let path = entry.path();
        let named = std::fs::read_to_string(path.join("comm"))
            .map(|name| name.starts_with(prefix))
            .unwrap_or(false);
        if !named {
            continue;
        }
        let ticks = std::fs::read_to_string(path.join("stat"))
            .ok()
            .and_then(|stat| {
                let rest = stat.rsplit_once(')')?.1.to_owned();
                let f: Vec<&str> = rest.split_whitespace().collect();
                Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
            })
            .unwrap_or(0);
        total += Duration::from_millis(ticks * 10);
    }
    total
}

/// The machine's CPU so far (every core): busy (user, nice, system, irq, softirq) and stolen.
fn machine_cpu() -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let f: Vec<u64> = line
        .split_whitespace()
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal ...
    let busy = f.first()? + f.get(1)? + f.get(2)? + f.get(5)? + f.get(6)?;
    let steal = *f.get(7)?;
    Some((
        Duration::from_millis(busy * 10),
        Duration::from_millis(steal * 10),
    ))
}

/// A process to watch (a line `pid starttime name` of `--pids-file`).
#[derive(Debug, Clone)]
struct Watched {
    pid: u32,
    start: String,
    name: String,
}

/// The `pid starttime name` lines of `path` (others skipped).
fn read_pids(path: &std::path::Path) -> anyhow::Result<Vec<Watched>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            Some(Watched {
                pid: f.next()?.parse().ok()?,
                start: f.next()?.to_owned(),
                name: f.next()?.to_owned(),
            })
        })
        .collect())
}

/// User + system CPU of a watched process (all its threads), if it is still the process
/// recorded (same start time).
fn watched_cpu(p: &Watched) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.pid)).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: utime (field 14) is index 11, stime 12, starttime (22) 19.
    if f.get(19).copied() != Some(p.start.as_str()) {
        return None;
    }
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The outcome of a run.
#[derive(Debug, Default)]
struct Report {
    seconds: f64,
    tx_per_sec: f64,
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
    max_us: u64,
    /// Committed in the measured window.
    committed: u64,
    /// Committed in the whole run.
    committed_all: u64,
    failed: u64,
    failures: BTreeMap<Failure, u64>,
    /// Branch commits received in the measured window.
    branch_commits_window: u64,
    /// Branch commits received in the whole run (after the phase-two wait).
    branch_commits: u64,
    branch_commits_missing: u64,
    branch_rollbacks: u64,
    pings: u64,
    unexpected_frames: u64,
    connections_closed: u64,
    cpu_us_per_tx: f64,
    cpu_cores: f64,
    /// With --mock: the mock TC's CPU µs per transaction (not in `cpu_us_per_tx`).
    mock_cpu_us_per_tx: f64,
    machine_busy_cores: f64,
    machine_steal_cores: f64,
    /// CPU µs per committed transaction of each `--pids-file` process (None: it went away).
    watched: Vec<(Watched, Option<f64>)>,
    first_error: Option<String>,
    problems: Vec<String>,
}

fn resolve(target: &str) -> anyhow::Result<SocketAddr> {
    target
        .to_socket_addrs()
        .with_context(|| format!("--target {target:?} is not host:port"))?
        .next()
        .with_context(|| format!("--target {target:?} resolves to no address"))
}

fn run(args: &Args) -> anyhow::Result<Report> {
    if args.concurrency == 0 || args.connections == 0 || args.threads == 0 {
        bail!("--concurrency, --connections and --threads must be at least 1");
    }
    let mock = if args.mock {
        Some(mock::MockTc::start().context("starting the mock TC")?)
    } else {
        None
    };
    let addr = match (&mock, &args.target) {
        (Some(m), _) => m.addr(),
        (None, Some(t)) => resolve(t)?,
        (None, None) => bail!("give --target host:port (or --mock)"),
    };
    let timeout = Duration::from_millis(args.timeout_ms);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .thread_name("seata-bench")
        .enable_all()
        .build()
        .context("load generator runtime")?;
    let counters = Arc::new(Counters::default());
    let pairs = runtime.block_on(async {
        let mut pairs = Vec::new();
        for i in 0..args.connections {
            pairs.push(Arc::new(
                connect_pair(addr, args, i, &counters, timeout).await?,
            ));
        }
        anyhow::Ok(pairs)
    })?;
    let plan = Arc::new(Plan {
        mode: args.mode,
        timeout,
        tx_timeout_ms: args.tx_timeout_ms,
        first_error: Mutex::new(None),
    });
    let watched = match &args.pids_file {
        Some(p) => read_pids(p)?,
        None => Vec::new(),
    };
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    if args.ping_secs > 0.0 {
        let every = Duration::from_secs_f64(args.ping_secs);
        for pair in &pairs {
            let (pair, stop) = (pair.clone(), stop.clone());
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    pair.tm.ping();
                    pair.rm.ping();
                }
            });
        }
    }
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|i| {
            runtime.spawn(task(
                pairs[i % pairs.len()].clone(),
                plan.clone(),
                i,
                measuring.clone(),
                stop.clone(),
            ))
        })
        .collect();

    std::thread::sleep(Duration::from_secs_f64(args.warmup));
    let commits_before = counters.branch_commits.load(Ordering::Relaxed);
    let cpu_before = process_cpu();
    let mock_before = threads_cpu(mock::THREAD_NAME);
    let machine_before = machine_cpu();
    let watched_before: Vec<_> = watched.iter().map(watched_cpu).collect();
    measuring.store(true, Ordering::Relaxed);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(args.seconds));
    measuring.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_after = process_cpu();
    let mock_after = threads_cpu(mock::THREAD_NAME);
    let machine_after = machine_cpu();
    let watched_after: Vec<_> = watched.iter().map(watched_cpu).collect();
    let branch_commits_window = counters.branch_commits.load(Ordering::Relaxed) - commits_before;
    stop.store(true, Ordering::Relaxed);

    let mut report = Report {
        seconds: elapsed,
        branch_commits_window,
        ..Report::default()
    };
    let mut hist = histogram();
    for t in tasks {
        let r = runtime
            .block_on(t)
            .map_err(|e| anyhow::anyhow!("load task: {e}"))?;
        hist.add(&r.hist)?;
        report.committed += r.ok;
        report.committed_all += r.all_ok;
        for (f, n) in r.failures {
            *report.failures.entry(f).or_default() += n;
        }
    }
    report.failed = report.failures.values().sum();
    report.tx_per_sec = report.committed as f64 / elapsed;
    report.p50_us = hist.value_at_quantile(0.5);
    report.p90_us = hist.value_at_quantile(0.9);
    report.p99_us = hist.value_at_quantile(0.99);
    report.max_us = hist.max();
    // CPU µs per committed transaction (0 when none committed).
    let per_tx = |cpu: f64| {
        if report.committed == 0 {
            0.0
        } else {
            cpu * 1e6 / report.committed as f64
        }
    };
    if let (Some(b), Some(a)) = (cpu_before, cpu_after) {
        // The generator's own: the mock TC's threads (with --mock) are not counted.
        let mock_cpu = mock_after.saturating_sub(mock_before);
        let cpu = a.saturating_sub(b).saturating_sub(mock_cpu).as_secs_f64();
        report.mock_cpu_us_per_tx = per_tx(mock_cpu.as_secs_f64());
        report.cpu_cores = cpu / elapsed;
        report.cpu_us_per_tx = per_tx(cpu);
    }
    if let (Some(b), Some(a)) = (machine_before, machine_after) {
        report.machine_busy_cores = a.0.saturating_sub(b.0).as_secs_f64() / elapsed;
        report.machine_steal_cores = a.1.saturating_sub(b.1).as_secs_f64() / elapsed;
    }
    report.watched = watched
        .iter()
        .zip(watched_before.iter().zip(&watched_after))
        .map(|(w, (b, a))| {
            let cpu = match (b, a) {
                (Some(b), Some(a)) => Some(per_tx(a.saturating_sub(*b).as_secs_f64())),
                _ => None,
            };
            (w.clone(), cpu)
        })
        .collect();

    // Every committed transaction leaves two branch commits to the RMs (for AT they may
    // still be on their way).
    let expected = 2 * report.committed_all;
    let commits = || counters.branch_commits.load(Ordering::Relaxed);
    if args.phase_two_wait > 0.0 {
        let deadline = Instant::now() + Duration::from_secs_f64(args.phase_two_wait);
        while commits() < expected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        report.branch_commits_missing = expected.saturating_sub(commits());
    }
    report.branch_commits = commits();
    report.branch_rollbacks = counters.branch_rollbacks.load(Ordering::Relaxed);
    report.pings = counters.pings.load(Ordering::Relaxed);
    report.unexpected_frames = counters.unexpected.load(Ordering::Relaxed);
    report.connections_closed = counters.closed.load(Ordering::Relaxed);
    report.first_error = plan
        .first_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();

    if report.failed > 0 {
        report
            .problems
            .push(format!("{} transaction(s) failed", report.failed));
    }
    if report.committed == 0 {
        report
            .problems
            .push("no transaction committed in the measured window".into());
    }
    if report.connections_closed > 0 {
        report.problems.push(format!(
            "{} connection(s) closed during the run",
            report.connections_closed
        ));
    }
    if report.branch_commits_missing > 0 {
        report.problems.push(format!(
            "branch_commits_missing: {} of the {expected} branch commits of the {} transactions \
             committed in the whole run (warm-up included) did not arrive within {} s",
            report.branch_commits_missing, report.committed_all, args.phase_two_wait
        ));
    }
    if let Some(m) = &mock {
        let bad = m.stats().bad_answers.load(Ordering::Relaxed);
        if bad > 0 {
            report
                .problems
                .push(format!("the mock TC got {bad} wrong phase-two answer(s)"));
        }
    }
    // Close the connections before the runtime (and the mock) go.
    drop(pairs);
    drop(runtime);
    drop(mock);
    Ok(report)
}

fn print_report(args: &Args, r: &Report) {
    println!(
        "{} ({} mode, {} in flight, {} connection pair(s), {}): {:.0} tx/s over {:.1} s; \
         latency p50 {} us, p90 {} us, p99 {} us, max {} us; {} committed, {} failed",
        args.label,
        args.mode.name(),
        args.concurrency,
        args.connections,
        if args.mock {
            "mock TC".to_owned()
        } else {
            args.target.clone().unwrap_or_default()
        },
        r.tx_per_sec,
        r.seconds,
        r.p50_us,
        r.p90_us,
        r.p99_us,
        r.max_us,
        r.committed,
        r.failed,
    );
    for (f, n) in &r.failures {
        println!("  failed: {n} x {f}");
    }
    if let Some(first) = &r.first_error {
        println!("  first error: {first}");
    }
    println!(
        "  load generator: {:.2} cores, {:.1} us CPU per transaction; machine: {:.2} cores busy, \
         {:.2} stolen",
        r.cpu_cores, r.cpu_us_per_tx, r.machine_busy_cores, r.machine_steal_cores
    );
    if args.mock {
        println!(
            "  mock TC (threads of this process, not counted above): {:.1} us CPU per transaction",
            r.mock_cpu_us_per_tx
        );
    }
    let mut by_process = vec![format!("\"seata-bench\":{:.1}", r.cpu_us_per_tx)];
    if args.mock {
        by_process.push(format!("\"mock-tc\":{:.1}", r.mock_cpu_us_per_tx));
    }
    for (w, cpu) in &r.watched {
        match cpu {
            Some(us) => {
                println!(
                    "  CPU of {:<12} (pid {:>7}): {us:.1} us per transaction",
                    w.name, w.pid
                );
                by_process.push(format!("\"{}\":{us:.1}", w.name.replace(['"', '\\'], "_")));
            }
            None => println!("  CPU of {} (pid {}): gone", w.name, w.pid),
        }
    }
    println!(
        "  phase two: {} branch commits in the window ({:.0} transactions/s completed), {} in \
         the whole run for {} committed; {} rollback(s), {} PING(s) answered, {} unexpected frame(s)",
        r.branch_commits_window,
        r.branch_commits_window as f64 / 2.0 / r.seconds,
        r.branch_commits,
        r.committed_all,
        r.branch_rollbacks,
        r.pings,
        r.unexpected_frames,
    );
    for p in &r.problems {
        println!("  {p}");
    }
    let failures: Vec<String> = r
        .failures
        .iter()
        .map(|(f, n)| format!("\"{}\":{n}", f.key()))
        .collect();
    println!(
        "{{\"label\":\"{}\",\"mode\":\"{}\",\"mock\":{},\"concurrency\":{},\"connections\":{},\
         \"seconds\":{:.3},\"tx_per_sec\":{:.0},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"max_us\":{},\
         \"committed\":{},\"committed_all\":{},\"failed\":{},\"failures\":{{{}}},\
         \"branch_commits\":{},\"branch_commits_window\":{},\"branch_commits_missing\":{},\
         \"branch_rollbacks\":{},\"pings\":{},\"unexpected_frames\":{},\"connections_closed\":{},\
         \"cpu_cores\":{:.2},\"cpu_us_per_tx\":{:.1},\"busy_cores\":{:.2},\"steal_cores\":{:.2},\
         \"cpu_us_per_tx_by_process\":{{{}}}}}",
        args.label.replace(['"', '\\'], "_"),
        args.mode.name(),
        args.mock,
        args.concurrency,
        args.connections,
        r.seconds,
        r.tx_per_sec,
        r.p50_us,
        r.p90_us,
        r.p99_us,
        r.max_us,
        r.committed,
        r.committed_all,
        r.failed,
        failures.join(","),
        r.branch_commits,
        r.branch_commits_window,
        r.branch_commits_missing,
        r.branch_rollbacks,
        r.pings,
        r.unexpected_frames,
        r.connections_closed,
        r.cpu_cores,
        r.cpu_us_per_tx,
        r.machine_busy_cores,
        r.machine_steal_cores,
        by_process.join(","),
    );
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let report = run(&args)?;
    print_report(&args, &report);
    if !report.problems.is_empty() {
        bail!("the run failed: {}", report.problems.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec![
            "seata-bench",
            "--mock",
            "--seconds",
            "0.5",
            "--warmup",
            "0.2",
            "--concurrency",
            "16",
            "--connections",
            "2",
            "--phase-two-wait",
            "5",
        ];
        argv.extend_from_slice(extra);
        Args::parse_from(argv)
    }

    #[test]
    fn tcc_against_the_mock_commits_and_answers_every_branch_commit() {
        let r = run(&args(&["--mode", "tcc"])).expect("runs");
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert!(r.committed > 0);
        assert_eq!(r.failed, 0);
        assert_eq!(r.branch_commits, 2 * r.committed_all);
        assert_eq!(r.branch_commits_missing, 0);
        // The mock PINGs every new connection once.
        assert_eq!(r.pings, 4);
        assert_eq!(r.unexpected_frames, 0);
        assert!(r.p50_us > 0 && r.p50_us <= r.p90_us && r.p90_us <= r.p99_us);
    }

    #[test]
    fn at_against_the_mock_waits_for_the_async_branch_commits() {
        let r = run(&args(&["--mode", "at"])).expect("runs");
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert!(r.committed > 0);
        assert_eq!(r.branch_commits, 2 * r.committed_all);
    }

    #[test]
    fn an_unreachable_target_fails_before_the_load() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let a = Args::parse_from(["seata-bench", "--target", &addr.to_string()]);
        assert!(run(&a).is_err());
    }

    #[test]
    fn failure_keys_are_json_safe() {
        for f in [
            Failure::Call("begin", CallError::Timeout),
            Failure::Refused("branchRegister", 2),
            Failure::WrongResponse("commit", 60),
            Failure::EmptyXid,
            Failure::CommitStatus(3),
        ] {
            assert!(f
                .key()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'));
        }
    }
}
