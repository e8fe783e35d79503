import { benchAgents } from './agents.bench';
import { benchApi } from './api.bench';
import { benchAudit } from './audit.bench';
import { benchBundles } from './bundles.bench';
import { benchChangeSet } from './change-set.bench';
import { benchProbe } from './probe.bench';
import { benchWave } from './wave.bench';

const BENCHES: Record<string, () => Promise<unknown>> = {
  probe: benchProbe,
  audit: benchAudit,
  changeset: benchChangeSet,
  api: benchApi,
  bundles: benchBundles,
  agents: benchAgents,
  wave: benchWave,
};

/** `npm run bench [-- NAME]`: every benchmark (or the one named), each printing its own report. */
async function main(): Promise<void> {
  const only = process.argv[2];
  if (only !== undefined && !(only in BENCHES)) {
    throw new Error(`no benchmark named ${JSON.stringify(only)} (known: ${Object.keys(BENCHES).join(', ')})`);
  }
  for (const [name, run] of Object.entries(BENCHES)) {
    if (only !== undefined && only !== name) continue;
    process.stdout.write(`\n== ${name} ==\n`);
    await run();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
