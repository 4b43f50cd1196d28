// The module Conf of conformance/idl/Conformance.tars, written by hand in the shape tars2node
// generates (compare @tars/rpc/core/rpc-tars/RequestF.js): a constructor holding the declared
// defaults, _classname, _write/_read, _readFrom and _writeTo as straight-line stream calls,
// _equal, _genKey, toObject, readFromObject, toBinBuffer, new and create.
// `long` fields use the exact string mode of @tars/stream (tars2node --long-type=string), so
// 64-bit values survive.
/* eslint-disable */
'use strict';

const assert = require('assert');
const TarsStream = require('@tars/stream');

const _hasOwnProperty = Object.prototype.hasOwnProperty;

const Conf = {};
module.exports.Conf = Conf;

function noKey() {
  assert.fail('this structure not define key operation');
}

function genKey() {
  if (!this._proto_struct_name_) {
    this._proto_struct_name_ = 'STRUCT' + Math.random();
  }
  return this._proto_struct_name_;
}

// struct Small { 0 require int a; 1 require string b; };
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
Conf.Small.prototype._equal = noKey;
Conf.Small.prototype._genKey = genKey;
Conf.Small.prototype.toObject = function () {
  return { a: this.a, b: this.b };
};
Conf.Small.prototype.readFromObject = function (json) {
  _hasOwnProperty.call(json, 'a') && (this.a = json.a);
  _hasOwnProperty.call(json, 'b') && (this.b = json.b);
  return this;
};
Conf.Small.prototype.toBinBuffer = function () {
  const os = new TarsStream.TarsOutputStream();
  this._writeTo(os);
  return os.getBinBuffer();
};
Conf.Small.new = function () { return new Conf.Small(); };
Conf.Small.create = function (is) { return Conf.Small._readFrom(is); };

