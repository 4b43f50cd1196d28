// The module Test of conformance/idl/Hello.tars for npm @tars/rpc, written by hand.
//
// tars2node would emit one encode/decode function per method and per protocol (Tars and TUP);
// this file describes each method once (parameter names, tags and @tars/stream types) and
// derives the same calls from that table, so that the wire behaviour is exactly what tars2node
// generated code does:
// - Tars protocol: arguments at tags 1..n in declaration order, the return value at tag 0 and
//   `out` parameters at their own position's tag in the response;
// - TUP (UniAttribute): arguments and out parameters by name, the return value under "";
// - one-way calls set `packetType: 1`; the server side answers `tars_ping` itself and an
//   unknown function with FUNC_NOT_FOUND (-3) through the framework.
// The struct Test.Item has the shape tars2node generates (compare conf.js).
/* eslint-disable */
'use strict';

const TarsStream = require('@tars/stream');
const TarsError = require('@tars/rpc').error;

const Test = {};
module.exports.Test = Test;

// struct Item { 0 require int id; 1 require string name;
//               2 optional vector<byte> data; 3 optional map<string, string> attrs; };
Test.Item = function () {
  this.id = 0;
  this.name = '';
  this.data = new TarsStream.BinBuffer();
  this.attrs = new TarsStream.Map(TarsStream.String, TarsStream.String);
  this._classname = 'Test.Item';
};
Test.Item._classname = 'Test.Item';
Test.Item._write = function (os, tag, value) { os.writeStruct(tag, value); };
Test.Item._read = function (is, tag, def) { return is.readStruct(tag, true, def); };
Test.Item._readFrom = function (is) {
  const tmp = new Test.Item();
  tmp.id = is.readInt32(0, true, 0);
  tmp.name = is.readString(1, true, '');
  tmp.data = is.readBytes(2, false, TarsStream.BinBuffer);
  tmp.attrs = is.readMap(3, false, TarsStream.Map(TarsStream.String, TarsStream.String));
  return tmp;
};
Test.Item.prototype._writeTo = function (os) {
  os.writeInt32(0, this.id);
  os.writeString(1, this.name);
  os.writeBytes(2, this.data);
  os.writeMap(3, this.attrs);
};
Test.Item.prototype._genKey = function () {
  if (!this._proto_struct_name_) {
    this._proto_struct_name_ = 'STRUCT' + Math.random();
  }
  return this._proto_struct_name_;
};
Test.Item.new = function () { return new Test.Item(); };
Test.Item.create = function (is) { return Test.Item._readFrom(is); };

// How each IDL type is written and read through @tars/stream: `kind` names the
// TarsOutputStream/TarsInputStream/UniAttribute method suffix, `type` the class passed to
// readers of containers and structs, `def` the default for plain values.
const T = {
  bool: { kind: 'Boolean', def: false },
  int: { kind: 'Int32', def: 0 },
  string: { kind: 'String', def: '' },
  bytes: { kind: 'Bytes', type: TarsStream.BinBuffer },
  item: { kind: 'Struct', type: Test.Item },
  mapStringInt: { kind: 'Map', type: TarsStream.Map(TarsStream.String, TarsStream.Int32) },
  // An enum is an int32 on the wire; tars2node passes it as a plain number.
  mood: { kind: 'Int32', def: 0 },
  // A string handled as raw bytes (a Buffer), the way @tars/stream serves GBK data.
  raw: { kind: 'String', def: Buffer.alloc(0), raw: true },
};

// interface Hello, in declaration order. `ret` is undefined for void.
const METHODS = {
  echo: { ret: T.int, params: [['s', T.string], ['r', T.string, 'out']] },
  echoItem: { ret: T.item, params: [['item', T.item]] },
  echoMap: { ret: T.mapStringInt, params: [['m', T.mapStringInt]] },
  echoBytes: { ret: T.bytes, params: [['b', T.bytes]] },
  add: { ret: T.int, params: [['a', T.int], ['b', T.int], ['sum', T.int, 'out']] },
  ping: { ret: undefined, params: [] },
  notify: { ret: undefined, params: [['msg', T.string]] },
  lastNotify: { ret: T.string, params: [] },
  echoMood: { ret: T.mood, params: [['m', T.mood]] },
  echoRaw: { ret: T.raw, params: [['s', T.raw]] },
  seenDyeing: { ret: T.bool, params: [['dyeKey', T.string, 'out']] },
};
Test.METHODS = METHODS;

function isTup(version) {
  return version === TarsStream.Tup.TUP_SIMPLE || version === TarsStream.Tup.TUP_COMPLEX;
}

function streamWrite(os, tag, t, value) {
  if (t.raw) return os.writeString(tag, value, true);
  os['write' + t.kind](tag, value);
}

function streamRead(is, tag, t) {
  if (t.raw) return is.readString(tag, true, t.def, true);
  return t.type !== undefined ? is['read' + t.kind](tag, true, t.type) : is['read' + t.kind](tag, true, t.def);
}

function tupWrite(tup, name, t, value) {
  if (t.raw) return tup.writeString(name, value, true);
  tup['write' + t.kind](name, value);
}

function tupRead(tup, name, t) {
  if (t.raw) return tup.readString(name, undefined, true);
  if (t.kind === 'Struct' || t.kind === 'Map') return tup['read' + t.kind](name, t.type);
  return tup['read' + t.kind](name);
}

