# Sourced by the project's scripts (scripts/, bench/, conformance/node/regen.sh): starting child
# processes so that each one is stopped by its pid when the script exits, whether it succeeds,
# fails, or gets Ctrl-C, SIGTERM or SIGHUP.
#
#   bg CMD...        start CMD in the background, in a process group of its own (setsid: its
#                    pid is the group id); the pid is recorded and left in BG_PID
#   run CMD...       bg CMD, then wait for it and return its status. Waiting on a background
#                    command (instead of running it in the foreground) lets a signal to the
#                    script interrupt the wait at once; bash delays its traps until a foreground
#                    command ends
#   on_exit 'CMD'    also run CMD when the script exits (after the processes are stopped)
#
# At exit, every recorded process group gets SIGTERM (so what the command started itself, e.g.
# rustc under cargo, stops too), then SIGKILL if it is still there after 5 s, and is reaped.
# Requires setsid (util-linux); without it only the recorded processes themselves are signalled.
# INT, TERM and HUP make the script exit with 130, 143 and 129 through the same path.
#
# Call bg and run from the script's own shell, never inside $(...) or a pipeline: the pid must
# be recorded in the shell that exits.

STARTED_PIDS=()
EXIT_HOOKS=()
BG_PID=""

procs_alive() { # pid: its process group (or, without setsid, the process) still exists
    kill -0 -- "-$1" 2>/dev/null || kill -0 "$1" 2>/dev/null
}

procs_signal() { # signal pid...
    local sig=$1 p
    shift
    for p in "$@"; do
        kill "-$sig" -- "-$p" 2>/dev/null || kill "-$sig" "$p" 2>/dev/null || true
    done
}

procs_stop_all() {
    local rc=$? p wd
    trap - EXIT INT TERM HUP
    if [ ${#STARTED_PIDS[@]} -gt 0 ]; then
        procs_signal TERM "${STARTED_PIDS[@]}"
        # A watchdog (itself stopped below) sends SIGKILL to whatever is left after 5 s.
        setsid bash -c 'sleep 5; for p in "$@"; do kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null; done' \
            procs-watchdog "${STARTED_PIDS[@]}" &
        wd=$!
        for p in "${STARTED_PIDS[@]}"; do
            wait "$p" 2>/dev/null || true
        done
        procs_signal KILL "$wd"
        wait "$wd" 2>/dev/null || true
    fi
    for p in ${EXIT_HOOKS[@]+"${EXIT_HOOKS[@]}"}; do
        eval "$p" || true
    done
    exit "$rc"
}
trap procs_stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

bg() {
    if command -v setsid >/dev/null 2>&1; then
        setsid "$@" &
    else
        "$@" &
    fi
    BG_PID=$!
    STARTED_PIDS+=("$BG_PID")
}

run() {
    bg "$@"
    local rc=0 p keep=()
    wait "$BG_PID" || rc=$?
    # Forget it once its whole group is gone (its pid may be reused later).
    if ! procs_alive "$BG_PID"; then
        for p in "${STARTED_PIDS[@]}"; do
            [ "$p" = "$BG_PID" ] || keep+=("$p")
        done
        STARTED_PIDS=(${keep[@]+"${keep[@]}"})
    fi
    return "$rc"
}

on_exit() {
    EXIT_HOOKS+=("$1")
}

# bg_ready VAR LOG CMD...: bg CMD with its output in LOG, wait (up to 20 s) for the `READY
# <port> ...` line servers print, and set VAR to that port. Exits the script, printing LOG, when
# the server stops or never gets ready.
bg_ready() {
    local var=$1 log=$2 p
    shift 2
    bg "$@" >"$log" 2>&1
    p=$BG_PID
    for _ in $(seq 1 200); do
        if grep -q '^READY' "$log"; then
            printf -v "$var" '%s' "$(grep -m1 '^READY' "$log" | awk '{print $2}')"
            return 0
        fi
        procs_alive "$p" || break
        sleep 0.1
    done
    echo "$1 did not start:" >&2
    cat "$log" >&2
    exit 1
}
