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
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo doc (broken links and missing docs are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

echo "== cargo test"
cargo test --workspace --locked

echo "== examples"
cargo run -q --locked -p tars --example codec_tour
