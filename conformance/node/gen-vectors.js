// Produces conformance/vectors/stream.json: byte vectors written by the real npm peers
// (@tars/stream for single fields, @tars/rpc's generated RequestF for packets).
// Regenerate with conformance/node/regen.sh. Format: see schema.js and conformance/src/lib.rs.
//
// Each case is ONE field written by TarsOutputStream at `tag`; `hex` is the whole output buffer.
// Optional case fields: `exact: false` + `note` when tars-rs deliberately writes different
// bytes for the same value (both sides must still decode each other's), and `value_decoded`
// when the peer's bytes carry less than `value` (it writes -0.0 as ZERO_TAG).
'use strict';
const fs = require('fs');
const path = require('path');
const { S, Conf, encodeHex, stringifyVectors } = require('./schema.js');
const RequestF = require('@tars/rpc/core/rpc-tars/RequestF.js').tars;

const cases = [];
const names = new Set();

function add(name, type, tag, value, opts = {}) {
  if (names.has(name)) throw new Error('duplicate case name ' + name);
  names.add(name);
  const c = { name, type, tag, value, hex: encodeHex(type, tag, value) };
  if (opts.exact === false) { c.exact = false; c.note = opts.note; }
  if (opts.value_decoded !== undefined) c.value_decoded = opts.value_decoded;
  cases.push(c);
}

// --- integers: every boundary, through every writer whose type holds it ----------------------
const boundaries = [0n, 1n, -1n, 127n, 128n, -128n, -129n, 255n, 256n, 32767n, 32768n, -32768n, -32769n,
  65535n, 65536n, 2n ** 31n - 1n, 2n ** 31n, -(2n ** 31n), -(2n ** 31n) - 1n, 2n ** 32n - 1n, 2n ** 32n,
  2n ** 40n, -(2n ** 40n) - 7n, 2n ** 53n - 1n, -(2n ** 53n) + 1n, 2n ** 53n + 1n, -(2n ** 53n) - 1n,
  2n ** 63n - 1n, -(2n ** 63n), 2n ** 63n - 2n, -(2n ** 63n) + 1n];
const widths = [
  // [type expression, min, max, JSON as string?]  (writer: writeInt8/16/32/64, writeUInt8/16/32)
  ['byte', -(2n ** 7n), 2n ** 7n - 1n, false],
  ['short', -(2n ** 15n), 2n ** 15n - 1n, false],
  ['int', -(2n ** 31n), 2n ** 31n - 1n, false],
  ['long', -(2n ** 63n), 2n ** 63n - 1n, true],
  ['unsigned byte', 0n, 2n ** 8n - 1n, false],
  ['unsigned short', 0n, 2n ** 16n - 1n, false],
  ['unsigned int', 0n, 2n ** 32n - 1n, true],
];
for (const [type, min, max, asString] of widths) {
  for (const v of boundaries) {
    if (v < min || v > max) continue;
    add(`${type.replace(' ', '_')}_${v}`, type, 0, asString ? v.toString() : Number(v));
  }
}
add('bool_true', 'bool', 0, true);
add('bool_false', 'bool', 0, false);

// --- floating point -----------------------------------------------------------------------------
// Node writes NaN as the canonical quiet NaN (7fc00000 / 7ff8000000000000).
const zeroNote = '@tars/stream writes 0.0 and -0.0 as ZERO_TAG; TarsCpp (and tars-rs) always write floats full width. Decoders accept both.';
const f32 = [['1_5', 1.5], ['neg_2_25', -2.25], ['max', 3.4028234663852886e38], ['lowest', -3.4028234663852886e38],
  ['min_normal', 1.1754943508222875e-38], ['max_denormal', 1.1754942106924411e-38], ['min_denormal', 1.401298464324817e-45],
  ['fround_0_1', Math.fround(0.1)], ['nan', 'NaN'], ['inf', 'Infinity'], ['neg_inf', '-Infinity']];
