#!/usr/bin/env bash
# cluster-up.sh: a local tars-rs cluster on 127.0.0.1 — a 3-member etcd cluster and 3 tarsd
# nodes in cluster mode. Stop it with scripts/cluster-down.sh (same state dir).
#
#   scripts/cluster-up.sh [--state DIR] [--etcd-only] [--no-build] [STATE_DIR]
#
# State dir (default ./cluster-data; also CLUSTER_STATE): etcd/mK (etcd data), nK (node data),
# logs/*.log (every process's stdout and stderr), pids (one line per started process:
# `pid starttime name`, starttime from /proc/<pid>/stat so that cluster-down never signals a
# reused pid), endpoints (shell-sourceable: ETCD_ENDPOINTS=..., NODE_<K>_REGISTRY=..., ...).
# The state dir must not hold a pids file already (a cluster is up; run cluster-down.sh).
#
# Ports (127.0.0.1): free ones unless given as comma-separated lists, one per member/node (the
# ports are kept in STATE/ports and reused when the cluster is started again on the same state,
# since the etcd members' data names their peer URLs):
#   ETCD_CLIENT_PORTS=2379,2479,2579  ETCD_PEER_PORTS=2380,2480,2580
#   REGISTRY_PORTS=17890,17891,17892  COORDINATOR_PORTS=8091,8092,8093
# Other settings: NODES (tarsd nodes, default 3), TARSD (the binary; default
# ${CARGO_TARGET_DIR:-target}/release/tarsd,
# built with `cargo build --release -p tarsd --features cluster` unless
# --no-build or NO_BUILD=1), ETCD (default etcd on PATH), READY_TIMEOUT (seconds to wait for
# each process, default 30).
#
# etcd runs with --heartbeat-interval=100 --election-timeout=600 (lease TTLs from 0.9 s) and
# revision auto-compaction (without it the 2 GiB quota fills under load; docs/cluster.md).
# Each node is started as
#   tarsd --cluster etcd=URL1,URL2,URL3 --node-id nK --advertise 127.0.0.1
#         --data-dir STATE/nK --registry-port P --coordinator-port Q
# and is up once its log has the line `READY registry=P coordinator=Q`.
#
# On any failure (or Ctrl-C) the script stops exactly the processes it started (SIGTERM, then
# SIGKILL after 5 s; scripts/procs.sh) and prints the failing log's tail; on success it leaves
# them running and prints the etcd endpoints and the node endpoints.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=procs.sh
source "$ROOT/scripts/procs.sh"

STATE="${CLUSTER_STATE:-./cluster-data}"
ETCD_ONLY="${ETCD_ONLY:-0}"
NO_BUILD="${NO_BUILD:-0}"
while [ $# -gt 0 ]; do
  case "$1" in
    --state) STATE="$2"; shift 2 ;;
    --state=*) STATE="${1#--state=}"; shift ;;
    --etcd-only) ETCD_ONLY=1; shift ;;
    --no-build) NO_BUILD=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "cluster-up: unknown flag $1 (see --help)" >&2; exit 2 ;;
    *) STATE="$1"; shift ;;
  esac
done

NODES="${NODES:-3}"
MEMBERS=3
ETCD_BIN="${ETCD:-etcd}"
TARSD="${TARSD:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tarsd}"
READY_TIMEOUT="${READY_TIMEOUT:-30}"

mkdir -p "$STATE"
STATE="$(cd "$STATE" && pwd)"
PIDS="$STATE/pids"
if [ -e "$PIDS" ]; then
  echo "cluster-up: $PIDS exists: a cluster is up there (scripts/cluster-down.sh $STATE)" >&2
  exit 1
fi
mkdir -p "$STATE/logs" "$STATE/etcd"
# Unless the cluster is up, the pids file goes when the script exits (after procs.sh stopped
# what it started), however it exits.
UP_OK=0
on_exit '[ "$UP_OK" = 1 ] || rm -f "$PIDS"'

command -v "$ETCD_BIN" >/dev/null || { echo "cluster-up: no $ETCD_BIN (apt-get install etcd-server)" >&2; exit 1; }

# --- ports -------------------------------------------------------------------------------

