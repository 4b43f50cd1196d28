#!/usr/bin/env bash
# Coverage-guided fuzzing of the decoders with cargo-fuzz (libFuzzer), seeded with the byte
# vectors the npm peers produced (conformance/vectors/stream.json, via fuzz/seeds.py) and, for
# seata_frames, the hand-written Seata v1 vectors (services/seata/tests/vectors.txt).
# Usage: scripts/fuzz.sh [seconds-per-target]   (default 60)
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP enables them on the stable toolchain.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# Commands run through `run` (scripts/procs.sh): a signal or failure stops them by their pid.
source "$here/procs.sh"
cd "$here/../fuzz"
secs="${1:-60}"
log=""
on_exit '[ -z "$log" ] || rm -f "$log"'
command -v cargo-fuzz >/dev/null 2>&1 || run cargo install cargo-fuzz --locked
python3 seeds.py
for target in decode_packet frame_stream skip_values decode_values seata_frames; do
  echo "== fuzz $target for ${secs}s"
  mkdir -p "corpus/$target"
  log="$(mktemp)"
  if ! RUSTC_BOOTSTRAP=1 run cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- -max_total_time="$secs" >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz target $target failed (crash or build error)"; exit 1
  fi
  grep -E '^Done' "$log"
  rm -f "$log"
done