for (const [n, v] of f32) {
  if (typeof v === 'number' && Math.fround(v) !== v) throw new Error(`float_${n} is not exact in f32`);
  add(`float_${n}`, 'float', 0, v);
}
add('float_zero', 'float', 0, 0, { exact: false, note: zeroNote });
add('float_neg_zero', 'float', 0, -0, { exact: false, note: zeroNote, value_decoded: 0 });
const f64 = [['1_5', 1.5], ['neg_0_1', -0.1], ['1e300', 1e300], ['min_denormal', 5e-324],
  ['max_denormal', 2.225073858507201e-308], ['min_normal', 2.2250738585072014e-308], ['max', Number.MAX_VALUE],
  ['lowest', -Number.MAX_VALUE], ['pi', Math.PI], ['nan', 'NaN'], ['inf', 'Infinity'], ['neg_inf', '-Infinity']];
for (const [n, v] of f64) add(`double_${n}`, 'double', 0, v);
add('double_zero', 'double', 0, 0, { exact: false, note: zeroNote });
add('double_neg_zero', 'double', 0, -0, { exact: false, note: zeroNote, value_decoded: 0 });

// --- strings ------------------------------------------------------------------------------------
add('string_empty', 'string', 0, '');
add('string_1', 'string', 0, 'a');
add('string_255', 'string', 0, 'x'.repeat(255));
add('string_256', 'string', 0, 'x'.repeat(256));
add('string_1000', 'string', 0, 'y'.repeat(1000));
add('string_utf8', 'string', 0, 'héllo wörld ✓ 漢字 🎉');
add('string_255_bytes_multibyte', 'string', 0, 'é'.repeat(127) + 'a'); // 255 UTF-8 bytes, 128 chars
add('string_256_bytes_multibyte', 'string', 0, 'é'.repeat(128)); // 256 UTF-8 bytes, 128 chars
add('string_1000_bytes_emoji', 'string', 0, '🎉'.repeat(250)); // 1000 UTF-8 bytes
add('string_control_chars', 'string', 0, '\u0000\t\n"\\\u007f');

// --- byte vectors (SIMPLE_LIST) -------------------------------------------------------------------
add('bytes_empty', 'vector<byte>', 0, '');
add('bytes_one_zero', 'vector<byte>', 0, '00');
add('bytes_small', 'vector<byte>', 0, 'deadbeef7f80ff');
add('bytes_300', 'vector<byte>', 0, Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff)).toString('hex'));

// --- containers ----------------------------------------------------------------------------------
// Multi-entry maps list their keys in sorted order, so that tars-rs (BTreeMap) writes the same
// bytes. HeroMap keeps entries in a JS object, which iterates integer-like keys first in numeric
// order: the *_js_order cases show the peer's order differing from ours (decoders ignore order).
const mapOrderNote = '@tars/stream iterates map keys in JS object order (integer-like keys first, ascending); tars-rs writes BTreeMap order. Map order is not significant.';
add('list_int_empty', 'vector<int>', 0, []);
add('list_int', 'vector<int>', 0, [1, -1, 1000, 100000, 0, 2147483647, -2147483648]);
add('list_string', 'vector<string>', 0, ['a', '', 'bc', 'x'.repeat(300)]);
add('list_long', 'vector<long>', 0, ['1', '-9223372036854775808', '4294967296', '9223372036854775807', '0']);
add('list_bool', 'vector<bool>', 0, [true, false, true]);
add('list_double', 'vector<double>', 0, [1.5, -2.5, 'NaN', 5e-324]);
add('list_float', 'vector<float>', 0, [0.5, 8, '-Infinity']);
add('list_short', 'vector<short>', 0, [300, -300, 5, 0]);
add('list_bytes', 'vector<vector<byte>>', 0, ['0102', '', 'ff']);
add('list_unsigned_byte', 'vector<unsigned byte>', 0, [1, 255, 0]);
add('list_unsigned_short', 'vector<unsigned short>', 0, [65535, 256]);
add('list_unsigned_int', 'vector<unsigned int>', 0, ['4294967295', '2147483648', '7']);
add('list_list_int', 'vector<vector<int>>', 0, [[1, 2], [], [3]]);
add('list_list_list_int', 'vector<vector<vector<int>>>', 0, [[[1], []], [], [[2, 3]]]);
add('list_map', 'vector<map<string,int>>', 0, [[['a', 1], ['b', 2]], [], [['z', -70000]]]);
add('map_empty', 'map<string,int>', 0, []);
add('map_string_int', 'map<string,int>', 0, [['alpha', 1], ['beta', -2], ['gamma', 300000]]);
add('map_int_string', 'map<int,string>', 0, [[1, 'one'], [2, 'two'], [1000, 'thousand']]);
add('map_int_list_string', 'map<int,vector<string>>', 0, [[7, ['x', 'y']], [8, []]]);
add('map_string_bytes', 'map<string,vector<byte>>', 0, [['k', 'cafe'], ['l', '']]);
add('map_string_map', 'map<string,map<string,string>>', 0, [['outer', [['inner', 'v'], ['j', 'w']]], ['p', []]]);
add('map_long_double', 'map<long,double>', 0, [['0', 0.5], ['5', -1.5], ['9007199254740993', 1e100]]);
add('map_int_string_js_order', 'map<int,string>', 0, [[-5, 'neg'], [0, 'zero'], [5, 'pos']],
  { exact: false, note: mapOrderNote });
