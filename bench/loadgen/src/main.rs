//! `tars-loadgen`: drives a Tars server with N connections, each keeping M calls in flight
//! (closed loop: a new call is sent as each reply arrives), for T seconds, and prints calls/s
//! and latency percentiles. The call is `echo(string s, out string r)` of
//! `conformance/idl/Hello.tars`, which both our server and the Node peer implement.
//!
//! Every reply is checked against its call: its full request id must be the one of the call
//! in flight in its slot, and (by default on every reply; `--check-every N` decodes every N-th)
//! the echoed string `r` must be the call's own string (which carries the request id) and the
//! return value its UTF-16 length, as both servers implement `echo`. With `--raw` (the
//! `mio-echo` baseline) each echoed frame must equal the frame sent, byte for byte. Replies
//! with `ret != 0` count as `errors`, replies that do not match as `mismatches`; the run exits
//! non-zero when either is above zero. Checking every reply measured within the run-to-run
//! noise against checking none (interop-server inline, 5 interleaved pairs of 3 s runs: ratio
//! of calls/s 0.89-1.19, median 0.95), so it is on by default.
//!
//! With `--tls-ca <pem>` the connections are TLS (an `ssl` endpoint; rustls with ring, the
//! server certificate verified against that CA and `--tls-server-name`, by default `--host`).
//!
//! With `--auth-key AK:SK` each connection first authenticates (TarsCpp local authentication,
//! an endpoint with `-e 1`; after the TLS handshake when TLS): it sends the signed
//! `BasicAuthPackage` request ([`tars::auth::request_frame`]) and waits for its answer, which
//! must be `AUTH_SUCC`, before the measured calls. That happens before the warm-up second, so
//! only the per-call cost of an authenticated connection is measured, not the handshake.
//!
//! CPU per call: the load generator's own CPU time (user + system, all threads, from
//! `/proc/self/stat`) during the measured seconds divided by the calls, and with
//! `--server-pid` the same for the server process.
//!
//! ```sh
//! cargo run --release -p tars-loadgen -- --port 18601 -c 4 -m 16 -t 5
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use hdrhistogram::Histogram;
use tars::bytes::BytesMut;
use tars::codec::DecodeLimits;
use tars::packet::{PacketCodec, ParamReader, ParamWriter, RequestPacket, ResponsePacket};
use tokio_util::codec::{Decoder, Encoder};

#[derive(Parser, Debug, Clone)]
#[command(about = "Tars RPC load generator")]
struct Args {
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(long)]
    port: u16,
    /// Object name.
    #[arg(long, default_value = "Test.HelloServer.HelloObj")]
    obj: String,
    /// Connections.
    #[arg(short = 'c', long, default_value_t = 4)]
    connections: usize,
    /// Calls in flight per connection.
    #[arg(short = 'm', long, default_value_t = 16)]
    inflight: usize,
    /// Seconds to run (after a 1 s warm-up).
    #[arg(short = 't', long, default_value_t = 5.0)]
    seconds: f64,
    /// Payload size of the echoed string, in bytes.
    #[arg(long, default_value_t = 32)]
    payload: usize,
    /// Label printed with the results.
    #[arg(long, default_value = "server")]
    label: String,
    /// Print one JSON line instead of text.
    #[arg(long)]
    json: bool,
    /// Do not decode replies: match echoed frames in order (for the `mio-echo` baseline);
    /// each must equal the frame sent, byte for byte.
    #[arg(long)]
    raw: bool,
    /// Decode and check the return value and echoed string of every N-th reply (1: all).
    /// The request id of every reply is always checked.
    #[arg(long, default_value_t = 1)]
    check_every: u64,
    /// Connect over TLS, trusting the CA certificates in this PEM file.
    #[arg(long)]
    tls_ca: Option<std::path::PathBuf>,
    /// The name the server certificate is verified against (default: `--host`).
    #[arg(long)]
    tls_server_name: Option<String>,
    /// Also report the CPU time per call of this process (the server), from `/proc`.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Authenticate each connection first with this access key and secret key
    /// (`ACCESS:SECRET`; TarsCpp local authentication, an endpoint with `-e 1`).
    #[arg(long, value_name = "AK:SK", value_parser = parse_auth_key, conflicts_with = "raw")]
    auth_key: Option<tars::auth::ClientKey>,
}

/// `ACCESS:SECRET` as a client key (the access key is up to the first `:`).
fn parse_auth_key(s: &str) -> Result<tars::auth::ClientKey, String> {
    match s.split_once(':') {
        Some((ak, sk)) if !ak.is_empty() && !sk.is_empty() => Ok(tars::auth::ClientKey {
            access_key: ak.to_string(),
            secret_key: sk.to_string(),
        }),
        _ => Err("expected ACCESS_KEY:SECRET_KEY".into()),
    }
}

