//! `tx-bench`: global transactions per second through the transaction coordinator, with
//! durable storage, and their latency.
//!
//! Each transaction is what a TM and two RMs do: `begin` → `branchRegister` → `branchRegister`
//! → `commit`, every result checked (a failed transaction is counted and reported, never
//! ignored). `--concurrency` transactions are in flight at once (closed loop: a task starts the
//! next transaction when its last one ended), spread over `--connections` connections and driven
//! through the generated `*_async` proxy methods by a small tokio runtime.
//!
//! - `--mode tcc`: two TCC branches; `commit` returns once the coordinator has called
//!   `branchCommit` on both participants (phase two inside the measured latency).
//! - `--mode at`: two AT branches with lock keys of their own per transaction; `commit` returns
//!   `Committed` at once and the branches are committed in the background (async commit).
//!
//! By default the coordinator runs in this process ([`CoordinatorService`] over a store in a
//! temporary directory: real files, real fsync) together with a participant server, and the
//! store's counters (commits = fsyncs, changes, record writes) are reported so the group-commit
//! batch size is visible. `--coordinator host:port[,host:port...]` (or `--target`) measures
//! running coordinators (e.g. `tarsd`, or every node of a cluster: the connections are spread
//! over the addresses, and each transaction stays on one connection) instead; participants are
//! still served from here (`--participant-host` must then be an address the coordinator can
//! reach; the TCC resource ids are full proxy strings, so no registry is needed to call them).
//!
//! Against a cluster, `--etcd-metrics URL[,URL...]` reads etcd's own counters (Prometheus
//! `/metrics`: transactions, puts, deletes, proposals) before and after the measured window,
//! and `--pids-file FILE` (`pid starttime name` lines, as `scripts/cluster-up.sh` writes) the
//! CPU time of those processes: both are reported per global transaction. The machine's busy
//! and stolen CPU over the window are always reported.
//!
//! Against running coordinators, `--auth-key AK:SK` authenticates every coordinator connection
//! (TarsCpp local authentication: the proxy strings say `-e 1`) and `--tls-ca PEM` calls them
//! over TLS (`ssl` endpoints, the server certificate verified against that CA and the
//! endpoint's host); both together give authenticated TLS. The participant server the
//! coordinator calls back in phase two stays plain `tcp` either way.
//!
//! Calls are timed out on the load generator's own runtime (`--proxy-timeouts` uses the
//! proxies' per-call timers instead, as a TM would); `--thread-stats` adds CPU time and context
//! switches per transaction of each thread group. Results and method: `services/coordinator/BENCH.md`.
//!
//! ```sh
//! cargo build --release -p tars-txbench
//! target/release/tx-bench --mode tcc --concurrency 256 --seconds 5
//! ```
//!
//! The last line printed is one JSON object with the results. The run fails (non-zero exit,
//! the reasons on stderr) when a transaction failed, when the branch commits of committed
//! transactions have not all reached the participants 15 s after the load stopped
//! (`branch_commits_missing`), or when transactions are still open in an in-process coordinator
//! by then (`open_left`).

mod observe;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tars::TarsString;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use tars::client::{CallError, Communicator};
use tars::server::{
    AdapterConfig, Current, Endpoint, ServantError, Servants, Server, ServerConfig,
};
use tars_coordinator::service::{CoordinatorConfig, CoordinatorService, ADAPTER, COORDINATOR_OBJ};
use tars_coordinator::store::{GroupCommit, StoreStats};
use tars_protocols::tarstx::{
    BranchStatus, BranchType, CoordinatorProxy, GlobalStatus, Participant, ParticipantServant,
    ResultCode, TxResult,
};

/// Transaction mode of the two branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Two TCC branches: commit drives both participants before it returns.
    Tcc,
    /// Two AT branches with their own row locks: commit returns at once (async commit).
    At,
}

