#!/usr/bin/env bash
# compare-cluster.sh: global transactions/s of the 3-node cluster on etcd against one embedded
# tarsd, in one run, interleaved.
#
#   bench/compare-cluster.sh [-r ROUNDS] [-t SECONDS] [-c IN_FLIGHT] [-n CONNECTIONS]
#                            [-m "tcc at"] [-o DIR] [--no-build]
#
# Builds tarsd (release, --features cluster) and tx-bench (release) once, then per round
# (default 3; the order of the two targets alternates from round to round):
#   cluster:  scripts/cluster-up.sh --no-build on a fresh state dir (3 etcd members, 3 tarsd
#             nodes), waits until the scheduler's placement holds (every fragment led by its
#             assigned leader), runs tx-bench in each mode against all three nodes
#             (--coordinator n1,n2,n3; connections spread over them) with --etcd-metrics (etcd's
#             own counters) and --pids-file STATE/pids (CPU per process), then
#             scripts/cluster-down.sh.
#   embedded: one tarsd (same binary, no --cluster) on a data dir of its own, the same tx-bench
#             runs against it (--pids-file with its pid), then it is stopped by its pid.
# Every run's JSON line goes to DIR/results.jsonl (DIR default: a new temporary directory,
# kept, with every process's log); bench/cluster_table.py prints the table (medians over the
# rounds, ratios taken within each round).
#
# Every process this script starts is stopped by its pid when it exits, also on failure or
# Ctrl-C (scripts/procs.sh); a cluster that is up is stopped by scripts/cluster-down.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
R=3 T=10 C=256 N=6 MODES="tcc at" OUT="" BUILD=1 WARMUP=3
while [ $# -gt 0 ]; do
  case "$1" in
    -r) R=$2; shift 2 ;;
    -t) T=$2; shift 2 ;;
    -c) C=$2; shift 2 ;;
    -n) N=$2; shift 2 ;;
    -m) MODES=$2; shift 2 ;;
    -o) OUT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare-cluster: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

# shellcheck source=../scripts/procs.sh
source "$ROOT/scripts/procs.sh"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
TARSD="$TARGET_DIR/release/tarsd"
TXBENCH="$TARGET_DIR/release/tx-bench"
[ -n "$OUT" ] || OUT="$(mktemp -d /tmp/compare-cluster.XXXXXX)"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
echo "output: $OUT"

# The cluster currently up (its state dir), stopped at exit whatever happens.
CLUSTER_STATE=""
cluster_down() {
  if [ -n "$CLUSTER_STATE" ] && [ -f "$CLUSTER_STATE/pids" ]; then
    "$ROOT/scripts/cluster-down.sh" "$CLUSTER_STATE" || true
  fi
  CLUSTER_STATE=""
}
on_exit cluster_down

if [ "$BUILD" = 1 ]; then
  echo "building tarsd (release, --features cluster) and tx-bench (release)"
  run cargo build -q --manifest-path "$ROOT/Cargo.toml" --release -p tarsd --features cluster -p tars-txbench
fi
[ -x "$TARSD" ] && [ -x "$TXBENCH" ] || { echo "compare-cluster: no $TARSD or $TXBENCH" >&2; exit 1; }

# bench LABEL TARGETS EXTRA...: one tx-bench run per mode; the JSON line goes to RESULTS.
bench() {
  local label=$1 targets=$2 mode log
  shift 2
  for mode in $MODES; do
    log="$OUT/txbench-$label-$mode-r$ROUND.log"
    echo "--- round $ROUND: $label, $mode"
    run "$TXBENCH" --coordinator "$targets" --mode "$mode" --concurrency "$C" \
      --connections "$N" --seconds "$T" --warmup "$WARMUP" --wait-ready 30 \
      --label "$label" "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "compare-cluster: tx-bench failed" >&2; exit 1; }
    grep -v '^{' "$log"
    tail -n 1 "$log" | sed "s/^{/{\"round\":$ROUND,/" >>"$RESULTS"
  done
}

# Waits until every fragment is led by its assigned leader and every node leads one (the
# scheduler's placement holds), seen twice in a row, so no handover runs during the runs.
wait_placed() {
  local etcd=$1 ok=0 json
  for _ in $(seq 1 120); do
    json=$("$TARSD" cluster status --cluster "etcd=$etcd" --json 2>/dev/null || true)
    if python3 - "$json" <<'EOF'
import json, sys
try:
    s = json.loads(sys.argv[1])
except Exception:
    sys.exit(1)
f = s.get("fragments", [])
n = s.get("nodes", [])
ok = f and len(n) == 3 and all(x.get("leader") and x.get("leader") == x.get("assigned_leader") for x in f)
lead = [x.get("leading", 0) for x in n]
ok = ok and min(lead) >= 1 and max(lead) - min(lead) <= 1
sys.exit(0 if ok else 1)
EOF
    then
      ok=$((ok + 1))
      [ "$ok" -ge 2 ] && { echo "$json" >"$OUT/cluster-status-r$ROUND.json"; return 0; }
    else
      ok=0
    fi
    sleep 0.5
  done
  echo "compare-cluster: the cluster's placement did not settle" >&2
  exit 1
}

forget() { # pid: stopped and reaped; drop it from the pids stopped at exit
  local p keep=()
  for p in "${STARTED_PIDS[@]}"; do
    [ "$p" = "$1" ] || keep+=("$p")
  done
  STARTED_PIDS=(${keep[@]+"${keep[@]}"})
}

run_cluster() {
  CLUSTER_STATE="$OUT/cluster-r$ROUND"
  rm -rf "$CLUSTER_STATE"
  run "$ROOT/scripts/cluster-up.sh" --no-build "$CLUSTER_STATE" >"$OUT/cluster-up-r$ROUND.log" 2>&1 \
    || { cat "$OUT/cluster-up-r$ROUND.log" >&2; exit 1; }
  # shellcheck disable=SC1091
  source "$CLUSTER_STATE/endpoints"
  wait_placed "$ETCD_ENDPOINTS"
  local targets="$NODE_N1_COORDINATOR,$NODE_N2_COORDINATOR,$NODE_N3_COORDINATOR"
  bench cluster "$targets" --etcd-metrics "$ETCD_ENDPOINTS" --pids-file "$CLUSTER_STATE/pids"
  cluster_down
}

run_embedded() {
  local dir="$OUT/embedded-r$ROUND" port pid
  rm -rf "$dir"
  mkdir -p "$dir/data"
  bg_ready port "$dir/tarsd.log" "$TARSD" --data-dir "$dir/data" --registry-port 0 --coordinator-port 0
  pid=$BG_PID
  port=$(sed -n 's/.*coordinator=\([0-9]*\).*/\1/p' "$dir/tarsd.log" | head -n 1)
  echo "$pid $(awk '{print $22}' "/proc/$pid/stat") tarsd" >"$dir/pids"
  bench embedded "127.0.0.1:$port" --pids-file "$dir/pids"
  procs_signal TERM "$pid"
  for _ in $(seq 1 100); do procs_alive "$pid" || break; sleep 0.1; done
  procs_alive "$pid" && procs_signal KILL "$pid"
  wait "$pid" 2>/dev/null || true
  forget "$pid"
}

for ROUND in $(seq 1 "$R"); do
  if [ $((ROUND % 2)) = 1 ]; then
    run_cluster
    run_embedded
  else
    run_embedded
    run_cluster
  fi
done

python3 "$ROOT/bench/cluster_table.py" "$RESULTS" | tee "$OUT/table.md"
