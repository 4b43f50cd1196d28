//! `tars-loadgen`: drives a Tars server with N connections, each keeping M calls in flight
//! (closed loop: a new call is sent as each reply arrives), for T seconds, and prints calls/s
//! and latency percentiles. The call is `echo(string s, out string r)` of
//! `conformance/idl/Hello.tars`, which both our server and the Node peer implement.
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
use tars::packet::{PacketCodec, ParamWriter, RequestPacket, ResponsePacket};
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
    /// Do not decode replies: match echoed frames in order (for the `mio-echo` baseline).
    #[arg(long)]
    raw: bool,
}

struct Worker {
    hist: Histogram<u64>,
    calls: u64,
    errors: u64,
}

fn run_connection(
    args: &Args,
    measuring: &AtomicBool,
    stop: &AtomicBool,
) -> anyhow::Result<Worker> {
    let mut stream = TcpStream::connect((args.host.as_str(), args.port))
        .with_context(|| format!("connect {}:{}", args.host, args.port))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let payload = "x".repeat(args.payload);
    let mut codec = PacketCodec::<ResponsePacket, RequestPacket>::new();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut calls, mut errors) = (0u64, 0u64);
    let mut sent_at = vec![Instant::now(); args.inflight];
    let mut out = BytesMut::new();
    let mut next_id: i32 = 0;
    let mut send = |out: &mut BytesMut,
                    codec: &mut PacketCodec<ResponsePacket, RequestPacket>,
                    slot: usize,
                    sent_at: &mut Vec<Instant>|
     -> anyhow::Result<()> {
        next_id = next_id.wrapping_add(1);
        // Request ids carry the in-flight slot in their low bits.
        let id = (next_id << 8) | slot as i32;
        let mut p = ParamWriter::tars();
        p.write_str(1, "s", &payload);
        let req = RequestPacket::new(id, args.obj.clone(), "echo", p.into_body(), 3000);
        sent_at[slot] = Instant::now();
        codec.encode(&req, out)?;
        Ok(())
    };
    if args.inflight > 255 {
        bail!("at most 255 calls in flight per connection");
    }
    let mut fifo = std::collections::VecDeque::with_capacity(args.inflight);
    for slot in 0..args.inflight {
        send(&mut out, &mut codec, slot, &mut sent_at)?;
        fifo.push_back(slot);
    }
    stream.write_all(&out)?;
    out.clear();
    let mut inbuf = BytesMut::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            bail!("server closed the connection");
        }
        inbuf.extend_from_slice(&chunk[..n]);
        loop {
            let (slot, ret) = if args.raw {
                // Echoed frames come back in order; the request id is at a fixed place only
                // after decoding, so take the oldest outstanding slot.
                if inbuf.len() < 4 {
                    break;
                }
                let len = u32::from_be_bytes([inbuf[0], inbuf[1], inbuf[2], inbuf[3]]) as usize;
                if inbuf.len() < len {
                    break;
                }
                let _ = inbuf.split_to(len);
                let slot = fifo
                    .pop_front()
                    .ok_or_else(|| anyhow::anyhow!("unexpected frame"))?;
                (slot, 0)
            } else {
                match codec.decode(&mut inbuf)? {
                    Some(resp) => ((resp.request_id & 0xff) as usize, resp.ret),
                    None => break,
                }
            };
            if slot >= args.inflight {
                bail!("unexpected reply for in-flight slot {slot}");
            }
            if measuring.load(Ordering::Relaxed) {
                let us = sent_at[slot].elapsed().as_micros().max(1) as u64;
                let _ = hist.record(us.min(60_000_000));
                calls += 1;
                if ret != 0 {
                    errors += 1;
                }
            }
            send(&mut out, &mut codec, slot, &mut sent_at)?;
            fifo.push_back(slot);
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
    measuring.store(true, Ordering::Relaxed);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(args.seconds));
    measuring.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut calls, mut errors) = (0u64, 0u64);
    for h in handles {
        let w = h.join().map_err(|_| anyhow::anyhow!("worker panicked"))??;
        hist.add(&w.hist)?;
        calls += w.calls;
        errors += w.errors;
    }
    let rate = calls as f64 / elapsed;
    let (p50, p99, p999) = (
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999),
    );
    if args.json {
        println!(
            "{{\"label\":\"{}\",\"calls_per_sec\":{rate:.0},\"p50_us\":{p50},\"p99_us\":{p99},\"p999_us\":{p999},\"calls\":{calls},\"errors\":{errors},\"connections\":{},\"inflight\":{}}}",
            args.label, args.connections, args.inflight
        );
    } else {
        println!(
            "{}: {rate:.0} calls/s over {elapsed:.1}s ({} conn x {} in flight), p50 {p50} us, p99 {p99} us, p99.9 {p999} us, {errors} error(s)",
            args.label, args.connections, args.inflight
        );
    }
    if errors > 0 {
        bail!("{errors} call(s) returned an error");
    }
    Ok(())
}
