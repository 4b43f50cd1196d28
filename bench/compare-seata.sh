#!/usr/bin/env bash
# compare-seata.sh: global transactions/s through tarsd's Seata v1 port (seata-bench, Seata
# TM/RM clients) against the same tarsd's Tars coordinator port (tx-bench), in one run,
# interleaved.
#
#   bench/compare-seata.sh [-r ROUNDS] [-t SECONDS] [-c IN_FLIGHT] [-n CONNECTIONS]
#                          [-m MODE] [-o DIR] [--no-build]
#                          [--tx-args "ARGS"] [--seata-args "ARGS"]
#
# Builds tarsd, tx-bench and seata-bench (release) once, starts ONE tarsd (embedded store in a
# temporary data dir, --registry-port 0 --coordinator-port 0 --seata-port 0; the ports are read
# from its READY line) and runs, per round (default 3; the order alternates from round to
# round), against that tarsd:
#   tars:   tx-bench --mode MODE --concurrency C --connections N --seconds T
#           --coordinator 127.0.0.1:<coordinator port>  (its TCC participants are served by
#           tx-bench itself; the resource ids are full proxy strings, no registry needed)
#   seata:  seata-bench --mode MODE --concurrency C --connections N --seconds T
#           --target 127.0.0.1:<seata port>  (N TM + N RM connections; the RMs answer the
#           coordinator's BranchCommit themselves)
# Both get --pids-file with tarsd's pid, so tarsd's CPU per transaction is reported too;
# --tx-args / --seata-args add arguments to every tx-bench / seata-bench run (split on blanks,
# e.g. --seata-args "--phase-two-wait 0").
# Defaults: MODE tcc, C 256, N 4, T 5 s (1 s warm-up). Every run's JSON line goes to
# DIR/results.jsonl (DIR default: a new temporary directory, kept, with every log), then a
# table: medians over the rounds of tx/s, p50, p99 and CPU per transaction, and the median of
# the per-round ratios seata/tars.
#
# A failed run (non-zero exit of either bench) stops the script with its log. The tarsd this
# script started is stopped by its pid when the script exits, whatever happens (EXIT trap of
# scripts/procs.sh), and its data dir (DIR/tarsd-data) is removed then.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
R=3 T=5 C=256 N=4 MODE=tcc OUT="" BUILD=1 WARMUP=1 TX_ARGS="" SEATA_ARGS=""
while [ $# -gt 0 ]; do
  case "$1" in
    -r) R=$2; shift 2 ;;
    -t) T=$2; shift 2 ;;
    -c) C=$2; shift 2 ;;
    -n) N=$2; shift 2 ;;
    -m) MODE=$2; shift 2 ;;
    -o) OUT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --tx-args) TX_ARGS=$2; shift 2 ;;
    --seata-args) SEATA_ARGS=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare-seata: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

# shellcheck source=../scripts/procs.sh
source "$ROOT/scripts/procs.sh"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
TARSD="$TARGET_DIR/release/tarsd"
TXBENCH="$TARGET_DIR/release/tx-bench"
SEATABENCH="$TARGET_DIR/release/seata-bench"
[ -n "$OUT" ] || OUT="$(mktemp -d /tmp/compare-seata.XXXXXX)"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
echo "output: $OUT"

if [ "$BUILD" = 1 ]; then
  echo "building tarsd, tx-bench and seata-bench (release)"
  run cargo build -q --manifest-path "$ROOT/Cargo.toml" --release -p tarsd -p tars-txbench -p tars-seatabench
fi
for b in "$TARSD" "$TXBENCH" "$SEATABENCH"; do
  [ -x "$b" ] || { echo "compare-seata: no $b" >&2; exit 1; }
done

# The tarsd's data dir: removed at exit (the hooks run after the processes are stopped).
DATA="$OUT/tarsd-data"
rm -rf "$DATA"
mkdir -p "$DATA"
remove_data() { rm -rf "$DATA"; }
on_exit remove_data

bg_ready _ready "$OUT/tarsd.log" "$TARSD" --data-dir "$DATA" --registry-port 0 --coordinator-port 0 --seata-port 0
TARSD_PID=$BG_PID
READY_LINE=$(grep -m1 '^READY' "$OUT/tarsd.log")
COORD_PORT=$(sed -n 's/.* coordinator=\([0-9]*\).*/\1/p' <<<"$READY_LINE")
SEATA_PORT=$(sed -n 's/.* seata=\([0-9]*\).*/\1/p' <<<"$READY_LINE")
if [ -z "$COORD_PORT" ] || [ -z "$SEATA_PORT" ]; then
  echo "compare-seata: no coordinator or seata port in: $READY_LINE" >&2
  exit 1
