/**
 * The check-run state machine executed: the definition synthesized from lib/, run by aws-local-stepfunctions with
 * every Lambda task bound to its real bundled handler, dynalite as DynamoDB, EC2 answered by aws-sdk-client-mock
 * (the fixture VPC), and the targets in a network namespace this test creates. What the harness emulates (the 256 KB
 * state limit, the Distributed Map's child executions, Lambda's error reporting, the execution-status rule) is
 * listed in test/support/sfn-harness.ts.
 */
import { DescribeSecurityGroupsCommand, EC2Client, EC2ServiceException } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoRunData } from '../../lambdas/aws/dynamo-run-data';
import { defaultCatalog } from '../../lambdas/core/catalog';
import { parseEnvironment } from '../../lambdas/core/environment';
import { MAX_SHARD_PAIRS } from '../../lambdas/core/run/shards';
import { queuedRun } from '../../lambdas/core/store';
import { STATES } from '../../lib/orchestration';
import { mockTheVpc } from '../support/ec2-vpc';
import { createLab, type Lab } from '../support/netlab';
import { createHarness, type Harness, STATE_LIMIT_BYTES } from '../support/sfn-harness';

// The fixture VPC's workers (test/fixtures/aws): the environment's vantage and the deployed prober agree on them.
const WORKERS = {
  name: 'workers',
  subnetIds: ['subnet-0a1b2c3d4e5f60001'],
  securityGroupIds: ['sg-0a1b2c3d4e5f60aa1'],
};
const HOSTS = 40;
// Ports the engine does not identify: an open one holds its socket only for the connect.
const PORTS = { open: 9100, dropped: 9101, closed: 9102 };

const ec2 = mockClient(EC2Client);
let lab: Lab;
let harness: Harness;
let data: DynamoRunData;

beforeAll(async () => {
  lab = await createLab({
    listenPorts: [PORTS.open],
    dropPorts: [PORTS.dropped],
    extraIpv4Hosts: HOSTS,
    ipv6: false,
  });
  // A 10 s shard budget with these probe settings holds 53 ports a shard: 120 ports make 3 shards.
  harness = await createHarness({
    vantages: [WORKERS],
    allowedTargetCidrs: ['198.18.0.0/15'],
    probeBudgetSeconds: 10,
    maxConcurrentShards: 2,
  });
  data = new DynamoRunData(harness.dynalite.client, { tableName: harness.dynalite.tableName });
}, 120_000);
afterAll(async () => {
  await harness?.close();
  await lab?.destroy();
});
beforeEach(() => {
  ec2.reset();
  mockTheVpc(ec2);
});

function environment(name: string) {
  return {
    name,
    vantages: [{ ...WORKERS, roles: ['target-worker'] }],
    flows: [
      { name: 'wave', from: 'workers', to: [...lab.extraIpv4], ports: `${PORTS.open}-${PORTS.closed}` },
    ],
    probe: { timeoutMs: 500, concurrency: 4, retries: 0 },
  };
}

/** The API's side: the queued run and the execution input its starter sends. */
async function apiInput(name: string) {
  const env = environment(name);
  const run = await harness.store.createRun(queuedRun(name, 'api'));
  return {
    checkId: run.checkId,
    input: { checkId: run.checkId, environmentName: name, environment: env, trigger: 'api' },
  };
}

/** Every probed port's state, read from the shards' stored outcomes. */
async function probedStates(checkId: string): Promise<Record<string, number>> {
  const states: Record<string, number> = {};
  for (const o of await data.listShardOutcomes(checkId))
    if ('output' in o) for (const r of o.output.results) states[r.state] = (states[r.state] ?? 0) + 1;
  return states;
}

