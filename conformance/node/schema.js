// Type expressions (Tars IDL spelling) mapped onto @tars/stream, plus the Conf structs of
// conformance/idl/Conformance.tars defined with the same stream calls tars2node generates.
//
// JSON conventions shared with the Rust side (conformance/src/json.rs):
//   long / unsigned int  -> decimal string (exact 64-bit)
//   float / double       -> number, or "NaN" / "Infinity" / "-Infinity"
//   vector<byte>         -> lowercase hex string
//   map<K,V>             -> array of [key, value] pairs
//   struct               -> object keyed by IDL field name
'use strict';
const S = require('@tars/stream');

const STRUCTS = {};

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
    const [k, v] = splitArgs(t.slice(4, -1));
    return { kind: 'map', key: parse(k), value: parse(v) };
  }
  if (t.startsWith('struct:')) {
    const cls = STRUCTS[t.slice(7)];
    if (!cls) throw new Error('unknown struct ' + t);
    return { kind: 'struct', cls };
  }
  const prim = {
    'bool': 'bool', 'byte': 'int8', 'short': 'int16', 'int': 'int32', 'long': 'int64',
    'unsigned byte': 'uint8', 'unsigned short': 'uint16', 'unsigned int': 'uint32',
    'float': 'float', 'double': 'double', 'string': 'string',
  }[t];
  if (!prim) throw new Error('unknown type ' + t);
  return { kind: prim };
}

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
    case 'map': return S.Map(proto(d.key), proto(d.value), 0, isLong(d.value) ? 1 : 0);
    case 'struct': return d.cls;
  }
  throw new Error('no proto for ' + d.kind);
}

function isLong(d) { return d.kind === 'int64' || d.kind === 'uint32'; }

function num(v) {
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return v;
}

// JSON value -> the in-memory value @tars/stream writes.
function fromJson(d, v) {
  switch (d.kind) {
    case 'bool': return !!v;
    case 'int64': case 'uint32': return String(v);
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
      for (const f of d.cls._fields) {
        if (Object.prototype.hasOwnProperty.call(v, f.name)) o[f.name] = fromJson(f.d, v[f.name]);
      }
      return o;
    }
    default: return v;
  }
}

// In-memory value read by @tars/stream -> JSON value.
function toJson(d, v) {
  switch (d.kind) {
    case 'bool': return !!v;
    case 'int64': case 'uint32': return String(v);
    case 'float': case 'double':
      if (Number.isNaN(v)) return 'NaN';
      if (v === Infinity) return 'Infinity';
      if (v === -Infinity) return '-Infinity';
      return v;
    case 'bytes': return Buffer.from(v.toNodeBuffer()).toString('hex');
    case 'list': return v.value.map((e) => toJson(d.elem, e));
    case 'map': {
      const out = [];
      v.forEach((k, val) => { out.push([toJson(d.key, k), toJson(d.value, val)]); });
      return out;
    }
    case 'struct': {
      const o = {};
      for (const f of d.cls._fields) o[f.name] = toJson(f.d, v[f.name]);
      return o;
    }
    default: return v;
  }
}

