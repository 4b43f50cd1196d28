//! 10,000 connections to a tarsd process, each parking part of a 9.9 MB request frame: the
//! node's memory stays within its configured budget (`[limits] max_buffered_bytes`) above
//! what it used before, the connections holding the most are closed, and a legitimate client
//! connected beforehand is served throughout.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tars::client::Communicator;
use tars_protocols::tarsrs::{InstanceFilter, RegistryProxy};
use tars_test_support::{raise_open_files, ChildProcess};

const CONNECTIONS: usize = 10_000;
const BUDGET: u64 = 128 << 20;
/// The length each attacker announces: a 9.9 MB frame (under the 10 MB frame limit).
const ANNOUNCED: u32 = 9_900_000;
/// What each attacker sends of it.
const SENT: usize = 64 * 1024;

#[test]
fn ten_thousand_partial_frames_stay_within_the_memory_budget_and_a_client_is_served() {
    let have = raise_open_files(CONNECTIONS as u64 + 2_000);
    assert!(
        have >= CONNECTIONS as u64 + 1_000,
        "this test needs {} open files per process; the limit is {have}",
        CONNECTIONS + 1_000
    );
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("tarsd.toml");
    std::fs::write(
        &config,
        format!(
            "[limits]\nmax_buffered_bytes = {BUDGET}\nframe_timeout_ms = 120000\n\
             max_connections = {n}\nmax_connections_per_ip = {n}\n",
            n = CONNECTIONS + 100
        ),
    )
    .expect("config");
    let mut command = Command::new(env!("CARGO_BIN_EXE_tarsd"));
    command
        .args(["--config", config.to_str().expect("utf-8")])
        .args([
            "--data-dir",
            dir.path().join("data").to_str().expect("utf-8"),
        ])
        .args(["--registry-port", "0", "--coordinator-port", "0"])
        .env("RUST_LOG", "error");
    let child = ChildProcess::start(command, Duration::from_secs(30));
    let port = child.ready_field("registry").expect("registry port");

    // The legitimate client connects first and keeps calling.
    let registry = RegistryProxy::new(
        Communicator::new()
            .string_to_proxy(&format!(
                "tars.tarsregistry.RegistryObj@tcp -h 127.0.0.1 -p {port} -t 3000"
            ))
            .expect("proxy"),
    );
    registry
        .list(&InstanceFilter::default())
        .expect("first call");
    std::thread::sleep(Duration::from_millis(300));
    let baseline = child.rss_bytes().expect("rss");

    let done = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let caller = {
        let (done, served, failed) = (done.clone(), served.clone(), failed.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                match registry.list(&InstanceFilter::default()) {
                    Ok((0, _)) => served.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let peak = Arc::new(AtomicU64::new(baseline));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        let pid = child.pid();
        std::thread::spawn(move || {
            let status = format!("/proc/{pid}/status");
            while !done.load(Ordering::Relaxed) {
                if let Some(rss) = std::fs::read_to_string(&status).ok().and_then(|s| {
                    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
                    line.split_whitespace().nth(1)?.parse::<u64>().ok()
                }) {
                    peak.fetch_max(rss * 1024, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    // The attack: every connection announces 9.9 MB and sends 64 KiB of it.
    let started = Instant::now();
    let mut header = ANNOUNCED.to_be_bytes().to_vec();
    header.resize(4 + SENT, 0x5a);
    let mut held = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else {
            continue;
        };
        let _ = c.set_write_timeout(Some(Duration::from_secs(2)));
        // A write the node refuses (it closed the connection) is part of the test.
        let _ = c.write_all(&header);
        held.push(c);
    }
    let attack = started.elapsed();
    let open_fds = std::fs::read_dir(format!("/proc/{}/fd", child.pid()))
        .map(|d| d.count())
        .unwrap_or(0);
    std::thread::sleep(Duration::from_secs(2));
    let after = child.rss_bytes().expect("rss");
    done.store(true, Ordering::Relaxed);
    caller.join().expect("caller");
    sampler.join().expect("sampler");
    let peak = peak.load(Ordering::Relaxed);
    let (served, failed) = (
        served.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    eprintln!(
        "node holds {open_fds} descriptors; {} connections in {attack:?}, {} MiB sent; RSS baseline {} MiB, peak {} MiB, after \
         {} MiB (budget {} MiB); legitimate calls: {served} served, {failed} failed",
        held.len(),
        (held.len() * SENT) >> 20,
        baseline >> 20,
        peak >> 20,
        after >> 20,
        BUDGET >> 20
    );
    assert!(
        held.len() >= CONNECTIONS * 9 / 10,
        "only {} connections",
        held.len()
    );
    assert!(
        peak < baseline + BUDGET,
        "peak RSS {} MiB is past baseline {} MiB + budget {} MiB",
        peak >> 20,
        baseline >> 20,
        BUDGET >> 20
    );
    assert!(served >= 10, "{served} legitimate calls served");
    assert_eq!(failed, 0, "legitimate calls failed during the attack");
    drop(held);
    drop(child);
}
