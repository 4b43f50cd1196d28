//! `proxy-loadgen`: drives a Tars server through the generated proxy of
//! `conformance/idl/Hello.tars` (`Test::HelloProxy::echo`), the way an application calls — the
//! counterpart of `tars-loadgen`, which speaks the wire protocol by hand.
//!
//! - `--mode async`: C proxies (one connection each), each kept at M calls in flight
//!   (`echo_async` futures in a `FuturesUnordered`, closed loop), driven by `--drivers D`
//!   threads (default 1: an application's executor thread; the proxies are spread over them).
//! - `--mode sync`: C threads, each calling `echo` and waiting for the reply.
//!
//! Every reply is checked: the echoed string must be the call's own string (it carries a
//! per-call counter) and the return value its UTF-16 length. Prints calls/s, latency
//! percentiles and the client process's CPU time per call (user + system, from
//! `/proc/self/stat`, measured over the timed part only).
//!
//! ```sh
//! cargo run --release -p tars-loadgen --bin proxy-loadgen -- --port 18601 -c 4 -m 64 -t 5
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use futures::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;
use tars::client::{CallError, Communicator};
use tars_conformance::hello::{Test, HELLO_OBJ};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    Async,
    Sync,
}

#[derive(Parser, Debug, Clone)]
#[command(about = "Tars RPC load generator through the generated proxy")]
struct Args {
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(long)]
    port: u16,
    /// `udp` to call over UDP.
    #[arg(long, default_value = "tcp")]
    transport: String,
    /// Async (futures) or sync (blocking) calls.
    #[arg(long, value_enum, default_value_t = Mode::Async)]
    mode: Mode,
    /// Proxies (connections) in async mode, calling threads in sync mode.
    #[arg(short = 'c', long, default_value_t = 4)]
    connections: usize,
    /// Calls in flight per connection (async mode).
    #[arg(short = 'm', long, default_value_t = 64)]
    inflight: usize,
    /// Client net threads.
    #[arg(long, default_value_t = 1)]
    net_threads: usize,
    /// Threads driving the async calls (async mode).
    #[arg(long, default_value_t = 1)]
    drivers: usize,
    /// Seconds to run (after a 1 s warm-up).
    #[arg(short = 't', long, default_value_t = 5.0)]
    seconds: f64,
    /// Payload size of the echoed string, in bytes.
    #[arg(long, default_value_t = 32)]
    payload: usize,
    /// Label printed with the results.
    #[arg(long, default_value = "server")]
    label: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// What one driver measured.
struct Worker {
    hist: Histogram<u64>,
    calls: u64,
    errors: u64,
    first_error: Option<String>,
}

/// The string of call `n`: the counter, padded to `len` bytes (one allocation).
fn payload(n: u64, len: usize) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(len.max(20));
    let _ = write!(s, "{n}");
    let pad = len.saturating_sub(s.len());
    s.extend(std::iter::repeat_n('.', pad));
    s
}

fn check(result: Result<(i32, tars::TarsString), CallError>, expected: &str) -> Result<(), String> {
    let (ret, echoed) = result.map_err(|e| e.to_string())?;
    if echoed.as_bytes() != expected.as_bytes() {
        return Err(format!("echoed {echoed:?}, expected {expected:?}"));
    }
    let want = expected.encode_utf16().count() as i32;
    if ret != want {
        return Err(format!("returned {ret}, expected {want}"));
    }
    Ok(())
}

