#!/usr/bin/env bash
# The cost of authentication and of TLS per global transaction, next to plain TCP, in the same
# run: four tarsd nodes from the release build, each with its own temporary data directory
# (embedded storage, real fsync), all running at once:
#   - plain: `tcp` adapters,
#   - auth: `[security] auth_keys` (TarsCpp local authentication, `-e 1` on both adapters),
#   - auth+enforce: the same and `[coordinator.access] enforce = true` (every call checked
#     against the caller's principal: the one that begins owns the transaction and registers
#     its branches),
#   - tls: `[security.tls]` (`ssl` adapters; rustls, ring, TLS 1.3, an ECDSA P-256
#     certificate made here with openssl),
# each driven in turn by the same tx-bench (`--mode tcc --coordinator 127.0.0.1:<port>`, with
# `--auth-key` or `--tls-ca` to match). A transaction is begin, two branchRegister, commit; the
# commit returns once the coordinator has called branchCommit on both participants.
#
# Only the calls tx-bench makes to the coordinator are authenticated / encrypted: the
# coordinator's phase-two calls go to tx-bench's participant server, which stays plain `tcp`
# (the node's own outgoing calls are not authenticated in this build).
#
# R rounds; in each, every node is measured once (the order rotates). Per run: tx/s, p50/p99
# latency, tarsd CPU and tx-bench CPU per transaction (user + system from /proc during the
# measured seconds; tx-bench's includes its participant server). The cost per transaction of
# auth and of TLS is the difference X - plain, within each round, of 1/throughput and of
# those CPU times.
#
# Every process the script starts is stopped by its pid when the script exits, also on
# failure or Ctrl-C / SIGTERM (scripts/procs.sh).
#
# Usage: bench/compare-security-tx.sh [-c CONCURRENCY] [-n CONNECTIONS] [-t SECONDS]
#                                     [-r ROUNDS] [-o FILE]
#   -o FILE  also write the raw JSON lines (one per run) to FILE
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONC=256 CONNS=4 T=10 R=3 OUT=""
while getopts "c:n:t:r:o:" o; do
    case "$o" in
        c) CONC=$OPTARG ;;
        n) CONNS=$OPTARG ;;
        t) T=$OPTARG ;;
        r) R=$OPTARG ;;
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
run cargo build -q --release -p tars-txbench -p tarsd --bins
BIN="$TARGET/release"

# A CA and a server certificate for 127.0.0.1 / localhost.
certs="$tmpdir/certs"
make_bench_certs "$certs"

# The local-authentication key (a fixed bench key; nothing is protected by it).
AK=bench-ak SK=bench-sk

# One configuration per node.
printf '# plain tcp\n' >"$tmpdir/plain.toml"
printf '[security]\nauth_keys = { "%s" = "%s" }\n' "$AK" "$SK" >"$tmpdir/auth.toml"
cp "$tmpdir/auth.toml" "$tmpdir/enforce.toml"
printf '\n[coordinator.access]\nenforce = true\n' >>"$tmpdir/enforce.toml"
printf '[security.tls]\ncert = "%s"\nkey = "%s"\n' "$certs/server.pem" "$certs/server.key" \
    >"$tmpdir/tls.toml"

# The nodes stop by themselves after the whole measurement (a bound in case the script is
# killed with SIGKILL and cannot stop them).
RUN_FOR=$(((T + 20) * R * 4 + 60))

