"""Prints the RPC comparison table from tars-loadgen JSON lines on stdin, with the ratios the
runtime's goals are stated in: tars-rs at least 5x the @tars/rpc server's calls/s with a
lower p99, and within 2x of the mio echo baseline."""
import json
import sys

rows = [json.loads(line) for line in sys.stdin if line.strip()]
by = {r["label"]: r for r in rows}
print("| server | calls/s | p50 us | p99 us | p99.9 us |")
print("|---|---:|---:|---:|---:|")
for r in rows:
    print("| {label} | {calls_per_sec:,} | {p50_us} | {p99_us} | {p999_us} |".format(**r))
print()
echo, node = by.get("mio-echo"), by.get("@tars/rpc")
for r in rows:
    if not r["label"].startswith("tars-rs"):
        continue
    parts = []
    if echo:
        parts.append(f"mio-echo is {echo['calls_per_sec'] / r['calls_per_sec']:.2f}x faster (goal: within 2x)")
    if node:
        parts.append(
            f"{r['calls_per_sec'] / node['calls_per_sec']:.2f}x @tars/rpc (goal: at least 5x), "
            f"p99 {r['p99_us']} vs {node['p99_us']} us"
        )
    print(f"- {r['label']}: " + "; ".join(parts))