add('map_string_int_js_order', 'map<string,int>', 0, [['10', 10], ['9', 9], ['a', 0]],
  { exact: false, note: mapOrderNote });

// --- tags -----------------------------------------------------------------------------------------
for (const tag of [0, 1, 14, 15, 16, 200, 255]) {
  add(`tag_${tag}_int`, 'int', tag, 123456);
  add(`tag_${tag}_zero`, 'int', tag, 0);
  add(`tag_${tag}_string`, 'string', tag, 'tagged');
  add(`tag_${tag}_list`, 'vector<int>', tag, [tag]);
  add(`tag_${tag}_map`, 'map<string,int>', tag, [['t', tag]]);
  add(`tag_${tag}_bytes`, 'vector<byte>', tag, 'ab');
  add(`tag_${tag}_struct`, 'struct:Conf.Small', tag, { a: tag, b: 't' });
}

// --- structs --------------------------------------------------------------------------------------
add('struct_small', 'struct:Conf.Small', 0, { a: 1, b: 'x' });
add('struct_small_zero', 'struct:Conf.Small', 3, { a: 0, b: '' });
add('struct_small_extremes', 'struct:Conf.Small', 0, { a: -2147483648, b: 's'.repeat(256) });
const mid = {
  id: '123456789012345', count: 4242, level: 7, flag: true, score: 98.625, ratio: 0.75,
  name: 'tars-rs conformance',
  description: 'A mid-size struct of roughly four hundred bytes: ints, strings, a byte vector, a map and a nested struct, used to compare encoders.',
  payload: Buffer.from(Array.from({ length: 128 }, (_, i) => (i * 13 + 5) & 0xff)).toString('hex'),
  attrs: [['env', 'prod'], ['idc', 'sz'], ['region', 'south'], ['zone', 'a1']],
  ids: Array.from({ length: 16 }, (_, i) => i * 1000 - 3000),
  inner: { a: -5, b: 'inner' },
};
add('struct_mid', 'struct:Conf.Mid', 0, mid);
add('struct_mid_tag_20', 'struct:Conf.Mid', 20, Object.assign({}, mid, { id: '-1', flag: false, level: -300 }));
add('struct_mid_extremes', 'struct:Conf.Mid', 1, Object.assign({}, mid, {
  id: '-9223372036854775808', count: -1, level: 32767, score: 'NaN', ratio: '-Infinity', name: '',
  description: 'd'.repeat(255), payload: '', attrs: [], ids: [], inner: { a: 0, b: '' },
}));
add('struct_mid_all_zero', 'struct:Conf.Mid', 0, Object.assign({}, mid, {
  id: '0', count: 0, level: 0, flag: false, score: 1, ratio: 1, name: '', description: '', payload: '', attrs: [], ids: [],
  inner: { a: 0, b: '' },
}));
add('struct_high_tags', 'struct:Conf.HighTags', 0, { a: 1, b: 14, c: 15, d: 'two hundred', e: '-4294967297' });
add('struct_high_tags_zero', 'struct:Conf.HighTags', 255, { a: 0, b: 0, c: 0, d: '', e: '0' });
add('struct_high_tags_max', 'struct:Conf.HighTags', 15, { a: 2147483647, b: -32769, c: 128, d: 'd'.repeat(300), e: '9223372036854775807' });
add('struct_nested', 'struct:Conf.Nested', 0, {
  items: [{ a: 1, b: 'one' }, { a: 2, b: 'two' }],
  byName: [['first', { a: 1, b: 'one' }], ['second', { a: 2, b: 'two' }]],
  rows: [[[1, 'a'], [2, 'b']], []],
  grid: [['a', 'b'], [], ['c']],
});
add('struct_nested_empty', 'struct:Conf.Nested', 1, { items: [], byName: [], rows: [], grid: [] });
add('struct_nested_deep', 'struct:Conf.Nested', 16, {
  items: Array.from({ length: 5 }, (_, i) => ({ a: i * 100000, b: 'item' + i })),
  byName: [['', { a: -1, b: '' }], ['k', { a: 70000, b: 'é' }]],
  rows: [[], [[0, ''], [2147483647, 'max']], [[7, 'seven']]],
  grid: [[], [''], ['a', 'bb', 'ccc']],
});
add('struct_with_optional_all_set', 'struct:Conf.WithOptional', 0, { a: 1, b: 8, c: 'y', d: [1, 2], e: false, f: { a: 3, b: 'f' } });
add('struct_with_optional_zeroes', 'struct:Conf.WithOptional', 2, { a: 0, b: 0, c: '', d: [0], e: false, f: { a: 0, b: '' } });
const optNote = '@tars/stream (like all tars2node code) writes every optional field; tars-rs skips optional fields equal to their default (tars2cpp rule).';
add('struct_with_optional_defaults', 'struct:Conf.WithOptional', 0, { a: 1, b: 7, c: 'x', d: [], e: true, f: { a: 0, b: '' } },
  { exact: false, note: optNote });