impl Mode {
    fn branch_type(self) -> BranchType {
        match self {
            Mode::Tcc => BranchType::TCC,
            Mode::At => BranchType::AT,
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
    name = "tx-bench",
    about = "Global transactions/s (begin, 2 branch registers, commit) through the coordinator"
)]
struct Args {
    /// `host:port` of running coordinators, comma-separated (e.g. every node of a cluster;
    /// the connections are spread over them); without it one is started in this process with
    /// durable storage in a temporary directory.
    #[arg(long, alias = "target", value_delimiter = ',')]
    coordinator: Vec<String>,
    /// Transactions in flight.
    #[arg(short = 'c', long, default_value_t = 256)]
    concurrency: usize,
    /// Seconds to measure (after the warm-up).
    #[arg(short = 't', long, default_value_t = 5.0)]
    seconds: f64,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Branch type of the two branches.
    #[arg(long, value_enum, default_value_t = Mode::Tcc)]
    mode: Mode,
    /// Connections to the coordinator (transactions are spread over them).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Threads of the load generator's runtime.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Timeout of each coordinator call, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    call_timeout_ms: u64,
    /// Time coordinator calls out through the proxy (the client's timer thread, one entry per
    /// call) instead of a timer of the load generator's own runtime. The proxy's way is what
    /// a real TM does; the default keeps the load generator's cost off the cores the
    /// coordinator needs when both run on one machine.
    #[arg(long)]
    proxy_timeouts: bool,
    /// Directory of the in-process coordinator's store (default: a fresh temporary one,
    /// removed afterwards).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Network threads of the in-process coordinator.
    #[arg(long, default_value_t = 1)]
    server_net_threads: usize,
    /// Host the participant server listens on (and the coordinator calls back).
    #[arg(long, default_value = "127.0.0.1")]
    participant_host: String,
    /// Label printed with the results.
    #[arg(long, default_value = "tx-bench")]
    label: String,
    /// In-process coordinator: commit as soon as the previous commit is done, never lingering
    /// to group more changes (`GroupCommit::NO_LINGER`; for comparison).
    #[arg(long)]
    no_linger: bool,
    /// In-process coordinator: linger before a commit once this many changes queued up during
    /// the previous one (`GroupCommit::linger_after`; default: the store's).
    #[arg(long)]
    linger_after: Option<usize>,
    /// In-process coordinator: the longest linger in microseconds (`GroupCommit::max_linger`).
    #[arg(long)]
    max_linger_us: Option<u64>,
    /// Also print CPU time and context switches per transaction of each thread group
    /// (threads of the same name summed), from /proc.
    #[arg(long)]
    thread_stats: bool,
    /// etcd client URLs (`http://host:port`, comma-separated) whose `/metrics` are read
    /// before and after the measured window: etcd transactions, puts, deletes and raft
    /// proposals per global transaction.
    #[arg(long, value_delimiter = ',')]
    etcd_metrics: Vec<String>,
    /// A file of `pid starttime name` lines (e.g. a cluster's STATE/pids): the CPU time of
    /// each of those processes over the measured window, per global transaction.
    #[arg(long)]
    pids_file: Option<PathBuf>,
    /// Before the warm-up, wait up to this many seconds until every coordinator begins (and
    /// rolls back) a transaction.
    #[arg(long, default_value_t = 0.0)]
    wait_ready: f64,
    /// Authenticate to the `--coordinator` targets with this access key and secret key
    /// (`ACCESS:SECRET`; TarsCpp local authentication: their proxy strings say `-e 1`).
    #[arg(long, value_name = "AK:SK", value_parser = parse_auth_key, requires = "coordinator")]
    auth_key: Option<(String, String)>,
    /// Call the `--coordinator` targets over TLS (`ssl` endpoints), trusting the CA
    /// certificates in this PEM file.
    #[arg(long, value_name = "PEM", requires = "coordinator")]
    tls_ca: Option<PathBuf>,
}

/// `ACCESS:SECRET` as (access key, secret key); the access key is up to the first `:`.
fn parse_auth_key(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((ak, sk)) if !ak.is_empty() && !sk.is_empty() => Ok((ak.into(), sk.into())),
        _ => Err("expected ACCESS_KEY:SECRET_KEY".into()),
    }
}

/// Participants that commit and roll back every branch at once, counting the calls.
#[derive(Default)]
struct CountingParticipant {
    commits: AtomicU64,
    rollbacks: AtomicU64,
}

struct ParticipantImpl(Arc<CountingParticipant>);

impl Participant for ParticipantImpl {
    fn branch_commit(
        &self,
        _current: &mut Current,
        _xid: TarsString,
        _branch_id: i64,
        _branch_type: BranchType,
        _resource_id: TarsString,
        _application_data: TarsString,
    ) -> Result<BranchStatus, ServantError> {
        self.0.commits.fetch_add(1, Ordering::Relaxed);
        Ok(BranchStatus::PhaseTwo_Committed)
    }

