#!/usr/bin/env bash
# RPC throughput and latency of tars-rs vs the npm @tars/rpc server vs a minimal mio echo
# server (no decoding, the network baseline), all driven by the same load generator
# (bench/loadgen) calling Test.Hello.echo (conformance/idl/Hello.tars). The load generator
# checks every reply (request id, return value, echoed string) and fails on any mismatch.
#
# All servers run at once; the runs are interleaved: R rounds, and in each round every server
# is measured once (the order rotates from round to round). Every run is reported, and every
# ratio between two servers is taken within one round, then summarised as the median and the
# min-max spread over the rounds (bench/rpc_table.py).
# tars-rs is measured twice: servants inline on its single net thread (one thread, like the
# single-threaded Node server) and with 2 business threads behind the net thread.
#
# Every process the script starts is stopped by its pid when the script exits, also on
# failure or Ctrl-C / SIGTERM.
#
# Usage: bench/compare-rpc.sh [-c CONNECTIONS] [-m IN_FLIGHT] [-t SECONDS] [-r ROUNDS] [-o FILE] [-S]
#   -o FILE  also write the raw JSON lines (one per run) to FILE
#   -S       leave out the tars-rs servers with call statistics on (measured by default)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
C=4 M=16 T=5 R=3 OUT="" STAT=1
while getopts "c:m:t:r:o:S" o; do
    case "$o" in
        c) C=$OPTARG ;;
        m) M=$OPTARG ;;
        t) T=$OPTARG ;;
        r) R=$OPTARG ;;
        o) OUT=$OPTARG ;;
        S) STAT=0 ;;
        *) exit 2 ;;
    esac
done

# bg/run record every process started, and stop each one by its pid at exit (scripts/procs.sh).
source "$ROOT/scripts/procs.sh"
tmpdir="$(mktemp -d)"
on_exit 'rm -rf "$tmpdir"'

# start VAR NAME COMMAND...: starts a server in the background (its pid recorded by this
# shell) and sets VAR to the port of its READY line.
start() {
    bg_ready "$1" "$tmpdir/$2.log" "${@:3}"
    # The server's own pid (setsid runs it in place when it can, else it is the only child),
    # so the load generator can read its CPU time per call.
    spid=$BG_PID
    if [[ "$(cat "/proc/$spid/comm" 2>/dev/null)" != "$(basename "$3" | cut -c1-15)" ]]; then
        spid="$(pgrep -P "$spid" | head -n1)"
    fi
}

cd "$ROOT"
run cargo build -q --release -p tars-loadgen -p tars-conformance --bins
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
have_node=0
if [[ -f "$ROOT/conformance/node/rpc-server.js" ]] && command -v node >/dev/null; then
    have_node=1
    if [[ ! -d "$ROOT/conformance/node/node_modules" ]]; then
        run bash -c 'cd "$1" && exec npm ci --no-audit --no-fund --loglevel=error' npm-ci "$ROOT/conformance/node"
    fi
fi
# The servers stop by themselves after the whole measurement (a bound in case the script is
# killed with SIGKILL and cannot stop them).
RUN_FOR=$(((T + 3) * R * 6 + 30))

labels=() ports=() extra=()
start port mio-echo "$BIN/mio-echo" --seconds "$RUN_FOR"
labels+=("mio-echo") ports+=("$port") extra+=("--raw")
start port tars-rs-inline "$BIN/interop-server" --threads 0 --seconds "$RUN_FOR"
labels+=("tars-rs inline") ports+=("$port") extra+=("--server-pid $spid")
start port tars-rs-threads "$BIN/interop-server" --threads 2 --seconds "$RUN_FOR"
labels+=("tars-rs 2 business threads") ports+=("$port") extra+=("--server-pid $spid")
# The same two servers with call statistics on (tars::stat, reported every second to a
# counting StatF servant in the same process): their ratio to the runs above, taken within
# each round, is the cost of statistics (issue #17 allows at most 5% of calls/s).
if [[ $STAT == 1 ]]; then
    start port tars-rs-inline-stat "$BIN/interop-server" --threads 0 --stat --seconds "$RUN_FOR"
    labels+=("tars-rs inline +stat") ports+=("$port") extra+=("--server-pid $spid")
    start port tars-rs-threads-stat "$BIN/interop-server" --threads 2 --stat --seconds "$RUN_FOR"
    labels+=("tars-rs 2 business threads +stat") ports+=("$port") extra+=("--server-pid $spid")
fi
if [[ $have_node == 1 ]]; then
    node_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    start port node node "$ROOT/conformance/node/rpc-server.js" "$node_port"
    labels+=("@tars/rpc") ports+=("$port") extra+=("")
else
    echo "node not found: @tars/rpc is left out" >&2
fi

n=${#labels[@]}
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
results="$tmpdir/results.jsonl"
: >"$results"
for round in $(seq 1 "$R"); do
    for k in $(seq 0 $((n - 1))); do
        i=$(((k + round - 1) % n))
        args=(--port "${ports[$i]}" -c "$C" -m "$M" -t "$T" --label "${labels[$i]}" --json)
        # shellcheck disable=SC2206 # extra holds whole words (flags, numbers)
        [[ -n ${extra[$i]} ]] && args+=(${extra[$i]})
        if ! run "$BIN/tars-loadgen" "${args[@]}" >"$tmpdir/run.json"; then
            cat "$tmpdir/run.json" >&2
            echo "tars-loadgen failed against ${labels[$i]} (round $round)" >&2
            exit 1
        fi
        # One JSON object per run, with its round and its place in the round.
        line="$(cat "$tmpdir/run.json")"
        printf '{"round":%d,"order":%d,%s\n' "$round" "$k" "${line#\{}" >>"$results"
        echo "round $round: ${labels[$i]} done" >&2
    done
done

if [[ -n $OUT ]]; then
    cp "$results" "$OUT"
fi
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
echo "load average (1/5/15 min): before the runs $load_before; after them $(cut -d' ' -f1-3 /proc/loadavg)"
echo "settings: $C connections x $M in flight, $T s per run (after 1 s warm-up), $R rounds"
echo "rustc: $(rustc --version)"
if [[ $have_node == 1 ]]; then
    echo "node: $(node --version)"
fi
echo
python3 "$ROOT/bench/rpc_table.py" <"$results"
