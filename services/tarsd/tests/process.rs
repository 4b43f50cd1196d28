//! The `tarsd` binary as a child process: the example configuration is honoured, SIGTERM shuts
//! it down cleanly, and `kill -9` in the middle of phase two loses no transaction and leaves
//! none half-applied — participants found through the node's own registry.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tars::TarsString;

use parking_lot::Mutex;
use tars::client::Communicator;
use tars::registration::RegistrationConfig;
use tars::server::{
    AdapterConfig, Current, Endpoint, ServantError, Servants, Server, ServerConfig,
};
use tars_protocols::tarstx::{
    BranchStatus, BranchType, CoordinatorProxy, GlobalStatus, Participant, ParticipantServant,
    ResultCode,
};
use tars_test_support::{
    free_port, poll_until_ok, proxy, proxy_string, wait_until, ChildProcess, Signal,
};

const COORDINATOR_OBJ: &str = "tars.tarscoordinator.CoordinatorObj";
const ACCOUNT_A: &str = "Bank.AccountA.ParticipantObj";
const ACCOUNT_B: &str = "Bank.AccountB.ParticipantObj";

/// `tarsd` (killed by pid when dropped) and the ports of its READY line.
struct Tarsd {
    child: ChildProcess,
    registry: u16,
    coordinator: u16,
}

impl Tarsd {
    fn start(args: &[&str]) -> Tarsd {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tarsd"));
        command.args(args).env("RUST_LOG", "warn");
        let child = ChildProcess::start(command, Duration::from_secs(30));
        match (
            child.ready_field("registry"),
            child.ready_field("coordinator"),
        ) {
            (Some(registry), Some(coordinator)) => Tarsd {
                child,
                registry,
                coordinator,
            },
            _ => panic!(
                "tarsd printed READY {:?}, not registry=.. coordinator=..",
                child.ready()
            ),
        }
    }

    fn coordinator(&self) -> CoordinatorProxy {
        CoordinatorProxy::new(
            Communicator::new()
                .string_to_proxy(&proxy_string(COORDINATOR_OBJ, self.coordinator))
                .expect("proxy"),
        )
    }
}

/// A config with fast background periods on fixed ports (the same after a restart).
fn write_config(dir: &Path, registry: u16, coordinator: u16) -> String {
    let path = dir.join("tarsd.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = {data:?}\n\
             [registry]\nport = {registry}\nheartbeat_timeout_ms = 2000\n\
             [coordinator]\nport = {coordinator}\nfragment = 3\nphase_two_timeout_ms = 1000\n\
             retry_period_ms = 100\nmax_backoff_ms = 400\ntimeout_check_ms = 100\nasync_commit_ms = 100\n",
            data = dir.join("data").display().to_string(),
        ),
    )
    .expect("write config");
    path.display().to_string()
}

/// What a participant did for each branch: the phase-two calls it got, in order.
type Ledger = Arc<Mutex<BTreeMap<(String, i64), Vec<&'static str>>>>;

struct Account {
    ledger: Ledger,
    delay: Duration,
}

impl Account {
    fn apply(&self, xid: String, branch: i64, op: &'static str) {
        // Phase two takes a while, so that a kill lands in the middle of it.
        std::thread::sleep(self.delay);
        self.ledger
            .lock()
            .entry((xid, branch))
            .or_default()
            .push(op);
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
        self.apply(xid.to_string(), branch_id, "commit");
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
        self.apply(xid.to_string(), branch_id, "rollback");
        Ok(BranchStatus::PhaseTwo_Rollbacked)
    }
}

/// Both account participants in one server that registers itself with the node's registry.
fn start_accounts(registry_port: u16, ledger: Ledger, delay: Duration) -> Server {
    let mut servants = Servants::new();
    for obj in [ACCOUNT_A, ACCOUNT_B] {
        servants.add(
            obj,
            Arc::new(ParticipantServant::new(Account {
                ledger: ledger.clone(),
                delay,
            })),
        );
    }
    let mut adapter = AdapterConfig::new(
        "AccountAdapter",
        Endpoint::tcp("127.0.0.1", 0),
        Arc::new(servants),
    );
    adapter.threads = 4;
    let config = ServerConfig {
        announcer: Some(
            RegistrationConfig::new(format!(
                "tars.tarsregistry.RegistryObj@tcp -h 127.0.0.1 -p {registry_port}"
            ))
            .with_heartbeat_interval(Duration::from_millis(200))
            .into(),
        ),
        ..ServerConfig::default()
    };
    Server::start(config, vec![adapter]).expect("accounts")
}

