#!/usr/bin/env node
// @tars/stream side of the tars-rs codec benchmark (bench/compare-codec.sh).
//
// Conf.Small / Conf.Mid (conformance/idl/Conformance.tars) and
// `struct MidBatch { 0 require vector<Mid> items; }`, hand-written the way tars2node generates
// structs, filled with the same contents as runtime/benches/codec.rs. Encoding is what a
// generated proxy/servant does (fresh TarsOutputStream, _writeTo, getBinBuffer); decoding is
// TarsInputStream over a BinBuffer, then _readFrom.
//
// Prints one JSON line per benchmark:
//   {"bench":"mid/encode","ns_per_op":...,"ops":...,"bytes":...}
//
// Usage: node codec-bench.js [--quick] [--seconds S] [--expect DIR]
//   --seconds S   measuring time per benchmark (default 3; --quick: 0.5)
//   --expect DIR  compare our encodings byte for byte with DIR/mid.bin and DIR/batch20.bin
//                 (written by the Rust bench with TARS_BENCH_DUMP=DIR) and decode those files.
'use strict';

const fs = require('fs');
const path = require('path');
const assert = require('assert');
const TarsStream = require('@tars/stream');

// Conf.Small / Conf.Mid are declared here rather than taken from conformance/node/conf.js on
// purpose: the conformance classes use @tars/stream's exact string mode for 64-bit fields
// (Big.js), while tars2node generates the faster number mode by default, which is what a real
// Node service runs and therefore what this benchmark must measure.
const Conf = {};

// ---- struct Small { 0 require int a; 1 require string b; } ----------------------------------
Conf.Small = function () {
  this.a = 0;
  this.b = '';
  this._classname = 'Conf.Small';
};
Conf.Small._classname = 'Conf.Small';
Conf.Small._write = function (os, tag, value) { os.writeStruct(tag, value); };
Conf.Small._read = function (is, tag, def) { return is.readStruct(tag, true, def); };
Conf.Small._readFrom = function (is) {
  const tmp = new Conf.Small();
  tmp.a = is.readInt32(0, true, 0);
  tmp.b = is.readString(1, true, '');
  return tmp;
};
Conf.Small.prototype._writeTo = function (os) {
  os.writeInt32(0, this.a);
  os.writeString(1, this.b);
};
Conf.Small.prototype.toBinBuffer = function () {
  const os = new TarsStream.TarsOutputStream();
  this._writeTo(os);
  return os.getBinBuffer();
};
Conf.Small.new = function () { return new Conf.Small(); };
Conf.Small.create = function (is) { return Conf.Small._readFrom(is); };

// ---- struct Mid -------------------------------------------------------------------------------
Conf.Mid = function () {
  this.id = 0;
  this.count = 0;
  this.level = 0;
  this.flag = false;
  this.score = 0;
  this.ratio = 0;
  this.name = '';
  this.description = '';
  this.payload = new TarsStream.BinBuffer();
  this.attrs = new TarsStream.Map(TarsStream.String, TarsStream.String);
  this.ids = new TarsStream.List(TarsStream.Int32);
  this.inner = new Conf.Small();
  this._classname = 'Conf.Mid';
};
Conf.Mid._classname = 'Conf.Mid';
Conf.Mid._write = function (os, tag, value) { os.writeStruct(tag, value); };
Conf.Mid._read = function (is, tag, def) { return is.readStruct(tag, true, def); };
Conf.Mid._readFrom = function (is) {
  const tmp = new Conf.Mid();
  tmp.id = is.readInt64(0, true, 0);
  tmp.count = is.readInt32(1, true, 0);
  tmp.level = is.readInt16(2, true, 0);
  tmp.flag = is.readBoolean(3, true, false);
  tmp.score = is.readDouble(4, true, 0);
  tmp.ratio = is.readFloat(5, true, 0);
  tmp.name = is.readString(6, true, '');
  tmp.description = is.readString(7, true, '');
  tmp.payload = is.readBytes(8, true, TarsStream.BinBuffer);
  tmp.attrs = is.readMap(9, true, TarsStream.Map(TarsStream.String, TarsStream.String));
  tmp.ids = is.readList(10, true, TarsStream.List(TarsStream.Int32));
  tmp.inner = is.readStruct(11, true, Conf.Small);
  return tmp;
};
Conf.Mid.prototype._writeTo = function (os) {
  os.writeInt64(0, this.id);
  os.writeInt32(1, this.count);
  os.writeInt16(2, this.level);
  os.writeBoolean(3, this.flag);
  os.writeDouble(4, this.score);
  os.writeFloat(5, this.ratio);
  os.writeString(6, this.name);
  os.writeString(7, this.description);
  os.writeBytes(8, this.payload);
  os.writeMap(9, this.attrs);
  os.writeList(10, this.ids);
  os.writeStruct(11, this.inner);
};
Conf.Mid.prototype.toBinBuffer = function () {
  const os = new TarsStream.TarsOutputStream();
  this._writeTo(os);
  return os.getBinBuffer();
};
Conf.Mid.new = function () { return new Conf.Mid(); };
Conf.Mid.create = function (is) { return Conf.Mid._readFrom(is); };

