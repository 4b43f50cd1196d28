#!/usr/bin/env bash
# The cost of authentication and of TLS per RPC, next to plain TCP, in the same run: the same
# tars-rs echo server (conformance interop-server, Test.Hello.echo, servants inline on one net
# thread) three times at once, on
#   - a plain `tcp` endpoint,
#   - a `tcp ... -e 1` endpoint (TarsCpp local authentication: each connection first sends the
#     signed BasicAuthPackage and must get AUTH_SUCC back; the measured calls follow on the
#     authenticated connection), and
#   - an `ssl` endpoint (rustls, ring, TLS 1.3, an ECDSA P-256 certificate made here with
#     openssl),
# each driven in turn by the same load generator (bench/loadgen: --auth-key, --tls-ca), which
# checks every reply. Connections are opened (and authenticated / handshaken) before the
# load generator's 1 s warm-up: what is measured is the steady per-call cost, not the setup.
#
# R rounds; in each, the three servers are measured once (the order rotates). Per run: calls/s,
# p50/p99 latency, and the CPU time per call of the server and of the load generator
# (user + system from /proc during the measured seconds, divided by the calls). The cost per
# call of auth and of TLS is reported as the difference X - plain, within each round, of
#   - server CPU per call and client CPU per call (what it costs each side), and
#   - 1/throughput (the wall-clock time per call of the whole closed loop).
#
# Every process the script starts is stopped by its pid when the script exits, also on
# failure or Ctrl-C / SIGTERM (scripts/procs.sh).
#
# Usage: bench/compare-security.sh [-c CONNECTIONS] [-m IN_FLIGHT] [-t SECONDS] [-r ROUNDS]
#                                  [-p PAYLOAD] [-o FILE]
#   -o FILE  also write the raw JSON lines (one per run) to FILE
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
C=4 M=16 T=10 R=3 P=32 OUT=""
while getopts "c:m:t:r:p:o:" o; do
    case "$o" in
        c) C=$OPTARG ;;
        m) M=$OPTARG ;;
        t) T=$OPTARG ;;
        r) R=$OPTARG ;;
        p) P=$OPTARG ;;
        o) OUT=$OPTARG ;;
        *) exit 2 ;;
    esac
done

source "$ROOT/scripts/procs.sh"
source "$ROOT/bench/certs.sh"
tmpdir="$(mktemp -d)"
on_exit 'rm -rf "$tmpdir"'

cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
run cargo build -q --release -p tars-loadgen -p tars-conformance --bins
BIN="$TARGET/release"

# A CA and a server certificate for 127.0.0.1 / localhost.
certs="$tmpdir/certs"
make_bench_certs "$certs"

# The local-authentication key (a fixed bench key; nothing is protected by it).
AUTH_KEY="bench-ak:bench-sk"

# The servers stop by themselves after the whole measurement (a bound in case the script is
# killed with SIGKILL and cannot stop them).
RUN_FOR=$(((T + 3) * R * 3 + 30))

# start LABEL ARGS...: starts an interop-server; sets port and pid.
start() {
    bg_ready port "$tmpdir/$1.log" "$BIN/interop-server" --threads 0 --seconds "$RUN_FOR" "${@:2}"
    pid=$BG_PID
    # setsid runs the server in its own process when it can (same pid); if it had to fork,
    # the server is its only child.
    if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" != interop-server ]]; then
        pid="$(pgrep -P "$pid" | head -n1)"
    fi
}
labels=() ports=() pids=() extra=()
start plain
labels+=("plain tcp") ports+=("$port") pids+=("$pid") extra+=("")
start auth --auth-key "$AUTH_KEY"
labels+=("auth (-e 1)") ports+=("$port") pids+=("$pid") extra+=("--auth-key $AUTH_KEY")
start tls --tls-cert "$certs/server.pem" --tls-key "$certs/server.key"
labels+=("tls (ssl)") ports+=("$port") pids+=("$pid") extra+=("--tls-ca $certs/ca.pem")
N=${#labels[@]}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
results="$tmpdir/results.jsonl"
: >"$results"
for round in $(seq 1 "$R"); do
    for k in $(seq 0 $((N - 1))); do
        i=$(((k + round - 1) % N))
        # shellcheck disable=SC2206 # extra holds whole words (paths without spaces: mktemp)
        args=(--port "${ports[$i]}" -c "$C" -m "$M" -t "$T" --payload "$P" --label "${labels[$i]}"
            --server-pid "${pids[$i]}" --json ${extra[$i]})
        if ! run "$BIN/tars-loadgen" "${args[@]}" >"$tmpdir/run.json"; then
            cat "$tmpdir/run.json" >&2
            echo "tars-loadgen failed against ${labels[$i]} (round $round)" >&2
            exit 1
        fi
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
echo "settings: $C connections x $M in flight, $P-byte strings, $T s per run (after 1 s warm-up), $R rounds; servers inline on 1 net thread"
echo "auth: TarsCpp local authentication (-e 1), one BasicAuthPackage per connection before the warm-up"
echo "tls: $(openssl version | cut -d' ' -f1-2) made the certificates (ECDSA P-256); rustls (ring) on both sides"
echo "rustc: $(rustc --version)"
echo
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
bad = [r for r in rows if r.get("errors") or r.get("mismatches")]
if bad:
    sys.exit(f"runs with errors or mismatches: {bad}")
PLAIN = "plain tcp"
OTHERS = ["auth (-e 1)", "tls (ssl)"]
print("| round | transport | calls/s | p50 µs | p99 µs | server CPU µs/call | client CPU µs/call |")
print("|---|---|---:|---:|---:|---:|---:|")
for r in sorted(rows, key=lambda r: (r["round"], r["order"])):
    print(f"| {r['round']} | {r['label']} | {r['calls_per_sec']} | {r['p50_us']} | {r['p99_us']} "
          f"| {r['server_cpu_us_per_call']} | {r['client_cpu_us_per_call']} |")
print()
by = {(r["round"], r["label"]): r for r in rows}
rounds = sorted({r["round"] for r in rows})
def diffs(x, f):
    return [f(by[(n, x)]) - f(by[(n, PLAIN)]) for n in rounds]
def cell(values):
    return f"{statistics.median(values):.2f} ({min(values):.2f} – {max(values):.2f})"
print("Cost per call vs plain tcp (X − plain, within each round; median, and min – max over rounds):")
print()
print("| measure | " + " | ".join(f"{x} µs/call" for x in OTHERS) + " |")
print("|---|" + "---:|" * len(OTHERS))
measures = [
    ("server CPU per call", lambda r: r["server_cpu_us_per_call"]),
    ("client (load generator) CPU per call", lambda r: r["client_cpu_us_per_call"]),
    ("server + client CPU per call",
     lambda r: r["server_cpu_us_per_call"] + r["client_cpu_us_per_call"]),
    ("1/throughput (wall time per call, whole loop)", lambda r: 1e6 / r["calls_per_sec"]),
]
for name, f in measures:
    print(f"| {name} | " + " | ".join(cell(diffs(x, f)) for x in OTHERS) + " |")
print()
for x in OTHERS:
    ratios = [by[(n, x)]["calls_per_sec"] / by[(n, PLAIN)]["calls_per_sec"] for n in rounds]
    print(f"{x}/plain calls/s: median {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f})")
PY