#[test]
fn example_config_is_honoured_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().expect("dir");
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tarsd.example.toml"))
            .expect("example config");
    let (registry, coordinator) = (free_port(), free_port());
    let text = example
        .replace(
            "data_dir = \"tars-data\"",
            &format!(
                "data_dir = {:?}",
                dir.path().join("d").display().to_string()
            ),
        )
        .replace("port = 17890", &format!("port = {registry}"))
        .replace("port = 17891", &format!("port = {coordinator}"))
        .replace("fragment = 0", "fragment = 12");
    let path = dir.path().join("tarsd.toml");
    std::fs::write(&path, text).expect("write");
    let mut node = Tarsd::start(&["--config", path.to_str().expect("utf-8 path")]);
    assert_eq!((node.registry, node.coordinator), (registry, coordinator));
    let (r, xid) = node
        .coordinator()
        .begin("app", "tx", 10_000)
        .expect("begin");
    assert_eq!(r.code, ResultCode::Success);
    assert_eq!(
        tars_coordinator::xid::Xid::fragment_of(&xid),
        Some(12),
        "fragment from the config file: {xid}"
    );
    assert!(
        xid.starts_with(&format!("127.0.0.1:{coordinator}:")),
        "{xid}"
    );
    assert!(dir.path().join("d/coordinator/coordinator.redb").exists());
    assert!(dir.path().join("d/registry/registry.redb").exists());
    node.child.signal(Signal::SIGTERM);
    let status = node.child.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
}

#[derive(Debug, Default, Clone)]
struct TmRecord {
    xid: String,
    branches: Vec<i64>,
    decision: Option<&'static str>,
    reply: Option<GlobalStatus>,
}

/// One TM: transactions until a call fails (the node was killed).
fn tm_loop(
    coordinator: CoordinatorProxy,
    worker: usize,
    records: Arc<Mutex<Vec<TmRecord>>>,
    stop: Arc<AtomicBool>,
) {
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let Ok((r, xid)) = coordinator.begin("bank", "transfer", 30_000) else {
            return;
        };
        assert_eq!(r.code, ResultCode::Success, "{r:?}");
        let index = {
            let mut records = records.lock();
            records.push(TmRecord {
                xid: xid.to_string(),
                ..TmRecord::default()
            });
            records.len() - 1
        };
        for account in [ACCOUNT_A, ACCOUNT_B] {
            match coordinator.branch_register(&xid, BranchType::TCC, account, "tm", "", "") {
                Ok((r, id)) if r.code == ResultCode::Success => {
                    records.lock()[index].branches.push(id)
                }
                Ok((r, _)) => panic!("register refused: {r:?}"),
                Err(_) => return,
            }
        }
        // Mostly commits; some rollbacks; some left undecided (the restart rolls them back).
        let decision = match (worker + n) % 10 {
            0 => continue,
            1 | 2 => "rollback",
            _ => "commit",
        };
        records.lock()[index].decision = Some(decision);
        let answer = if decision == "commit" {
            coordinator.commit(&xid)
        } else {
            coordinator.rollback(&xid)
        };
        match answer {
            Ok((r, status)) => {
                assert_eq!(r.code, ResultCode::Success, "{r:?}");
                records.lock()[index].reply = Some(status);
            }
            Err(_) => return,
        }
    }
}

