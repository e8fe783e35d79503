import { benchProbe } from './probe.bench';

/** `npm run bench`: every benchmark, one after the other, each printing its own report. */
async function main(): Promise<void> {
  const only = process.argv[2];
  const benches: Record<string, () => Promise<unknown>> = { probe: benchProbe };
  for (const [name, run] of Object.entries(benches)) {
    if (only !== undefined && only !== name) continue;
    process.stdout.write(`\n== ${name} ==\n`);
    await run();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