/// Sends the local-authentication request for `obj` signed with `key` on `stream` and reads
/// its answer (into `inbuf`, where whatever follows it stays); fails unless it is `AUTH_SUCC`.
fn authenticate(
    stream: &mut dyn Stream,
    codec: &mut PacketCodec<ResponsePacket, RequestPacket>,
    inbuf: &mut BytesMut,
    obj: &str,
    key: &tars::auth::ClientKey,
) -> anyhow::Result<()> {
    stream
        .write_all(&tars::auth::request_frame(obj, key))
        .context("send the authentication request")?;
    let mut chunk = [0u8; 4096];
    let answer = loop {
        if let Some(resp) = codec.decode(inbuf)? {
            break resp;
        }
        // A refused connection is closed: a plain EOF over TCP, an EOF without close_notify
        // (UnexpectedEof) or a reset over TLS.
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                0
            }
            Err(e) => return Err(e).context("read the authentication answer"),
        };
        if n == 0 {
            bail!(
                "the server closed the connection instead of answering the authentication \
                 request (a wrong or unknown key?)"
            );
        }
        inbuf.extend_from_slice(&chunk[..n]);
    };
    let state = String::from_utf8_lossy(&answer.buffer);
    if answer.request_id != 0 || answer.ret != 0 || state != "AUTH_SUCC" {
        bail!(
            "authentication failed: answer to request {} with ret {}: {state:?} (expected AUTH_SUCC)",
            answer.request_id,
            answer.ret
        );
    }
    Ok(())
}

/// A connection: plain TCP or TLS over TCP.
trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// The TLS client configuration and server name of `args`, if it asks for TLS.
fn tls_setup(
    args: &Args,
) -> anyhow::Result<
    Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
> {
    let Some(ca) = &args.tls_ca else {
        return Ok(None);
    };
    let tls = tars::tls::ClientTls::from_pem_files(ca, None)?;
    let name = args.tls_server_name.as_deref().unwrap_or(&args.host);
    Ok(Some((tls.config().clone(), tls.server_name_for(name)?)))
}

/// CPU time (user + system, all threads) of process `pid` (`self` for this one), in
/// microseconds; `None` where `/proc` does not tell. `/proc` counts in USER_HZ ticks, which
/// Linux fixes at 100 per second for user space.
fn cpu_us(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000)
}

struct Worker {
    hist: Histogram<u64>,
    calls: u64,
    errors: u64,
    checked: u64,
    mismatches: u64,
    first_mismatch: Option<String>,
}

/// The echoed string of the call with request id `id`: the id in hex, then `x` up to `len`
/// bytes (so that a reply carrying another call's string is caught).
fn fill_payload(buf: &mut String, id: i32, len: usize) {
    use std::fmt::Write as _;
    buf.clear();
    let _ = write!(buf, "{:08x}", id as u32);
    if buf.len() > len {
        buf.drain(..buf.len() - len);
    }
    while buf.len() < len {
        buf.push('x');
    }
}

/// What a reply to `echo(s)` must carry: `r == s` and, as both servers implement it, the
/// return value is the length of `s` in UTF-16 code units.
fn check_echo(resp: &ResponsePacket, expected: &str) -> Result<(), String> {
    let mut r = ParamReader::tars(&resp.buffer, DecodeLimits::default());
    let ret: i32 = r
        .read_return()
        .map_err(|e| format!("request {}: return value: {e}", resp.request_id))?;
    let want_ret = expected.encode_utf16().count() as i32;
    if ret != want_ret {
        return Err(format!(
            "request {}: returned {ret}, expected {want_ret}",
            resp.request_id
        ));
    }
    let echoed: String = r
        .read(2, "r")
        .map_err(|e| format!("request {}: out parameter r: {e}", resp.request_id))?;
    if echoed != expected {
        return Err(format!(
            "request {}: echoed {echoed:?}, expected {expected:?}",
            resp.request_id
        ));
    }
    Ok(())
}

