// Reverse direction: decodes bytes produced by tars-rs with the real npm peers and compares the
// values. Usage: node check-vectors.js <file.json>  (same format as vectors/stream.json).
//
// For every case: read `hex` with TarsInputStream at `tag` as `type`; the read must consume the
// whole buffer and give `value` (or `value_decoded` when present). NaN equals NaN, -0.0 differs
// from 0.0, map order is not significant. The decoded value is then re-encoded with
// @tars/stream: differing bytes are only a warning (the peer writes 0.0 as ZERO_TAG and every
// optional field, and orders maps its own way).
// Prints one line per failure, one warning line, and `N passed, M failed`; exits 1 on failure.
'use strict';
const fs = require('fs');
const { S, parse, proto, read, toJson, write, same } = require('./schema.js');
const RequestF = require('@tars/rpc/core/rpc-tars/RequestF.js').tars;

function hexOf(os) { return Buffer.from(os.getBinBuffer().toNodeBuffer()).toString('hex'); }

function inputOf(buf) { return new S.TarsInputStream(new S.BinBuffer(buf)); }

function trailing(is) {
  const b = is._binBuffer;
  if (b._position < b._length) return `${b._length - b._position} byte(s) left after the value`;
  if (b._position > b._length) return `the value runs ${b._position - b._length} byte(s) past the end`;
  return null;
}

// JSON text that keeps the sign of zero visible.
function show(v) { return JSON.stringify(v, (k, x) => (Object.is(x, -0) ? '-0.0' : x)); }

// Returns [error or null, re-encoded hex or null].
function checkCase(c) {
  const d = parse(c.type);
  if (typeof c.hex !== 'string' || !/^([0-9a-f]{2})*$/.test(c.hex)) return ['hex is not lowercase hex', null];
  const is = inputOf(Buffer.from(c.hex, 'hex'));
  const decoded = read(is, c.tag, d);
  const left = trailing(is);
  if (left) return [left, null];
  const got = toJson(d, decoded);
  const expected = c.value_decoded !== undefined ? c.value_decoded : c.value;
  if (!same(d, got, expected)) {
    return [`value mismatch: decoded ${show(got)}, expected ${show(expected)}`, null];
  }
  const os = new S.TarsOutputStream();
  write(os, c.tag, d, decoded);
  return [null, hexOf(os)];
}

function mapPairs(m) { const out = []; m.forEach((k, v) => out.push([k, v])); return out; }

const stringMap = parse('map<string,string>');

function checkPacket(p) {
  const buf = Buffer.from(p.hex, 'hex');
  if (buf.length < 4) return 'shorter than a frame header';
  const len = buf.readUInt32BE(0);
  if (len !== buf.length) return `frame length ${len} != ${buf.length}`;
  const is = inputOf(buf.subarray(4));
  if (p.kind === 'request' || p.kind === 'response') {
    const cls = p.kind === 'request' ? RequestF.RequestPacket : RequestF.ResponsePacket;
    const v = cls._readFrom(is);
    const left = trailing(is);
    if (left) return left;
    const f = p.fields;
    const got = {
      version: v.iVersion, packet_type: v.cPacketType, message_type: v.iMessageType, request_id: v.iRequestId,
      buffer: Buffer.from(v.sBuffer.toNodeBuffer()).toString('hex'),
    };
    if (p.kind === 'request') Object.assign(got, { servant_name: v.sServantName, func_name: v.sFuncName, timeout: v.iTimeout });
    else Object.assign(got, { ret: v.iRet, result_desc: v.sResultDesc });
    for (const k of Object.keys(got)) {
      if (got[k] !== f[k]) return `${k}: decoded ${JSON.stringify(got[k])}, expected ${JSON.stringify(f[k])}`;
    }
    for (const k of ['context', 'status']) {
      const pairs = mapPairs(v[k]);
      if (!same(stringMap, pairs, f[k])) return `${k}: decoded ${JSON.stringify(pairs)}, expected ${JSON.stringify(f[k])}`;
    }
    return null;
  }
  if (p.kind === 'tup') {
    const t = new S.Tup();
    t.decode(new S.BinBuffer(buf));
    if (t.servantName !== p.servant_name || t.funcName !== p.func_name || t.requestId !== p.request_id) {
      return `header mismatch: ${t.servantName}/${t.funcName}/${t.requestId}`;
    }
    for (const [name, type, value] of p.attrs) {
      const d = parse(type);
      let got;
      switch (d.kind) {
        case 'string': got = t.readString(name); break;
        case 'int32': got = t.readInt32(name); break;
        case 'int64': got = String(t.readInt64(name, undefined, true)); break;
        case 'bool': got = t.readBoolean(name); break;
        case 'struct': got = toJson(d, t.readStruct(name, d.cls)); break;
        case 'list': got = toJson(d, t.readList(name, proto(d))); break;
        default: return `unsupported TUP attribute type ${type}`;
      }
      if (!same(d, got, value)) return `attribute ${name}: decoded ${JSON.stringify(got)}, expected ${JSON.stringify(value)}`;
    }
    return null;
  }
  return `unknown packet kind ${p.kind}`;
}

function errorText(e) { return e && e.message ? e.message : String(e); }

function main() {
  const file = process.argv[2];
  if (!file) { console.error('usage: node check-vectors.js <file.json>'); process.exit(2); }
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!Array.isArray(doc.cases)) { console.error(`${file}: no "cases" array`); process.exit(2); }
  let passed = 0, failed = 0;
  const reencodedDiffers = [];
  for (const c of doc.cases) {
    let err, again;
    try { [err, again] = checkCase(c); } catch (e) { err = `peer threw: ${errorText(e)}`; }
    if (err) { failed++; console.log(`FAIL case ${c.name} (${c.type} @${c.tag}): ${err}`); continue; }
    passed++;
    if (again !== c.hex) reencodedDiffers.push(c.name);
  }
  for (const p of doc.packets || []) {
    let err;
    try { err = checkPacket(p); } catch (e) { err = `peer threw: ${errorText(e)}`; }
    if (err) { failed++; console.log(`FAIL packet ${p.name}: ${err}`); } else passed++;
  }
  if (reencodedDiffers.length) {
    console.log(`warning: @tars/stream re-encodes ${reencodedDiffers.length} decoded case(s) to other bytes: ${reencodedDiffers.join(', ')}`);
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main();