fi
echo "tarsd pid $TARSD_PID: coordinator 127.0.0.1:$COORD_PORT, seata 127.0.0.1:$SEATA_PORT"
echo "$TARSD_PID $(awk '{print $22}' "/proc/$TARSD_PID/stat") tarsd" >"$OUT/pids"

# bench PATH: one run of that path's bench; its JSON line (with round and path) to RESULTS.
bench() {
  local path=$1 log="$OUT/$1-r$ROUND.log"
  echo "--- round $ROUND: $path ($MODE)"
  case "$path" in
    tars)
      # shellcheck disable=SC2086 # TX_ARGS: split on blanks on purpose
      run "$TXBENCH" --coordinator "127.0.0.1:$COORD_PORT" --mode "$MODE" --concurrency "$C" \
        --connections "$N" --seconds "$T" --warmup "$WARMUP" --label tars \
        --pids-file "$OUT/pids" $TX_ARGS >"$log" 2>&1 || { cat "$log" >&2; echo "compare-seata: tx-bench failed" >&2; exit 1; }
      ;;
    seata)
      # shellcheck disable=SC2086 # SEATA_ARGS: split on blanks on purpose
      run "$SEATABENCH" --target "127.0.0.1:$SEATA_PORT" --mode "$MODE" --concurrency "$C" \
        --connections "$N" --seconds "$T" --warmup "$WARMUP" --label seata \
        --pids-file "$OUT/pids" $SEATA_ARGS >"$log" 2>&1 || { cat "$log" >&2; echo "compare-seata: seata-bench failed" >&2; exit 1; }
      ;;
  esac
  grep -v '^{' "$log"
  tail -n 1 "$log" | sed "s/^{/{\"round\":$ROUND,\"path\":\"$path\",/" >>"$RESULTS"
  procs_alive "$TARSD_PID" || { echo "compare-seata: tarsd is gone" >&2; cat "$OUT/tarsd.log" >&2; exit 1; }
}

for ROUND in $(seq 1 "$R"); do
  if [ $((ROUND % 2)) = 1 ]; then
    bench tars
    bench seata
  else
    bench seata
    bench tars
  fi
done

# Stop the tarsd now (the EXIT trap would too): SIGTERM, up to 10 s, then SIGKILL.
procs_signal TERM "$TARSD_PID"
for _ in $(seq 1 100); do procs_alive "$TARSD_PID" || break; sleep 0.1; done
procs_alive "$TARSD_PID" && procs_signal KILL "$TARSD_PID"
wait "$TARSD_PID" 2>/dev/null || true

python3 - "$RESULTS" "$MODE" "$C" "$N" "$T" <<'EOF' | tee "$OUT/table.md"
import json, statistics, sys
path, mode, c, n, t = sys.argv[1:]
runs = [json.loads(l) for l in open(path) if l.strip()]
by = {"tars": {}, "seata": {}}
for r in runs:
    by[r["path"]][r["round"]] = r
rounds = sorted(set(by["tars"]) & set(by["seata"]))
def med(p, key):
    return statistics.median(by[p][k][key] for k in rounds)
def cpu(p, name):
    v = [by[p][k].get("cpu_us_per_tx_by_process", {}).get(name) for k in rounds]
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else float("nan")
def ratio(key):
    return statistics.median(by["seata"][k][key] / by["tars"][k][key] for k in rounds if by["tars"][k][key])
print(f"\n{mode.upper()}, {c} in flight, {n} connections (pairs for seata), {t} s per run, "
      f"{len(rounds)} round(s), one tarsd; medians")
print()
print("| path | tx/s | p50 ms | p99 ms | tarsd CPU µs/tx | bench CPU µs/tx | failed |")
print("|---|---:|---:|---:|---:|---:|---:|")
bench_name = {"tars": "tx-bench", "seata": "seata-bench"}
for p in ("tars", "seata"):
    failed = sum(by[p][k]["failed"] for k in rounds)
    print(f"| {p} | {med(p, 'tx_per_sec'):,.0f} | {med(p, 'p50_us') / 1000:.1f} | "
          f"{med(p, 'p99_us') / 1000:.1f} | {cpu(p, 'tarsd'):.1f} | {cpu(p, bench_name[p]):.1f} | {failed} |")
print()
print(f"seata/tars (median of the per-round ratios): tx/s {ratio('tx_per_sec'):.2f}, "
      f"p99 {ratio('p99_us'):.2f}")
print()
print("per round: " + "; ".join(
    f"r{k}: tars {by['tars'][k]['tx_per_sec']:,.0f} tx/s p99 {by['tars'][k]['p99_us'] / 1000:.1f} ms, "
    f"seata {by['seata'][k]['tx_per_sec']:,.0f} tx/s p99 {by['seata'][k]['p99_us'] / 1000:.1f} ms"
    for k in rounds))
EOF
