#!/usr/bin/env python3
"""Writes fuzzing seeds from the committed byte vectors (conformance/vectors/stream.json, made
by the npm @tars/stream and @tars/rpc peers) into fuzz/seeds/<target>/: packets (framed and
bare) and every encoded field; for seata_frames, the hand-written Seata v1 vectors
(services/seata/tests/vectors.txt) as frames. Run by scripts/fuzz.sh; the seeds are not
committed."""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
vectors = json.load(open(os.path.join(here, "..", "conformance", "vectors", "stream.json")))
out = os.path.join(here, "seeds")
fields = [bytes.fromhex(c["hex"]) for c in vectors["cases"]]
framed = [bytes.fromhex(p["hex"]) for p in vectors["packets"]]
bare = [f[4:] for f in framed if len(f) > 4]


def seata_frames():
    """Seata v1 frames: the frame vectors as they are, every body vector in a request frame,
    and all of them in one stream. Each seed starts with the byte seata_frames reads as its
    chunk size (first % 32 + 1)."""
    frames = []
    path = os.path.join(here, "..", "services", "seata", "tests", "vectors.txt")
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, hexs = line.split("=", 1)
        data = bytes.fromhex(hexs.replace("|", " ").replace(" ", ""))
        if name.strip().startswith("frame_"):
            frames.append(data)
        else:
            header = b"\xda\xda\x01" + (16 + len(data)).to_bytes(4, "big") + (16).to_bytes(2, "big")
            header += bytes([0, 1, 0]) + len(frames).to_bytes(4, "big")
            frames.append(header + data)
    stream = b"".join(frames)
    return [bytes([31]) + f for f in frames] + [bytes([0]) + stream, bytes([6]) + stream]


seeds = {
    "decode_packet": bare + fields,
    "frame_stream": framed + [b"".join(framed)],
    "skip_values": fields + bare,
    "decode_values": fields + bare,
    "seata_frames": seata_frames(),
}
for target, inputs in seeds.items():
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    for i, data in enumerate(inputs):
        with open(os.path.join(d, f"seed-{i:04}"), "wb") as f:
            f.write(data)
    print(f"{target}: {len(inputs)} seeds", file=sys.stderr)
