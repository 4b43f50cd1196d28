//! What other processes did during the measured window: etcd's own counters (its Prometheus
//! `/metrics`) and the CPU time of processes named in a pids file (`pid starttime name` per
//! line, as `scripts/cluster-up.sh` writes it), and the machine's busy and stolen CPU.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

/// The etcd counters read (all monotonic on one member; every member applies every write).
pub const ETCD_COUNTERS: [&str; 6] = [
    "etcd_mvcc_txn_total",
    "etcd_mvcc_put_total",
    "etcd_mvcc_delete_total",
    "etcd_mvcc_range_total",
    "etcd_debugging_mvcc_total_put_size_in_bytes",
    "etcd_server_proposals_committed_total",
];

/// One etcd member's counters at one moment, by name.
pub type EtcdSample = BTreeMap<&'static str, f64>;

/// `host:port` of `http://host:port[/...]` or `host:port`.
fn authority(url: &str) -> &str {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    rest.split('/').next().unwrap_or(rest)
}

/// Reads [`ETCD_COUNTERS`] from `url`'s `/metrics` (plain HTTP/1.0).
pub fn etcd_sample(url: &str) -> anyhow::Result<EtcdSample> {
    let host = authority(url);
    let mut stream = TcpStream::connect(host).with_context(|| format!("etcd metrics at {host}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET /metrics HTTP/1.0\r\nHost: {host}\r\nAccept: text/plain\r\n\r\n"
    )?;
    let mut body = String::new();
    stream
        .read_to_string(&mut body)
        .with_context(|| format!("reading {host}/metrics"))?;
    let mut out = EtcdSample::new();
    for line in body.lines() {
        let Some((name, value)) = line.split_once(' ') else {
            continue;
        };
        if let Some(known) = ETCD_COUNTERS.iter().find(|c| **c == name) {
            if let Ok(v) = value.trim().parse::<f64>() {
                out.insert(known, v);
            }
        }
    }
    if out.is_empty() {
        bail!("{host}/metrics has none of the etcd counters (is it an etcd client URL?)");
    }
    Ok(out)
}

/// Samples every member; a member that does not answer fails the run.
pub fn etcd_samples(urls: &[String]) -> anyhow::Result<Vec<EtcdSample>> {
    urls.iter().map(|u| etcd_sample(u)).collect()
}

/// Per counter, the largest increase over the members (they all apply the same writes; the
/// one that applied the most by the second sample is the most complete view).
pub fn etcd_delta(before: &[EtcdSample], after: &[EtcdSample]) -> BTreeMap<&'static str, f64> {
    let mut out = BTreeMap::new();
    for (b, a) in before.iter().zip(after) {
        for name in ETCD_COUNTERS {
            if let (Some(x), Some(y)) = (b.get(name), a.get(name)) {
                let d = (y - x).max(0.0);
                let e = out.entry(name).or_insert(0.0f64);
                *e = e.max(d);
            }
        }
    }
    out
}

/// A process from a pids file.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: u32,
    /// Field 22 of `/proc/<pid>/stat` when it was started (tells a reused pid apart).
    pub start: String,
    pub name: String,
}

/// The processes of a pids file (`pid starttime name` per line).
pub fn read_pids(path: &Path) -> anyhow::Result<Vec<Proc>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(pid), Some(start), Some(name)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Ok(pid) = pid.parse() else { continue };
        out.push(Proc {
            pid,
            start: start.to_owned(),
            name: name.to_owned(),
        });
    }
    Ok(out)
}

/// User + system CPU of `pid` (all its threads) if it is still the process recorded.
pub fn proc_cpu(p: &Proc) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.pid)).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: field 3 is index 0, so utime (14) is 11, stime (15) 12, starttime (22) 19.
    if f.get(19).copied() != Some(p.start.as_str()) {
        return None;
    }
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The machine's CPU (all cores): busy (user, nice, system, irq, softirq) and stolen time.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineCpu {
    pub busy: Duration,
    pub steal: Duration,
}

/// Reads the first line of `/proc/stat`.
pub fn machine_cpu() -> Option<MachineCpu> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let ticks = |i: usize| v.get(i).copied().unwrap_or(0);
    let busy = ticks(0) + ticks(1) + ticks(2) + ticks(5) + ticks(6);
    Some(MachineCpu {
        busy: Duration::from_millis(busy * 10),
        steal: Duration::from_millis(ticks(7) * 10),
    })
}
