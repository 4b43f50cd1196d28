//! A child process for tests: started with stdout piped, its `READY ...` line read with a
//! timeout, signalled by pid, and killed by pid (SIGKILL, then reaped) when dropped — also when
//! the test panics.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::kill;
use nix::unistd::Pid;

#[doc(no_inline)]
pub use nix::sys::signal::Signal;

/// Raises this process's open-file limit (soft) to at least `wanted` when the hard limit
/// allows; returns the soft limit in force afterwards. Children started later inherit it.
pub fn raise_open_files(wanted: u64) -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 0;
    };
    if soft >= wanted {
        return soft;
    }
    let target = wanted.min(hard);
    match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
        Ok(()) => target,
        Err(_) => soft,
    }
}

/// Sends `signal` to process `pid`; panics if it cannot be sent.
pub fn send_signal(pid: u32, signal: Signal) {
    let raw = i32::try_from(pid).expect("pid fits in i32");
    kill(Pid::from_raw(raw), signal).unwrap_or_else(|e| panic!("kill -{signal} {pid}: {e}"));
}

/// A running child process that printed its `READY` line.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
    name: String,
    ready: String,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl ChildProcess {
    /// Spawns `command` (stdin closed, stdout piped; stderr as the command says) and waits at
    /// most `limit` for a stdout line starting with `READY`. Panics, after killing the child,
    /// if it cannot start, exits, or prints no such line in time.
    pub fn start(mut command: Command, limit: Duration) -> ChildProcess {
        let name = command.get_program().to_string_lossy().into_owned();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let pipe = child.stdout.take();
        let lines = stdout.clone();
        // Reads stdout to its end, so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            let Some(pipe) = pipe else { return };
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("READY") {
                    let _ = tx.send(rest.trim().to_owned());
                }
                lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let mut process = ChildProcess {
            child,
            name,
            ready: String::new(),
            stdout,
        };
        match rx.recv_timeout(limit) {
            Ok(ready) => process.ready = ready,
            Err(_) => {
                let status = process.child.try_wait().ok().flatten();
                process.kill();
                panic!(
                    "{} printed no READY line within {limit:?} (exit status: {status:?}); stdout: {:?}",
                    process.name,
                    process.stdout_lines()
                );
            }
        }
        process
    }

    /// What followed `READY` on the ready line, trimmed (e.g. `17890`, or
    /// `registry=17890 coordinator=17891`).
    pub fn ready(&self) -> &str {
        &self.ready
    }

    /// The ready line's first word as a port (`READY <port>`); panics if it is not one.
    pub fn ready_port(&self) -> u16 {
        self.ready
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{}: no port in READY {:?}", self.name, self.ready))
    }

    /// The port of `key=<port>` on the ready line (`READY registry=1 coordinator=2`).
    pub fn ready_field(&self, key: &str) -> Option<u16> {
        self.ready
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.parse().ok())
    }

    /// The lines the child printed on stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's resident set size in bytes (`VmRSS` of `/proc/<pid>/status`); `None` when
    /// it cannot be read (the child is gone, or no procfs).
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// Sends `signal` to the child by pid.
    pub fn signal(&self, signal: Signal) {
        send_signal(self.pid(), signal);
    }

    /// Waits at most `limit` for the child to exit and returns its status; panics (after
    /// killing it) if it is still running then.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => {
                    self.kill();
                    panic!("{} did not exit within {limit:?}", self.name);
                }
                Err(e) => panic!("{}: waiting for it failed: {e}", self.name),
            }
        }
    }

    /// Kills the child (SIGKILL, by pid) and reaps it; harmless if it already exited.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