// struct Mid { 0 long id; 1 int count; 2 short level; 3 bool flag; 4 double score; 5 float ratio;
//   6 string name; 7 string description; 8 vector<byte> payload; 9 map<string, string> attrs;
//   10 vector<int> ids; 11 Small inner; }  (all require)
Conf.Mid = function () {
  this.id = '0';
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
  tmp.id = is.readInt64(0, true, '0', true);
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
  os.writeInt64(0, this.id, true);
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
Conf.Mid.prototype._equal = noKey;
Conf.Mid.prototype._genKey = genKey;
Conf.Mid.prototype.toObject = function () {
  return {
    id: this.id,
    count: this.count,
    level: this.level,
    flag: this.flag,
    score: this.score,
    ratio: this.ratio,
    name: this.name,
    description: this.description,
    payload: this.payload.toObject(),
    attrs: this.attrs.toObject(),
    ids: this.ids.toObject(),
    inner: this.inner.toObject(),
  };
};
Conf.Mid.prototype.readFromObject = function (json) {
  _hasOwnProperty.call(json, 'id') && (this.id = json.id);
  _hasOwnProperty.call(json, 'count') && (this.count = json.count);
  _hasOwnProperty.call(json, 'level') && (this.level = json.level);
  _hasOwnProperty.call(json, 'flag') && (this.flag = json.flag);
  _hasOwnProperty.call(json, 'score') && (this.score = json.score);
  _hasOwnProperty.call(json, 'ratio') && (this.ratio = json.ratio);
  _hasOwnProperty.call(json, 'name') && (this.name = json.name);
  _hasOwnProperty.call(json, 'description') && (this.description = json.description);
  _hasOwnProperty.call(json, 'payload') && this.payload.readFromObject(json.payload);
  _hasOwnProperty.call(json, 'attrs') && this.attrs.readFromObject(json.attrs);
  _hasOwnProperty.call(json, 'ids') && this.ids.readFromObject(json.ids);
  _hasOwnProperty.call(json, 'inner') && this.inner.readFromObject(json.inner);
  return this;
};
Conf.Mid.prototype.toBinBuffer = function () {
  const os = new TarsStream.TarsOutputStream();
  this._writeTo(os);
  return os.getBinBuffer();
};
Conf.Mid.new = function () { return new Conf.Mid(); };
Conf.Mid.create = function (is) { return Conf.Mid._readFrom(is); };

// struct HighTags { 0 int a; 14 int b; 15 int c; 200 string d; 255 long e; }  (all require)
Conf.HighTags = function () {
  this.a = 0;
  this.b = 0;
  this.c = 0;
  this.d = '';
  this.e = '0';
  this._classname = 'Conf.HighTags';
};
Conf.HighTags._classname = 'Conf.HighTags';
Conf.HighTags._write = function (os, tag, value) { os.writeStruct(tag, value); };
Conf.HighTags._read = function (is, tag, def) { return is.readStruct(tag, true, def); };
Conf.HighTags._readFrom = function (is) {
  const tmp = new Conf.HighTags();
  tmp.a = is.readInt32(0, true, 0);
  tmp.b = is.readInt32(14, true, 0);
  tmp.c = is.readInt32(15, true, 0);
  tmp.d = is.readString(200, true, '');
  tmp.e = is.readInt64(255, true, '0', true);
  return tmp;
};
Conf.HighTags.prototype._writeTo = function (os) {
  os.writeInt32(0, this.a);
  os.writeInt32(14, this.b);
  os.writeInt32(15, this.c);
  os.writeString(200, this.d);
  os.writeInt64(255, this.e, true);
};
Conf.HighTags.prototype._equal = noKey;
Conf.HighTags.prototype._genKey = genKey;
Conf.HighTags.prototype.toObject = function () {
  return { a: this.a, b: this.b, c: this.c, d: this.d, e: this.e };
};
Conf.HighTags.prototype.readFromObject = function (json) {
  _hasOwnProperty.call(json, 'a') && (this.a = json.a);
  _hasOwnProperty.call(json, 'b') && (this.b = json.b);
  _hasOwnProperty.call(json, 'c') && (this.c = json.c);
  _hasOwnProperty.call(json, 'd') && (this.d = json.d);
  _hasOwnProperty.call(json, 'e') && (this.e = json.e);
  return this;
};
Conf.HighTags.prototype.toBinBuffer = function () {
  const os = new TarsStream.TarsOutputStream();
  this._writeTo(os);
  return os.getBinBuffer();
};
Conf.HighTags.new = function () { return new Conf.HighTags(); };
Conf.HighTags.create = function (is) { return Conf.HighTags._readFrom(is); };

// struct Nested { 0 vector<Small> items; 1 map<string, Small> byName;
//   2 vector<map<int, string>> rows; 3 vector<vector<string>> grid; }  (all require)
Conf.Nested = function () {
  this.items = new TarsStream.List(Conf.Small);
  this.byName = new TarsStream.Map(TarsStream.String, Conf.Small);
  this.rows = new TarsStream.List(TarsStream.Map(TarsStream.Int32, TarsStream.String));
  this.grid = new TarsStream.List(TarsStream.List(TarsStream.String));
  this._classname = 'Conf.Nested';
};
Conf.Nested._classname = 'Conf.Nested';
Conf.Nested._write = function (os, tag, value) { os.writeStruct(tag, value); };
Conf.Nested._read = function (is, tag, def) { return is.readStruct(tag, true, def); };
Conf.Nested._readFrom = function (is) {
  const tmp = new Conf.Nested();
  tmp.items = is.readList(0, true, TarsStream.List(Conf.Small));
  tmp.byName = is.readMap(1, true, TarsStream.Map(TarsStream.String, Conf.Small));
  tmp.rows = is.readList(2, true, TarsStream.List(TarsStream.Map(TarsStream.Int32, TarsStream.String)));
  tmp.grid = is.readList(3, true, TarsStream.List(TarsStream.List(TarsStream.String)));
  return tmp;
};
Conf.Nested.prototype._writeTo = function (os) {
  os.writeList(0, this.items);
  os.writeMap(1, this.byName);
  os.writeList(2, this.rows);
  os.writeList(3, this.grid);
};
Conf.Nested.prototype._equal = noKey;
Conf.Nested.prototype._genKey = genKey;
Conf.Nested.prototype.toObject = function () {
  return {
    items: this.items.toObject(),
    byName: this.byName.toObject(),
    rows: this.rows.toObject(),
    grid: this.grid.toObject(),
  };
};
Conf.Nested.prototype.readFromObject = function (json) {
  _hasOwnProperty.call(json, 'items') && this.items.readFromObject(json.items);
  _hasOwnProperty.call(json, 'byName') && this.byName.readFromObject(json.byName);
  _hasOwnProperty.call(json, 'rows') && this.rows.readFromObject(json.rows);
  _hasOwnProperty.call(json, 'grid') && this.grid.readFromObject(json.grid);
  return this;
};
Conf.Nested.prototype.toBinBuffer = function () {
  const os = new TarsStream.TarsOutputStream();
  this._writeTo(os);
  return os.getBinBuffer();
};
Conf.Nested.new = function () { return new Conf.Nested(); };
Conf.Nested.create = function (is) { return Conf.Nested._readFrom(is); };

// struct WithOptional { 0 require int a; 1 optional int b = 7; 2 optional string c = "x";
//   3 optional vector<int> d; 4 optional bool e = true; 5 optional Small f; }
// Like all tars2node output, _writeTo writes optional fields unconditionally.
Conf.WithOptional = function () {
  this.a = 0;
  this.b = 7;
  this.c = 'x';
  this.d = new TarsStream.List(TarsStream.Int32);
  this.e = true;
  this.f = new Conf.Small();
  this._classname = 'Conf.WithOptional';
};
Conf.WithOptional._classname = 'Conf.WithOptional';
Conf.WithOptional._write = function (os, tag, value) { os.writeStruct(tag, value); };
Conf.WithOptional._read = function (is, tag, def) { return is.readStruct(tag, true, def); };
Conf.WithOptional._readFrom = function (is) {
  const tmp = new Conf.WithOptional();
  tmp.a = is.readInt32(0, true, 0);
  tmp.b = is.readInt32(1, false, 7);
  tmp.c = is.readString(2, false, 'x');
  tmp.d = is.readList(3, false, TarsStream.List(TarsStream.Int32));
  tmp.e = is.readBoolean(4, false, true);
  tmp.f = is.readStruct(5, false, Conf.Small);
  return tmp;
};
Conf.WithOptional.prototype._writeTo = function (os) {
  os.writeInt32(0, this.a);
  os.writeInt32(1, this.b);
  os.writeString(2, this.c);
  os.writeList(3, this.d);
  os.writeBoolean(4, this.e);
  os.writeStruct(5, this.f);
};
Conf.WithOptional.prototype._equal = noKey;
Conf.WithOptional.prototype._genKey = genKey;
Conf.WithOptional.prototype.toObject = function () {
  return { a: this.a, b: this.b, c: this.c, d: this.d.toObject(), e: this.e, f: this.f.toObject() };
};
Conf.WithOptional.prototype.readFromObject = function (json) {
  _hasOwnProperty.call(json, 'a') && (this.a = json.a);
  _hasOwnProperty.call(json, 'b') && (this.b = json.b);
  _hasOwnProperty.call(json, 'c') && (this.c = json.c);
  _hasOwnProperty.call(json, 'd') && this.d.readFromObject(json.d);
  _hasOwnProperty.call(json, 'e') && (this.e = json.e);
  _hasOwnProperty.call(json, 'f') && this.f.readFromObject(json.f);
  return this;
};
Conf.WithOptional.prototype.toBinBuffer = function () {
  const os = new TarsStream.TarsOutputStream();
  this._writeTo(os);
  return os.getBinBuffer();
};
Conf.WithOptional.new = function () { return new Conf.WithOptional(); };
Conf.WithOptional.create = function (is) { return Conf.WithOptional._readFrom(is); };
