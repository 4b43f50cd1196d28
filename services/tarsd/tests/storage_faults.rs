//! `tarsd` as a process when its stores are damaged, truncated or gone: it exits with an error
//! that names the file (never a panic, exit code 101), refuses to start the coordinator over
//! from nothing where one ran before unless `--init` is given, and with `--init` continues the
//! epochs, so no XID is handed out twice.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tars::client::Communicator;
use tars_coordinator::xid::Xid;
use tars_protocols::tarsrs::{InstanceFilter, RegistryProxy};
use tars_protocols::tarstx::{BranchType, CoordinatorProxy, GlobalStatus, ResultCode};
use tars_test_support::{instance, poll_until_ok, ChildProcess, Signal};

const COORDINATOR_OBJ: &str = "tars.tarscoordinator.CoordinatorObj";

fn command(dir: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tarsd"));
    command
        .args(["--data-dir", dir.to_str().expect("utf-8")])
        .args(["--registry-port", "0", "--coordinator-port", "0"])
        .args(extra)
        .env("RUST_LOG", "warn");
    command
}

/// Starts tarsd on `dir`, begins one transaction, stops tarsd (SIGTERM); the XID's epoch.
fn run_once(dir: &Path, extra: &[&str]) -> u64 {
    let mut child = ChildProcess::start(command(dir, extra), Duration::from_secs(30));
    let port = child.ready_field("coordinator").expect("coordinator port");
    let proxy = CoordinatorProxy::new(
        Communicator::new()
            .string_to_proxy(&format!(
                "{COORDINATOR_OBJ}@tcp -h 127.0.0.1 -p {port} -t 5000"
            ))
            .expect("proxy"),
    );
    let (_, xid) = proxy.begin("faults", "t", 60_000).expect("begin");
    child.signal(Signal::SIGTERM);
    assert!(child.wait_exit(Duration::from_secs(20)).success());
    xid.parse::<Xid>().expect("xid").id.epoch
}

/// Runs tarsd on `dir`, which must fail to start: its exit code (not a panic's) and stderr.
fn fails_to_start(dir: &Path) -> String {
    let mut child = command(dir, &[])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tarsd");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tarsd kept running on a damaged data directory");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("stderr");
    }
    assert!(!status.success(), "tarsd started: {stderr}");
    // A panic inside the storage engine may be printed by the panic hook, but it is caught:
    // tarsd ends with its own error, not the exit code of a panic.
    assert_ne!(status.code(), Some(101), "tarsd panicked: {stderr}");
    assert!(stderr.contains("Error: "), "no error line: {stderr}");
    stderr
}

#[test]
fn a_truncated_or_deleted_coordinator_store_is_refused_and_init_continues_the_epochs() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("coordinator").join("coordinator.redb");
    let first = run_once(dir.path(), &[]);

    std::fs::File::create(&db).expect("truncate to 0");
    let stderr = fails_to_start(dir.path());
    assert!(stderr.contains(&db.display().to_string()), "{stderr}");
    assert!(stderr.contains("--init"), "{stderr}");

    std::fs::remove_file(&db).expect("delete");
    let stderr = fails_to_start(dir.path());
    assert!(stderr.contains("missing or empty"), "{stderr}");

    let after = run_once(dir.path(), &["--init"]);
    assert!(
        after > first,
        "epoch {after} after {first}: an XID could repeat"
    );
    // And an ordinary start goes on from there.
    assert!(run_once(dir.path(), &[]) > after);
}

/// Zeroes `file` from `from` to its end.
fn zero_from(file: &Path, from: u64) {
    let len = std::fs::metadata(file).expect("meta").len();
    assert!(len > from, "{} is {len} bytes", file.display());
    let mut bytes = std::fs::read(file).expect("read");
    for b in &mut bytes[from as usize..] {
        *b = 0;
    }
    std::fs::write(file, bytes).expect("write");
}

#[test]
fn damaged_store_files_give_an_error_naming_the_file() {
    for store in ["coordinator", "registry"] {
        let dir = tempfile::tempdir().expect("dir");
        run_once(dir.path(), &[]);
        let file = dir.path().join(store).join(format!("{store}.redb"));
        // Everything after the header zeroed: the engine finds no valid tree.
        zero_from(&file, 512);
        let stderr = fails_to_start(dir.path());
        assert!(
            stderr.contains(&file.display().to_string()),
            "{store}: the error does not name {}: {stderr}",
            file.display()
        );
    }
}

/// A tmpfs mounted for one test (unmounted when dropped); `None` (the test skips, saying so)
/// where this process may not mount.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => Some(Tmpfs(dir.to_owned())),
            _ => None,
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Fills the file system of `dir` with `filler` until it is full.
fn fill(filler: &Path) {
    let mut f = std::fs::File::create(filler).expect("filler");
    let block = vec![0x5a_u8; 64 * 1024];
    while std::io::Write::write_all(&mut f, &block).is_ok() {}
    let _ = f.sync_all();
}

