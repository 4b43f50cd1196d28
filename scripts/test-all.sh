#!/usr/bin/env bash
# Runs every check of the project: formatting, lints, all tests (including live interop
# against the npm Tars peers) and the examples. Works on a fresh machine with cargo and node.
set -euo pipefail
cd "$(dirname "$0")/.."
# Commands run through `run`/`bg` (scripts/procs.sh) are stopped by their pid when this script
# exits, also on failure or Ctrl-C.
source scripts/procs.sh

# Cluster mode (crate tars-cluster, tarsd feature `cluster`) builds etcd-client, which needs
# `protoc`; its tests start real etcd members. Both come from Debian: installed when missing
# (as root), else the build says what to install and the etcd tests skip loudly.
need=()
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
if [ "${#need[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== apt-get install ${need[*]}"
  run apt-get install -y -q "${need[@]}" || { run apt-get update -q && run apt-get install -y -q "${need[@]}"; }
fi

echo "== npm peers for the conformance suite"
if [ -f conformance/node/package-lock.json ]; then
  run bash -c 'cd conformance/node && exec npm ci --no-audit --no-fund --loglevel=error'
fi

echo "== cargo fmt"
run cargo fmt --all -- --check

echo "== cargo clippy"
# `tars-idlc/cli` builds (and lints) the `idlc` binary and its tests; the second run lints the
# library as build scripts use it, without the feature.
# `tarsd/cluster` builds tarsd's cluster mode and its tests; the third run lints tarsd without
# it, as `cargo run -p tarsd` builds it.
run cargo clippy --workspace --all-targets --locked --features tars-idlc/cli,tarsd/cluster -- -D warnings
run cargo clippy -p tars-idlc --all-targets --locked -- -D warnings
run cargo clippy -p tarsd --all-targets --locked -- -D warnings

echo "== cargo doc (broken links and missing docs are errors)"
RUSTDOCFLAGS="-D warnings" run cargo doc --workspace --no-deps --locked --quiet --features tars-idlc/cli,tarsd/cluster

echo "== cargo test"
# Tests reading the external IDL corpus find it through TARS_IDL_CORPUS or at
# ../shared/conformance/tars-idl; without it they print `skipped: ...` unless
# TARS_IDL_CORPUS_REQUIRED=1. `tars-idlc/cli` runs the `idlc` command-line tests too.
# etcd tests (tars-test-support's TestEtcd) skip with `SKIPPED ...` when etcd is not installed,
# unless TARS_ETCD_REQUIRED=1. `tarsd/cluster` runs tarsd's cluster tests.
run cargo test --workspace --locked --features tars-idlc/cli,tarsd/cluster

echo "== examples"
run cargo run -q --locked -p tars-codec --example codec_tour
# The bank-transfer example: tarsd + two TCC account services + a TM in one process, with
# injected failures; exits non-zero if money is not conserved.
run cargo run -q --locked -p tars-example-bank-transfer --bin bank-demo -- --transfers 200
# The hello example: a server on a free port, and the client making sync/async/one-way calls.
run cargo build -q --locked -p tars-example-hello
log="$(mktemp)"
on_exit 'rm -f "$log"'
bin="${CARGO_TARGET_DIR:-target}/debug"
bg "$bin/hello-server" --port 0 --seconds 60 >"$log" 2>&1
for _ in $(seq 1 100); do grep -q '^READY' "$log" && break; sleep 0.1; done
port="$(awk '/^READY/{print $2; exit}' "$log")"
[ -n "$port" ] || { cat "$log"; echo "hello-server did not start"; exit 1; }
run "$bin/hello-client" --port "$port"
# The server is stopped by the exit handler.