CHOSEN=()
port_in_use() { # port: something accepts on 127.0.0.1:port
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
free_port() { # prints a port nobody listens on and this script has not chosen yet
  local p c taken
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 40000 ))
    taken=0
    for c in ${CHOSEN[@]+"${CHOSEN[@]}"}; do [ "$c" = "$p" ] && taken=1; done
    if [ "$taken" = 0 ] && ! port_in_use "$p"; then
      echo "$p"
      return 0
    fi
  done
  echo "cluster-up: no free port found" >&2
  return 1
}
ports() { # VAR COUNT LIST: VAR=(COUNT ports), from LIST (comma-separated) or free ones
  local var=$1 count=$2 list=$3 p out=()
  if [ -n "$list" ]; then
    IFS=, read -r -a out <<<"$list"
    if [ "${#out[@]}" -ne "$count" ]; then
      echo "cluster-up: $var needs $count ports, got '$list'" >&2
      exit 2
    fi
  else
    for _ in $(seq 1 "$count"); do
      p=$(free_port)
      CHOSEN+=("$p")
      out+=("$p")
    done
  fi
  for p in "${out[@]}"; do
    case "$p" in ''|*[!0-9]*) echo "cluster-up: $var: bad port '$p'" >&2; exit 2 ;; esac
  done
  eval "$var=(\"\${out[@]}\")"
}
# The ports of an earlier start on this state dir, unless given.
if [ -f "$STATE/ports" ]; then
  while IFS='=' read -r k v; do
    case "$k" in
      ETCD_CLIENT_PORTS|ETCD_PEER_PORTS|REGISTRY_PORTS|COORDINATOR_PORTS)
        [ -n "${!k:-}" ] || printf -v "$k" '%s' "$v" ;;
    esac
  done <"$STATE/ports"
fi
join() { local IFS=,; echo "$*"; }
ports CLIENT "$MEMBERS" "${ETCD_CLIENT_PORTS:-}"
ports PEER "$MEMBERS" "${ETCD_PEER_PORTS:-}"

save_ports() { # writes STATE/ports now: the etcd data will name these peer URLs
  {
    echo "ETCD_CLIENT_PORTS=$(join "${CLIENT[@]}")"
    echo "ETCD_PEER_PORTS=$(join "${PEER[@]}")"
    if [ -n "${REG[*]:-}" ]; then
      echo "REGISTRY_PORTS=$(join "${REG[@]}")"
      echo "COORDINATOR_PORTS=$(join "${COORD[@]}")"
    elif [ -n "${REGISTRY_PORTS:-}" ] && [ -n "${COORDINATOR_PORTS:-}" ]; then
      echo "REGISTRY_PORTS=$REGISTRY_PORTS"
      echo "COORDINATOR_PORTS=$COORDINATOR_PORTS"
    fi
  } >"$STATE/ports"
}
REG=()
COORD=()
save_ports

# --- starting and recording processes ----------------------------------------------------

record() { # pid name: append to the pids file (pid, its start time, a name)
  local start
  start=$(awk '{print $22}' "/proc/$1/stat" 2>/dev/null || echo 0)
  echo "$1 $start $2" >>"$PIDS"
}

fail() { # message [log]: print, the log's tail too, and exit (the trap stops what started)
  echo "cluster-up: $1" >&2
  if [ -n "${2:-}" ] && [ -f "$2" ]; then
    echo "--- tail of $2" >&2
    tail -n 30 "$2" >&2
  fi
  # The exit trap stops the processes and removes the pids file.
  exit 1
}

