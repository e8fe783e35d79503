/**
 * A migration wave through the executed state machine (see bench/wave-one.ts for the wave and the harness): 100,
 * 300 and 1,000 hosts × the 65 HDM ports, every port silently dropped, each size in a process of its own. Prints
 * the wall time of the execution, the shards, the ports left `skipped` (goal: 0), the largest state payload (goal:
 * under 64 KB whatever the size), the run's status and the process's memory. `BENCH_JSON=1` prints one JSON object
 * per size (one per line) with `hosts`, `wallMs`, `shards`, `skipped`, `maxStatePayloadBytes`, `runStatus` and the
 * other figures; `BENCH_WAVE_SIZES=100,300` picks the sizes.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const SIZES = [100, 300, 1000];
const PAYLOAD_GOAL = 64 * 1024;

export interface WaveFigures {
  readonly hosts: number;
  readonly pairs: number;
  readonly wallMs: number;
  readonly shards: number;
  readonly skipped: number;
  readonly maxStatePayloadBytes: number;
  readonly largestAt: string;
  readonly runStatus: string;
  readonly executionStatus: string;
  readonly flows: number;
  readonly peakRssBytes: number;
  readonly rssBeforeExecutionBytes: number;
  readonly executionPeakRssBytes: number;
  readonly reason?: string;
}

function runOne(hosts: number): WaveFigures {
  const out = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(__dirname, 'wave-one.ts'), String(hosts)],
    {
      cwd: join(__dirname, '..'),
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1' },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  const line = out.stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{"hosts"'));
  if (out.status !== 0 || line === undefined)
    throw new Error(`the ${hosts}-host wave failed (exit ${out.status}): ${out.stderr.slice(-2000)}`);
  return JSON.parse(line) as WaveFigures;
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;

export async function benchWave(out: NodeJS.WritableStream = process.stdout): Promise<WaveFigures[]> {
  const sizes = (process.env.BENCH_WAVE_SIZES ?? SIZES.join(','))
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
  const json = process.env.BENCH_JSON === '1';
  const all: WaveFigures[] = [];
  for (const hosts of sizes) {
    const f = runOne(hosts);
    all.push(f);
    if (json) {
      out.write(`${JSON.stringify(f)}\n`);
      continue;
    }
    out.write(
      `${String(hosts).padStart(5)} hosts × 65 ports (${f.pairs} pairs, ${f.flows} flows): ${(f.wallMs / 1000).toFixed(1)} s, ` +
        `${f.shards} shards, ${f.skipped} skipped (goal 0), largest state ${(f.maxStatePayloadBytes / 1024).toFixed(1)} KB ` +
        `(${f.largestAt}; goal < 64 KB${f.maxStatePayloadBytes < PAYLOAD_GOAL ? ': met' : ': NOT met'}), run ${f.runStatus}; ` +
        `memory: peak ${mb(f.peakRssBytes)} (process), ${mb(f.rssBeforeExecutionBytes)} before the execution, ` +
        `${mb(f.executionPeakRssBytes)} at its peak\n`,
    );
  }
  return all;
}
