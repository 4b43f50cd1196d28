"""Summarises bench/compare-client.sh: every run as a row, then the client goals of issue #13
as per-round ratios (median and min-max over the rounds):

- proxy-async / raw-async calls/s   (goal >= 0.5: the generated proxy keeps up with the server)
- proxy-node / node-node calls/s    (goal >= 1: at least what @tars/rpc's own client gets)
- proxy-node max latency            (no 40 ms stalls: reported, with p99.9)
- proxy-sync p50 / raw-1 p50        (goal <= 1.2)
- client CPU us per call: proxy-async vs node-rs (same server)

Exits non-zero when a run reported errors or a round is incomplete."""
import json
import statistics
import sys

rows = [json.loads(line) for line in sys.stdin if line.strip()]
if not rows:
    sys.exit("no runs on stdin")
rounds = sorted({r["round"] for r in rows})
by = {(r["round"], r["label"]): r for r in rows}
labels = []
for r in rows:
    if r["label"] not in labels:
        labels.append(r["label"])
missing = [(n, l) for n in rounds for l in labels if (n, l) not in by]
if missing:
    sys.exit(f"incomplete rounds, missing runs: {missing}")

print("| round | case | calls/s | p50 us | p99 us | p99.9 us | max us | client CPU us/call | errors |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for r in sorted(rows, key=lambda r: (r["round"], r["order"])):
    cpu = r.get("client_cpu_us_per_call")
    print(f"| {r['round']} | {r['label']} | {r['calls_per_sec']:,.0f} | {r['p50_us']} | {r['p99_us']} | "
          f"{r.get('p999_us', '')} | {r.get('max_us', '')} | {'' if cpu is None else f'{cpu:.2f}'} | {r.get('errors', 0)} |")
print()


def ratio(name, num, den, field, goal=None, higher_is_better=True):
    values = [by[(n, num)][field] / by[(n, den)][field] for n in rounds]
    med = statistics.median(values)
    met = ""
    if goal is not None:
        ok = [v >= goal if higher_is_better else v <= goal for v in values]
        met = f" — goal {'>=' if higher_is_better else '<='} {goal}: met in {sum(ok)} of {len(ok)} rounds"
    print(f"- **{name}**: {med:.2f}x ({min(values):.2f}x–{max(values):.2f}x){met}")


print("Per-round ratios, median (min–max):")
ratio("proxy async / tars-loadgen calls/s (our server)", "proxy-async", "raw-async", "calls_per_sec", 0.5)
ratio("proxy async / @tars/rpc client calls/s (@tars/rpc server)", "proxy-node", "node-node", "calls_per_sec", 1.0)
ratio("proxy sync p50 / tars-loadgen 1x1 p50 (our server)", "proxy-sync", "raw-1", "p50_us", 1.2, False)
ratio("client CPU per call, proxy / @tars/rpc client (our server)", "proxy-async", "node-rs",
      "client_cpu_us_per_call", 1.0, False)
stalls = [by[(n, "proxy-node")]["max_us"] for n in rounds]
print(f"- proxy against the @tars/rpc server: max latency per round {stalls} us "
      f"(p99.9 {[by[(n, 'proxy-node')]['p999_us'] for n in rounds]} us)")
bad = [r for r in rows if r.get("errors", 0) or r.get("mismatches", 0)]
if bad:
    sys.exit(f"{len(bad)} runs reported errors")
