//! `tarsd` as a process when its stores are damaged, truncated or gone: it exits with an error
//! that names the file (never a panic, exit code 101), refuses to start the coordinator over
//! from nothing where one ran before unless `--init` is given, and with `--init` continues the
//! epochs, so no XID is handed out twice.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tars::client::Communicator;
use tars_coordinator::xid::Xid;
use tars_protocols::tarstx::CoordinatorProxy;
use tars_test_support::{ChildProcess, Signal};

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