fn run_connection(
    args: &Args,
    measuring: &AtomicBool,
    stop: &AtomicBool,
) -> anyhow::Result<Worker> {
    if args.inflight == 0 || args.inflight > 255 {
        bail!("1 to 255 calls in flight per connection");
    }
    if args.check_every == 0 {
        bail!("--check-every must be at least 1");
    }
    let tcp = TcpStream::connect((args.host.as_str(), args.port))
        .with_context(|| format!("connect {}:{}", args.host, args.port))?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut stream: Box<dyn Stream> = match tls_setup(args)? {
        Some((config, name)) => {
            let session = rustls::ClientConnection::new(config, name)?;
            Box::new(rustls::StreamOwned::new(session, tcp))
        }
        None => Box::new(tcp),
    };
    let mut codec = PacketCodec::<ResponsePacket, RequestPacket>::new();
    let mut inbuf = BytesMut::with_capacity(64 * 1024);
    if let Some(key) = &args.auth_key {
        authenticate(&mut *stream, &mut codec, &mut inbuf, &args.obj, key)?;
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut calls, mut errors) = (0u64, 0u64);
    let (mut checked, mut mismatches) = (0u64, 0u64);
    let mut first_mismatch: Option<String> = None;
    let mut mismatch = |what: String| {
        mismatches += 1;
        first_mismatch.get_or_insert(what);
    };
    // Per in-flight slot: when its call was sent, its full request id, whether a call is
    // outstanding, and (raw mode) the frame that was sent.
    let mut sent_at = vec![Instant::now(); args.inflight];
    let mut sent_id = vec![0i32; args.inflight];
    let mut outstanding = vec![false; args.inflight];
    let mut sent_frame = vec![Vec::<u8>::new(); args.inflight];
    let mut out = BytesMut::new();
    let mut next_id: i32 = 0;
    let mut payload = String::with_capacity(args.payload.max(8));
    let mut send = |out: &mut BytesMut,
                    codec: &mut PacketCodec<ResponsePacket, RequestPacket>,
                    slot: usize,
                    sent_at: &mut Vec<Instant>,
                    sent_id: &mut Vec<i32>,
                    sent_frame: &mut Vec<Vec<u8>>,
                    payload: &mut String|
     -> anyhow::Result<()> {
        // Request ids carry the in-flight slot in their low 8 bits and a counter above; the
        // counter wraps within 2^23 so that the id stays positive.
        next_id = (next_id + 1) & 0x7f_ffff;
        let id = (next_id << 8) | slot as i32;
        fill_payload(payload, id, args.payload);
        let mut p = ParamWriter::tars();
        p.write_str(1, "s", payload);
        let req = RequestPacket::new(id, args.obj.clone(), "echo", p.into_body(), 3000);
        sent_at[slot] = Instant::now();
        sent_id[slot] = id;
        let start = out.len();
        codec.encode(&req, out)?;
        if args.raw {
            sent_frame[slot].clear();
            sent_frame[slot].extend_from_slice(&out[start..]);
        }
        Ok(())
    };
    let mut fifo = std::collections::VecDeque::with_capacity(args.inflight);
    for slot in 0..args.inflight {
        send(
            &mut out,
            &mut codec,
            slot,
            &mut sent_at,
            &mut sent_id,
            &mut sent_frame,
            &mut payload,
        )?;
        if args.raw {
            fifo.push_back(slot);
        }
    }
    outstanding.fill(true);
    stream.write_all(&out)?;
    out.clear();
    let mut chunk = vec![0u8; 64 * 1024];
    // Replies to skip before the next one whose contents are checked.
    let mut skip = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            bail!("server closed the connection");
        }
        inbuf.extend_from_slice(&chunk[..n]);
        loop {
            let (slot, ret) = if args.raw {
                // The echo server returns each frame as it was sent, in order: the oldest
                // outstanding call's frame must come back byte for byte.
                if inbuf.len() < 4 {
                    break;
                }
                let len = u32::from_be_bytes([inbuf[0], inbuf[1], inbuf[2], inbuf[3]]) as usize;
                if len < 4 {
                    bail!("echoed frame with length {len}");
                }
                if inbuf.len() < len {
                    break;
                }
                let frame = inbuf.split_to(len);
                let Some(slot) = fifo.pop_front() else {
                    mismatch(format!(
                        "echoed frame of {len} bytes with no call in flight"
                    ));
                    continue;
                };
                checked += 1;
                if frame[..] != sent_frame[slot][..] {
                    mismatch(format!(
                        "echoed frame for request {} differs from the frame sent",
                        sent_id[slot]
                    ));
                }
                (slot, 0)
            } else {
                let Some(resp) = codec.decode(&mut inbuf)? else {
                    break;
                };
                let slot = (resp.request_id & 0xff) as usize;
                if resp.request_id < 0 || slot >= args.inflight || !outstanding[slot] {
                    mismatch(format!(
                        "reply with request id {} matches no call in flight",
                        resp.request_id
                    ));
                    continue;
                }
                if resp.request_id != sent_id[slot] {
                    mismatch(format!(
                        "reply with request id {}, the call in flight in its slot has id {}",
                        resp.request_id, sent_id[slot]
                    ));
                } else if resp.ret == 0 && skip == 0 {
                    skip = args.check_every - 1;
                    checked += 1;
                    fill_payload(&mut payload, resp.request_id, args.payload);
                    if let Err(e) = check_echo(&resp, &payload) {
                        mismatch(e);
                    }
                } else if resp.ret == 0 {
                    skip -= 1;
                }
                (slot, resp.ret)
            };
            outstanding[slot] = false;
            if measuring.load(Ordering::Relaxed) {
                let us = sent_at[slot].elapsed().as_micros().max(1) as u64;
                let _ = hist.record(us.min(60_000_000));
                calls += 1;
            }
            if ret != 0 {
                errors += 1;
            }
            send(
                &mut out,
                &mut codec,
                slot,
                &mut sent_at,
                &mut sent_id,
                &mut sent_frame,
                &mut payload,
            )?;
            outstanding[slot] = true;
            if args.raw {
                fifo.push_back(slot);
            }
        }
        if !out.is_empty() {
            stream.write_all(&out)?;
            out.clear();
        }
    }
    Ok(Worker {
        hist,
        calls,
        errors,
        checked,
        mismatches,
        first_mismatch,
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..args.connections)
        .map(|_| {
            let (a, m, s) = (args.clone(), measuring.clone(), stop.clone());
            std::thread::spawn(move || run_connection(&a, &m, &s))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let server_pid = args.server_pid.map(|p| p.to_string());
    let cpu_before = (cpu_us("self"), server_pid.as_deref().and_then(cpu_us));
    measuring.store(true, Ordering::Relaxed);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(args.seconds));
    measuring.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_after = (cpu_us("self"), server_pid.as_deref().and_then(cpu_us));
    stop.store(true, Ordering::Relaxed);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut calls, mut errors, mut checked, mut mismatches) = (0u64, 0u64, 0u64, 0u64);
    let mut first_mismatch = None;
    for h in handles {
        let w = h.join().map_err(|_| anyhow::anyhow!("worker panicked"))??;
        hist.add(&w.hist)?;
        calls += w.calls;
        errors += w.errors;
        checked += w.checked;
        mismatches += w.mismatches;
        if first_mismatch.is_none() {
            first_mismatch = w.first_mismatch;
        }
    }
    let rate = calls as f64 / elapsed;
    let per_call = |before: Option<u64>, after: Option<u64>| {
        Some(((after? - before?) as f64 / calls.max(1) as f64 * 100.0).round() / 100.0)
    };
    let client_cpu = per_call(cpu_before.0, cpu_after.0);
    let server_cpu = per_call(cpu_before.1, cpu_after.1);
    let (p50, p99, p999) = (
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999),
    );
    if args.json {
        let line = serde_json::json!({
            "label": args.label,
            "calls_per_sec": rate.round() as u64,
            "p50_us": p50,
            "p99_us": p99,
            "p999_us": p999,
            "calls": calls,
            "errors": errors,
            "checked": checked,
            "mismatches": mismatches,
            "first_mismatch": first_mismatch,
            "connections": args.connections,
            "inflight": args.inflight,
            "check_every": args.check_every,
            "tls": args.tls_ca.is_some(),
            "auth": args.auth_key.is_some(),
            "client_cpu_us_per_call": client_cpu,
            "server_cpu_us_per_call": server_cpu,
        });
        println!("{line}");
    } else {
        println!(
            "{}: {rate:.0} calls/s over {elapsed:.1}s ({} conn x {} in flight{}{}), p50 {p50} us, p99 {p99} us, p99.9 {p999} us, {errors} error(s), {checked} repl(ies) checked, {mismatches} mismatch(es)",
            args.label,
            args.connections,
            args.inflight,
            if args.tls_ca.is_some() { ", TLS" } else { "" },
            if args.auth_key.is_some() { ", auth" } else { "" }
        );
        if let Some(us) = client_cpu {
            println!("  client CPU {us} us/call");
        }
        if let Some(us) = server_cpu {
            println!("  server CPU {us} us/call");
        }
    }
    if errors > 0 || mismatches > 0 {
        bail!(
            "{errors} call(s) returned an error, {mismatches} repl(ies) did not match their call{}",
            first_mismatch
                .map(|m| format!(" (first: {m})"))
                .unwrap_or_default()
        );
    }
    if checked == 0 {
        bail!("no reply was checked");
    }
    Ok(())
}
