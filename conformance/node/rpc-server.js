// A Node Tars server on npm @tars/rpc hosting Test.HelloServer.HelloObj (conformance/idl/Hello.tars)
// with the reference semantics of conformance/src/hello.rs. Usage:
//   node rpc-server.js <port> [--udp]  -> prints "READY <port>" once serving; runs until killed
// --udp listens on `udp -h 127.0.0.1 -p <port>` instead of TCP (one request per datagram, one
// reply datagram to the sender). Used by conformance/tests/rpc_interop.rs and udp_interop.rs
// (our client -> this server) and by bench/compare-rpc.sh (load target).
'use strict';
const TarsRpc = require('@tars/rpc');
const TarsStream = require('@tars/stream');
const { Test } = require('./hello-tars.js');

const port = parseInt(process.argv[2] || '0', 10);
const udp = process.argv.includes('--udp');
if (!(port > 0)) {
  console.error('usage: node rpc-server.js <port> [--udp]');
  process.exit(2);
}

// UTF-16 code units, which is what both peers count.
function utf16Length(s) { return s.length; }

class HelloImpl extends Test.HelloImp {
  constructor() {
    super();
    this.last = '';
  }
  echo(current, s) { current.sendResponse(utf16Length(s), s); }
  echoItem(current, item) {
    const out = new Test.Item();
    out.id = (item.id + 1) | 0;
    out.name = item.name + '!';
    out.data = item.data;
    out.attrs = item.attrs;
    // Answer from a later turn of the event loop: an asynchronous reply.
    setImmediate(() => current.sendResponse(out));
  }
  echoMap(current, m) {
    const out = new TarsStream.Map(TarsStream.String, TarsStream.Int32);
    m.forEach((key, value) => out.insert(key, (value * 2) | 0));
    current.sendResponse(out);
  }
  echoBytes(current, b) {
    const bytes = Buffer.from(b.toNodeBuffer());
    bytes.reverse();
    current.sendResponse(new TarsStream.BinBuffer(bytes));
  }
  add(current, a, b) { current.sendResponse(0, (a + b) | 0); }
  ping(current) { current.sendResponse(); }
  notify(current, msg) {
    this.last = msg;
    current.sendResponse();
  }
  lastNotify(current) { current.sendResponse(this.last); }
  echoMood(current, m) { current.sendResponse(m); }
  echoRaw(current, s) { current.sendResponse(s); }
  // What @tars/rpc makes of the request's dyeing: TarsCurrent.getDyeingObj() reads
  // `iMessageType & 0x04` and status["STATUS_DYED_KEY"] (`key` is left out when empty).
  seenDyeing(current) {
    const dye = current.getDyeingObj();
    current.sendResponse(dye.dyeing, dye.key || '');
  }
}

const option = new TarsRpc.server.BindAdapterOption();
option.endpoint = `${udp ? 'udp' : 'tcp'} -h 127.0.0.1 -p ${port} -t 60000`;
option.name = 'Test.HelloServer.HelloObjAdapter';
option.servant = 'Test.HelloServer.HelloObj';
// @tars/rpc makes one instance per adapter, so lastNotify sees notify.
option.handleImp = HelloImpl;

const server = TarsRpc.server.createServer();
server.start(option);
// BindAdapter listens synchronously enough for our purposes; report once the port accepts
// (TCP), or once a ping over UDP is answered.
const net = require('net');
function probeUdp(prx, attempt) {
  prx.ping().then(() => console.log(`READY ${port}`), () => {
    if (attempt > 20) {
      console.error('server did not answer over udp');
      process.exit(1);
    }
    setTimeout(() => probeUdp(prx, attempt + 1), 50);
  });
}
if (udp) {
  const prx = TarsRpc.client.stringToProxy(Test.HelloProxy,
    `Test.HelloServer.HelloObj@udp -h 127.0.0.1 -p ${port} -t 60000`);
  prx.setTimeout(500);
  // Give the datagram socket a moment to bind before the first ping.
  setTimeout(() => probeUdp(prx, 0), 50);
}
else (function probe(attempt) {
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
