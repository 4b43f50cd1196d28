// An npm @tars/rpc client making dyed and undyed calls of Test.Hello.seenDyeing
// (conformance/idl/Hello.tars) on a server at 127.0.0.1:<port>, and printing what the server saw.
// Usage:
//   node dye-client.js <port> [--tup | --tup2]
// Prints one line per call, `SEEN {"call":<label>,"dyed":<bool>,"key":<string>}`, then `DONE`;
// exits non-zero when a call fails. The caller (conformance/tests/dyeing_interop.rs) checks the
// lines.
//
// A call is dyed the way @tars/rpc applications do it: the last argument of a proxy method is the
// call's property object, and `{dyeing: <TarsDyeing object>}` dyes the call
// (ObjectProxy.tars_invoke copies `property.dyeing`; rpc-tars/tars-client.js compose() then sets
// `iMessageType |= 0x04` and status["STATUS_DYED_KEY"] = `dyeing.key || ''` when
// `dyeing.dyeing` is true). The TarsDyeing object comes from @tars/dyeing's `gen(dyeing, key)`,
// the module @tars/rpc's own TarsCurrent.getDyeingObj() builds them with (a servant passes
// `{dyeing: current.getDyeingObj()}` on to dye its downstream calls).
'use strict';
const path = require('path');
const TarsRpc = require('@tars/rpc');
const TarsStream = require('@tars/stream');
const { Test } = require('./hello-tars.js');
// @tars/dyeing as @tars/rpc itself resolves it (it is a dependency of @tars/rpc, not of ours).
const Dyeing = require(require.resolve('@tars/dyeing', {
  paths: [path.dirname(require.resolve('@tars/rpc'))],
}));

const port = parseInt(process.argv[2] || '0', 10);
const tupVersion = process.argv.includes('--tup2') ? TarsStream.Tup.TUP_COMPLEX
  : process.argv.includes('--tup') ? TarsStream.Tup.TUP_SIMPLE : 0;
if (!(port > 0)) {
  console.error('usage: node dye-client.js <port> [--tup | --tup2]');
  process.exit(2);
}

const hello = TarsRpc.client.stringToProxy(Test.HelloProxy,
  `Test.HelloServer.HelloObj@tcp -h 127.0.0.1 -p ${port} -t 3000`);
if (tupVersion !== 0) hello._worker.version = tupVersion;

// [label, property passed as the proxy method's last argument]
const CALLS = [
  ['plain', undefined],
  ['dyed', { dyeing: Dyeing.gen(true, 'user-42') }],
  // gen() leaves `key` out when it is empty; compose() then sends STATUS_DYED_KEY = ''.
  ['dyed-empty-key', { dyeing: Dyeing.gen(true, '') }],
  // A TarsDyeing object that says "not dyed": compose() neither sets the bit nor the key.
  ['not-dyed-object', { dyeing: Dyeing.gen(false, 'ignored') }],
  // The property object without dyeing (a context only).
  ['context-only', { context: { k: 'v' } }],
  ['dyed-again', { dyeing: Dyeing.gen(true, 'order-7') }],
];

(async () => {
  for (const [label, property] of CALLS) {
    const r = property === undefined ? await hello.seenDyeing() : await hello.seenDyeing(property);
    const seen = { call: label, dyed: r.response.return, key: r.response.arguments.dyeKey };
    console.log(`SEEN ${JSON.stringify(seen)}`);
  }
  console.log('DONE');
  process.exit(0);
})().catch((err) => {
  console.error('call failed:', err && (err.stack || err.message || err), err && err.response);
  process.exit(1);
});
