// An npm @tars/rpc client exercising Test.HelloServer.HelloObj (conformance/idl/Hello.tars) on a
// server at 127.0.0.1:<port>, checking the reference semantics of conformance/src/hello.rs.
// Usage:
//   node rpc-client.js <port> [--tup | --tup2] [--udp] [--no-servant-check]
// --tup switches the proxy to TUP v3 (UniAttribute), --tup2 to TUP v2 (UniAttribute with type
// names, TUP_COMPLEX). --udp calls over UDP (`udp -h ... -p ...`: one request per datagram), with
// payloads that fit a datagram and fewer calls in flight at once (a datagram that overflows a
// socket buffer is lost, and the call times out). --no-servant-check skips the unknown-servant
// check, for servers that dispatch by port and ignore sServantName (the @tars/rpc server does). Prints one line per check and
// "<n> passed, <m> failed"; exits non-zero on any failure.
'use strict';
const assert = require('assert');
const util = require('util');
const TarsRpc = require('@tars/rpc');
const TarsStream = require('@tars/stream');
const { Test } = require('./hello-tars.js');

const port = parseInt(process.argv[2] || '0', 10);
const tupVersion = process.argv.includes('--tup2') ? TarsStream.Tup.TUP_COMPLEX
  : process.argv.includes('--tup') ? TarsStream.Tup.TUP_SIMPLE : 0;
const tup = tupVersion !== 0;
const protocol = tupVersion === TarsStream.Tup.TUP_COMPLEX ? 'TUP v2' : tup ? 'TUP v3' : 'Tars';
const servantCheck = !process.argv.includes('--no-servant-check');
const udp = process.argv.includes('--udp');
const transport = udp ? 'udp' : 'tcp';
// The largest payloads sent: a UDP request and its reply must each fit one datagram.
const bigString = udp ? 30000 : 70000;
const bigBytes = udp ? 30000 : 1 << 20;
const inFlight = udp ? 64 : 500;
if (!(port > 0)) {
  console.error('usage: node rpc-client.js <port> [--tup | --tup2] [--udp] [--no-servant-check]');
  process.exit(2);
}

const OBJ = 'Test.HelloServer.HelloObj';
const client = TarsRpc.client;
function proxyFor(obj) {
  const prx = client.stringToProxy(Test.HelloProxy, `${obj}@${transport} -h 127.0.0.1 -p ${port} -t 3000`);
  if (tup) prx._worker.version = tupVersion;
  return prx;
}
const hello = proxyFor(OBJ);

// The error code a rejected call carries (@tars/rpc RpcCallError or a generated-code error).
function errorCode(err) {
  const e = err && err.response && err.response.error ? err.response.error : err && err.error;
  return e ? e.code : undefined;
}

async function expectCode(promise, code) {
  try {
    await promise;
  } catch (err) {
    assert.strictEqual(errorCode(err), code, `error ${JSON.stringify(err && (err.response || err.error))}`);
    return;
  }
  assert.fail(`call succeeded, expected error ${code}`);
}

// Calls a function without generated code, in the proxy's protocol (one connection speaks one).
function rawCall(name) {
  if (tup) {
    const attr = new TarsStream.UniAttribute();
    attr.tupVersion = tupVersion;
    return hello._worker.tup_invoke(name, attr);
  }
  return hello._worker.tars_invoke(name, new TarsStream.TarsOutputStream().getBinBuffer());
}

function mapOf(K, V, obj) {
  const m = new TarsStream.Map(K, V);
  for (const [k, v] of Object.entries(obj)) m.insert(k, v);
  return m;
}

function mapToObject(m) {
  const out = {};
  m.forEach((k, v) => { out[k] = v; });
  return out;
}

