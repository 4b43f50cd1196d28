// Type expressions (Tars IDL spelling, as used in vectors/stream.json) mapped onto @tars/stream
// calls, and the JSON conventions shared with the Rust side (conformance/src/json.rs):
//   long / unsigned int  -> decimal string (exact 64-bit)
//   float / double       -> number (-0.0 kept), or "NaN" / "Infinity" / "-Infinity"
//   vector<byte>         -> lowercase hex string
//   map<K,V>             -> array of [key, value] pairs
//   struct:Conf.X        -> object keyed by IDL field name; the classes are the hand-written
//                           tars2node-style ones of conf.js
'use strict';
const S = require('@tars/stream');
const { Conf } = require('./conf.js');

// Struct classes by IDL name, and each struct's fields (name, type expression) for the JSON
// conversion only: encoding and decoding go through the classes' own _writeTo / _readFrom.
const STRUCTS = {
  'Conf.Small': Conf.Small,
  'Conf.Mid': Conf.Mid,
  'Conf.HighTags': Conf.HighTags,
  'Conf.Nested': Conf.Nested,
  'Conf.WithOptional': Conf.WithOptional,
};
const FIELDS = {
  'Conf.Small': [['a', 'int'], ['b', 'string']],
  'Conf.Mid': [['id', 'long'], ['count', 'int'], ['level', 'short'], ['flag', 'bool'], ['score', 'double'],
    ['ratio', 'float'], ['name', 'string'], ['description', 'string'], ['payload', 'vector<byte>'],
    ['attrs', 'map<string,string>'], ['ids', 'vector<int>'], ['inner', 'struct:Conf.Small']],
  'Conf.HighTags': [['a', 'int'], ['b', 'int'], ['c', 'int'], ['d', 'string'], ['e', 'long']],
  'Conf.Nested': [['items', 'vector<struct:Conf.Small>'], ['byName', 'map<string,struct:Conf.Small>'],
    ['rows', 'vector<map<int,string>>'], ['grid', 'vector<vector<string>>']],
  'Conf.WithOptional': [['a', 'int'], ['b', 'int'], ['c', 'string'], ['d', 'vector<int>'], ['e', 'bool'],
    ['f', 'struct:Conf.Small']],
};

function splitArgs(s) {
  const out = [];
  let depth = 0, cur = '';
  for (const ch of s) {
    if (ch === '<') depth++;
    if (ch === '>') depth--;
    if (ch === ',' && depth === 0) { out.push(cur.trim()); cur = ''; continue; }
    cur += ch;
  }
  out.push(cur.trim());
  return out;
}

// Parses a type expression into a descriptor {kind, ...}.
function parse(t) {
  t = t.trim();
  if (t.startsWith('vector<') && t.endsWith('>')) {
    const inner = t.slice(7, -1).trim();
    if (inner === 'byte') return { kind: 'bytes' };
    return { kind: 'list', elem: parse(inner) };
  }
  if (t.startsWith('map<') && t.endsWith('>')) {
    const args = splitArgs(t.slice(4, -1));
    if (args.length !== 2) throw new Error('bad map type ' + t);
    return { kind: 'map', key: parse(args[0]), value: parse(args[1]) };
  }
  if (t.startsWith('struct:')) {
    const name = t.slice(7);
    const cls = STRUCTS[name];
    if (!cls) throw new Error('unknown struct ' + t);
    return { kind: 'struct', name, cls, fields: () => FIELDS[name].map(([n, ty]) => ({ name: n, d: parse(ty) })) };
  }
  const prim = {
    'bool': 'bool', 'byte': 'int8', 'short': 'int16', 'int': 'int32', 'long': 'int64',
    'unsigned byte': 'uint8', 'unsigned short': 'uint16', 'unsigned int': 'uint32',
    'float': 'float', 'double': 'double', 'string': 'string',
  }[t];
  if (!prim) throw new Error('unknown type ' + t);
  return { kind: prim };
}

// `long` goes through the exact string mode of @tars/stream (bString / bValue = 1).
function isLong(d) { return d.kind === 'int64'; }

// The @tars/stream "proto" object for a descriptor (what List()/Map() take).
function proto(d) {
  switch (d.kind) {
    case 'bool': return S.Boolean;
    case 'int8': return S.Int8;
    case 'int16': return S.Int16;
    case 'int32': return S.Int32;
    case 'int64': return S.Int64;
    case 'uint8': return S.UInt8;
    case 'uint16': return S.UInt16;
    case 'uint32': return S.UInt32;
    case 'float': return S.Float;
    case 'double': return S.Double;
    case 'string': return S.String;
    case 'bytes': return S.BinBuffer;
    case 'list': return S.List(proto(d.elem), isLong(d.elem) ? 1 : 0);
    case 'map': return S.Map(proto(d.key), proto(d.value), isLong(d.key) ? 1 : 0, isLong(d.value) ? 1 : 0);
    case 'struct': return d.cls;
  }
  throw new Error('no proto for ' + d.kind);
}

function num(v) {
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (typeof v !== 'number') throw new Error('not a float: ' + JSON.stringify(v));
  return v;
}

// JSON value -> the in-memory value @tars/stream writes.
function fromJson(d, v) {
  switch (d.kind) {
    case 'bool': return !!v;
    case 'int64': return String(v);
    case 'uint32': return Number(v);
    case 'float': case 'double': return num(v);
    case 'bytes': return new S.BinBuffer(Buffer.from(v, 'hex'));
    case 'list': {
      const l = proto(d);
      for (const e of v) l.push(fromJson(d.elem, e));
      return l;
    }
    case 'map': {
      const m = proto(d);
      for (const [k, val] of v) m.insert(fromJson(d.key, k), fromJson(d.value, val));
      return m;
    }
    case 'struct': {
      const o = new d.cls();
      for (const f of d.fields()) {
        if (Object.prototype.hasOwnProperty.call(v, f.name)) o[f.name] = fromJson(f.d, v[f.name]);
      }
      return o;
    }
    default: return v;
  }
}

