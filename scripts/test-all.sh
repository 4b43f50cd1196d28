#!/usr/bin/env bash
# Runs every check of the project: formatting, lints, all tests (including live interop
# against the npm Tars peers) and the examples. Works on a fresh machine with cargo and node.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== npm peers for the conformance suite"
if [ -f conformance/node/package-lock.json ]; then
  (cd conformance/node && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== cargo fmt"
cargo fmt --all -- --check

echo "== cargo clippy"
# `tars-idlc/cli` builds (and lints) the `idlc` binary and its tests; the second run lints the
# library as build scripts use it, without the feature.
cargo clippy --workspace --all-targets --locked --features tars-idlc/cli -- -D warnings
cargo clippy -p tars-idlc --all-targets --locked -- -D warnings

echo "== cargo doc (broken links and missing docs are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet --features tars-idlc/cli

echo "== cargo test"
# Tests reading the external IDL corpus find it through TARS_IDL_CORPUS or at
# ../shared/conformance/tars-idl; without it they print `skipped: ...` unless
# TARS_IDL_CORPUS_REQUIRED=1. `tars-idlc/cli` runs the `idlc` command-line tests too.
cargo test --workspace --locked --features tars-idlc/cli

echo "== examples"
cargo run -q --locked -p tars-codec --example codec_tour
# The bank-transfer example: tarsd + two TCC account services + a TM in one process, with
# injected failures; exits non-zero if money is not conserved.
cargo run -q --locked -p tars-example-bank-transfer --bin bank-demo -- --transfers 200
# The hello example: a server on a free port, and the client making sync/async/one-way calls.
cargo build -q --locked -p tars-example-hello
log="$(mktemp)"
target/debug/hello-server --port 0 --seconds 60 >"$log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q '^READY' "$log" && break; sleep 0.1; done
port="$(awk '/^READY/{print $2; exit}' "$log")"
[ -n "$port" ] || { cat "$log"; echo "hello-server did not start"; exit 1; }
target/debug/hello-client --port "$port"
kill "$server_pid"
