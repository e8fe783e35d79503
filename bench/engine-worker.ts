/**
 * One probe engine in a process of its own, for the agents benchmark's floor: for each line `{"host","from","to"}`
 * on stdin it probes that host's ports (as an agent's job would: the engine's defaults, a 1 s ceiling) and writes
 * `{"ms"}` on stdout. No service, no API, no store: what three probing processes cost each other on this machine.
 */
import { createInterface } from 'node:readline';
import { expandPorts } from '../lambdas/core/ports';
import { probe } from '../lambdas/core/probe';

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const { host, from, to } = JSON.parse(line) as { host: string; from: number; to: number };
  const started = performance.now();
  void probe([{ host, ports: expandPorts([{ from, to }]) }], { timeoutMs: 1000 }).then(() => {
    process.stdout.write(`${JSON.stringify({ ms: performance.now() - started })}\n`);
  });
});
