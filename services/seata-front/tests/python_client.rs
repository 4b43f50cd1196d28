//! seata-python's own message classes and codec (driven by `tests/py/seata_client.py` over a
//! plain socket) against the front end and a real coordinator.
//!
//! Needs `python3` with seata-python importable: `python3 -m pip install --no-deps --target
//! DIR seata-python loguru==0.5.3`, then `TARS_SEATA_PY_PATH=DIR` (prepended to PYTHONPATH).
//! Skipped, loudly, when it is not there, unless `TARS_SEATA_PY_REQUIRED=1` (CI), which makes
//! that a failure.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Env;

fn python() -> Command {
    let mut command = Command::new("python3");
    if let Some(dir) = std::env::var_os("TARS_SEATA_PY_PATH") {
        let mut paths = vec![PathBuf::from(dir)];
        if let Some(existing) = std::env::var_os("PYTHONPATH") {
            paths.extend(std::env::split_paths(&existing));
        }
        command.env(
            "PYTHONPATH",
            std::env::join_paths(paths).expect("PYTHONPATH"),
        );
    }
    command
}

/// Whether seata-python imports; `Err` says why not.
fn seata_python() -> Result<(), String> {
    let out = python()
        .args(["-c", "import seata.core.rpc.v1.ProtocolV1"])
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(stderr
            .trim()
            .lines()
            .last()
            .unwrap_or("no output")
            .to_owned())
    }
}

/// Runs `command` (its stdout captured) for at most `limit`, killing it by pid after that.
fn run_bounded(mut command: Command, limit: Duration) -> std::process::Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "seata_client.py did not finish within {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn seata_python_codec_talks_to_the_front_end() {
    if let Err(why) = seata_python() {
        if std::env::var("TARS_SEATA_PY_REQUIRED").as_deref() == Ok("1") {
            panic!("TARS_SEATA_PY_REQUIRED=1 but seata-python does not import: {why}");
        }
        eprintln!(
            "SKIPPED seata_python_codec_talks_to_the_front_end: seata-python does not import \
             ({why}); install it with `python3 -m pip install --no-deps --target DIR \
             seata-python loguru==0.5.3` and set TARS_SEATA_PY_PATH=DIR"
        );
        return;
    }
    let env = Env::start();
    // XIDs carry the Seata address, as tarsd sets it.
    env.service
        .core()
        .xids()
        .set_address(&env.front.local_addr().to_string());
    let port = env.front.local_addr().port();
    let mut command = python();
    command
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/seata_client.py"
        ))
        .args(["127.0.0.1", &port.to_string()]);
    let out = run_bounded(command, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "seata_client.py failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON");
    let xid = v["begin"]["xid"].as_str().expect("xid");
    let expected = serde_json::json!({
        "ping": true,
        "register_tm": {"identified": true, "version": tars_seata_front::SERVER_VERSION},
        "register_rm": {"identified": true},
        "begin": {"result": 1, "code": 0, "xid": xid},
        "branch_register": {"result": 1, "code": 0, "branch_id": v["branch_register"]["branch_id"]},
        "conflict": {"result": 0, "code": 2, "branch_id": 0},
        "lock_query_held": {"result": 1, "code": 0, "lockable": false},
        "lock_query_free": {"result": 1, "code": 0, "lockable": true},
        "status": {"result": 1, "code": 0, "global_status": 1},
        "merged": [
            {"result": 1, "code": 0, "global_status": 1},
            {"result": 1, "code": 0, "lockable": false},
            {"result": 1, "code": 0, "lockable": true}
        ],
        "commit_empty": {"result": 1, "code": 0, "global_status": 9},
        "commit": {"result": 1, "code": 0, "global_status": 9},
        "at_branch_commit": [["commit", 0, "jdbc:mysql://127.0.0.1:3306/pydb", null]],
        "commit_unknown": {"result": 1, "code": 0, "global_status": 15},
        "rollback_unknown": {"result": 1, "code": 0, "global_status": 15},
        "status_unknown": {"result": 1, "code": 0, "global_status": 15},
        "tcc_commit": {"result": 1, "code": 0, "global_status": 9},
        "tcc_commit_seen": [
            ["commit", 0, "py-tcc-account", "first"],
            ["commit", 1, "py-tcc-account", "second"]
        ],
        "tcc_rollback": {"result": 1, "code": 0, "global_status": 11},
        "tcc_rollback_seen": [
            ["rollback", 2, "py-tcc-account", "c"],
            ["rollback", 1, "py-tcc-account", "b"],
            ["rollback", 0, "py-tcc-account", "a"]
        ],
        "timeout_seen": [["rollback", 0, "py-tcc-account", "late"]],
        "timeout_status": 15
    });
    assert_eq!(v, expected);
    assert!(
        xid.starts_with(&format!("127.0.0.1:{port}:")),
        "the XID carries the Seata address: {xid}"
    );
    assert!(v["branch_register"]["branch_id"].as_i64().unwrap_or(0) > 0);
}