add('struct_with_optional_some_defaults', 'struct:Conf.WithOptional', 0, { a: -1, b: 7, c: 'changed', d: [], e: false, f: { a: 2, b: 'two' } },
  { exact: false, note: optNote });
add('list_struct', 'vector<struct:Conf.Small>', 0, [{ a: 1, b: 'a' }, { a: 2, b: 'b' }]);
add('list_struct_mid', 'vector<struct:Conf.Mid>', 0, [mid, Object.assign({}, mid, { id: '1', inner: { a: 1, b: '' } })]);
add('map_string_struct', 'map<string,struct:Conf.Small>', 0, [['k', { a: 9, b: 'v' }], ['l', { a: 0, b: '' }]]);
add('map_int_struct_high_tags', 'map<int,struct:Conf.HighTags>', 0, [[1, { a: 1, b: 2, c: 3, d: 'x', e: '4' }]]);

// --- packets --------------------------------------------------------------------------------------
function frame(buf) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(buf.length + 4);
  return Buffer.concat([len, buf]).toString('hex');
}

const packets = [];
function mapOf(pairs) {
  const m = new S.Map(S.String, S.String);
  for (const [k, v] of pairs) m.insert(k, v);
  return m;
}

function request(name, f) {
  const p = new RequestF.RequestPacket();
  p.iVersion = f.version; p.cPacketType = f.packet_type; p.iMessageType = f.message_type;
  p.iRequestId = f.request_id; p.sServantName = f.servant_name; p.sFuncName = f.func_name;
  p.sBuffer = new S.BinBuffer(Buffer.from(f.buffer, 'hex')); p.iTimeout = f.timeout;
  p.context = mapOf(f.context); p.status = mapOf(f.status);
  const os = new S.TarsOutputStream();
  p._writeTo(os);
  packets.push({ name, kind: 'request', fields: f, hex: frame(os.getBinBuffer().toNodeBuffer()) });
}

