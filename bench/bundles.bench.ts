/**
 * The Lambda bundles: each function built exactly as the CDK app builds it (`buildBundle` in lib/bundling.ts),
 * its size, and the time to load it cold — `require(bundle)` in a fresh `node` process, measured inside that
 * process (the median of 7 processes), beside the whole process's wall time and that of an empty `node -e 0`.
 * Goals: the prober under 100 KB and under 50 ms to load; every bundle under 1.5 MB.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildBundle, FUNCTIONS, type FunctionName, PROJECT_ROOT, SAMPLE_LAMBDA_ENV } from '../lib/bundling';

const RUNS = 7;
const PROBER_MAX_BYTES = 100 * 1024;
const PROBER_MAX_LOAD_MS = 50;
const ANY_MAX_BYTES = 1.5 * 1024 * 1024;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** One fresh process: the time `require` took inside it, and the process's wall time. */
function loadOnce(file: string | undefined): { requireMs: number; wallMs: number } {
  const script =
    file === undefined
      ? '0'
      : `const t = performance.now(); require(${JSON.stringify(file)}); process.stdout.write(String(performance.now() - t));`;
  const started = performance.now();
  const out = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, ...SAMPLE_LAMBDA_ENV, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1' },
    encoding: 'utf8',
  });
  const wallMs = performance.now() - started;
  if (out.status !== 0) throw new Error(`loading ${file ?? 'node'} failed: ${out.stderr}`);
  return { requireMs: file === undefined ? 0 : Number(out.stdout), wallMs };
}

export async function benchBundles(out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const dir = join(PROJECT_ROOT, 'bench', 'out', 'bundles');
  const baseline = median(Array.from({ length: RUNS }, () => loadOnce(undefined).wallMs));
  out.write(
    `node ${process.version}; an empty \`node -e 0\` takes ${baseline.toFixed(0)} ms (median of ${RUNS})\n`,
  );
  out.write('function   size        require (cold, median)   process wall   goal\n');
  let failures = 0;
  for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
    const bundle = await buildBundle(name, dir);
    const runs = Array.from({ length: RUNS }, () => loadOnce(bundle.file));
    const requireMs = median(runs.map((r) => r.requireMs));
    const wallMs = median(runs.map((r) => r.wallMs));
    const maxBytes = name === 'probe' ? PROBER_MAX_BYTES : ANY_MAX_BYTES;
    const met = bundle.bytes < maxBytes && (name !== 'probe' || requireMs < PROBER_MAX_LOAD_MS);
    if (!met) failures++;
    const goal =
      name === 'probe'
        ? `< 100 KB and < ${PROBER_MAX_LOAD_MS} ms: ${met ? 'met' : 'MISSED'}`
        : `< 1.5 MB: ${met ? 'met' : 'MISSED'}`;
    out.write(
      `${name.padEnd(10)} ${(bundle.bytes / 1024).toFixed(1).padStart(7)} KB  ${requireMs.toFixed(1).padStart(8)} ms${' '.repeat(16)}${wallMs.toFixed(0).padStart(6)} ms   ${goal}\n`,
    );
  }
  out.write(
    '(the AWS SDK v3 is provided by the Lambda runtime and loaded from node_modules here, not counted in size)\n',
  );
  if (failures > 0) out.write(`${failures} bundle(s) missed their goal\n`);
}
