// An unmodified npm @tars/rpc server and client reporting through @tars/monitor, configured the
// way tarsnode starts a Node Tars app: `TARS_CONFIG` names the app's Tars config file (its
// `tars.application.client` section gives `stat`, `property`, `report-interval` and
// `modulename`) and `TARS_MONITOR` is set (without it @tars/rpc reports nothing). Used by
// conformance/tests/monitor_interop.rs, which writes the config files and checks what our
// tarsd's StatObj / PropertyObj rolled up. Usage:
//   node monitor-peer.js server
//     Serves Test.HelloServer.HelloObj on the adapter of the config file (conformance/idl/
//     Hello.tars): `add` throws when `a` is negative, `ping` never answers, `notify` stores
//     its message. Prints "READY <port>" once listening; runs until killed. @tars/rpc's server
//     reports the one-way calls it served (bFromClient=false, masterName "one_way_client").
//   node monitor-peer.js client <port>
//     Calls that server: echo x7 (answered), add x5 (answered) and x3 (throwing), ping x2 (timing
//     out after 300 ms), notify x4 one-way; reports the property `queue` with the
//     Sum, Max and Avg policies (values 3, 9, 6) and `hits` with Count (5 values). Prints the
//     outcome of every call kind and then "READY calls" and stays up until killed, so that
//     @tars/monitor's report timer (report-interval, at least 10 s for stat) fires.
'use strict';
const TarsRpc = require('@tars/rpc');
const Monitor = require('@tars/monitor');
const { Test } = require('./hello-tars.js');

const role = process.argv[2];
if (!process.env.TARS_CONFIG || !process.env.TARS_MONITOR) {
  console.error('monitor-peer.js needs TARS_CONFIG (a Tars config file) and TARS_MONITOR set');
  process.exit(2);
}

class HelloImpl extends Test.HelloImp {
  constructor() {
    super();
    this.last = '';
  }
  echo(current, s) { current.sendResponse(s.length, s); }
  add(current, a, b) {
    // An exception in a servant: @tars/rpc answers it with an error code.
    if (a < 0) throw new Error(`negative a: ${a}`);
    current.sendResponse(0, (a + b) | 0);
  }
  notify(current, msg) {
    this.last = msg;
    current.sendResponse();
  }
  lastNotify(current) { current.sendResponse(this.last); }
  echoItem(current, item) { current.sendResponse(item); }
  echoMap(current, m) { current.sendResponse(m); }
  echoBytes(current, b) { current.sendResponse(b); }
  echoMood(current, m) { current.sendResponse(m); }
  echoRaw(current, s) { current.sendResponse(s); }
  // Never answered: the caller times out.
  ping() {}
}

function server() {
  // As a Tars app's main.js does: adapters from the config file, servants added by name.
  const svr = TarsRpc.server.createServer();
  svr.initialize(process.env.TARS_CONFIG, (s) => {
    s.addServant(HelloImpl, 'Test.HelloServer.HelloObj');
  });
  svr.start();
  const port = svr._adapters[0].endpoint.iPort;
  const net = require('net');
  (function probe(attempt) {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      console.log(`READY ${port}`);
    });
    s.on('error', () => {
      s.destroy();
      if (attempt > 200) {
        console.error('server did not start listening');
        process.exit(1);
      }
      setTimeout(() => probe(attempt + 1), 25);
    });
  })(0);
}

async function settle(what, n, call) {
  let ok = 0;
  let failed = 0;
  for (let i = 0; i < n; i++) {
    try {
      await call(i);
      ok++;
    } catch (e) {
      failed++;
    }
  }
  console.log(`${what} ok=${ok} failed=${failed}`);
}

async function client() {
  const port = parseInt(process.argv[3] || '0', 10);
  if (!(port > 0)) {
    console.error('usage: node monitor-peer.js client <port>');
    process.exit(2);
  }
  // The global communicator initializes itself from TARS_CONFIG (and @tars/monitor with it).
  const hello = TarsRpc.client.stringToProxy(Test.HelloProxy,
    `Test.HelloServer.HelloObj@tcp -h 127.0.0.1 -p ${port} -t 3000`);
  await settle('echo', 7, (i) => hello.echo(`hi ${i}`));
  await settle('add', 5, (i) => hello.add(i, 1));
  await settle('add-throwing', 3, (i) => hello.add(-1 - i, 1));
  const slow = TarsRpc.client.stringToProxy(Test.HelloProxy,
    `Test.HelloServer.HelloObj@tcp -h 127.0.0.1 -p ${port} -t 3000`);
  slow.setTimeout(300);
  await settle('ping-timeout', 2, () => slow.ping());
  // @tars/rpc settles a one-way call by rejecting it once the request is written.
  for (let i = 0; i < 4; i++) await hello.notify(`n${i}`, { packetType: 1 }).catch(() => {});
  console.log('notify-oneway sent=4');

  const P = Monitor.property.POLICY;
  const queue = Monitor.property.create('queue', [new P.Sum(), new P.Max(), new P.Avg()]);
  [3, 9, 6].forEach((v) => queue.report(v));
  const hits = Monitor.property.create('hits', [new P.Count()]);
  for (let i = 0; i < 5; i++) hits.report(1);
  console.log('READY calls');
  // Stay up until killed: @tars/monitor sends its reports from timers.
  setInterval(() => {}, 1000);
}

if (role === 'server') server();
else if (role === 'client') client().catch((e) => {
  console.error(e);
  process.exit(1);
});
else {
  console.error('usage: node monitor-peer.js server | client <port>');
  process.exit(2);
}