// ---- struct MidBatch { 0 require vector<Mid> items; } ------------------------------------------
Conf.MidBatch = function () {
  this.items = new TarsStream.List(Conf.Mid);
  this._classname = 'Conf.MidBatch';
};
Conf.MidBatch._classname = 'Conf.MidBatch';
Conf.MidBatch._write = function (os, tag, value) { os.writeStruct(tag, value); };
Conf.MidBatch._read = function (is, tag, def) { return is.readStruct(tag, true, def); };
Conf.MidBatch._readFrom = function (is) {
  const tmp = new Conf.MidBatch();
  tmp.items = is.readList(0, true, TarsStream.List(Conf.Mid));
  return tmp;
};
Conf.MidBatch.prototype._writeTo = function (os) {
  os.writeList(0, this.items);
};
Conf.MidBatch.prototype.toBinBuffer = function () {
  const os = new TarsStream.TarsOutputStream();
  this._writeTo(os);
  return os.getBinBuffer();
};
Conf.MidBatch.new = function () { return new Conf.MidBatch(); };
Conf.MidBatch.create = function (is) { return Conf.MidBatch._readFrom(is); };

// ---- contents: keep in sync with mid() in runtime/benches/codec.rs ----------------------------
const BATCH_LEN = 20;

function midContents() {
  const m = new Conf.Mid();
  m.id = 1234567890123;
  m.count = 1000000;
  m.level = -300;
  m.flag = true;
  m.score = 98.625;
  m.ratio = 0.25;
  m.name = 'order-service.shard7';
  m.description = 'Settles card payments for the EU region and reports to the ledger.';
  const payload = Buffer.alloc(128);
  for (let i = 0; i < 128; i++) payload[i] = (i * 7 + 3) & 0xff;
  m.payload = new TarsStream.BinBuffer(payload);
  // Inserted in key order: the Rust side (BTreeMap) writes map entries sorted by key.
  m.attrs.insert('env', 'production');
  m.attrs.insert('owner', 'payments-team');
  m.attrs.insert('region', 'eu-west-1');
  m.attrs.insert('zone', 'b');
  for (let i = 0; i < 16; i++) m.ids.push(i * 5003 - 20000);
  m.inner.a = 42;
  m.inner.b = 'nested-small';
  return m;
}

function batchContents() {
  const b = new Conf.MidBatch();
  for (let i = 0; i < BATCH_LEN; i++) b.items.push(midContents());
  return b;
}