    fn branch_rollback(
        &self,
        _current: &mut Current,
        _xid: TarsString,
        _branch_id: i64,
        _branch_type: BranchType,
        _resource_id: TarsString,
        _application_data: TarsString,
    ) -> Result<BranchStatus, ServantError> {
        self.0.rollbacks.fetch_add(1, Ordering::Relaxed);
        Ok(BranchStatus::PhaseTwo_Rollbacked)
    }
}

/// The objects of the two branches' resource managers.
const PARTICIPANT_OBJS: [&str; 2] = ["TxBench.Rm1.ParticipantObj", "TxBench.Rm2.ParticipantObj"];

/// Starts the participant server; returns it and the two branches' resource ids.
fn start_participants(
    host: &str,
    counts: &Arc<CountingParticipant>,
) -> anyhow::Result<(Server, [String; 2])> {
    let mut servants = Servants::new();
    for obj in PARTICIPANT_OBJS {
        servants.add(
            obj,
            Arc::new(ParticipantServant::new(ParticipantImpl(counts.clone()))),
        );
    }
    let mut adapter = AdapterConfig::new(
        "TxBench.ParticipantAdapter",
        Endpoint::tcp(host, 0),
        Arc::new(servants),
    );
    // The servant never blocks: serve on the net thread.
    adapter.threads = 0;
    let server = Server::start(ServerConfig::default(), vec![adapter])
        .context("starting the participant server")?;
    let port = server
        .local_addr("TxBench.ParticipantAdapter")
        .context("participant server not bound")?
        .port();
    let resources = PARTICIPANT_OBJS.map(|o| format!("{o}@tcp -h {host} -p {port} -t 3000"));
    Ok((server, resources))
}

/// Why a transaction failed (each kind counted separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Failure {
    /// A call did not complete (timeout, connection, server error).
    Call(&'static str),
    /// The coordinator answered with `ResultCode::Failed`.
    Refused(&'static str, i32),
    /// `commit` answered a status other than `Committed`.
    CommitStatus(i32),
    /// `begin` answered an empty XID.
    EmptyXid,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Call(op) => write!(f, "{op}: call failed"),
            Failure::Refused(op, code) => write!(f, "{op}: refused with error code {code}"),
            Failure::CommitStatus(s) => write!(f, "commit: status {s} instead of Committed"),
            Failure::EmptyXid => write!(f, "begin: empty xid"),
        }
    }
}

fn call<T>(
    op: &'static str,
    r: Result<(TxResult, T), CallError>,
    first_error: &std::sync::Mutex<Option<String>>,
) -> Result<T, Failure> {
    match r {
        Ok((res, value)) if res.code == ResultCode::Success => Ok(value),
        Ok((res, _)) => {
            note(first_error, || {
                format!("{op}: {:?}: {}", res.error, res.message)
            });
            Err(Failure::Refused(op, i32::from(res.error)))
        }
        Err(e) => {
            note(first_error, || format!("{op}: {e}"));
            Err(Failure::Call(op))
        }
    }
}

fn note(first_error: &std::sync::Mutex<Option<String>>, what: impl FnOnce() -> String) {
    let mut first = first_error.lock().unwrap_or_else(|e| e.into_inner());
    if first.is_none() {
        *first = Some(what());
    }
}

/// What every transaction needs.
struct Plan {
    mode: Mode,
    resources: [String; 2],
    /// Numbers the AT row keys, so every transaction locks rows of its own.
    next_row: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
    /// Times each call out on the load generator's runtime (when the proxies do not).
    call_timeout: Option<Duration>,
}

/// `call`, timed out after `timeout` on the load generator's runtime (when given).
async fn timed<T>(
    timeout: Option<Duration>,
    call: impl std::future::Future<Output = Result<T, CallError>>,
) -> Result<T, CallError> {
    match timeout {
        None => call.await,
        Some(t) => tokio::time::timeout(t, call).await.unwrap_or_else(|_| {
            Err(CallError::Timeout(
                u64::try_from(t.as_millis()).unwrap_or(u64::MAX),
            ))
        }),
    }
}

