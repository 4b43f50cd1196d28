// The npm @tars/rpc client as a load generator: Test.HelloServer.HelloObj.echo
// (conformance/idl/Hello.tars) on 127.0.0.1:<port>, keeping <inflight> calls in flight (closed
// loop) for <seconds> after a 1 s warm-up. Every reply is checked (the echoed string carries a
// per-call counter; the return value is its UTF-16 length). Prints one JSON line: calls/s,
// latency percentiles, and this process's CPU time per call (process.cpuUsage, user + system,
// over the timed part).
//
// Usage: node rpc-loadgen.js <port> [--inflight N] [--seconds S] [--payload BYTES] [--label L]
//        [--udp]
// @tars/rpc and the generated Hello proxy come from conformance/node (npm ci there first).
'use strict';
const path = require('path');
const peer = path.join(__dirname, '..', '..', 'conformance', 'node');
const TarsRpc = require(path.join(peer, 'node_modules', '@tars', 'rpc'));
const { Test } = require(path.join(peer, 'hello-tars.js'));

const argv = process.argv.slice(2);
const port = parseInt(argv[0] || '0', 10);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
const inflight = parseInt(opt('--inflight', '64'), 10);
const seconds = parseFloat(opt('--seconds', '5'));
const payloadLen = parseInt(opt('--payload', '32'), 10);
const label = opt('--label', 'server');
const transport = argv.includes('--udp') ? 'udp' : 'tcp';
if (!(port > 0) || !(inflight > 0)) {
  console.error('usage: node rpc-loadgen.js <port> [--inflight N] [--seconds S]');
  process.exit(2);
}

const hello = TarsRpc.client.stringToProxy(
  Test.HelloProxy, `Test.HelloServer.HelloObj@${transport} -h 127.0.0.1 -p ${port} -t 60000`);

let counter = 0;
function payload() {
  let s = String(counter++);
  while (s.length < payloadLen) s += '.';
  return s;
}

let measuring = false;
let stopping = false;
let calls = 0;
let errors = 0;
let firstError = null;
const latencies = [];

function fail(what) {
  errors++;
  if (firstError === null) firstError = what;
}

function one() {
  if (stopping) return;
  const s = payload();
  const started = process.hrtime.bigint();
  hello.echo(s).then((res) => {
    const r = res.response;
    if (r.arguments.r !== s) fail(`echoed ${JSON.stringify(r.arguments.r)}, expected ${JSON.stringify(s)}`);
    else if (r.return !== s.length) fail(`returned ${r.return}, expected ${s.length}`);
    done(started);
  }, (err) => {
    fail(`call failed: ${JSON.stringify((err && (err.response || err.error)) || String(err))}`);
    done(started);
  });
}

function done(started) {
  if (measuring) {
    calls++;
    latencies.push(Number(process.hrtime.bigint() - started) / 1000);
  }
  one();
}

for (let i = 0; i < inflight; i++) one();
let cpuBefore;
let t0;
setTimeout(() => {
  measuring = true;
  cpuBefore = process.cpuUsage();
  t0 = process.hrtime.bigint();
  setTimeout(() => {
    measuring = false;
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpuBefore);
    stopping = true;
    latencies.sort((a, b) => a - b);
    const q = (p) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]) : 0);
    console.log(JSON.stringify({
      label,
      client: '@tars/rpc',
      mode: `async ${inflight} in flight`,
      calls,
      seconds: elapsed,
      calls_per_sec: calls / elapsed,
      p50_us: q(0.5),
      p99_us: q(0.99),
      p999_us: q(0.999),
      max_us: latencies.length ? Math.round(latencies[latencies.length - 1]) : 0,
      client_cpu_us_per_call: calls ? (cpu.user + cpu.system) / calls : 0,
      errors,
    }));
    if (errors > 0) console.error(`${errors} calls failed; first: ${firstError}`);
    process.exit(errors > 0 ? 1 : 0);
  }, seconds * 1000);
}, 1000);