// ---------------------------------------------------------------- client (HelloProxy)

Test.HelloProxy = function () {
  this._name = undefined;
  this._worker = undefined;
};
Test.HelloProxy.prototype.setTimeout = function (iTimeout) { this._worker.timeout = iTimeout; };
Test.HelloProxy.prototype.getTimeout = function () { return this._worker.timeout; };

function makeError(data, message) {
  const error = new Error(message);
  error.request = data.request;
  error.response = { costtime: data.request.costtime, error: data.error };
  return error;
}

// Builds `proxy.<name>(...inArgs, [property])`, resolving to
// `{request, response: {costtime, return, arguments: {<out>: value}}}` like tars2node.
function proxyMethod(name, m) {
  const ins = m.params.filter((p) => p[2] !== 'out');
  return function () {
    const args = Array.prototype.slice.call(arguments, 0, ins.length);
    const property = arguments.length > ins.length ? arguments[arguments.length - 1] : undefined;
    const version = this._worker.version;
    const decode = function (data) {
      const response = { costtime: data.request.costtime, arguments: {} };
      try {
        if (isTup(version)) {
          const tup = data.response.tup;
          if (m.ret !== undefined) response.return = tupRead(tup, '', m.ret);
          m.params.forEach((p) => { if (p[2] === 'out') response.arguments[p[0]] = tupRead(tup, p[0], p[1]); });
        } else {
          const is = new TarsStream.TarsInputStream(data.response.sBuffer);
          if (m.ret !== undefined) response.return = streamRead(is, 0, m.ret);
          m.params.forEach((p, i) => { if (p[2] === 'out') response.arguments[p[0]] = streamRead(is, i + 1, p[1]); });
        }
      } catch (e) {
        const error = makeError(data, e.message);
        error.name = 'DECODE_ERROR';
        error.response.error = { code: TarsError.CLIENT.DECODE_ERROR, message: e.message };
        throw error;
      }
      return { request: data.request, response };
    };
    const fail = function (data) { throw makeError(data, 'Call Test::Hello::' + name + ' failed'); };
    if (isTup(version)) {
      const tup = new TarsStream.UniAttribute();
      tup.tupVersion = version;
      ins.forEach((p, i) => tupWrite(tup, p[0], p[1], args[i]));
      return this._worker.tup_invoke(name, tup, property).then(decode, fail);
    }
    const os = new TarsStream.TarsOutputStream();
    m.params.forEach((p, i) => { if (p[2] !== 'out') streamWrite(os, i + 1, p[1], args[ins.indexOf(p)]); });
    return this._worker.tars_invoke(name, os.getBinBuffer(), property).then(decode, fail);
  };
}

for (const name of Object.keys(METHODS)) {
  Test.HelloProxy.prototype[name] = proxyMethod(name, METHODS[name]);
}

// ---------------------------------------------------------------- server (HelloImp)

// The servant base: implementations override the methods, receive
// `(current, ...inArgs, ...outDefaults)` and answer with `current.sendResponse(ret, ...outs)`
// (possibly later, from a timer: asynchronous replies are the @tars/rpc norm).
Test.HelloImp = function () {
  this._name = undefined;
  this._worker = undefined;
};
Test.HelloImp.prototype.initialize = function () {};

function bindResponse(current, m) {
  const outs = m.params.map((p, i) => [p, i + 1]).filter((x) => x[0][2] === 'out');
  current.sendResponse = function () {
    const values = Array.prototype.slice.call(arguments);
    const ret = m.ret !== undefined ? values.shift() : undefined;
    const version = current.getRequestVersion();
    if (isTup(version)) {
      const tup = new TarsStream.UniAttribute();
      tup.tupVersion = version;
      if (m.ret !== undefined) tupWrite(tup, '', m.ret, ret);
      outs.forEach((x, k) => tupWrite(tup, x[0][0], x[0][1], values[k]));
      current.doResponse(tup.encode());
    } else {
      const os = new TarsStream.TarsOutputStream();
      if (m.ret !== undefined) streamWrite(os, 0, m.ret, ret);
      outs.forEach((x, k) => streamWrite(os, x[1], x[0][1], values[k]));
      current.doResponse(os.getBinBuffer());
    }
  };
}

Test.HelloImp.prototype.onDispatch = function (current, funcName, binBuffer) {
  if (funcName === 'tars_ping') {
    bindResponse(current, { ret: T.int, params: [] });
    current.sendResponse(0);
    return TarsError.SUCCESS;
  }
  if (!Object.prototype.hasOwnProperty.call(METHODS, funcName)) {
    return TarsError.SERVER.FUNC_NOT_FOUND;
  }
  const m = METHODS[funcName];
  const version = current.getRequestVersion();
  let args;
  if (isTup(version)) {
    const tup = new TarsStream.UniAttribute();
    tup.tupVersion = version;
    tup.decode(binBuffer);
    args = m.params.map((p) => (p[2] === 'out' ? p[1].def : tupRead(tup, p[0], p[1])));
  } else {
    const is = new TarsStream.TarsInputStream(binBuffer);
    args = m.params.map((p, i) => (p[2] === 'out' ? p[1].def : streamRead(is, i + 1, p[1])));
  }
  bindResponse(current, m);
  this[funcName].apply(this, [current].concat(args));
  return TarsError.SUCCESS;
};
