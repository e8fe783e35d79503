/**
 * One wave through the executed state machine, in a process of its own so that its peak memory is its own:
 * `node --import tsx bench/wave-one.ts HOSTS` prints one JSON line of figures. `wave.bench.ts` runs it per size.
 *
 * The wave: a PrimaryIO HDM environment whose vantage probes HOSTS hosts on every TCP port of the catalog's HDM
 * profile (65 ports), each host an address of a network namespace that silently drops every one of those ports
 * (as behind a missing firewall rule). The probe settings are the engine's defaults (3 s timeout, 256 sockets,
 * 2 retries) and the shard budget is the deployment's default (240 s): real timeouts, nothing scaled down. EC2 is
 * answered by aws-sdk-client-mock with the fixture VPC (as in the integration test).
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoRunData } from '../lambdas/aws/dynamo-run-data';
import { defaultCatalog } from '../lambdas/core/catalog';
import { expandPorts } from '../lambdas/core/ports';
import { queuedRun } from '../lambdas/core/store';
import { mockTheVpc } from '../test/support/ec2-vpc';
import { createLab } from '../test/support/netlab';
import { createHarness } from '../test/support/sfn-harness';

const WORKERS = {
  name: 'workers',
  subnetIds: ['subnet-0a1b2c3d4e5f60001'],
  securityGroupIds: ['sg-0a1b2c3d4e5f60aa1'],
};

/** Every TCP port of the HDM profile's requirements. */
export function hdmPorts(): number[] {
  const profile = defaultCatalog().profiles.find((p) => p.id === 'primaryio-hdm');
  if (!profile) throw new Error('the catalog has no primaryio-hdm profile');
  const ports = new Set<number>();
  for (const r of profile.requirements)
    if (r.protocol === 'tcp') for (const p of expandPorts(r.ports)) ports.add(p);
  return [...ports].sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const hosts = Number(process.argv[2]);
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > 1000)
    throw new Error(`hosts: give 1 to 1000 (got ${process.argv[2]})`);
  const ports = hdmPorts();
  const lab = await createLab({ dropPorts: ports, extraIpv4Hosts: hosts, ipv6: false });
  const harness = await createHarness({ vantages: [WORKERS], allowedTargetCidrs: ['198.18.0.0/15'] });
  mockTheVpc(mockClient(EC2Client));
  try {
    const name = `wave-${hosts}`;
    const environment = {
      name,
      profiles: ['primaryio-hdm'],
      vantages: [{ ...WORKERS, roles: ['hdm-cloud-cache'] }],
      flows: [{ name: 'hdm-ports', from: 'workers', to: [...lab.extraIpv4], ports: ports.join(',') }],
    };
    const run = await harness.store.createRun(queuedRun(name, 'api'));
    // The process holds the CDK synthesis and the bundles by now: the execution's own growth is measured apart.
    const rssBefore = process.memoryUsage.rss();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage.rss())), 50);
    const outcome = await harness
      .execute({ checkId: run.checkId, environmentName: name, environment, trigger: 'api' })
      .finally(() => clearInterval(sampler));
    const data = new DynamoRunData(harness.dynalite.client, { tableName: harness.dynalite.tableName });
    const plan = await data.getPlan(run.checkId);
    let pairs = 0;
    let skipped = 0;
    for (const o of await data.listShardOutcomes(run.checkId)) {
      if (!('output' in o)) continue;
      pairs += o.output.results.length;
      skipped += o.output.results.filter((r) => r.state === 'skipped').length;
    }
    const closed = await harness.store.getRun(run.checkId);
    process.stdout.write(
      `${JSON.stringify({
        hosts,
        pairs,
        wallMs: outcome.wallMs,
        shards: plan.shardCount,
        skipped,
        maxStatePayloadBytes: outcome.maxStatePayloadBytes,
        largestAt: outcome.largestAt,
        runStatus: closed.status,
        executionStatus: outcome.status,
        flows: closed.flowCount,
        peakRssBytes: process.resourceUsage().maxRSS * 1024,
        rssBeforeExecutionBytes: rssBefore,
        executionPeakRssBytes: rssPeak,
        ...(closed.reason ? { reason: closed.reason } : {}),
      })}\n`,
    );
  } finally {
    await harness.close();
    await lab.destroy();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`wave failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