const checks = [
  ['echo returns the UTF-16 length and the string as out param', async () => {
    for (const s of ['hello', '', 'héllo ✓ 漢字', 'x'.repeat(bigString)]) {
      const r = (await hello.echo(s)).response;
      assert.strictEqual(r.return, s.length);
      assert.strictEqual(r.arguments.r, s);
    }
  }],
  ['echoItem carries a struct with bytes and a map both ways', async () => {
    const item = new Test.Item();
    item.id = 41;
    item.name = 'item';
    item.data = new TarsStream.BinBuffer(Buffer.from([1, 2, 3, 0, 255]));
    item.attrs = mapOf(TarsStream.String, TarsStream.String, { k: 'v', empty: '' });
    const back = (await hello.echoItem(item)).response.return;
    assert.strictEqual(back.id, 42);
    assert.strictEqual(back.name, 'item!');
    assert.deepStrictEqual([...back.data.toNodeBuffer()], [1, 2, 3, 0, 255]);
    assert.deepStrictEqual(mapToObject(back.attrs), { k: 'v', empty: '' });
  }],
  ['echoItem with optional fields left at their defaults', async () => {
    const item = new Test.Item();
    item.id = -1;
    item.name = '';
    const back = (await hello.echoItem(item)).response.return;
    assert.strictEqual(back.id, 0);
    assert.strictEqual(back.name, '!');
    assert.strictEqual(back.data.length, 0);
    assert.deepStrictEqual(mapToObject(back.attrs), {});
  }],
  ['echoMap doubles every value', async () => {
    const m = mapOf(TarsStream.String, TarsStream.Int32, { a: 1, b: -7, c: 1 << 29 });
    const back = (await hello.echoMap(m)).response.return;
    assert.deepStrictEqual(mapToObject(back), { a: 2, b: -14, c: 1 << 30 });
  }],
  [`echoBytes reverses a byte vector (empty, small, ${bigBytes} bytes)`, async () => {
    for (const n of [0, 300, bigBytes]) {
      const bytes = Buffer.alloc(n);
      for (let i = 0; i < n; i++) bytes[i] = (i * 7) & 0xff;
      const back = (await hello.echoBytes(new TarsStream.BinBuffer(bytes))).response.return;
      const expected = Buffer.from(bytes).reverse();
      assert.ok(Buffer.from(back.toNodeBuffer()).equals(expected), `length ${n}`);
    }
  }],
  ['add returns 0 and the sum as out param', async () => {
    const r = (await hello.add(-5, 12)).response;
    assert.strictEqual(r.return, 0);
    assert.strictEqual(r.arguments.sum, 7);
    const big = (await hello.add(2147483647, 1)).response;
    assert.strictEqual(big.arguments.sum, -2147483648);
  }],
  ['void call (ping) answers without a return value', async () => {
    const r = (await hello.ping()).response;
    assert.strictEqual(r.return, undefined);
  }],
  ['one-way notify reaches the servant and gets no reply', async () => {
    const msg = `one-way ${process.pid} ${tup ? 'tup' : 'tars'}`;
    try {
      await hello.notify(msg, { packetType: 1 });
    } catch (err) {
      // @tars/rpc settles a sent one-way call by rejecting with "do not need response".
      const e = err && err.response && err.response.error;
      assert.ok(e && /one way/.test(String(e.message)), `one-way call failed: ${JSON.stringify(e)}`);
    }
    const deadline = Date.now() + 3000;
    for (;;) {
      const last = (await hello.lastNotify()).response.return;
      if (last === msg) break;
      assert.ok(Date.now() < deadline, `notify never arrived (last = ${JSON.stringify(last)})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }],
  ['echoMood returns enum values it does not know unchanged', async () => {
    // CALM = 1 is known to both sides; 99 and -5 are moods of a newer IDL.
    for (const m of [1, 99, -5]) {
      assert.strictEqual((await hello.echoMood(m)).response.return, m);
    }
  }],
  ['echoRaw returns strings that are not UTF-8 byte for byte', async () => {
    const gbk = Buffer.from('c4e3bac3cac0bde7', 'hex'); // "你好世界" in GBK
    const mixed = Buffer.concat([Buffer.from('id='), gbk, Buffer.from([0xff, 0x00, 0x80])]);
    for (const raw of [gbk, mixed, Buffer.alloc(300, 0xb0)]) {
      const back = (await hello.echoRaw(raw)).response.return;
      assert.ok(Buffer.isBuffer(back) && back.equals(raw), `sent ${raw.toString('hex')}, got ${Buffer.from(back).toString('hex')}`);
    }
  }],
  ['tars_ping succeeds', async () => {
    await rawCall('tars_ping');
  }],
  ['unknown function fails with -3 (SERVERNOFUNCERR)', async () => {
    await expectCode(rawCall('noSuchFunction'), -3);
  }],
  ['unknown servant fails with -4 (SERVERNOSERVANTERR)', async () => {
    if (!servantCheck) return;
    const other = proxyFor('Test.HelloServer.NoSuchObj');
    await expectCode(other.ping(), -4);
  }],
  [`${inFlight} concurrent calls on one ${transport} socket all get their own answer`, async () => {
    const calls = [];
    for (let i = 0; i < inFlight; i++) calls.push(hello.add(i, 1000000));
    const results = await Promise.all(calls);
    results.forEach((r, i) => assert.strictEqual(r.response.arguments.sum, i + 1000000));
  }],
];

(async () => {
  let passed = 0;
  let failed = 0;
  for (const [name, run] of checks) {
    try {
      await run();
      passed++;
      console.log(`ok   ${name}`);
    } catch (err) {
      failed++;
      // Rejections of @tars/rpc can be circular objects: inspect, do not stringify.
      console.log(`FAIL ${name}: ${err && err.stack ? err.stack : util.inspect(err, { depth: 3 })}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed (${protocol} over ${transport})`);
  process.exit(failed === 0 ? 0 : 1);
})();
