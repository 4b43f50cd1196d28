#!/usr/bin/env bash
# Codec comparison: tars-rs vs prost (criterion, codec/benches/codec.rs) vs @tars/stream
# (bench/node/codec-bench.js) on the same Conf.Mid contents, single and as a batch of 20.
#
# The three are measured in R rounds (default 3); each round runs the criterion bench (tars-rs
# and prost, ns/op), the same bench in paired mode (tars-rs and prost timed in alternating
# short batches, 41 pairs, so that whatever else the machine does hits both alike: the prost /
# tars-rs ratio is the median of the per-pair ratios) and the Node bench. Every ratio is taken
# within one round; the table shows the median over the rounds with the min-max spread.
# Goals: @tars/stream / tars-rs >= 10x; prost / tars-rs >= 1.5 for decode, >= 1.0 for encode.
#
# Usage: bench/compare-codec.sh [--quick] [--check] [--mimalloc] [-r ROUNDS]
#   --quick     short measurements (smoke run); rough numbers
#   --check     exit 1 when a goal is missed (by the median)
#   --mimalloc  run the Rust benches (tars-rs and prost alike) with mimalloc as global allocator
#   -r ROUNDS   rounds (default 3)
# Environment:
#   CRITERION_HOME  where criterion keeps its results
#                   (default target/codec-compare/criterion, so runs of other benches with the
#                   same group names cannot mix into this table)
#   NODE            node binary (default: node)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE="${NODE:-node}"
# Commands run through `run` (scripts/procs.sh): a signal or failure stops them by their pid.
source "$ROOT/scripts/procs.sh"

quick=0
check=0
rounds=3
alloc=system
features=()
while [[ $# -gt 0 ]]; do
    arg="$1"
    shift
    case "$arg" in
        -r)
            rounds="${1:?-r needs a number}"
            shift
            ;;
        --quick) quick=1 ;;
        --check) check=1 ;;
        --mimalloc)
            alloc=mimalloc
            features=(--features bench-mimalloc)
            ;;
        -h | --help)
            sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "unknown argument: $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

OUT="$ROOT/target/codec-compare-$alloc"

crit_args=(--noplot)
node_args=()
if [[ $quick == 1 ]]; then
    crit_args+=(--warm-up-time 0.3 --measurement-time 1 --sample-size 20)
    node_args+=(--quick)
fi

command -v "$NODE" >/dev/null || { echo "node not found (set NODE=)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 not found" >&2; exit 1; }
if [[ ! -d "$ROOT/bench/node/node_modules/@tars/stream" ]]; then
    echo "== installing @tars/stream (npm ci in bench/node)" >&2
    run bash -c 'cd "$1" && exec npm ci --no-audit --no-fund' npm-ci "$ROOT/bench/node" >&2
fi

rm -rf "$OUT"
mkdir -p "$OUT"
cd "$ROOT"
echo "== building the criterion bench" >&2
run cargo bench -p tars-codec --bench codec ${features[@]+"${features[@]}"} --no-run \
    >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log" >&2; exit 1; }

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
    echo "load average at start (1/5/15 min): $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "rustc: $(rustc --version)"
    echo "node: $("$NODE" --version), @tars/stream $("$NODE" -p "require('$ROOT/bench/node/node_modules/@tars/stream/package.json').version")"
    echo "mode: $([[ $quick == 1 ]] && echo quick || echo full), $rounds round(s)"
    echo "rust allocator: $alloc"
} >"$OUT/machine.txt"

for round in $(seq 1 "$rounds"); do
    dir="$OUT/round-$round"
    mkdir -p "$dir"
    echo "== round $round/$rounds: cargo bench -p tars-codec --bench codec -- ${crit_args[*]}" >&2
    CRITERION_HOME="$dir/criterion" TARS_BENCH_DUMP="$dir/encoded" run cargo bench -p tars-codec \
        --bench codec ${features[@]+"${features[@]}"} -- "${crit_args[@]}" >"$dir/criterion.log" 2>&1 || {
        tail -40 "$dir/criterion.log" >&2
        echo "cargo bench failed (full log: $dir/criterion.log)" >&2
        exit 1
    }
    echo "== round $round/$rounds: paired tars-rs / prost" >&2
    TARS_BENCH_PAIRED=1 run cargo bench -q -p tars-codec --bench codec ${features[@]+"${features[@]}"} \
        >"$dir/paired.jsonl" 2>"$dir/paired.log" || { tail -20 "$dir/paired.log" >&2; exit 1; }
    echo "== round $round/$rounds: node bench/node/codec-bench.js ${node_args[*]:-}" >&2
    run "$NODE" "$ROOT/bench/node/codec-bench.js" ${node_args[@]+"${node_args[@]}"} \
        --expect "$dir/encoded" >"$dir/node.jsonl"
done
echo "load average at end (1/5/15 min): $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"

python3 - "$OUT" "$rounds" "$check" <<'PY'
import json, os, statistics, sys

