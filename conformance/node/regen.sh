#!/usr/bin/env bash
# Regenerates conformance/vectors/stream.json from the pinned npm peers.
# (conformance/tests/vectors_regen.rs checks that the committed file is what this writes.)
set -euo pipefail
cd "$(dirname "$0")"
# Commands run through `run` (scripts/procs.sh): a signal or failure stops them by their pid.
source ../../scripts/procs.sh
run npm ci --no-audit --no-fund --loglevel=error
run node gen-vectors.js
run node check-vectors.js ../vectors/stream.json