/// One global transaction: begin, two branch registrations, commit.
async fn transaction(proxy: &CoordinatorProxy, plan: &Plan) -> Result<(), Failure> {
    let e = &plan.first_error;
    let t = plan.call_timeout;
    let xid = call(
        "begin",
        timed(t, proxy.begin_async("tx-bench", "bench", 60_000)).await,
        e,
    )?;
    if xid.is_empty() {
        return Err(Failure::EmptyXid);
    }
    let row = plan.next_row.fetch_add(1, Ordering::Relaxed);
    for (i, resource) in plan.resources.iter().enumerate() {
        let keys = match plan.mode {
            Mode::At => format!("t{i}:{row}"),
            Mode::Tcc => String::new(),
        };
        call(
            "branchRegister",
            timed(
                t,
                proxy.branch_register_async(
                    &xid,
                    plan.mode.branch_type(),
                    resource,
                    "tx-bench",
                    &keys,
                    "",
                ),
            )
            .await,
            e,
        )?;
    }
    let status = call("commit", timed(t, proxy.commit_async(&xid)).await, e)?;
    if status != GlobalStatus::Committed {
        note(e, || format!("commit of {xid}: {status:?}"));
        return Err(Failure::CommitStatus(i32::from(status)));
    }
    Ok(())
}

/// The results of one task.
struct TaskResult {
    hist: Histogram<u64>,
    ok: u64,
    /// Committed ones, measured or not (each leaves two branch commits to the participants).
    all_ok: u64,
    failures: std::collections::BTreeMap<Failure, u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds")
}

/// Runs transactions back to back until `stop`; counts the successes that ended while
/// `measuring`, and every failure.
async fn task(
    proxy: CoordinatorProxy,
    plan: Arc<Plan>,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> TaskResult {
    let mut r = TaskResult {
        hist: histogram(),
        ok: 0,
        all_ok: 0,
        failures: Default::default(),
    };
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        match transaction(&proxy, &plan).await {
            Ok(()) if measuring.load(Ordering::Relaxed) => {
                r.all_ok += 1;
                let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                let _ = r.hist.record(us.clamp(1, 120_000_000));
                r.ok += 1;
            }
            Ok(()) => r.all_ok += 1,
            // Failures count whenever they happen (warm-up and wind-down too).
            Err(f) => *r.failures.entry(f).or_default() += 1,
        }
    }
    r
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

/// CPU time and context switches of one thread.
#[derive(Debug, Clone, Copy, Default)]
struct ThreadUse {
    cpu: Duration,
    switches: u64,
}

/// [`ThreadUse`] of every thread of this process, by thread id, with its name.
fn thread_use() -> std::collections::BTreeMap<u64, (String, ThreadUse)> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(tid) = entry.file_name().to_string_lossy().parse::<u64>() else {
            continue;
        };
        let path = entry.path();
        let name = std::fs::read_to_string(path.join("comm"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let cpu = std::fs::read_to_string(path.join("stat"))
            .ok()
            .and_then(|stat| {
                let rest = stat.rsplit_once(')')?.1.to_owned();
                let f: Vec<&str> = rest.split_whitespace().collect();
                let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
                Some(Duration::from_millis(ticks * 10))
            })
            .unwrap_or_default();
        let switches = std::fs::read_to_string(path.join("status"))
            .map(|status| {
                status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches"))
                    .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0);
        out.insert(tid, (name, ThreadUse { cpu, switches }));
    }
    out
}

/// Prints per thread group (same name) the CPU and switches per transaction between two
/// [`thread_use`] snapshots.
fn print_thread_use(
    before: &std::collections::BTreeMap<u64, (String, ThreadUse)>,
    after: &std::collections::BTreeMap<u64, (String, ThreadUse)>,
    transactions: u64,
) {
    let mut groups = std::collections::BTreeMap::<String, (usize, ThreadUse)>::new();
    for (tid, (name, now)) in after {
        let was = before.get(tid).map(|(_, u)| *u).unwrap_or_default();
        let g = groups.entry(name.clone()).or_default();
        g.0 += 1;
        g.1.cpu += now.cpu.saturating_sub(was.cpu);
        g.1.switches += now.switches.saturating_sub(was.switches);
    }
    let n = transactions.max(1) as f64;
    let mut rows: Vec<_> = groups.into_iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1 .1.cpu));
    println!("  per thread group: CPU us / transaction, context switches / transaction");
    for (name, (threads, u)) in rows {
        if u.cpu.is_zero() && u.switches == 0 {
            continue;
        }
        println!(
            "    {name:<18} x{threads:<3} {:>7.1} us {:>6.2} switches",
            u.cpu.as_secs_f64() * 1e6 / n,
            u.switches as f64 / n
        );
    }
}