out, rounds, check = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def criterion(rnd, group, bench, impl):
    d = os.path.join(out, f"round-{rnd}", "criterion", group, bench, impl, "new")
    with open(os.path.join(d, "estimates.json")) as f:
        # The median resists the spikes a shared machine adds better than the mean.
        ns = json.load(f)["median"]["point_estimate"]
    with open(os.path.join(d, "benchmark.json")) as f:
        size = json.load(f)["throughput"]["Bytes"]
    return ns, size

def node(rnd):
    res = {}
    with open(os.path.join(out, f"round-{rnd}", "node.jsonl")) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                res[r["bench"]] = r
    return res

def paired(rnd):
    res = {}
    with open(os.path.join(out, f"round-{rnd}", "paired.jsonl")) as f:
        for line in f:
            if line.startswith("{"):
                r = json.loads(line)
                res[r["bench"]] = r
    return res

def mib_s(size, ns):
    return size / ns * 1e9 / (1 << 20)

def fmt_ns(ns):
    return f"{ns:,.0f}" if ns >= 100 else f"{ns:.1f}"

def spread(values, fmt):
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"

print(open(os.path.join(out, "machine.txt")).read().rstrip())
print()
print("Medians over the rounds, min–max in parentheses; every ratio is taken within one round. "
      "ns/op are criterion's medians; prost / tars-rs is the paired ratio (encode, decode) or "
      "criterion's (encode_fresh).")
print()
print("| bench | tars-rs ns/op | tars-rs MiB/s | prost ns/op | @tars/stream ns/op "
      "| @tars/stream / tars-rs (goal ≥ 10x) | prost / tars-rs (goal: decode ≥ 1.5, encode ≥ 1.0) |")
print("|---|---:|---:|---:|---:|---:|---:|")
missed = []
sizes = {}
per_round = []
nodes = [node(r) for r in range(1, rounds + 1)]
pairs = [paired(r) for r in range(1, rounds + 1)]
for group in ("mid", "batch20"):
    # encode_fresh: @tars/stream always encodes into a new buffer, so this row is the
    # like-for-like one for it; the headline `encode` row reuses the buffer.
    for bench, node_key in (("encode", "encode"), ("encode_fresh", "encode"), ("decode", "decode")):
        ts, ps, ns_, rns, rps = [], [], [], [], []
        for rnd in range(1, rounds + 1):
            t, tsize = criterion(rnd, group, bench, "tars-rs")
            p, psize = criterion(rnd, group, bench, "prost")
            n = nodes[rnd - 1][f"{group}/{node_key}"]
            if n["bytes"] != tsize:
                sys.exit(f"{group}: @tars/stream encodes {n['bytes']} bytes, tars-rs {tsize}")
            sizes[group] = (tsize, psize)
            ts.append(t); ps.append(p); ns_.append(n["ns_per_op"])
            rns.append(n["ns_per_op"] / t)
            # The paired measurement where there is one (encode, decode); else criterion's.
            pr = pairs[rnd - 1].get(f"{group}/{bench}")
            rps.append(pr["ratio"] if pr else p / t)
            per_round.append((rnd, f"{group}/{bench}", t, p, n["ns_per_op"]))
        headline = bench != "encode_fresh"
        goal_p = 1.5 if bench == "decode" else 1.0
        rn, rp = statistics.median(rns), statistics.median(rps)
        ok_n, ok_p = rn >= 10, rp >= goal_p
        if headline and not ok_n:
            missed.append(f"{group}/{bench}: @tars/stream/tars-rs {rn:.1f}x < 10x")
        if headline and not ok_p:
            missed.append(f"{group}/{bench}: prost/tars-rs {rp:.2f} < {goal_p}")
        mark = lambda ok: "" if not headline else (" ✓" if ok else " ✗")
        tsize = sizes[group][0]
        print(f"| {group}/{bench} | {spread(ts, fmt_ns)} | {mib_s(tsize, statistics.median(ts)):,.0f} "
              f"| {spread(ps, fmt_ns)} | {spread(ns_, fmt_ns)} "
              f"| {spread(rns, lambda x: f'{x:.1f}x')}{mark(ok_n)} "
              f"| {spread(rps, lambda x: f'{x:.2f}')}{mark(ok_p)} |")
print()
for group, (tsize, psize) in sizes.items():
    print(f"{group}: Tars encoding {tsize} B (identical bytes from @tars/stream), prost {psize} B")
print("MiB/s is Tars bytes per second; ✓/✗ only on the headline rows "
      "(encode = reused buffer, decode); encode_fresh allocates a new buffer per call.")
print()
print("Every round (ns/op):")
print()
print("| round | bench | tars-rs | prost | @tars/stream |")
print("|---:|---|---:|---:|---:|")
for rnd, name, t, p, n in per_round:
    print(f"| {rnd} | {name} | {fmt_ns(t)} | {fmt_ns(p)} | {fmt_ns(n)} |")
if missed:
    print()
    print("goals missed: " + "; ".join(missed))
    if check == "1":
        sys.exit(1)
PY