#[test]
fn kill_9_mid_phase_two_loses_nothing_and_half_applies_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let (registry, coordinator) = (free_port(), free_port());
    let config = write_config(dir.path(), registry, coordinator);
    let node = Tarsd::start(&["--config", &config]);
    let ledger = Ledger::default();
    let accounts = start_accounts(registry, ledger.clone(), Duration::from_millis(15));
    // Participants are found through the registry: wait until both are listed.
    let registry_proxy = tars_protocols::tarsrs::RegistryProxy::new(proxy(
        "tars.tarsregistry.RegistryObj",
        registry,
    ));
    wait_until("participants registered", Duration::from_secs(10), || {
        registry_proxy
            .list(&Default::default())
            .map(|(_, l)| l.len() >= 2)
            .unwrap_or(false)
    });

    let records = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let (c, r, s) = (node.coordinator(), records.clone(), stop.clone());
            std::thread::spawn(move || tm_loop(c, w, r, s))
        })
        .collect();
    // Let transactions flow until phase two has happened a good number of times.
    wait_until("phase-two traffic", Duration::from_secs(20), || {
        ledger.lock().len() >= 60
    });
    let mut node = node;
    node.child.signal(Signal::SIGKILL);
    node.child.wait_exit(Duration::from_secs(10));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("tm worker");
    }
    let records = records.lock().clone();
    let in_flight = records
        .iter()
        .filter(|r| r.decision.is_some() && r.reply.is_none())
        .count();
    assert!(
        in_flight > 0,
        "the kill should land while decisions are in flight: {} transactions, {} decided, {} answered",
        records.len(),
        records.iter().filter(|r| r.decision.is_some()).count(),
        records.iter().filter(|r| r.reply.is_some()).count(),
    );

    // Restart on the same data and ports: recovery finishes every transaction.
    let node = Tarsd::start(&["--config", &config]);
    let c = node.coordinator();
    poll_until_ok(
        "every transaction to finish after the restart",
        Duration::from_secs(30),
        || {
            let open: Vec<(String, Option<GlobalStatus>)> = records
                .iter()
                .map(|r| (r.xid.clone(), c.get_status(&r.xid).ok().map(|(_, s)| s)))
                .filter(|(_, s)| *s != Some(GlobalStatus::Finished))
                .collect();
            if open.is_empty() {
                Ok(())
            } else {
                Err(open)
            }
        },
    );
    // Calls still in flight at the participants settle.
    std::thread::sleep(Duration::from_millis(300));

    let ledger = ledger.lock().clone();
    let mut by_xid: HashMap<&str, Vec<(i64, &Vec<&str>)>> = HashMap::new();
    for ((xid, branch), ops) in &ledger {
        by_xid.entry(xid.as_str()).or_default().push((*branch, ops));
    }
    let (mut committed, mut rolled_back) = (0, 0);
    for r in &records {
        let branches = by_xid.get(r.xid.as_str()).cloned().unwrap_or_default();
        let ops: Vec<&str> = branches
            .iter()
            .flat_map(|(_, o)| o.iter().copied())
            .collect();
        // Never half-applied: one outcome for the whole transaction.
        assert!(
            !(ops.contains(&"commit") && ops.contains(&"rollback")),
            "{} got both commits and rollbacks: {branches:?}",
            r.xid
        );
        let outcome = if ops.contains(&"commit") {
            "commit"
        } else {
            "rollback"
        };
        // Nothing lost: every acknowledged branch got its phase two.
        for id in &r.branches {
            let got = ledger.get(&(r.xid.clone(), *id));
            assert!(
                got.is_some_and(|o| o.contains(&outcome)),
                "{}: acknowledged branch {id} never got its {outcome} ({r:?}, {branches:?})",
                r.xid
            );
        }
        match (r.decision, r.reply) {
            (Some("commit"), Some(GlobalStatus::Committed)) => {
                assert_eq!(outcome, "commit", "{r:?}")
            }
            (Some("rollback"), Some(GlobalStatus::Rollbacked)) => {
                assert_eq!(outcome, "rollback", "{r:?}")
            }
            (None, _) if !r.branches.is_empty() => {
                assert_eq!(outcome, "rollback", "undecided {r:?}")
            }
            (Some(_), Some(other)) => panic!("unexpected reply {other:?} for {r:?}"),
            _ => {}
        }
        if !r.branches.is_empty() {
            if outcome == "commit" {
                committed += 1
            } else {
                rolled_back += 1
            }
        }
    }
    assert!(
        committed > 0 && rolled_back > 0,
        "{committed} committed, {rolled_back} rolled back"
    );
    eprintln!(
        "{} transactions ({in_flight} in flight at the kill): {committed} committed, {rolled_back} rolled back",
        records.len()
    );
    accounts.shutdown();
}
