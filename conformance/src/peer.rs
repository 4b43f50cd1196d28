//! Running the Node peer scripts of `node/`.

use std::ffi::OsStr;
use std::io::Read;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::crate_dir;

/// Output of a peer script run.
#[derive(Debug)]
pub struct PeerRun {
    /// Whether it exited with status 0.
    pub success: bool,
    /// Its stdout and stderr.
    pub output: String,
}

/// Checks that node and the npm peers are installed, with a message saying how to fix it.
pub fn ensure_peers() -> Result<(), String> {
    let modules = crate_dir().join("node").join("node_modules").join("@tars");
    for package in ["stream", "rpc", "monitor"] {
        let dir = modules.join(package);
        if !dir.join("package.json").exists() {
            return Err(format!(
                "npm peer @tars/{package} is missing ({}): run `npm ci` in conformance/node \
                 (scripts/test-all.sh does)",
                dir.display()
            ));
        }
    }
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "`node --version` failed ({}); the conformance suite needs Node 20",
            o.status
        )),
        Err(e) => Err(format!(
            "cannot run `node` ({e}); the conformance suite needs Node 20 on PATH"
        )),
    }
}

/// How long one peer script may run before it is killed and reported as failed.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `node node/<script> <args...>`, killing it after [`SCRIPT_TIMEOUT`].
pub fn run<A: AsRef<OsStr>>(script: &str, args: &[A]) -> Result<PeerRun, String> {
    ensure_peers()?;
    let mut child = node_command(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run node {script}: {e}"))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let mut output = format!("{}{}", collect(stdout), collect(stderr));
    if status.is_none() {
        output.push_str(&format!(
            "\n[node {script} killed after {} s]",
            SCRIPT_TIMEOUT.as_secs()
        ));
    }
    Ok(PeerRun {
        success: status.is_some_and(|s| s.success()),
        output,
    })
}

fn node_command(script: &str) -> Command {
    let mut cmd = Command::new("node");
    // @tars/monitor (pulled in by @tars/rpc) trips Node's circular-require warning.
    cmd.current_dir(crate_dir().join("node"))
        .env("NODE_NO_WARNINGS", "1")
        .arg(script);
    cmd
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> Option<JoinHandle<String>> {
    pipe.map(|mut p| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = p.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    })
}

fn collect(handle: Option<JoinHandle<String>>) -> String {
    handle.and_then(|h| h.join().ok()).unwrap_or_default()
}

/// The command that starts the Node peer server `script` on `port` (`node node/<script>
/// <port>`; it prints `READY <port>` once listening), once the peers are installed. Tests run it
/// as a `tars_test_support::ChildProcess`.
pub fn node_server_command(script: &str, port: u16) -> Result<Command, String> {
    ensure_peers()?;
    let mut command = node_command(script);
    command.arg(port.to_string());
    Ok(command)
}

/// The command that runs `node node/<script>` (without arguments), once the peers are
/// installed; for scripts configured by their environment (e.g. `TARS_CONFIG`) that tests run
/// as a `tars_test_support::ChildProcess`.
pub fn node_script_command(script: &str) -> Result<Command, String> {
    ensure_peers()?;
    Ok(node_command(script))
}