function floatJson(v) {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return v;
}

// In-memory value read by @tars/stream -> JSON value.
function toJson(d, v) {
  switch (d.kind) {
    case 'bool': return !!v;
    case 'int64': case 'uint32': return String(v);
    case 'float': case 'double': return floatJson(v);
    case 'bytes': return Buffer.from(v.toNodeBuffer()).toString('hex');
    case 'list': return v.value.map((e) => toJson(d.elem, e));
    case 'map': {
      const out = [];
      v.forEach((k, val) => { out.push([toJson(d.key, k), toJson(d.value, val)]); }, isLong(d.key));
      return out;
    }
    case 'struct': {
      const o = {};
      for (const f of d.fields()) o[f.name] = toJson(f.d, v[f.name]);
      return o;
    }
    default: return v;
  }
}

// Writes value (already converted) at tag, with the call generated code uses for the type.
function write(os, tag, d, v) {
  switch (d.kind) {
    case 'bool': return os.writeBoolean(tag, v);
    case 'int8': return os.writeInt8(tag, v);
    case 'int16': return os.writeInt16(tag, v);
    case 'int32': return os.writeInt32(tag, v);
    case 'int64': return os.writeInt64(tag, v, true);
    case 'uint8': return os.writeUInt8(tag, v);
    case 'uint16': return os.writeUInt16(tag, v);
    case 'uint32': return os.writeUInt32(tag, v);
    case 'float': return os.writeFloat(tag, v);
    case 'double': return os.writeDouble(tag, v);
    case 'string': return os.writeString(tag, v);
    case 'bytes': return os.writeBytes(tag, v);
    case 'list': return os.writeList(tag, v);
    case 'map': return os.writeMap(tag, v);
    case 'struct': return os.writeStruct(tag, v);
  }
  throw new Error('cannot write ' + d.kind);
}

// Reads the required field at tag, with the call generated code uses for the type.
function read(is, tag, d) {
  switch (d.kind) {
    case 'bool': return is.readBoolean(tag, true, false);
    case 'int8': return is.readInt8(tag, true, 0);
    case 'int16': return is.readInt16(tag, true, 0);
    case 'int32': return is.readInt32(tag, true, 0);
    case 'int64': return is.readInt64(tag, true, '0', true);
    case 'uint8': return is.readUInt8(tag, true, 0);
    case 'uint16': return is.readUInt16(tag, true, 0);
    case 'uint32': return is.readUInt32(tag, true, 0);
    case 'float': return is.readFloat(tag, true, 0);
    case 'double': return is.readDouble(tag, true, 0);
    case 'string': return is.readString(tag, true, '');
    case 'bytes': return is.readBytes(tag, true, S.BinBuffer);
    case 'list': return is.readList(tag, true, proto(d));
    case 'map': return is.readMap(tag, true, proto(d));
    case 'struct': return is.readStruct(tag, true, d.cls);
  }
  throw new Error('cannot read ' + d.kind);
}

// Encodes one field with @tars/stream; returns lowercase hex.
function encodeHex(type, tag, value) {
  const d = parse(type);
  const os = new S.TarsOutputStream();
  write(os, tag, d, fromJson(d, value));
  return Buffer.from(os.getBinBuffer().toNodeBuffer()).toString('hex');
}

// Semantic equality of two JSON values of descriptor d: NaN equals NaN, -0.0 differs from 0.0,
// floats compare after rounding to f32, map order is not significant.
function same(d, a, b) {
  switch (d.kind) {
    case 'float':
      if (typeof a === 'string' || typeof b === 'string') return a === b;
      return Object.is(Math.fround(a), Math.fround(b));
    case 'double':
      if (typeof a === 'string' || typeof b === 'string') return a === b;
      return Object.is(a, b);
    case 'list':
      return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(d.elem, x, b[i]));
    case 'map': {
      if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
      const used = new Array(b.length).fill(false);
      return a.every(([k, v]) => {
        const i = b.findIndex(([k2, v2], j) => !used[j] && same(d.key, k, k2) && same(d.value, v, v2));
        if (i < 0) return false;
        used[i] = true;
        return true;
      });
    }
    case 'struct':
      return a !== null && b !== null && typeof a === 'object' && typeof b === 'object' &&
        d.fields().every((f) => Object.prototype.hasOwnProperty.call(a, f.name) &&
          Object.prototype.hasOwnProperty.call(b, f.name) && same(f.d, a[f.name], b[f.name]));
    case 'int64': case 'uint32':
      return String(a) === String(b);
    default:
      return a === b;
  }
}

// JSON text of a vectors document. JSON.stringify prints -0 as 0; keep the sign as -0.0, which
// both JSON.parse and serde_json read back as negative zero.
function stringifyVectors(doc) {
  const NEG_ZERO = '\u0000neg-zero\u0000';
  const text = JSON.stringify(doc, (k, v) => (Object.is(v, -0) ? NEG_ZERO : v), 1);
  return text.split(JSON.stringify(NEG_ZERO)).join('-0.0') + '\n';
}

module.exports = { S, Conf, STRUCTS, parse, proto, fromJson, toJson, write, read, encodeHex, same, stringifyVectors };
