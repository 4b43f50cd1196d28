#!/usr/bin/env bash
# Regenerates conformance/vectors/stream.json from the pinned npm peers.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
node gen-vectors.js
node check-vectors.js ../vectors/stream.json
