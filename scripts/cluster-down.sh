#!/usr/bin/env bash
# cluster-down.sh: stops the local cluster scripts/cluster-up.sh started.
#
#   scripts/cluster-down.sh [--state DIR] [--timeout SECONDS] [STATE_DIR]
#
# Reads STATE/pids (state dir default ./cluster-data, also CLUSTER_STATE), whose lines are
# `pid starttime name`, and stops exactly those processes, nothing else: each gets SIGTERM,
# and SIGKILL if it is still there after the timeout (default 10 s; also STOP_TIMEOUT). A pid
# whose /proc/<pid>/stat start time differs from the recorded one is a reused pid and is left
# alone. Nodes are stopped before the etcd members (the nodes resign and flush through etcd).
# Then the pids file is removed; the data and logs stay (delete the state dir to start over).
set -euo pipefail

STATE="${CLUSTER_STATE:-./cluster-data}"
TIMEOUT="${STOP_TIMEOUT:-10}"
while [ $# -gt 0 ]; do
  case "$1" in
    --state) STATE="$2"; shift 2 ;;
    --state=*) STATE="${1#--state=}"; shift ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --timeout=*) TIMEOUT="${1#--timeout=}"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "cluster-down: unknown flag $1 (see --help)" >&2; exit 2 ;;
    *) STATE="$1"; shift ;;
  esac
done

PIDS="$STATE/pids"
if [ ! -f "$PIDS" ]; then
  echo "cluster-down: no $PIDS: nothing to stop" >&2
  exit 0
fi

ours() { # pid starttime: the process is still the one recorded
  local now
  now=$(awk '{print $22}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$now" ] && [ "$now" = "$2" ]
}

stop_group() { # name-pattern: stop the recorded processes whose name matches
  local pattern=$1 pid start name live=() deadline
  while read -r pid start name; do
    case "$pid" in ''|*[!0-9]*) continue ;; esac
    [[ "$name" == $pattern ]] || continue
    if ours "$pid" "$start"; then
      echo "stopping $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      live+=("$pid $start $name")
    fi
  done <"$PIDS"
  # SIGTERM was sent; SIGKILL after the timeout; give up 5 s after that.
  local killed=0 still entry
  deadline=$(( SECONDS + TIMEOUT ))
  while [ ${#live[@]} -gt 0 ]; do
    still=()
    for entry in "${live[@]}"; do
      read -r pid start name <<<"$entry"
      if ours "$pid" "$start"; then still+=("$entry"); fi
    done
    live=(${still[@]+"${still[@]}"})
    [ ${#live[@]} -gt 0 ] || break
    if [ "$SECONDS" -ge "$deadline" ]; then
      if [ "$killed" = 1 ]; then
        echo "cluster-down: still there after SIGKILL: ${live[*]}" >&2
        return 1
      fi
      for entry in "${live[@]}"; do
        read -r pid start name <<<"$entry"
        echo "killing $name (pid $pid): still running after ${TIMEOUT}s" >&2
        kill -KILL "$pid" 2>/dev/null || true
      done
      killed=1
      deadline=$(( SECONDS + 5 ))
    fi
    sleep 0.1
  done
}

rc=0
stop_group 'tarsd-*' || rc=1
stop_group 'etcd-*' || rc=1
stop_group '*' || rc=1
rm -f "$PIDS"
echo "stopped; data and logs remain in $STATE"
exit "$rc"
