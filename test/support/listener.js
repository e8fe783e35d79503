'use strict';
// A TCP listener for the network-namespace lab (see netlab.ts). Usage:
//   node listener.js 20001-20333,20400
// Listens on every port of the list on both address families (one dual-stack socket per port),
// prints "ready" once all of them listen, and exits when its stdin closes, so that it never
// outlives the test process that started it, even when that process is killed.
const net = require('node:net');

/** Reads "a-b,c" into a list of ports; the lab passes lists it formatted itself. */
function parsePorts(spec) {
  const ports = [];
  for (const item of spec.split(',').filter((s) => s !== '')) {
    const [from, to = from] = item.split('-').map(Number);
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 1 || to > 65535 || from > to) {
      throw new Error(`bad port item ${JSON.stringify(item)} in ${JSON.stringify(spec)}`);
    }
    for (let p = from; p <= to; p++) ports.push(p);
  }
  return ports;
}

function onConnection(socket) {
  // Scanners reset their connections; an unhandled 'error' would crash the listener.
  socket.on('error', () => {});
  socket.setTimeout(5000, () => socket.destroy());
  socket.resume();
}

function listen(port) {
  return new Promise((resolve, reject) => {
    const server = net.createServer(onConnection);
    server.once('error', reject);
    server.listen({ port, host: '::', ipv6Only: false, backlog: 1024 }, () => {
      server.off('error', reject);
      server.on('error', (err) => process.stderr.write(`listener: port ${port}: ${err.message}\n`));
      resolve(server);
    });
  });
}

async function main() {
  const ports = parsePorts(process.argv[2] || '');
  await Promise.all(ports.map(listen));
  process.stdout.write('ready\n');
}

process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();

main().catch((err) => {
  process.stderr.write(`listener: ${err.message}\n`);
  process.exit(1);
});