function response(name, f) {
  const p = new RequestF.ResponsePacket();
  p.iVersion = f.version; p.cPacketType = f.packet_type; p.iRequestId = f.request_id; p.iMessageType = f.message_type;
  p.iRet = f.ret; p.sBuffer = new S.BinBuffer(Buffer.from(f.buffer, 'hex')); p.status = mapOf(f.status);
  p.sResultDesc = f.result_desc; p.context = mapOf(f.context);
  const os = new S.TarsOutputStream();
  p._writeTo(os);
  const entry = { name, kind: 'response', fields: f, hex: frame(os.getBinBuffer().toNodeBuffer()) };
  if (f.context.length === 0) {
    entry.exact = false;
    entry.note = '@tars/rpc writes the empty optional context map; tars-rs skips empty optional maps (tars2cpp rule).';
  }
  packets.push(entry);
}

// The body of echo(string s, int n): s at tag 1, n at tag 2.
const body = (() => { const os = new S.TarsOutputStream(); os.writeString(1, 'hello'); os.writeInt32(2, 42); return Buffer.from(os.getBinBuffer().toNodeBuffer()).toString('hex'); })();
request('request_basic', { version: 1, packet_type: 0, message_type: 0, request_id: 1, servant_name: 'Test.HelloServer.HelloObj', func_name: 'echo', buffer: body, timeout: 3000, context: [], status: [] });
request('request_oneway_context', { version: 1, packet_type: 1, message_type: 0, request_id: 2147483647, servant_name: 'A.B.C', func_name: 'notify', buffer: '', timeout: 60000, context: [['trace', 'abc'], ['xid', '1:2:3']], status: [['STATUS_GRID_KEY', 'k1']] });
response('response_ok', { version: 1, packet_type: 0, request_id: 1, message_type: 0, ret: 0, buffer: body, status: [], result_desc: '', context: [] });
response('response_error', { version: 1, packet_type: 0, request_id: 77, message_type: 2, ret: -3, buffer: '', status: [['k', 'v']], result_desc: 'no function', context: [['c', 'd']] });

// TUP v3 through the peer's own Tup class.
function tup(name, build, attrs) {
  const t = new S.Tup();
  t.tupVersion = S.Tup.TUP_SIMPLE;
  build(t);
  packets.push({ name, kind: 'tup', servant_name: t.servantName, func_name: t.funcName, request_id: t.requestId, attrs, hex: Buffer.from(t.encode().toNodeBuffer()).toString('hex') });
}
tup('tup_request', (t) => {
  t.servantName = 'Test.HelloServer.HelloObj'; t.funcName = 'echo'; t.requestId = 9;
  t.writeString('s', 'hello'); t.writeInt32('n', 42); t.writeInt64('big', '-9223372036854775808', true);
  const small = new Conf.Small(); small.a = 5; small.b = 'five';
  t.writeStruct('small', small);
  const l = S.List(S.Int32); l.push(1); l.push(2); t.writeList('list', l);
  t.writeBoolean('flag', true);
}, [['s', 'string', 'hello'], ['n', 'int', 42], ['big', 'long', '-9223372036854775808'], ['small', 'struct:Conf.Small', { a: 5, b: 'five' }], ['list', 'vector<int>', [1, 2]], ['flag', 'bool', true]]);

const out = { generator: `@tars/stream ${require('@tars/stream/package.json').version}, @tars/rpc ${require('@tars/rpc/package.json').version}`, cases, packets };
// Usage: node gen-vectors.js [output file]   (default: ../vectors/stream.json)
const file = process.argv[2] ? path.resolve(process.argv[2]) : path.join(__dirname, '..', 'vectors', 'stream.json');
fs.writeFileSync(file, stringifyVectors(out));
console.log(`wrote ${cases.length} cases and ${packets.length} packets to ${path.relative(process.cwd(), file)}`);
