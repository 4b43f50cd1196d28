//! CPU and memory load of this process, read from Linux `/proc` (zero elsewhere), for the
//! dynamic metadata a server sends with its heartbeats.

use std::time::Instant;

/// Clock ticks per second of `/proc/self/stat` times (`USER_HZ`, 100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

/// Samples the process's CPU share between two calls and its memory share.
#[derive(Debug)]
pub(crate) struct ProcessLoad {
    last: Option<(Instant, u64)>,
    cores: f64,
}

impl ProcessLoad {
    pub fn new() -> ProcessLoad {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get() as f64)
            .unwrap_or(1.0);
        let mut load = ProcessLoad { last: None, cores };
        load.last = cpu_ticks().map(|t| (Instant::now(), t));
        load
    }

    /// CPU time used since the previous sample as a share of all cores (0.0..=1.0).
    pub fn cpu(&mut self) -> f64 {
        let Some(ticks) = cpu_ticks() else {
            return 0.0;
        };
        let now = Instant::now();
        let share = match self.last {
            Some((at, before)) => {
                let wall = now.duration_since(at).as_secs_f64();
                if wall <= 0.0 {
                    0.0
                } else {
                    let used = ticks.saturating_sub(before) as f64 / USER_HZ;
                    (used / wall / self.cores).clamp(0.0, 1.0)
                }
            }
            None => 0.0,
        };
        self.last = Some((now, ticks));
        share
    }

    /// Resident memory as a share of the machine's memory (0.0..=1.0).
    pub fn memory(&self) -> f64 {
        let rss = status_kib("/proc/self/status", "VmRSS:");
        let total = status_kib("/proc/meminfo", "MemTotal:");
        match (rss, total) {
            (Some(r), Some(t)) if t > 0 => (r as f64 / t as f64).clamp(0.0, 1.0),
            _ => 0.0,
        }
    }
}

/// utime + stime of this process in clock ticks.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces; fields after it start past the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The `kB` value of line `key` in a `/proc` status-style file.
fn status_kib(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_are_shares() {
        let mut load = ProcessLoad::new();
        // Burn a little CPU so the sample has something to measure.
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let cpu = load.cpu();
        assert!((0.0..=1.0).contains(&cpu), "cpu {cpu}");
        let mem = load.memory();
        assert!((0.0..=1.0).contains(&mem), "mem {mem}");
        if cfg!(target_os = "linux") {
            assert!(mem > 0.0, "a running process has resident memory");
        }
    }
}
