#!/usr/bin/env python3
"""Writes fuzzing seeds from the committed byte vectors (conformance/vectors/stream.json, made
by the npm @tars/stream and @tars/rpc peers) into fuzz/seeds/<target>/: packets (framed and
bare) and every encoded field. Run by scripts/fuzz.sh; the seeds are not committed."""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
vectors = json.load(open(os.path.join(here, "..", "conformance", "vectors", "stream.json")))
out = os.path.join(here, "seeds")
fields = [bytes.fromhex(c["hex"]) for c in vectors["cases"]]
framed = [bytes.fromhex(p["hex"]) for p in vectors["packets"]]
bare = [f[4:] for f in framed if len(f) > 4]
seeds = {
    "decode_packet": bare + fields,
    "frame_stream": framed + [b"".join(framed)],
    "skip_values": fields + bare,
    "decode_values": fields + bare,
}
for target, inputs in seeds.items():
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    for i, data in enumerate(inputs):
        with open(os.path.join(d, f"seed-{i:04}"), "wb") as f:
            f.write(data)
    print(f"{target}: {len(inputs)} seeds", file=sys.stderr)