/// The in-process coordinator and what it runs on.
struct InProcess {
    service: CoordinatorService,
    server: Server,
    _dir: Option<tempfile::TempDir>,
    data_dir: PathBuf,
}

fn start_coordinator(args: &Args) -> anyhow::Result<(InProcess, String)> {
    let (dir, data_dir) = match &args.data_dir {
        Some(d) => (None, d.clone()),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("tx-bench-")
                .tempdir_in(std::env::temp_dir())
                .context("temporary store directory")?;
            let path = dir.path().to_path_buf();
            (Some(dir), path)
        }
    };
    let config = CoordinatorConfig {
        data_dir: data_dir.clone(),
        in_memory: false,
        port: 0,
        net_threads: args.server_net_threads,
        ..CoordinatorConfig::default()
    };
    let service = CoordinatorService::open(config).context("opening the coordinator")?;
    let mut group = service.store().group_commit();
    if let Some(n) = args.linger_after {
        group.linger_after = n;
    }
    if let Some(us) = args.max_linger_us {
        group.max_linger = Duration::from_micros(us);
    }
    if args.no_linger {
        group = GroupCommit::NO_LINGER;
    }
    service.store().set_group_commit(group);
    let server = service.start().context("starting the coordinator")?;
    let port = server
        .local_addr(ADAPTER)
        .context("coordinator not bound")?
        .port();
    Ok((
        InProcess {
            service,
            server,
            _dir: dir,
            data_dir,
        },
        format!("127.0.0.1:{port}"),
    ))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.concurrency == 0 || args.connections == 0 || args.threads == 0 {
        bail!("--concurrency, --connections and --threads must be at least 1");
    }
    let counts = Arc::new(CountingParticipant::default());
    let (participants, resources) = start_participants(&args.participant_host, &counts)?;
    let (local, targets) = if args.coordinator.is_empty() {
        let (local, target) = start_coordinator(&args)?;
        (Some(local), vec![target])
    } else {
        (None, args.coordinator.clone())
    };
    let mut communicator = Communicator::new();
    if let Some((ak, sk)) = &args.auth_key {
        communicator = communicator.with_auth_key(ak.clone(), sk.clone());
    }
    if let Some(ca) = &args.tls_ca {
        let tls = tars::tls::ClientTls::from_pem_files(ca, None)
            .with_context(|| format!("--tls-ca {}", ca.display()))?;
        communicator = communicator.with_tls(tls);
    }
    let protocol = if args.tls_ca.is_some() { "ssl" } else { "tcp" };
    let auth = if args.auth_key.is_some() { " -e 1" } else { "" };
    let call_timeout = Duration::from_millis(args.call_timeout_ms);
    // A proxy timeout of zero schedules no timer per call; the runtime times calls out then.
    let proxy_timeout = if args.proxy_timeouts {
        call_timeout
    } else {
        Duration::ZERO
    };
    let proxy_strings = targets
        .iter()
        .map(|target| {
            let (host, port) = target
                .rsplit_once(':')
                .with_context(|| format!("--coordinator {target:?} is not host:port"))?;
            Ok(format!(
                "{COORDINATOR_OBJ}@{protocol} -h {host} -p {port} -t {}{auth}",
                args.call_timeout_ms
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // One string_to_proxy per connection: each proxy has its own connection. Connection i
    // goes to coordinator i mod n.
    let proxies = (0..args.connections)
        .map(|i| {
            communicator
                .string_to_proxy(&proxy_strings[i % proxy_strings.len()])
                .map(|p| CoordinatorProxy::new(p).with_timeout(proxy_timeout))
        })
        .collect::<Result<Vec<_>, _>>()
        .context("coordinator proxy")?;
    // Fail early (and clearly) when a coordinator is not there.
    for (target, proxy_string) in targets.iter().zip(&proxy_strings) {
        let (r, _) = CoordinatorProxy::new(
            communicator
                .string_to_proxy(proxy_string)
                .context("coordinator proxy")?,
        )
        .with_timeout(call_timeout)
        .get_status("0:0:0")
        .with_context(|| format!("coordinator at {target}"))?;
        if r.code != ResultCode::Success {
            bail!("getStatus of {target} answered {r:?}");
        }
    }
    // Wait until every coordinator takes transactions (a cluster node may not lead a
    // fragment yet right after it started).
    if args.wait_ready > 0.0 {
        let deadline = Instant::now() + Duration::from_secs_f64(args.wait_ready);
        for (target, proxy_string) in targets.iter().zip(&proxy_strings) {
            let proxy = CoordinatorProxy::new(
                communicator
                    .string_to_proxy(proxy_string)
                    .context("coordinator proxy")?,
            )
            .with_timeout(call_timeout);
            loop {
                let last = match proxy.begin("tx-bench", "ready-probe", 10_000) {
                    Ok((r, xid)) if r.code == ResultCode::Success && !xid.is_empty() => {
                        match proxy.rollback(&xid) {
                            Ok((r, _)) if r.code == ResultCode::Success => break,
                            other => format!("rollback: {other:?}"),
                        }
                    }
                    other => format!("begin: {other:?}"),
                };
                if Instant::now() >= deadline {
                    bail!("coordinator at {target} not ready within --wait-ready: {last}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let watched = match &args.pids_file {
        Some(p) => observe::read_pids(p)?,
        None => Vec::new(),
    };

    let plan = Arc::new(Plan {
        mode: args.mode,
        resources,
        next_row: AtomicU64::new(0),
        first_error: std::sync::Mutex::new(None),
        call_timeout: (!args.proxy_timeouts).then_some(call_timeout),
    });
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .thread_name("tx-bench")
        .enable_time()
        .build()
        .context("load generator runtime")?;
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|i| {
            runtime.spawn(task(
                proxies[i % proxies.len()].clone(),
                plan.clone(),
                measuring.clone(),
                stop.clone(),
            ))
        })
        .collect();

    std::thread::sleep(Duration::from_secs_f64(args.warmup));
    let stats_before = local.as_ref().map(|l| l.service.store().stats());
    let commits_before = counts.commits.load(Ordering::Relaxed);
    let etcd_before = observe::etcd_samples(&args.etcd_metrics)?;
    let watched_before: Vec<_> = watched.iter().map(observe::proc_cpu).collect();
    let machine_before = observe::machine_cpu();
    let cpu_before = process_cpu();
    let threads_before = args.thread_stats.then(thread_use);
    measuring.store(true, Ordering::Relaxed);
    let start = Instant::now();
    // Sample how many transactions the coordinator holds open (in-process only).
    let mut open_max = 0usize;
    let mut open_sum = 0usize;
    let mut open_samples = 0usize;
    let open_start = local.as_ref().map_or(0, |l| l.service.core().len());
    let end = start + Duration::from_secs_f64(args.seconds);
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        std::thread::sleep(left.min(Duration::from_millis(50)));
        if let Some(l) = &local {
            let n = l.service.core().len();
            open_max = open_max.max(n);
            open_sum += n;
            open_samples += 1;
        }
    }
    measuring.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_after = process_cpu();
    let machine_after = observe::machine_cpu();
    let watched_after: Vec<_> = watched.iter().map(observe::proc_cpu).collect();
    let etcd_after = observe::etcd_samples(&args.etcd_metrics)?;
    let threads_after = args.thread_stats.then(thread_use);
    let stats_after = local.as_ref().map(|l| l.service.store().stats());
    let branch_commits = counts.commits.load(Ordering::Relaxed) - commits_before;
    let open_end = local.as_ref().map_or(0, |l| l.service.core().len());
    stop.store(true, Ordering::Relaxed);

    let mut hist = histogram();
    let mut ok = 0u64;
    let mut all_ok = 0u64;
    let mut failures = std::collections::BTreeMap::<Failure, u64>::new();
    for t in tasks {
        let r = runtime
            .block_on(t)
            .map_err(|e| anyhow::anyhow!("load task: {e}"))?;
        hist.add(&r.hist)?;
        ok += r.ok;
        all_ok += r.all_ok;
        for (f, n) in r.failures {
            *failures.entry(f).or_default() += n;
        }
    }
    drop(runtime);
    let failed: u64 = failures.values().sum();

    let rate = ok as f64 / elapsed;
    let (p50, p99, max) = (
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        hist.max(),
    );
    println!(
        "{} ({} mode, {} in flight, {} connection(s), {} coordinator): {rate:.0} tx/s over {elapsed:.1} s; \
         latency p50 {p50} us, p99 {p99} us, max {max} us; {ok} committed, {failed} failed",
        args.label,
        args.mode.name(),
        args.concurrency,
        args.connections,
        if local.is_some() {
            "in-process".to_owned()
        } else {
            format!("{} remote", targets.len())
        },
    );
    for (f, n) in &failures {
        println!("  failed: {n} x {f}");
    }
    if let Some(first) = plan
        .first_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
    {
        println!("  first error: {first}");
    }
    let cpu_per_tx_us = match (cpu_before, cpu_after) {
        (Some(b), Some(a)) if ok > 0 => {
            let cpu = a.saturating_sub(b).as_secs_f64();
            println!(
                "  process CPU: {:.2} cores ({:.1} us per transaction, {})",
                cpu / elapsed,
                cpu * 1e6 / ok as f64,
                if local.is_some() {
                    "coordinator, participants and load generator together"
                } else {
                    "participants and load generator"
                }
            );
            cpu * 1e6 / ok as f64
        }
        _ => 0.0,
    };
    if let (Some(b), Some(a)) = (&threads_before, &threads_after) {
        print_thread_use(b, a, ok);
    }
    let per_tx = |x: f64| x / ok.max(1) as f64;
    // CPU per watched process (and this one), in us per transaction, as JSON entries.
    let mut proc_json = vec![format!("\"tx-bench\":{cpu_per_tx_us:.1}")];
    for ((p, b), a) in watched.iter().zip(&watched_before).zip(&watched_after) {
        match (b, a) {
            (Some(b), Some(a)) => {
                let cpu = a.saturating_sub(*b).as_secs_f64();
                println!(
                    "  CPU of {:<12} (pid {:>7}): {:.2} cores, {:.1} us per transaction",
                    p.name,
                    p.pid,
                    cpu / elapsed,
                    per_tx(cpu * 1e6)
                );
                proc_json.push(format!("\"{}\":{:.1}", p.name, per_tx(cpu * 1e6)));
            }
            _ => println!("  CPU of {} (pid {}): gone", p.name, p.pid),
        }
    }
    let (busy_cores, steal_cores) = match (machine_before, machine_after) {
        (Some(b), Some(a)) => (
            a.busy.saturating_sub(b.busy).as_secs_f64() / elapsed,
            a.steal.saturating_sub(b.steal).as_secs_f64() / elapsed,
        ),
        _ => (0.0, 0.0),
    };
    println!("  machine: {busy_cores:.2} cores busy, {steal_cores:.2} cores stolen");
    let etcd = observe::etcd_delta(&etcd_before, &etcd_after);
    let etcd_get = |name: &str| etcd.get(name).copied().unwrap_or(0.0);
    if !etcd.is_empty() {
        println!(
            "  etcd per global transaction: {:.2} txns, {:.2} puts, {:.2} deletes, {:.2} ranges, \
             {:.2} proposals, {:.0} put bytes",
            per_tx(etcd_get("etcd_mvcc_txn_total")),
            per_tx(etcd_get("etcd_mvcc_put_total")),
            per_tx(etcd_get("etcd_mvcc_delete_total")),
            per_tx(etcd_get("etcd_mvcc_range_total")),
            per_tx(etcd_get("etcd_server_proposals_committed_total")),
            per_tx(etcd_get("etcd_debugging_mvcc_total_put_size_in_bytes")),
        );
    }
    // Every transaction commits two branches: half the calls is the rate phase two completes
    // transactions at (for AT it can trail the rate the TM sees).
    let phase_two_rate = branch_commits as f64 / 2.0 / elapsed;
    println!(
        "  phase two: {branch_commits} branchCommit calls, {phase_two_rate:.0} transactions/s completed"
    );
    if local.is_some() {
        println!(
            "  open transactions in the coordinator: {:.0} on average, {open_max} at most, \
             {open_start} -> {open_end} over the run ({:+.0}/s)",
            open_sum as f64 / open_samples.max(1) as f64,
            (open_end as f64 - open_start as f64) / elapsed
        );
    }
    let delta = match (stats_before, stats_after) {
        (Some(b), Some(a)) => StoreStats {
            commits: a.commits - b.commits,
            changes: a.changes - b.changes,
            writes: a.writes - b.writes,
            lingered: a.lingered - b.lingered,
        },
        _ => StoreStats::default(),
    };
    if let Some(l) = &local {
        let per = |n: u64| n as f64 / delta.commits.max(1) as f64;
        println!(
            "  store ({}): {} commits ({:.0}/s, each one fsync), {} changes, {} record writes; \
             per commit: {:.1} changes, {:.1} writes, {:.1} transactions; {} commit(s) lingered ({:?})",
            l.data_dir.display(),
            delta.commits,
            delta.commits as f64 / elapsed,
            delta.changes,
            delta.writes,
            per(delta.changes),
            per(delta.writes),
            per(ok),
            delta.lingered,
            l.service.store().group_commit(),
        );
    }

    // Let the background work (async commit of AT branches) finish before stopping: every
    // committed transaction's two branches reach the participants.
    let deadline = Instant::now() + Duration::from_secs(15);
    while counts.commits.load(Ordering::Relaxed) < 2 * all_ok && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let missing = (2 * all_ok).saturating_sub(counts.commits.load(Ordering::Relaxed));
    let mut problems = Vec::new();
    if failed > 0 {
        problems.push(format!("{failed} transaction(s) failed"));
    }
    if missing > 0 {
        let p = format!(
            "{missing} branch commit(s) of the {all_ok} transactions committed in the whole run \
             (warm-up included) did not reach the participants within 15 s"
        );
        println!("  {p}");
        problems.push(p);
    }
    let mut open_left = 0;
    if let Some(l) = &local {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !l.service.core().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        open_left = l.service.core().len();
        if open_left > 0 {
            let p = format!(
                "{open_left} transaction(s) still open in the coordinator 15 s after the load stopped"
            );
            println!("  {p}");
            problems.push(p);
        }
    }
    let rollbacks = counts.rollbacks.load(Ordering::Relaxed);
    if rollbacks > 0 {
        println!("  participants saw {rollbacks} rollback(s)");
    }

    println!(
        "{{\"label\":\"{}\",\"mode\":\"{}\",\"in_process\":{},\"tls\":{},\"auth\":{},\"concurrency\":{},\"connections\":{},\
         \"seconds\":{elapsed:.3},\"tx_per_sec\":{rate:.0},\"p50_us\":{p50},\"p99_us\":{p99},\"max_us\":{max},\
         \"committed\":{ok},\"failed\":{failed},\"store_commits\":{},\"store_changes\":{},\"store_writes\":{},\"store_lingered\":{},\
         \"branch_commits\":{branch_commits},\"phase_two_tx_per_sec\":{phase_two_rate:.0},\"open_start\":{open_start},\"open_end\":{open_end},\"cpu_us_per_tx\":{cpu_per_tx_us:.1},\"open_left\":{open_left},\"branch_commits_missing\":{missing},\
         \"targets\":{},\"busy_cores\":{busy_cores:.2},\"steal_cores\":{steal_cores:.2},\
         \"etcd_txns\":{},\"etcd_puts\":{},\"etcd_deletes\":{},\"etcd_ranges\":{},\"etcd_proposals\":{},\"etcd_put_bytes\":{},\
         \"cpu_us_per_tx_by_process\":{{{}}}}}",
        args.label,
        args.mode.name(),
        local.is_some(),
        args.tls_ca.is_some(),
        args.auth_key.is_some(),
        args.concurrency,
        args.connections,
        delta.commits,
        delta.changes,
        delta.writes,
        delta.lingered,
        targets.len(),
        etcd_get("etcd_mvcc_txn_total"),
        etcd_get("etcd_mvcc_put_total"),
        etcd_get("etcd_mvcc_delete_total"),
        etcd_get("etcd_mvcc_range_total"),
        etcd_get("etcd_server_proposals_committed_total"),
        etcd_get("etcd_debugging_mvcc_total_put_size_in_bytes"),
        proc_json.join(","),
    );

    if let Some(l) = local {
        l.server.shutdown();
        l.service.shutdown();
    }
    participants.shutdown();
    if !problems.is_empty() {
        bail!("the run failed: {}", problems.join("; "));
    }
    Ok(())
}