#[test]
fn after_a_full_disk_the_node_writes_again_once_space_returns() {
    let root = tempfile::tempdir().expect("dir");
    let Some(_tmpfs) = Tmpfs::mount(root.path(), "8m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root) for the disk-full test");
        return;
    };
    let dir = root.path().join("data");
    let mut child = ChildProcess::start(command(&dir, &[]), Duration::from_secs(30));
    let coordinator = child.ready_field("coordinator").expect("coordinator port");
    let registry_port = child.ready_field("registry").expect("registry port");
    let communicator = Communicator::new();
    let proxy = CoordinatorProxy::new(
        communicator
            .string_to_proxy(&format!(
                "{COORDINATOR_OBJ}@tcp -h 127.0.0.1 -p {coordinator} -t 5000"
            ))
            .expect("proxy"),
    );
    let registry = RegistryProxy::new(
        communicator
            .string_to_proxy(&format!(
                "tars.tarsregistry.RegistryObj@tcp -h 127.0.0.1 -p {registry_port} -t 5000"
            ))
            .expect("proxy"),
    );
    // A branch on a participant nobody serves: after a restart the transaction is rolled
    // back and stays in phase two (not Finished) as long as it is stored.
    let unreachable = "Disk.Nobody.Obj@tcp -h 127.0.0.1 -p 1 -t 500";
    let with_branch = |xid: &str| {
        let (r, _) = proxy
            .branch_register(xid, BranchType::TCC, unreachable, "disk", "", "")
            .expect("register");
        r.code == ResultCode::Success
    };
    let (r, before) = proxy.begin("disk", "before", 60_000).expect("begin");
    assert_eq!(r.code, ResultCode::Success);
    assert!(with_branch(&before));

    let filler = root.path().join("filler");
    fill(&filler);
    // Writes are refused cleanly while the disk is full (some may still fit at first).
    let refused = (0..200).any(|i| {
        let (r, _) = proxy
            .begin("disk", format!("full{i}"), 60_000)
            .expect("answered");
        r.code != ResultCode::Success
    });
    assert!(refused, "no begin was refused on a full disk");
    let registered = (0..200).all(|i| {
        registry
            .register_instance(&instance("Disk.Full.Obj", "127.0.0.1", 1000 + i))
            .is_ok_and(|rc| rc == 0)
    });
    assert!(!registered, "no registration was refused on a full disk");

    // Space returns: writes resume without a restart.
    std::fs::remove_file(&filler).expect("free space");
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let (r, xid) = proxy.begin("disk", "after", 60_000).expect("begin");
        if r.code == ResultCode::Success && with_branch(&xid) {
            break xid;
        }
        assert!(Instant::now() < deadline, "begin still refused: {r:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    poll_until_ok(
        "a registration after the disk had room again",
        Duration::from_secs(20),
        || match registry.register_instance(&instance("Disk.After.Obj", "127.0.0.1", 1)) {
            Ok(0) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );

    // What was acknowledged survives a restart.
    child.signal(Signal::SIGTERM);
    assert!(child.wait_exit(Duration::from_secs(20)).success());
    let child = ChildProcess::start(command(&dir, &[]), Duration::from_secs(30));
    let coordinator = child.ready_field("coordinator").expect("coordinator port");
    let proxy = CoordinatorProxy::new(
        communicator
            .string_to_proxy(&format!(
                "{COORDINATOR_OBJ}@tcp -h 127.0.0.1 -p {coordinator} -t 5000"
            ))
            .expect("proxy"),
    );
    for xid in [&before, &after] {
        // Undecided transactions roll back after a restart; these cannot reach their
        // participant, so they stay in phase two: they were stored.
        let (_, status) = proxy.get_status(xid).expect("status");
        assert_ne!(status, GlobalStatus::Finished, "{xid} was lost");
    }
    let registry_port = child.ready_field("registry").expect("registry port");
    let registry = RegistryProxy::new(
        communicator
            .string_to_proxy(&format!(
                "tars.tarsregistry.RegistryObj@tcp -h 127.0.0.1 -p {registry_port} -t 5000"
            ))
            .expect("proxy"),
    );
    let filter = InstanceFilter {
        obj_name: "Disk.After.Obj".into(),
        // No heartbeat since the restart: listed as inactive.
        include_inactive: true,
        ..InstanceFilter::default()
    };
    let (_, listed) = registry.list(&filter).expect("list");
    assert_eq!(
        listed.len(),
        1,
        "the registration made after the disk had room"
    );
    drop(child);
}
