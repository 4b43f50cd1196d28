// EndpointF lists through @tars/registry's own generated EndpointFTars.js (what Node clients
// use to read registry answers). Usage:
//   node endpoints.js encode '<json array of endpoints>'   -> hex of vector<EndpointF> at tag 0
//   node endpoints.js decode <hex>                         -> json array
'use strict';
const S = require('@tars/stream');
const { tars } = require('@tars/registry/EndpointFTars.js');

const FIELDS = ['host', 'port', 'timeout', 'istcp', 'grid', 'groupworkid', 'grouprealid', 'setId', 'qos', 'bakFlag', 'weight', 'weightType'];

const [mode, arg] = process.argv.slice(2);
if (mode === 'encode') {
  const list = S.List(tars.EndpointF);
  for (const e of JSON.parse(arg)) {
    const ep = new tars.EndpointF();
    for (const f of FIELDS) if (e[f] !== undefined) ep[f] = e[f];
    list.push(ep);
  }
  const os = new S.TarsOutputStream();
  os.writeList(0, list);
  console.log(Buffer.from(os.getBinBuffer().toNodeBuffer()).toString('hex'));
} else if (mode === 'decode') {
  const is = new S.TarsInputStream(new S.BinBuffer(Buffer.from(arg, 'hex')));
  const list = is.readList(0, true, S.List(tars.EndpointF));
  console.log(JSON.stringify(list.value.map((ep) => Object.fromEntries(FIELDS.map((f) => [f, ep[f]])))));
} else {
  console.error('usage: node endpoints.js encode <json> | decode <hex>');
  process.exit(2);
}