describe('the executed check-run state machine', () => {
  it('runs the API path: shards through the Distributed Map, results in the store, every state small', async () => {
    // Arrange
    const { checkId, input } = await apiInput('sfn-api');

    // Act
    const outcome = await harness.execute(input);

    // Assert: the execution and the run
    expect(outcome).toMatchObject({ status: 'SUCCEEDED' });
    const run = await harness.store.getRun(checkId);
    expect(run).toMatchObject({ status: 'succeeded', flowCount: HOSTS });
    // Three shards, each loaded, probed and stored once; the audit and finish once.
    expect(outcome.invocations).toMatchObject({
      [STATES.start]: 1,
      [STATES.loadShard]: 3,
      'Probe workers': 3,
      [STATES.storeShard]: 3,
      [STATES.audit]: 1,
      [STATES.finish]: 1,
    });
    // Every port probed once, as the lab answers it, none skipped.
    expect(await probedStates(checkId)).toEqual({ open: HOSTS, filtered: HOSTS, closed: HOSTS });
    expect((await harness.store.listFindings(checkId, { limit: 100 })).items).toHaveLength(HOSTS);
    // No state carries the results: the largest is a shard's own (its job and its prober's output).
    expect(outcome.maxStatePayloadBytes).toBeLessThan(64 * 1024);
    expect(outcome.largestAt).toMatch(/Probe workers|Store shard/);
    expect(JSON.stringify(outcome.output)).not.toContain(lab.extraIpv4[0]);
    expect(outcome.output).toEqual({ checkId, status: 'succeeded' });
  });

  it('runs the schedule path: the run is created by the start step from the stored environment', async () => {
    // Arrange
    await harness.store.putEnvironment(parseEnvironment(environment('sfn-schedule'), defaultCatalog()));

    // Act
    const outcome = await harness.execute({ environmentName: 'sfn-schedule', trigger: 'schedule' });

    // Assert
    expect(outcome.status).toBe('SUCCEEDED');
    const [run] = (await harness.store.listRuns('sfn-schedule')).items;
    expect(run).toMatchObject({ trigger: 'schedule', status: 'succeeded', flowCount: HOSTS });
    expect(await probedStates(run!.checkId)).toEqual({ open: HOSTS, filtered: HOSTS, closed: HOSTS });
  });

  it('keeps the other shards when a prober dies: its ports are skipped and the run is partial, saying why', async () => {
    // Arrange
    const { checkId, input } = await apiInput('sfn-prober-dies');
    const dies = (payload: unknown) => {
      if ((payload as { shard: number }).shard === 2)
        throw Object.assign(new Error('RequestId: 1 Error: Runtime exited with error: signal: killed'), {
          name: 'Runtime.ExitError',
        });
      return undefined;
    };

    // Act
    const outcome = await harness.execute(input, { faults: { 'Probe workers': dies } });

    // Assert
    expect(outcome.status).toBe('SUCCEEDED');
    const run = await harness.store.getRun(checkId);
    expect(run.status).toBe('partial');
    expect(run.reason).toMatch(
      /the probe of vantage workers failed in 1 of its 3 shards \(\d+ ports skipped\): .*signal: killed/,
    );
    const outcomes = await data.listShardOutcomes(checkId);
    expect(outcomes.map((o) => ('error' in o ? 'failed' : 'probed'))).toEqual(['probed', 'failed', 'probed']);
    expect((await harness.store.listFindings(checkId, { limit: 100 })).items).toHaveLength(HOSTS);
  });

  it('records the run partial when the audit fails, keeping the probes', async () => {
    // Arrange
    ec2.on(DescribeSecurityGroupsCommand).rejects(
      new EC2ServiceException({
        name: 'UnauthorizedOperation',
        message: 'You are not authorized to perform this operation.',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
      }),
    );
    const { checkId, input } = await apiInput('sfn-audit-fails');

    // Act
    const outcome = await harness.execute(input);

    // Assert
    expect(outcome.status).toBe('SUCCEEDED');
    const run = await harness.store.getRun(checkId);
    expect(run.status).toBe('partial');
    expect(run.reason).toMatch(/^the audit failed: .*UnauthorizedOperation/);
    expect(await probedStates(checkId)).toEqual({ open: HOSTS, filtered: HOSTS, closed: HOSTS });
  });

  it('closes a run whose execution failed where no Catch sees it, through the execution-status rule', async () => {
    // Arrange: the finish step dies, and so does the step that records the failure
    const { checkId, input } = await apiInput('sfn-uncaught');
    const dies = () => {
      throw Object.assign(new Error('Runtime exited with error: signal: killed'), {
        name: 'Runtime.ExitError',
      });
    };

    // Act
    const outcome = await harness.execute(input, {
      faults: { [STATES.finish]: dies, [STATES.recordFailure]: dies },
    });

    // Assert: the execution failed and nothing in it closed the run
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe('Runtime.ExitError');
    expect((await harness.store.getRun(checkId)).status).toBe('running');

    // Act: the rule's target (the fail step) gets the execution's end
    await harness.deliverStatusChange(input, outcome);

    // Assert
    const run = await harness.store.getRun(checkId);
    expect(run.status).toBe('failed');
    expect(run.reason).toContain('Runtime exited with error: signal: killed');
  });

  it('fails an execution whose state crosses 256 KB with States.DataLimitExceeded, past every Catch', async () => {
    // Arrange: an auditor that returns its audits in the state, as it did before they went to the store
    const { checkId, input } = await apiInput('sfn-data-limit');
    const oversized = () => ({
      audits: Array.from({ length: 3000 }, (_, i) => ({ flowId: `f-${i}`, note: 'x'.repeat(90) })),
    });

    // Act
    const outcome = await harness.execute(input, { faults: { [STATES.audit]: oversized } });

    // Assert
    expect(outcome).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
    expect(outcome.maxStatePayloadBytes).toBeGreaterThan(STATE_LIMIT_BYTES);
    expect(outcome.invocations[STATES.finish]).toBeUndefined();
    expect(outcome.invocations[STATES.recordFailure]).toBeUndefined();
    expect((await harness.store.getRun(checkId)).status).toBe('running');
  });

  it('names the Distributed Map and bounds a shard by the payload limit', () => {
    expect(harness.stateNames).toEqual(
      expect.arrayContaining([STATES.probe, STATES.loadShard, STATES.storeShard, 'Probe workers']),
    );
    expect(MAX_SHARD_PAIRS).toBeLessThanOrEqual(500);
  });
});