# start NAME: starts tarsd with $tmpdir/NAME.toml and a data dir of its own; sets port (the
# coordinator's) and pid, and appends `pid starttime tarsd` to $tmpdir/NAME.pids.
start() {
    local reg
    mkdir "$tmpdir/$1.data"
    bg_ready reg "$tmpdir/$1.log" "$BIN/tarsd" --config "$tmpdir/$1.toml" \
        --data-dir "$tmpdir/$1.data" --registry-port 0 --coordinator-port 0 --seconds "$RUN_FOR"
    pid=$BG_PID
    if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" != tarsd ]]; then
        pid="$(pgrep -P "$pid" | head -n1)"
    fi
    port="$(grep -m1 '^READY' "$tmpdir/$1.log" | grep -o 'coordinator=[0-9]*' | cut -d= -f2)"
    if [[ -z $port ]]; then
        echo "no coordinator port in the READY line of tarsd ($1):" >&2
        cat "$tmpdir/$1.log" >&2
        exit 1
    fi
    # Field 22 of /proc/<pid>/stat (the start time) tells a reused pid apart.
    echo "$pid $(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f20) tarsd" >"$tmpdir/$1.pids"
}
names=() labels=() ports=() extra=()
start plain
names+=(plain) labels+=("plain tcp") ports+=("$port") extra+=("")
start auth
names+=(auth) labels+=("auth (-e 1)") ports+=("$port") extra+=("--auth-key $AK:$SK")
start enforce
names+=(enforce) labels+=("auth + access enforced") ports+=("$port") extra+=("--auth-key $AK:$SK")
start tls
names+=(tls) labels+=("tls (ssl)") ports+=("$port") extra+=("--tls-ca $certs/ca.pem")
N=${#labels[@]}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
results="$tmpdir/results.jsonl"
: >"$results"
for round in $(seq 1 "$R"); do
    for k in $(seq 0 $((N - 1))); do
        i=$(((k + round - 1) % N))
        # shellcheck disable=SC2206 # extra holds whole words (paths without spaces: mktemp)
        args=(--mode tcc --coordinator "127.0.0.1:${ports[$i]}" -c "$CONC" --connections "$CONNS"
            -t "$T" --label "${labels[$i]}" --pids-file "$tmpdir/${names[$i]}.pids" ${extra[$i]})
        if ! run "$BIN/tx-bench" "${args[@]}" >"$tmpdir/run.out" 2>"$tmpdir/run.err"; then
            cat "$tmpdir/run.out" "$tmpdir/run.err" >&2
            echo "tx-bench failed against ${labels[$i]} (round $round)" >&2
            exit 1
        fi
        line="$(tail -n1 "$tmpdir/run.out")"
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
echo "settings: tx-bench --mode tcc, $CONC transactions in flight over $CONNS connections, $T s per run (after 1 s warm-up), $R rounds; tarsd defaults (1 net thread), embedded storage in a temporary directory"
echo "auth: TarsCpp local authentication (-e 1) on tx-bench's coordinator connections; phase two (coordinator -> participants) plain tcp"
echo "tls: $(openssl version | cut -d' ' -f1-2) made the certificates (ECDSA P-256); rustls (ring) on both sides; phase two plain tcp"
echo "rustc: $(rustc --version)"
echo
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
bad = [r for r in rows if r.get("failed") or r.get("branch_commits_missing")]
if bad:
    sys.exit(f"runs with failed transactions or missing branch commits: {bad}")
PLAIN = "plain tcp"
OTHERS = [l for l in dict.fromkeys(r["label"] for r in rows) if l != PLAIN]
def tarsd_cpu(r):
    return r["cpu_us_per_tx_by_process"].get("tarsd", float("nan"))
def bench_cpu(r):
    return r["cpu_us_per_tx_by_process"].get("tx-bench", float("nan"))
print("| round | transport | tx/s | p50 µs | p99 µs | tarsd CPU µs/tx | tx-bench CPU µs/tx |")
print("|---|---|---:|---:|---:|---:|---:|")
for r in sorted(rows, key=lambda r: (r["round"], r["order"])):
    print(f"| {r['round']} | {r['label']} | {r['tx_per_sec']} | {r['p50_us']} | {r['p99_us']} "
          f"| {tarsd_cpu(r):.1f} | {bench_cpu(r):.1f} |")
print()
by = {(r["round"], r["label"]): r for r in rows}
rounds = sorted({r["round"] for r in rows})
def diffs(x, f):
    return [f(by[(n, x)]) - f(by[(n, PLAIN)]) for n in rounds]
def cell(values):
    return f"{statistics.median(values):.1f} ({min(values):.1f} – {max(values):.1f})"
print("Cost per transaction vs plain tcp (X − plain, within each round; median, and min – max over rounds):")
print()
print("| measure | " + " | ".join(f"{x} µs/tx" for x in OTHERS) + " |")
print("|---|" + "---:|" * len(OTHERS))
measures = [
    ("tarsd CPU per transaction", tarsd_cpu),
    ("tx-bench CPU per transaction (client + participants)", bench_cpu),
    ("1/throughput (wall time per transaction, whole loop)", lambda r: 1e6 / r["tx_per_sec"]),
]
for name, f in measures:
    print(f"| {name} | " + " | ".join(cell(diffs(x, f)) for x in OTHERS) + " |")
print()
for x in OTHERS:
    ratios = [by[(n, x)]["tx_per_sec"] / by[(n, PLAIN)]["tx_per_sec"] for n in rounds]
    print(f"{x}/plain tx/s: median {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f})")
print()
print("A transaction is 4 coordinator calls from tx-bench (begin, 2 branchRegister, commit) "
      "and 2 plain-tcp phase-two calls from tarsd to the participants.")
PY