etcd_healthy() { # port: GET /health says true (1 s budget)
  local body
  body=$(timeout 2 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
    cat <&3' _ "$1" 2>/dev/null) || return 1
  [[ "$body" == *'"health":"true"'* ]]
}

# --- etcd --------------------------------------------------------------------------------

INITIAL=""
for i in $(seq 1 "$MEMBERS"); do
  INITIAL+="${INITIAL:+,}m$i=http://127.0.0.1:${PEER[$((i-1))]}"
done
ENDPOINTS=""
for i in $(seq 1 "$MEMBERS"); do
  ENDPOINTS+="${ENDPOINTS:+,}http://127.0.0.1:${CLIENT[$((i-1))]}"
done

for i in $(seq 1 "$MEMBERS"); do
  c=${CLIENT[$((i-1))]}
  p=${PEER[$((i-1))]}
  log="$STATE/logs/etcd-m$i.log"
  bg "$ETCD_BIN" \
    --name="m$i" \
    --data-dir="$STATE/etcd/m$i" \
    --listen-client-urls="http://127.0.0.1:$c" \
    --advertise-client-urls="http://127.0.0.1:$c" \
    --listen-peer-urls="http://127.0.0.1:$p" \
    --initial-advertise-peer-urls="http://127.0.0.1:$p" \
    --initial-cluster="$INITIAL" \
    --initial-cluster-state=new \
    --initial-cluster-token=tars-cluster-up \
    --heartbeat-interval=100 \
    --election-timeout=600 \
    --auto-compaction-mode=revision \
    --auto-compaction-retention=10000 \
    </dev/null >"$log" 2>&1
  record "$BG_PID" "etcd-m$i"
  ETCD_PID[i]=$BG_PID
done

for i in $(seq 1 "$MEMBERS"); do
  c=${CLIENT[$((i-1))]}
  log="$STATE/logs/etcd-m$i.log"
  deadline=$(( SECONDS + READY_TIMEOUT ))
  until etcd_healthy "$c"; do
    procs_alive "${ETCD_PID[i]}" || fail "etcd m$i exited" "$log"
    [ "$SECONDS" -lt "$deadline" ] || fail "etcd m$i not healthy within ${READY_TIMEOUT}s" "$log"
    sleep 0.2
  done
done
echo "etcd: $ENDPOINTS (healthy)"
{
  echo "ETCD_ENDPOINTS=$ENDPOINTS"
} >"$STATE/endpoints"

# --- tarsd nodes -------------------------------------------------------------------------

if [ "$ETCD_ONLY" != 1 ]; then
  ports REG "$NODES" "${REGISTRY_PORTS:-}"
  ports COORD "$NODES" "${COORDINATOR_PORTS:-}"
  save_ports
  if [ "$NO_BUILD" != 1 ]; then
    echo "building tarsd (release, --features cluster)"
    run cargo build --manifest-path "$ROOT/Cargo.toml" --release -p tarsd --features cluster \
      || fail "cargo build --release -p tarsd --features cluster failed"
  fi
  [ -x "$TARSD" ] || fail "no tarsd binary at $TARSD"

  for k in $(seq 1 "$NODES"); do
    rp=${REG[$((k-1))]}
    cp=${COORD[$((k-1))]}
    log="$STATE/logs/n$k.log"
    mkdir -p "$STATE/n$k"
    bg "$TARSD" --cluster "etcd=$ENDPOINTS" --node-id "n$k" --advertise 127.0.0.1 \
      --data-dir "$STATE/n$k" --registry-port "$rp" --coordinator-port "$cp" \
      </dev/null >"$log" 2>&1
    record "$BG_PID" "tarsd-n$k"
    NODE_PID[k]=$BG_PID
  done

  for k in $(seq 1 "$NODES"); do
    log="$STATE/logs/n$k.log"
    deadline=$(( SECONDS + READY_TIMEOUT ))
    until grep -q '^READY ' "$log" 2>/dev/null; do
      procs_alive "${NODE_PID[k]}" || fail "tarsd n$k exited" "$log"
      [ "$SECONDS" -lt "$deadline" ] || fail "tarsd n$k not READY within ${READY_TIMEOUT}s" "$log"
      sleep 0.2
    done
    line=$(grep -m1 '^READY ' "$log")
    # The ports it says it listens on (they are the ones asked for).
    rp=$(sed -n 's/.*registry=\([0-9]*\).*/\1/p' <<<"$line")
    cp=$(sed -n 's/.*coordinator=\([0-9]*\).*/\1/p' <<<"$line")
    [ -n "$rp" ] && [ -n "$cp" ] || fail "tarsd n$k: unexpected READY line: $line" "$log"
    REG[k-1]=$rp
    COORD[k-1]=$cp
    echo "node n$k: registry=127.0.0.1:$rp coordinator=127.0.0.1:$cp pid=${NODE_PID[k]}"
    {
      echo "NODE_N${k}_REGISTRY=127.0.0.1:$rp"
      echo "NODE_N${k}_COORDINATOR=127.0.0.1:$cp"
    } >>"$STATE/endpoints"
  done
fi

# Success: leave everything running (the exit trap stops only what is still in STARTED_PIDS).
STARTED_PIDS=()
UP_OK=1
echo "state: $STATE (pids, logs/, endpoints)"
echo "cluster: --cluster etcd=$ENDPOINTS"
echo "stop:    $ROOT/scripts/cluster-down.sh $STATE"