// ---- harness ----------------------------------------------------------------------------------
function parseArgs(argv) {
  const opts = { seconds: 3, warmup: 1, expect: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') { opts.seconds = 0.5; opts.warmup = 0.2; }
    else if (a === '--seconds') opts.seconds = Number(argv[++i]);
    else if (a === '--expect') opts.expect = argv[++i];
    else throw new Error('unknown argument: ' + a);
  }
  if (!(opts.seconds > 0)) throw new Error('--seconds must be positive');
  return opts;
}

let sink = 0;

// Runs `fn` in batches of `inner` calls: warm-up for `warmup` s (lets V8 optimise), then timed
// batches for `seconds` s. Reports the mean over all timed calls (what criterion's mean is).
function measure(fn, warmup, seconds) {
  const now = process.hrtime.bigint;
  let inner = 1;
  // Grow the batch until one batch takes >= 1 ms, so timer overhead is negligible.
  for (;;) {
    const t0 = now();
    for (let i = 0; i < inner; i++) sink += fn();
    if (Number(now() - t0) >= 1e6) break;
    inner *= 2;
  }
  const warmEnd = now() + BigInt(Math.round(warmup * 1e9));
  while (now() < warmEnd) {
    for (let i = 0; i < inner; i++) sink += fn();
  }
  const limit = BigInt(Math.round(seconds * 1e9));
  let ops = 0;
  let elapsed = 0n;
  const samples = [];
  while (elapsed < limit) {
    const t0 = now();
    for (let i = 0; i < inner; i++) sink += fn();
    const dt = now() - t0;
    elapsed += dt;
    ops += inner;
    samples.push(Number(dt) / inner);
  }
  samples.sort((x, y) => x - y);
  return {
    ns_per_op: Number(elapsed) / ops,
    median_ns: samples[samples.length >> 1],
    ops,
  };
}

function encode(value) {
  return value.toBinBuffer().toNodeBuffer();
}

function decode(T, nodeBuffer) {
  return T._readFrom(new TarsStream.TarsInputStream(new TarsStream.BinBuffer(nodeBuffer)));
}

function checkAgainstRust(name, ours, T, dir) {
  const file = path.join(dir, name + '.bin');
  const rust = fs.readFileSync(file);
  if (!rust.equals(ours)) {
    let at = 0;
    while (at < Math.min(rust.length, ours.length) && rust[at] === ours[at]) at++;
    throw new Error(`${name}: @tars/stream encoding (${ours.length} B) differs from ${file} ` +
      `(${rust.length} B) at offset ${at}`);
  }
  // And the Rust bytes decode to the same contents.
  const back = decode(T, rust);
  assert.deepStrictEqual(encode(back), ours, `${name}: re-encoding the Rust bytes`);
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const cases = [
    { name: 'mid', T: Conf.Mid, value: midContents() },
    { name: 'batch20', T: Conf.MidBatch, value: batchContents() },
  ];
  for (const c of cases) {
    const bytes = encode(c.value);
    // Round trip before timing anything.
    assert.deepStrictEqual(encode(decode(c.T, bytes)), bytes, `${c.name}: round trip`);
    let matches = null;
    if (opts.expect) {
      checkAgainstRust(c.name, bytes, c.T, opts.expect);
      matches = true;
    }
    const enc = measure(() => c.value.toBinBuffer().length, opts.warmup, opts.seconds);
    const dec = measure(() => decode(c.T, bytes)._classname.length, opts.warmup, opts.seconds);
    for (const [op, r] of [['encode', enc], ['decode', dec]]) {
      const line = {
        bench: `${c.name}/${op}`,
        ns_per_op: Number(r.ns_per_op.toFixed(1)),
        median_ns: Number(r.median_ns.toFixed(1)),
        ops: r.ops,
        bytes: bytes.length,
        mb_per_s: Number((bytes.length / r.ns_per_op * 1e9 / 1048576).toFixed(2)),
      };
      if (matches !== null) line.same_bytes_as_rust = matches;
      console.log(JSON.stringify(line));
    }
  }
  if (sink === 42) console.error(''); // keep results observable
}

main();
