#!/usr/bin/env bash
# Codec comparison: tars-rs vs prost (criterion, runtime/benches/codec.rs) vs @tars/stream
# (bench/node/codec-bench.js) on the same Conf.Mid contents, single and as a batch of 20.
# Prints a Markdown table of ns/op and the ratios against the goals
# (@tars/stream / tars-rs >= 10x, prost / tars-rs >= 1.0).
#
# Usage: bench/compare-codec.sh [--quick] [--check] [--mimalloc]
#   --quick     short measurements (smoke run, ~20 s instead of ~80 s once built); rough numbers
#   --check     exit 1 when a goal is missed
#   --mimalloc  run the Rust benches (tars-rs and prost alike) with mimalloc as global allocator
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
alloc=system
features=()
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        --check) check=1 ;;
        --mimalloc)
            alloc=mimalloc
            features=(--features bench-mimalloc)
            ;;
        -h | --help)
            sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "unknown argument: $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

OUT="$ROOT/target/codec-compare-$alloc"
export CRITERION_HOME="${CRITERION_HOME:-$OUT/criterion}"

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

mkdir -p "$OUT"
stamp="$OUT/.started"
touch "$stamp"
rm -rf "$OUT/encoded"

echo "== cargo bench -p tars-codec --bench codec ${features[*]:-} -- ${crit_args[*]}" >&2
cd "$ROOT"
TARS_BENCH_DUMP="$OUT/encoded" run cargo bench -p tars-codec --bench codec ${features[@]+"${features[@]}"} -- "${crit_args[@]}" \
    >"$OUT/criterion.log" 2>&1 || {
    tail -40 "$OUT/criterion.log" >&2
    echo "cargo bench failed (full log: $OUT/criterion.log)" >&2
    exit 1
}
grep -E '^encoded sizes' "$OUT/criterion.log" >&2 || true

echo "== node bench/node/codec-bench.js ${node_args[*]:-}" >&2
run "$NODE" "$ROOT/bench/node/codec-bench.js" ${node_args[@]+"${node_args[@]}"} --expect "$OUT/encoded" \
    >"$OUT/node.jsonl"

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
    echo "load average (1/5/15 min): $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "rustc: $(rustc --version)"
    echo "node: $("$NODE" --version), @tars/stream $("$NODE" -p "require('$ROOT/bench/node/node_modules/@tars/stream/package.json').version")"
    echo "mode: $([[ $quick == 1 ]] && echo quick || echo full)"
    echo "rust allocator: $alloc"
} >"$OUT/machine.txt"

python3 - "$CRITERION_HOME" "$OUT/node.jsonl" "$stamp" "$check" "$OUT/machine.txt" <<'PY'
import json, os, sys

crit, node_file, stamp, check, machine = sys.argv[1:6]
started = os.path.getmtime(stamp)

def criterion(group, bench, impl):
    d = os.path.join(crit, group, bench, impl, "new")
    est = os.path.join(d, "estimates.json")
    if not os.path.exists(est) or os.path.getmtime(est) < started:
        sys.exit(f"no fresh criterion result for {group}/{bench}/{impl} in {d}")
    with open(est) as f:
        ns = json.load(f)["mean"]["point_estimate"]
    with open(os.path.join(d, "benchmark.json")) as f:
        size = json.load(f)["throughput"]["Bytes"]
    return ns, size

node = {}
with open(node_file) as f:
    for line in f:
        if line.strip():
            r = json.loads(line)
            node[r["bench"]] = r

def mib_s(size, ns):
    return size / ns * 1e9 / (1 << 20)

def fmt_ns(ns):
    return f"{ns:,.0f}" if ns >= 100 else f"{ns:.1f}"

print(open(machine).read().rstrip())
print()
print("| bench | tars-rs ns/op | tars-rs MiB/s | prost ns/op | @tars/stream ns/op "
      "| @tars/stream / tars-rs (goal ≥ 10x) | prost / tars-rs (goal ≥ 1.0) |")
print("|---|---:|---:|---:|---:|---:|---:|")
missed = []
sizes = {}
for group in ("mid", "batch20"):
    # encode_fresh: @tars/stream always encodes into a new buffer, so this row is the
    # like-for-like one for it; the headline `encode` row reuses the buffer.
    for bench, node_key in (("encode", "encode"), ("encode_fresh", "encode"), ("decode", "decode")):
        t, tsize = criterion(group, bench, "tars-rs")
        p, psize = criterion(group, bench, "prost")
        n = node[f"{group}/{node_key}"]
        if n["bytes"] != tsize:
            sys.exit(f"{group}: @tars/stream encodes {n['bytes']} bytes, tars-rs {tsize}")
        sizes[group] = (tsize, psize)
        rn, rp = n["ns_per_op"] / t, p / t
        headline = bench != "encode_fresh"
        ok_n, ok_p = rn >= 10, rp >= 1.0
        if headline and not ok_n:
            missed.append(f"{group}/{bench}: @tars/stream/tars-rs {rn:.1f}x < 10x")
        if headline and not ok_p:
            missed.append(f"{group}/{bench}: prost/tars-rs {rp:.2f} < 1.0")
        mark = lambda ok: "" if not headline else (" ✓" if ok else " ✗")
        print(f"| {group}/{bench} | {fmt_ns(t)} | {mib_s(tsize, t):,.0f} | {fmt_ns(p)} "
              f"| {fmt_ns(n['ns_per_op'])} | {rn:.1f}x{mark(ok_n)} | {rp:.2f}{mark(ok_p)} |")
print()
for group, (tsize, psize) in sizes.items():
    print(f"{group}: Tars encoding {tsize} B (identical bytes from @tars/stream), prost {psize} B")
print("MiB/s is Tars bytes per second; ✓/✗ only on the headline rows "
      "(encode = reused buffer, decode); encode_fresh allocates a new buffer per call.")
if missed:
    print()
    print("goals missed: " + "; ".join(missed))
    if check == "1":
        sys.exit(1)
PY
