#!/usr/bin/env bash
# RPC throughput and latency of tars-rs vs the npm @tars/rpc server vs a minimal mio echo
# server (no decoding, the network baseline), all driven by the same load generator
# (bench/loadgen) calling Test.Hello.echo (conformance/idl/Hello.tars).
#
# Each server is measured R times (default 3) and the run with the median calls/s is reported.
# tars-rs is measured twice: servants inline on its single net thread (one thread, like the
# single-threaded Node server) and with 2 business threads behind the net thread.
#
# Usage: bench/compare-rpc.sh [-c CONNECTIONS] [-m IN_FLIGHT] [-t SECONDS] [-r RUNS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
C=4 M=16 T=5 R=3
while getopts "c:m:t:r:" o; do
    case "$o" in
        c) C=$OPTARG ;;
        m) M=$OPTARG ;;
        t) T=$OPTARG ;;
        r) R=$OPTARG ;;
        *) exit 2 ;;
    esac
done
cd "$ROOT"
cargo build -q --release -p tars-loadgen -p tars-conformance --bins
BIN="$ROOT/target/release"
RUN_FOR=$(((T + 2) * R + 15))
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start() { # name, command... -> prints the port from its READY line
    local log
    log="$(mktemp)"
    "${@:2}" >"$log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do
        if grep -q '^READY' "$log"; then
            grep -m1 '^READY' "$log" | awk '{print $2}'
            return
        fi
        sleep 0.1
    done
    echo "$1 did not start:" >&2
    cat "$log" >&2
    exit 1
}

results=()
measure() { # label, port, extra loadgen args -> the median of R runs
    local runs=()
    for _ in $(seq 1 "$R"); do
        runs+=("$("$BIN/tars-loadgen" --port "$2" -c "$C" -m "$M" -t "$T" --label "$1" --json "${@:3}")")
    done
    results+=("$(printf '%s\n' "${runs[@]}" | python3 -c '
import json, sys
rows = sorted((json.loads(l) for l in sys.stdin if l.strip()), key=lambda r: r["calls_per_sec"])
print(json.dumps(rows[len(rows) // 2]))')")
}

port=$(start mio-echo "$BIN/mio-echo" --seconds "$RUN_FOR")
measure mio-echo "$port" --raw
port=$(start tars-rs "$BIN/interop-server" --threads 0 --seconds "$RUN_FOR")
measure "tars-rs inline" "$port"
port=$(start tars-rs "$BIN/interop-server" --threads 2 --seconds "$RUN_FOR")
measure "tars-rs 2 business threads" "$port"
if [[ -f "$ROOT/conformance/node/rpc-server.js" ]]; then
    (cd "$ROOT/conformance/node" && [[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error)
    node_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    port=$(start node node "$ROOT/conformance/node/rpc-server.js" "$node_port")
    measure "@tars/rpc" "$port"
fi

printf '%s\n' "${results[@]}" | python3 "$ROOT/bench/rpc_table.py"
