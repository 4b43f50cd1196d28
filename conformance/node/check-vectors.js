// Reverse direction: decodes bytes produced by tars-rs with the real npm peers and compares
// the values. Usage: node check-vectors.js <file.json>  (same format as vectors/stream.json).
// Prints one line per failure and `N passed, M failed`; exits 1 on any failure.
'use strict';
const fs = require('fs');
const { S, parse, read, toJson, fromJson, write } = require('./schema.js');
const RequestF = require('@tars/rpc/core/rpc-tars/RequestF.js').tars;

function same(d, a, b) {
  switch (d.kind) {
    case 'float':
      if (a === 'NaN' || b === 'NaN') return a === b;
      return typeof a === 'string' || typeof b === 'string' ? a === b : Math.fround(a) === Math.fround(b);
    case 'double':
      return Object.is(a, b) || (a === b);
    case 'list':
      return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(d.elem, x, b[i]));
    case 'map': {
      // Map order is not significant.
      if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
      return a.every(([k, v]) => b.some(([k2, v2]) => same(d.key, k, k2) && same(d.value, v, v2)));
    }
    case 'struct':
      return d.cls._fields.every((f) => same(f.d, a[f.name], b[f.name]));
    default:
      return a === b || JSON.stringify(a) === JSON.stringify(b);
  }
}

function hexOf(os) { return Buffer.from(os.getBinBuffer().toNodeBuffer()).toString('hex'); }

function checkCase(c) {
  const d = parse(c.type);
  const is = new S.TarsInputStream(new S.BinBuffer(Buffer.from(c.hex, 'hex')));
  const got = toJson(d, read(is, c.tag, d, true));
  if (!same(d, got, c.value)) {
    return `value mismatch: decoded ${JSON.stringify(got)}, expected ${JSON.stringify(c.value)}`;
  }
  return null;
}

function mapPairs(m) { const out = []; m.forEach((k, v) => out.push([k, v])); return out; }

function checkPacket(p) {
  const buf = Buffer.from(p.hex, 'hex');
  const len = buf.readUInt32BE(0);
  if (len !== buf.length) return `frame length ${len} != ${buf.length}`;
  const is = new S.TarsInputStream(new S.BinBuffer(buf.subarray(4)));
  if (p.kind === 'request' || p.kind === 'response') {
    const cls = p.kind === 'request' ? RequestF.RequestPacket : RequestF.ResponsePacket;
    const v = cls._readFrom(is);
    const f = p.fields;
    const got = {
      version: v.iVersion, packet_type: v.cPacketType, message_type: v.iMessageType, request_id: v.iRequestId,
      buffer: Buffer.from(v.sBuffer.toNodeBuffer()).toString('hex'), context: mapPairs(v.context), status: mapPairs(v.status),
    };
    if (p.kind === 'request') Object.assign(got, { servant_name: v.sServantName, func_name: v.sFuncName, timeout: v.iTimeout });
    else Object.assign(got, { ret: v.iRet, result_desc: v.sResultDesc });
    for (const k of Object.keys(got)) {
      if (JSON.stringify(got[k]) !== JSON.stringify(f[k])) return `${k}: decoded ${JSON.stringify(got[k])}, expected ${JSON.stringify(f[k])}`;
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
        case 'list': got = toJson(d, t.readList(name, S.List(require('./schema.js').proto(d.elem)))); break;
        default: return `unsupported TUP attribute type ${type}`;
      }
      if (!same(d, got, value)) return `attribute ${name}: decoded ${JSON.stringify(got)}, expected ${JSON.stringify(value)}`;
    }
    return null;
  }
  return `unknown packet kind ${p.kind}`;
}

function main() {
  const file = process.argv[2];
  if (!file) { console.error('usage: node check-vectors.js <file.json>'); process.exit(2); }
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  let passed = 0, failed = 0, reencodedDiffers = 0;
  for (const c of doc.cases || []) {
    let err;
    try { err = checkCase(c); } catch (e) { err = `peer threw: ${e.message || e}`; }
    if (err) { failed++; console.log(`FAIL case ${c.name} (${c.type}): ${err}`); } else passed++;
    // Informational: does the peer re-encode to the same bytes?
    try {
      const d = parse(c.type);
      const os = new S.TarsOutputStream();
      write(os, c.tag, d, fromJson(d, c.value));
      if (hexOf(os) !== c.hex) reencodedDiffers++;
    } catch (e) { /* counted as failure above if decoding failed */ }
  }
  for (const p of doc.packets || []) {
    let err;
    try { err = checkPacket(p); } catch (e) { err = `peer threw: ${e.message || e}`; }
    if (err) { failed++; console.log(`FAIL packet ${p.name}: ${err}`); } else passed++;
  }
  console.log(`(info) ${reencodedDiffers} case(s) where @tars/stream's own encoding differs (ZERO_TAG floats, skipped optionals)`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main();
