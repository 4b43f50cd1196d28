// An npm @tars/rpc client that finds Test.HelloServer.HelloObj through a registry: the
// Communicator's `locator` property names tars.tarsregistry.QueryObj at 127.0.0.1:<port> and the
// proxy is created from the bare object name, so @tars/rpc's own EndpointManager resolves it
// (findObjectByIdInSameGroup, or findObjectByIdInSameSet when a SET is given) and then calls the
// endpoints it got. Nothing here is specific to tars-rs.
// Usage:
//   node rpc-locator-client.js <registry port> <tag> [--set <name.area.group>]
// Makes calls that check results, then sends one-way notify(<tag>) 20 times (round-robin over
// the resolved endpoints, so every endpoint gets one). Prints "<n> passed, <m> failed".
'use strict';
const assert = require('assert');
const TarsRpc = require('@tars/rpc');
const { Test } = require('./hello-tars.js');

const port = parseInt(process.argv[2] || '0', 10);
const tag = process.argv[3];
const setIndex = process.argv.indexOf('--set');
const setName = setIndex > 0 ? process.argv[setIndex + 1] : '';
if (!(port > 0) || !tag) {
  console.error('usage: node rpc-locator-client.js <registry port> <tag> [--set <name.area.group>]');
  process.exit(2);
}

const client = TarsRpc.client;
client.setProperty('locator', `tars.tarsregistry.QueryObj@tcp -h 127.0.0.1 -p ${port}`);
const hello = client.stringToProxy(Test.HelloProxy, 'Test.HelloServer.HelloObj', setName);

const checks = [
  ['the first call waits for the registry and succeeds', async () => {
    const r = (await hello.add(20, 22)).response;
    assert.strictEqual(r.return, 0);
    assert.strictEqual(r.arguments.sum, 42);
  }],
  ['calls spread over the resolved endpoints succeed', async () => {
    for (let i = 0; i < 20; i++) {
      const r = (await hello.echo(`hello ${i}`)).response;
      assert.strictEqual(r.return, `hello ${i}`.length);
      assert.strictEqual(r.arguments.r, `hello ${i}`);
    }
  }],
  ['one-way notify goes out to every endpoint', async () => {
    for (let i = 0; i < 20; i++) {
      // @tars/rpc rejects one-way calls locally ("one way call do not need response").
      await hello.notify(tag, { packetType: 1 }).catch(() => {});
    }
    // A two-way call after them: on each connection it is answered after the notifies.
    for (let i = 0; i < 4; i++) await hello.ping();
  }],
];

(async () => {
  let passed = 0;
  let failed = 0;
  for (const [name, check] of checks) {
    try {
      await check();
      passed++;
      console.log(`ok   ${name}`);
    } catch (err) {
      failed++;
      console.log(`FAIL ${name}: ${err && (err.stack || JSON.stringify(err.response || err))}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  client.destroy();
  process.exit(failed === 0 ? 0 : 1);
})();
