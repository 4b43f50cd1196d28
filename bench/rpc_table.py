"""Prints the RPC comparison table from tars-loadgen JSON lines on stdin."""
import json
import sys

rows = [json.loads(line) for line in sys.stdin if line.strip()]
by = {r["label"]: r for r in rows}
print("| server | calls/s | p50 us | p99 us | p99.9 us |")
print("|---|---:|---:|---:|---:|")
for r in rows:
    print("| {label} | {calls_per_sec:,} | {p50_us} | {p99_us} | {p999_us} |".format(**r))
t = by.get("tars-rs")
if t and "mio-echo" in by:
    ratio = by["mio-echo"]["calls_per_sec"] / t["calls_per_sec"]
    print(f"\nmio-echo / tars-rs throughput: {ratio:.2f}x (goal: within 2x)")
if t and "@tars/rpc" in by:
    n = by["@tars/rpc"]
    ratio = t["calls_per_sec"] / n["calls_per_sec"]
    print(f"tars-rs / @tars/rpc throughput: {ratio:.2f}x (goal: at least 5x); p99 {t['p99_us']} vs {n['p99_us']} us")