struct Driver {
    proxies: Vec<Test::HelloProxy>,
    hist: Histogram<u64>,
    calls: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Driver {
    fn record(&mut self, measuring: bool, started: Instant, outcome: Result<(), String>) {
        if !measuring {
            return;
        }
        let us = started.elapsed().as_micros().max(1) as u64;
        let _ = self.hist.record(us.min(60_000_000));
        self.calls += 1;
        if let Err(e) = outcome {
            self.errors += 1;
            self.first_error.get_or_insert(e);
        }
    }

    fn finish(self) -> Worker {
        Worker {
            hist: self.hist,
            calls: self.calls,
            errors: self.errors,
            first_error: self.first_error,
        }
    }
}

fn run_async(
    mut d: Driver,
    args: &Args,
    counter: &AtomicU64,
    measuring: &AtomicBool,
    stop: &AtomicBool,
) -> Worker {
    let call = |k: usize, proxy: &Test::HelloProxy| {
        let s = payload(counter.fetch_add(1, Ordering::Relaxed), args.payload);
        let started = Instant::now();
        let fut = proxy.echo_async(&s);
        async move { (k, started, s, fut.await) }
    };
    let mut inflight = FuturesUnordered::new();
    for (k, proxy) in d.proxies.iter().enumerate() {
        for _ in 0..args.inflight {
            inflight.push(call(k, proxy));
        }
    }
    futures::executor::block_on(async {
        while let Some((k, started, s, result)) = inflight.next().await {
            d.record(
                measuring.load(Ordering::Relaxed),
                started,
                check(result, &s),
            );
            if !stop.load(Ordering::Relaxed) {
                inflight.push(call(k, &d.proxies[k]));
            }
        }
    });
    d.finish()
}

fn run_sync(
    mut d: Driver,
    args: &Args,
    counter: &AtomicU64,
    measuring: &AtomicBool,
    stop: &AtomicBool,
) -> Worker {
    while !stop.load(Ordering::Relaxed) {
        let s = payload(counter.fetch_add(1, Ordering::Relaxed), args.payload);
        let started = Instant::now();
        let result = d.proxies[0].echo(&s);
        d.record(
            measuring.load(Ordering::Relaxed),
            started,
            check(result, &s),
        );
    }
    d.finish()
}

/// CPU time (user + system) this process has used so far.
fn process_cpu() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("read /proc/self/stat")?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("parse /proc/self/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = fields
        .get(11..13)
        .context("short /proc/self/stat")?
        .iter()
        .map(|f| f.parse::<u64>())
        .sum::<Result<u64, _>>()?;
    // USER_HZ is 100 on every Linux ABI.
    Ok(Duration::from_millis(ticks * 10))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.connections == 0 || args.inflight == 0 {
        bail!("-c and -m must be at least 1");
    }
    let comm = Communicator::new().with_net_threads(args.net_threads);
    let target = format!(
        "{HELLO_OBJ}@{} -h {} -p {} -t 60000",
        args.transport, args.host, args.port
    );
    let counter = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    // Sync mode: one thread per proxy. Async mode: the proxies spread over the drivers.
    let threads = match args.mode {
        Mode::Sync => args.connections,
        Mode::Async => args.drivers.clamp(1, args.connections),
    };
    let mut groups: Vec<Vec<Test::HelloProxy>> = (0..threads).map(|_| Vec::new()).collect();
    for i in 0..args.connections {
        let servant = comm.string_to_proxy(&target)?;
        // Connect before the clock starts.
        servant
            .tars_ping()
            .with_context(|| format!("tars_ping {target}"))?;
        groups[i % threads].push(Test::HelloProxy::new(servant));
    }
    let mut handles = Vec::new();
    for proxies in groups {
        let driver = Driver {
            proxies,
            hist: Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?,
            calls: 0,
            errors: 0,
            first_error: None,
        };
        let (a, c, m, s) = (
            args.clone(),
            counter.clone(),
            measuring.clone(),
            stop.clone(),
        );
        handles.push(std::thread::spawn(move || match a.mode {
            Mode::Async => run_async(driver, &a, &c, &m, &s),
            Mode::Sync => run_sync(driver, &a, &c, &m, &s),
        }));
    }
    std::thread::sleep(Duration::from_secs(1));
    let cpu_before = process_cpu()?;
    measuring.store(true, Ordering::Relaxed);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(args.seconds));
    measuring.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = process_cpu()?.saturating_sub(cpu_before);
    stop.store(true, Ordering::Relaxed);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut calls, mut errors) = (0u64, 0u64);
    let mut first_error = None;
    for h in handles {
        let w = h.join().map_err(|_| anyhow::anyhow!("driver panicked"))?;
        hist.add(&w.hist)?;
        calls += w.calls;
        errors += w.errors;
        if first_error.is_none() {
            first_error = w.first_error;
        }
    }
    let rate = calls as f64 / elapsed;
    let cpu_us_per_call = if calls > 0 {
        cpu.as_secs_f64() * 1e6 / calls as f64
    } else {
        0.0
    };
    let mode = match args.mode {
        Mode::Async => format!(
            "async {}x{}, {} driver thread(s)",
            args.connections, args.inflight, threads
        ),
        Mode::Sync => format!("sync {} threads", args.connections),
    };
    if args.json {
        let line = serde_json::json!({
            "label": args.label,
            "client": "tars-rs proxy",
            "mode": mode,
            "calls": calls,
            "seconds": elapsed,
            "calls_per_sec": rate,
            "p50_us": hist.value_at_quantile(0.5),
            "p99_us": hist.value_at_quantile(0.99),
            "p999_us": hist.value_at_quantile(0.999),
            "max_us": hist.max(),
            "client_cpu_us_per_call": cpu_us_per_call,
            "errors": errors,
        });
        println!("{line}");
    } else {
        println!(
            "{}: tars-rs proxy {mode}: {calls} calls in {elapsed:.2} s = {rate:.0} calls/s; \
             latency p50 {} us, p99 {} us, p99.9 {} us, max {} us; client CPU {cpu_us_per_call:.2} us/call; errors {errors}",
            args.label,
            hist.value_at_quantile(0.5),
            hist.value_at_quantile(0.99),
            hist.value_at_quantile(0.999),
            hist.max(),
        );
    }
    if let Some(e) = first_error {
        bail!("{errors} calls failed; first: {e}");
    }
    Ok(())
}