// Writes value (already converted) at tag, as generated code does.
function write(os, tag, d, v) {
  switch (d.kind) {
    case 'bool': return os.writeBoolean(tag, v);
    case 'int8': return os.writeInt8(tag, v);
    case 'int16': return os.writeInt16(tag, v);
    case 'int32': return os.writeInt32(tag, v);
    case 'int64': return os.writeInt64(tag, v, true);
    case 'uint8': return os.writeUInt8(tag, v);
    case 'uint16': return os.writeUInt16(tag, v);
    case 'uint32': return os.writeInt64(tag, v, true);
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

// Reads the value at tag, as generated code does: absent optional fields take the declared
// default (`def`, already converted), else the type's zero value.
function read(is, tag, d, require, def) {
  const or = (zero) => (def !== undefined ? def : zero);
  switch (d.kind) {
    case 'bool': return is.readBoolean(tag, require, or(false));
    case 'int8': return is.readInt8(tag, require, or(0));
    case 'int16': return is.readInt16(tag, require, or(0));
    case 'int32': return is.readInt32(tag, require, or(0));
    case 'int64': return is.readInt64(tag, require, or('0'), true);
    case 'uint8': return is.readUInt8(tag, require, or(0));
    case 'uint16': return is.readUInt16(tag, require, or(0));
    case 'uint32': return is.readInt64(tag, require, or('0'), true);
    case 'float': return is.readFloat(tag, require, or(0));
    case 'double': return is.readDouble(tag, require, or(0));
    case 'string': return is.readString(tag, require, or(''));
    case 'bytes': return is.readBytes(tag, require, S.BinBuffer);
    case 'list': return is.readList(tag, require, proto(d));
    case 'map': return is.readMap(tag, require, proto(d));
    case 'struct': return is.readStruct(tag, require, d.cls);
  }
  throw new Error('cannot read ' + d.kind);
}

// Defines a struct class with the members tars2node generates (_classname, _write, _read,
// _readFrom, _writeTo, new, create). `fields`: [tag, name, typeExpr, require, default].
function defineStruct(className, fields) {
  const cls = function () {
    for (const f of cls._fields) {
      this[f.name] = f.def !== undefined ? fromJson(f.d, f.def) : fromJson(f.d, emptyJson(f.d));
    }
    this._classname = className;
  };
  STRUCTS[className] = cls;
  cls._classname = className;
  cls._fieldSpecs = fields;
  Object.defineProperty(cls, '_fields', {
    get() {
      if (!cls.__fields) {
        cls.__fields = fields.map(([tag, name, type, require, def]) => ({ tag, name, d: parse(type), require, def }));
      }
      return cls.__fields;
    },
  });
  cls._write = function (os, tag, value) { os.writeStruct(tag, value); };
  cls._read = function (is, tag, def) { return is.readStruct(tag, true, def); };
  cls._readFrom = function (is) {
    const tmp = new cls();
    for (const f of cls._fields) {
      const v = read(is, f.tag, f.d, f.require, f.def !== undefined ? fromJson(f.d, f.def) : undefined);
      tmp[f.name] = v;
    }
    return tmp;
  };
  cls.prototype._writeTo = function (os) {
    for (const f of cls._fields) write(os, f.tag, f.d, this[f.name]);
  };
  cls.prototype._genKey = function () {
    if (!this._proto_struct_name_) this._proto_struct_name_ = 'STRUCT' + Math.random();
    return this._proto_struct_name_;
  };
  cls.new = function () { return new cls(); };
  cls.create = function (is) { return cls._readFrom(is); };
  return cls;
}

function emptyJson(d) {
  switch (d.kind) {
    case 'bool': return false;
    case 'int64': case 'uint32': return '0';
    case 'string': return '';
    case 'bytes': return '';
    case 'list': case 'map': return [];
    case 'struct': return {};
    default: return 0;
  }
}

// conformance/idl/Conformance.tars
defineStruct('Conf.Small', [[0, 'a', 'int', true], [1, 'b', 'string', true]]);
defineStruct('Conf.Mid', [
  [0, 'id', 'long', true], [1, 'count', 'int', true], [2, 'level', 'short', true],
  [3, 'flag', 'bool', true], [4, 'score', 'double', true], [5, 'ratio', 'float', true],
  [6, 'name', 'string', true], [7, 'description', 'string', true], [8, 'payload', 'vector<byte>', true],
  [9, 'attrs', 'map<string,string>', true], [10, 'ids', 'vector<int>', true], [11, 'inner', 'struct:Conf.Small', true],
]);
defineStruct('Conf.HighTags', [
  [0, 'a', 'int', true], [14, 'b', 'int', true], [15, 'c', 'int', true], [200, 'd', 'string', true], [255, 'e', 'long', true],
]);
defineStruct('Conf.Nested', [
  [0, 'items', 'vector<struct:Conf.Small>', true], [1, 'byName', 'map<string,struct:Conf.Small>', true],
  [2, 'rows', 'vector<map<int,string>>', true], [3, 'grid', 'vector<vector<string>>', true],
]);
defineStruct('Conf.WithOptional', [
  [0, 'a', 'int', true], [1, 'b', 'int', false, 7], [2, 'c', 'string', false, 'x'],
  [3, 'd', 'vector<int>', false], [4, 'e', 'bool', false, true], [5, 'f', 'struct:Conf.Small', false],
]);

module.exports = { S, parse, proto, fromJson, toJson, write, read, STRUCTS };
