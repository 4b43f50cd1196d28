//! Running the Node peer scripts of `node/`.

use std::path::Path;
use std::process::Command;

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
    for package in ["stream", "rpc"] {
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

/// Runs `node node/<script> <args...>`.
pub fn run(script: &str, args: &[&Path]) -> Result<PeerRun, String> {
    ensure_peers()?;
    let dir = crate_dir().join("node");
    let out = Command::new("node")
        .current_dir(&dir)
        .arg(script)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run node {script}: {e}"))?;
    Ok(PeerRun {
        success: out.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    })
}
