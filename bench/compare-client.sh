#!/usr/bin/env bash
# Client-side RPC benchmark: the generated tars-rs proxy (bench/loadgen proxy-loadgen) against
# the hand-written wire load generator (tars-loadgen) and against the npm @tars/rpc client
# (bench/node/rpc-loadgen.js), on our inline server (interop-server --threads 0) and on the
# @tars/rpc server (conformance/node/rpc-server.js), all in one invocation.
#
# Each round runs every case once, back to back (the order rotates from round to round); every
# ratio is taken within one round and summarised as the median and min-max over the rounds
# (bench/client_table.py). Every reply is checked by every load generator.
#
# Cases (C connections x M in flight; the Node client keeps C*M in flight on its one event loop):
#   raw-async   tars-loadgen            -> tars-rs inline server
#   proxy-async proxy-loadgen async (2 driver threads, 1 client net thread) -> tars-rs inline server
#   node-rs     @tars/rpc client        -> tars-rs inline server
#   proxy-node  proxy-loadgen async     -> @tars/rpc server
#   node-node   @tars/rpc client        -> @tars/rpc server
#   raw-1       tars-loadgen -c 1 -m 1  -> tars-rs inline server
#   proxy-sync  proxy-loadgen sync, 1 thread -> tars-rs inline server
#
# Every process the script starts is stopped by its pid when it exits, also on failure.
# Usage: bench/compare-client.sh [-c CONNECTIONS] [-m IN_FLIGHT] [-t SECONDS] [-r ROUNDS] [-o FILE]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
C=4 M=64 T=5 R=3 OUT=""
while getopts "c:m:t:r:o:" o; do
    case "$o" in
        c) C=$OPTARG ;;
        m) M=$OPTARG ;;
        t) T=$OPTARG ;;
        r) R=$OPTARG ;;
        o) OUT=$OPTARG ;;
        *) exit 2 ;;
    esac
done

source "$ROOT/scripts/procs.sh"
tmpdir="$(mktemp -d)"
on_exit 'rm -rf "$tmpdir"'

# start VAR NAME COMMAND...: starts a server in the background (its pid recorded by this
# shell) and sets VAR to the port of its READY line.
start() {
    bg_ready "$1" "$tmpdir/$2.log" "${@:3}"
}

cd "$ROOT"
command -v node >/dev/null || { echo "node is required" >&2; exit 1; }
run cargo build -q --release -p tars-loadgen -p tars-conformance --bins
BIN="$ROOT/target/release"
if [[ ! -d "$ROOT/conformance/node/node_modules" ]]; then
    run bash -c 'cd "$1" && exec npm ci --no-audit --no-fund --loglevel=error' npm-ci "$ROOT/conformance/node"
fi
RUN_FOR=$(((T + 4) * R * 7 + 60))
start rs_port tars-rs-inline "$BIN/interop-server" --threads 0 --seconds "$RUN_FOR"
node_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start node_port node node "$ROOT/conformance/node/rpc-server.js" "$node_port"

cases=(raw-async proxy-async node-rs proxy-node node-node raw-1 proxy-sync)
measure() { # measure CASE -> one JSON line on stdout
    local inflight=$((C * M))
    case "$1" in
        raw-async) "$BIN/tars-loadgen" --port "$rs_port" -c "$C" -m "$M" -t "$T" --label "$1" --json ;;
        proxy-async) "$BIN/proxy-loadgen" --port "$rs_port" -c "$C" -m "$M" --drivers 2 -t "$T" --label "$1" --json ;;
        node-rs) node bench/node/rpc-loadgen.js "$rs_port" --inflight "$inflight" --seconds "$T" --label "$1" 2>/dev/null ;;
        proxy-node) "$BIN/proxy-loadgen" --port "$node_port" -c "$C" -m "$M" --drivers 2 -t "$T" --label "$1" --json ;;
        node-node) node bench/node/rpc-loadgen.js "$node_port" --inflight "$inflight" --seconds "$T" --label "$1" 2>/dev/null ;;
        raw-1) "$BIN/tars-loadgen" --port "$rs_port" -c 1 -m 1 -t "$T" --label "$1" --json ;;
        proxy-sync) "$BIN/proxy-loadgen" --port "$rs_port" --mode sync -c 1 -t "$T" --label "$1" --json ;;
    esac
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
results="$tmpdir/results.jsonl"
: >"$results"
n=${#cases[@]}
for round in $(seq 1 "$R"); do
    for k in $(seq 0 $((n - 1))); do
        c=${cases[$(((k + round - 1) % n))]}
        if ! measure "$c" >"$tmpdir/run.json"; then
            cat "$tmpdir/run.json" >&2
            echo "case $c failed (round $round)" >&2
            exit 1
        fi
        line="$(tail -n1 "$tmpdir/run.json")"
        printf '{"round":%d,"order":%d,%s\n' "$round" "$k" "${line#\{}" >>"$results"
        echo "round $round: $c done" >&2
    done
done
[[ -n $OUT ]] && cp "$results" "$OUT"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
echo "load average (1/5/15 min): before $load_before; after $(cut -d' ' -f1-3 /proc/loadavg)"
echo "settings: $C connections x $M in flight, $T s per run (after 1 s warm-up), $R rounds"
echo "rustc: $(rustc --version); node: $(node --version)"
echo
python3 "$ROOT/bench/client_table.py" <"$results"
