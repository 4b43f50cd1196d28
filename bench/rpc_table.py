"""Prints the RPC comparison from the tars-loadgen JSON lines of one bench/compare-rpc.sh
invocation on stdin (each line has the `round` it ran in).

- every run, as a row;
- per server, the median calls/s and p99 over the rounds and their min-max;
- the ratios the runtime's goals are stated in (tars-rs at least 5x the @tars/rpc server's
  calls/s with a lower p99, and within 2x of the mio echo baseline), each computed within one
  round (runs of the same round were taken back to back), then their median and min-max over
  the rounds. No ratio pairs runs of different rounds.

Exits non-zero when a run reported errors or the rounds are incomplete."""
import json
import statistics
import sys

ECHO, NODE = "mio-echo", "@tars/rpc"

rows = [json.loads(line) for line in sys.stdin if line.strip()]
if not rows:
    sys.exit("no runs on stdin")
labels = []
for r in rows:
    if r["label"] not in labels:
        labels.append(r["label"])
rounds = sorted({r["round"] for r in rows})
by = {(r["round"], r["label"]): r for r in rows}
missing = [(n, l) for n in rounds for l in labels if (n, l) not in by]
if missing:
    sys.exit(f"incomplete rounds, missing runs: {missing}")
bad = [r for r in rows if r.get("errors", 0) or r.get("mismatches", 0)]


def num(x):
    return f"{x:,.0f}"


def spread(values, fmt):
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"


print("Every run, in the order it ran (round r: each server once):")
print()
print("| round | server | calls/s | p50 us | p99 us | p99.9 us | calls checked | errors |")
print("|---:|---|---:|---:|---:|---:|---:|---:|")
for r in sorted(rows, key=lambda r: (r["round"], r.get("order", 0))):
    errs = r.get("errors", 0) + r.get("mismatches", 0)
    print(
        f"| {r['round']} | {r['label']} | {num(r['calls_per_sec'])} | {r['p50_us']} | "
        f"{r['p99_us']} | {r['p999_us']} | {num(r.get('checked', 0))} | {errs} |"
    )
print()
print(f"Per server over {len(rounds)} round(s): median (min–max)")
print()
print("| server | calls/s | p50 us | p99 us |")
print("|---|---:|---:|---:|")
for l in labels:
    runs = [by[(n, l)] for n in rounds]
    print(
        f"| {l} | {spread([r['calls_per_sec'] for r in runs], num)} "
        f"| {spread([r['p50_us'] for r in runs], num)} "
        f"| {spread([r['p99_us'] for r in runs], num)} |"
    )
print()

x2 = lambda v: f"{v:.2f}x"
print("Ratios, each from runs of the same round; median (min–max) over the rounds:")
print()
for l in labels:
    if not l.startswith("tars-rs") or l.endswith(" +stat"):
        continue
    parts = []
    if ECHO in labels:
        v = [by[(n, ECHO)]["calls_per_sec"] / by[(n, l)]["calls_per_sec"] for n in rounds]
        verdict = "met" if max(v) <= 2 else ("met in the median" if statistics.median(v) <= 2 else "missed")
        parts.append(f"mio-echo is {spread(v, x2)} faster (goal: within 2x; {verdict})")
    if NODE in labels:
        v = [by[(n, l)]["calls_per_sec"] / by[(n, NODE)]["calls_per_sec"] for n in rounds]
        verdict = "met" if min(v) >= 5 else ("met in the median" if statistics.median(v) >= 5 else "missed")
        parts.append(f"{spread(v, x2)} @tars/rpc's calls/s (goal: at least 5x; {verdict})")
        lower = sum(by[(n, l)]["p99_us"] < by[(n, NODE)]["p99_us"] for n in rounds)
        p99 = "; ".join(f"{by[(n, l)]['p99_us']} vs {by[(n, NODE)]['p99_us']}" for n in rounds)
        parts.append(f"p99 lower than @tars/rpc's in {lower} of {len(rounds)} rounds (us, per round: {p99})")
    print(f"- {l}: " + "; ".join(parts))
    print()
    print("  | round | " + " | ".join(
        ([f"mio-echo / {l}"] if ECHO in labels else []) + ([f"{l} / @tars/rpc"] if NODE in labels else [])
    ) + " |")
    print("  |---:|" + "---:|" * ((ECHO in labels) + (NODE in labels)))
    for n in rounds:
        cells = []
        if ECHO in labels:
            cells.append(x2(by[(n, ECHO)]["calls_per_sec"] / by[(n, l)]["calls_per_sec"]))
        if NODE in labels:
            cells.append(x2(by[(n, l)]["calls_per_sec"] / by[(n, NODE)]["calls_per_sec"]))
        print(f"  | {n} | " + " | ".join(cells) + " |")
    print()

# Statistics on vs off (issue #17: statistics may cost at most 5% of calls/s).
pairs = [(l, l[: -len(" +stat")]) for l in labels if l.endswith(" +stat") and l[: -len(" +stat")] in labels]
if pairs:
    print("Statistics on / off (calls/s of the same server with and without tars::stat, same round):")
    print()
    for on, off in pairs:
        v = [by[(n, on)]["calls_per_sec"] / by[(n, off)]["calls_per_sec"] for n in rounds]
        verdict = "met" if min(v) >= 0.95 else ("met in the median" if statistics.median(v) >= 0.95 else "missed")
        print(f"- {off}: {spread(v, x2)} with statistics on (goal: at least 0.95x; {verdict})")
    print()
    cpu = [(on, off) for on, off in pairs
           if all(by[(n, x)].get("server_cpu_us_per_call") for n in rounds for x in (on, off))]
    if cpu:
        print("Server CPU per call with statistics on / off (the server's own CPU time from /proc,")
        print("less sensitive than calls/s to what else runs on the machine); median (min–max):")
        print()
        for on, off in cpu:
            v = [by[(n, on)]["server_cpu_us_per_call"] / by[(n, off)]["server_cpu_us_per_call"] for n in rounds]
            d = [by[(n, on)]["server_cpu_us_per_call"] - by[(n, off)]["server_cpu_us_per_call"] for n in rounds]
            print(f"- {off}: {spread(v, x2)} the CPU per call with statistics on; "
                  f"{statistics.median(d):+.3f} µs per call (min {min(d):+.3f}, max {max(d):+.3f})")
        print()

if bad:
    sys.exit(f"{len(bad)} run(s) reported errors: " + ", ".join(f"round {r['round']} {r['label']}" for r in bad))
