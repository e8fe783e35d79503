'use strict';
/**
 * Runs inside a test's own network namespace (started with `ip netns exec NS node rebind-lab.js CONFIG`): a
 * rebinding DNS server on 127.0.0.1:53 (the namespace's resolv.conf points at it) and TCP listeners that report
 * every connection they get. CONFIG is JSON: `{ "name": "x.test", "answers": ["127.0.0.1", "127.0.0.2"],
 * "listen": ["127.0.0.1:9000", "127.0.0.2:9000"] }`. The n-th A query for the name is answered with answers[n]
 * (the last one once the list runs out); AAAA queries get no address; any other name is NXDOMAIN.
 * Prints one JSON line per event: {"ready":true}, {"query":"A","answer":"127.0.0.1"},
 * {"connect":"127.0.0.2:9000"}.
 */
const dgram = require('node:dgram');
const net = require('node:net');
const { Buffer } = require('node:buffer');

const config = JSON.parse(process.argv[2]);
const say = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
let aQueries = 0;

/** Reads the question's name (labels) from a DNS query; returns the name and the offset after it. */
function readName(msg, offset) {
  const labels = [];
  for (;;) {
    const len = msg[offset];
    offset += 1;
    if (len === 0 || len === undefined) break;
    labels.push(msg.subarray(offset, offset + len).toString('ascii'));
    offset += len;
  }
  return { name: labels.join('.').toLowerCase(), offset };
}

function answer(msg) {
  const { name, offset } = readName(msg, 12);
  const qtype = msg.readUInt16BE(offset);
  const question = msg.subarray(12, offset + 4);
  const known = name === config.name.toLowerCase().replace(/\.$/, '');
  let records = [];
  if (known && qtype === 1) {
    const address = config.answers[Math.min(aQueries, config.answers.length - 1)];
    aQueries += 1;
    say({ query: 'A', answer: address });
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    rr.writeUInt16BE(1, 2); // A
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(0, 6); // TTL 0: never cached
    rr.writeUInt16BE(4, 10);
    address.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
    records = [rr];
  }
  const header = Buffer.alloc(12);
  header.writeUInt16BE(msg.readUInt16BE(0), 0); // id
  header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2); // response, RD, RA; NXDOMAIN for unknown names
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  return Buffer.concat([header, question, ...records]);
}

async function main() {
  const dns = dgram.createSocket('udp4');
  dns.on('message', (msg, rinfo) => {
    try {
      dns.send(answer(msg), rinfo.port, rinfo.address);
    } catch (err) {
      say({ error: String(err) });
    }
  });
  await new Promise((resolve) => dns.bind(53, '127.0.0.1', resolve));
  for (const spec of config.listen) {
    const [host, port] = spec.split(':');
    const server = net.createServer((socket) => {
      say({ connect: spec });
      socket.on('error', () => undefined);
      socket.destroy();
    });
    await new Promise((resolve) => server.listen(Number(port), host, resolve));
  }
  say({ ready: true });
}

main().catch((err) => {
  say({ error: String(err) });
  process.exit(1);
});
