/**
 * The check-run state machine executed: the definition synthesized from lib/, run by aws-local-stepfunctions with
 * every Lambda task bound to its real bundled handler, dynalite as DynamoDB, EC2 answered by aws-sdk-client-mock
 * (the fixture VPC), and the targets in a network namespace this test creates. What the harness emulates (the 256 KB
 * state limit, the Distributed Map's child executions, Lambda's error reporting, the execution-status rule, the
 * callback tasks of on-prem vantages and the Step Functions endpoint that completes them) is listed in
 * test/support/sfn-harness.ts. For on-prem vantages, the API's agent routes are served over local HTTP by the
 * router the API Lambda runs, wired as lambdas/handlers/api/handler.ts wires them (the job store in the table,
 * the Step Functions callbacks adapter, here on the harness's endpoint), and the agent is a real process
 * (`node bin/preflight.js agent`).
 */
import type { Server } from 'node:http';
import { DescribeSecurityGroupsCommand, EC2Client, EC2ServiceException } from '@aws-sdk/client-ec2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoAgentJobStore } from '../../lambdas/aws/dynamo-agent-jobs';
import { StepFunctionsCallbacks } from '../../lambdas/aws/sfn-callbacks';
import type { AgentJob } from '../../lambdas/core/agent/jobs';
import { runReadiness } from '../../lambdas/core/finding/readiness';
import { probeStep } from '../../lambdas/core/run/probe-step';
import type { CheckStarter } from '../../lambdas/core/service';
import type { ApiDeps } from '../../lambdas/handlers/api/router';
import { startAgent } from '../support/agent';
import { serveRouter } from '../support/router-server';
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

/** The API's agent routes over local HTTP, wired as the API Lambda wires them (its callbacks on the harness's SFN). */
async function serveAgentRoutes(): Promise<{ url: string; server: Server }> {
  const callbacks = new StepFunctionsCallbacks(
    new SFNClient({
      region: 'eu-west-1',
      endpoint: harness.sfnEndpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
  );
  const deps: ApiDeps = {
    store: harness.store,
    catalog: defaultCatalog(),
    starter: {} as CheckStarter,
    mode: 'aws',
    allowedTargetCidrs: ['198.18.0.0/15'],
    agents: {
      jobs: new DynamoAgentJobStore(harness.dynalite.client, { tableName: harness.dynalite.tableName }),
      onComplete: callbacks.onComplete,
      onHeartbeat: callbacks.onHeartbeat,
      onFail: callbacks.onFail,
    },
  };
  return serveRouter(deps);
}

/**
 * The environment with an on-prem vantage dc1 probing two of the lab's hosts (ingress); `openOnly`: the cloud
 * flows probe only the open port (so that nothing fails and the run's readiness turns on dc1 alone).
 */
function withAgent(name: string, openOnly = false) {
  const env = environment(name);
  return {
    ...env,
    vantages: [
      ...env.vantages,
      { name: 'dc1', placement: 'on-prem', roles: ['migration-appliance'], addresses: ['192.168.10.5'] },
    ],
    flows: [
      ...env.flows.map((f) => (openOnly ? { ...f, ports: String(PORTS.open) } : f)),
      {
        name: 'ingress',
        from: 'dc1',
        to: lab.extraIpv4.slice(0, 2),
        ports: `${PORTS.open},${PORTS.closed}`,
        placement: 'cloud',
      },
    ],
  };
}

describe('the executed state machine with an on-prem vantage', () => {
  let api: { url: string; server: Server };
  beforeAll(async () => {
    api = await serveAgentRoutes();
  });
  afterAll(async () => {
    await new Promise((resolve) => api?.server.close(resolve));
  });

  it("waits in a callback task that a real agent's last page completes (SendTaskSuccess through the API)", async () => {
    // Arrange: the agent polls dc1's jobs before the run starts.
    const env = withAgent('sfn-agent');
    const run = await harness.store.createRun(queuedRun(env.name, 'api'));
    const agent = startAgent(['--api', api.url, '--vantage', 'dc1', '--once']);

    // Act
    const outcome = await harness.execute({
      checkId: run.checkId,
      environmentName: env.name,
      environment: env,
      trigger: 'api',
    });
    const code = await agent.exited;

    // Assert: the agent took the job, probed its 4 ports and posted them; the task completed with them.
    expect(code).toBe(0);
    expect(agent.output()).toMatch(/probed 4 ports in .*: 2 open, 2 closed/);
    expect(outcome).toMatchObject({ status: 'SUCCEEDED' });
    expect(outcome.invocations).toMatchObject({ [STATES.awaitAgent]: 1, 'Probe workers': 3 });
    const findings = (await harness.store.listFindings(run.checkId, { limit: 100 })).items;
    // dc1's shard holds the agent's results; each host's flow has its closed port refused.
    const agentShard = (await data.listShardOutcomes(run.checkId)).find((o) => o.vantage === 'dc1');
    const states = agentShard && 'output' in agentShard ? agentShard.output.results.map((r) => r.state) : [];
    expect(states.sort()).toEqual(['closed', 'closed', 'open', 'open']);
    const ingress = findings.filter((f) => f.direction === 'ingress');
    // (findings in any order: the store lists them by flow id)
    expect(ingress.map((f) => [f.destination, f.verdict]).sort()).toEqual(
      lab.extraIpv4.slice(0, 2).map((host) => [host, 'refused']),
    );
    expect(await harness.store.getRun(run.checkId)).toMatchObject({ status: 'succeeded' });
  }, 90_000);

  it("ends the task at the environment's budget when no agent comes: the flows skipped with the reason, the run INCOMPLETE", async () => {
    // Arrange: no agent for dc1; the environment's probe budget (6 s) is not the deployment's (10 s).
    const base = withAgent('sfn-no-agent', true);
    const env = { ...base, probe: { ...base.probe, budgetSeconds: 6 } };
    const run = await harness.store.createRun(queuedRun(env.name, 'api'));

    // Act
    const outcome = await harness.execute({
      checkId: run.checkId,
      environmentName: env.name,
      environment: env,
      trigger: 'api',
    });

    // Assert: the run went on; dc1's flows are skipped with the reason, the cloud flows probed.
    expect(outcome).toMatchObject({ status: 'SUCCEEDED' });
    const findings = (await harness.store.listFindings(run.checkId, { limit: 100 })).items;
    const ingress = findings.filter((f) => f.direction === 'ingress');
    expect(ingress.length).toBeGreaterThan(0);
    for (const f of ingress) {
      expect(f).toMatchObject({
        verdict: 'skipped',
        cause: 'not probed: no agent for vantage dc1 reported within 6 s',
      });
    }
    expect(findings.filter((f) => f.direction !== 'ingress').every((f) => f.verdict !== 'skipped')).toBe(
      true,
    );
    const closed = await harness.store.getRun(run.checkId);
    expect(runReadiness(closed).decision).toBe('INCOMPLETE');
    // The task ended at the environment's 6 s, not at the deployment's 10 s: nothing heartbeated it.
    expect(outcome.heartbeats).toEqual({});
    expect(outcome.callbacks).toEqual([
      { state: STATES.awaitAgent, ended: 'States.HeartbeatTimeout', waitedMs: expect.any(Number) },
    ]);
    expect(outcome.callbacks[0]!.waitedMs).toBeGreaterThanOrEqual(6_000);
    expect(outcome.callbacks[0]!.waitedMs).toBeLessThan(9_000);
  }, 90_000);

  /**
   * An agent whose timing the test sets, over the same HTTP routes a real agent calls (`preflight agent` has its
   * own: polls, heartbeats every third of its lease, posts when the engine is done): it takes dc1's job, probes its
   * targets with the real engine, and heartbeats, posts or reports a failure when told.
   */
  function scriptedAgent(id: string) {
    const call = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
      const res = await fetch(`${api.url}/agents/dc1/jobs${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return {
        status: res.status,
        body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
      };
    };
    let job: AgentJob | undefined;
    return {
      async take(): Promise<AgentJob> {
        for (;;) {
          const reply = await call('GET', `?agent=${id}&wait=5`);
          if (reply.status === 200) return (job = (reply.body as { job: AgentJob }).job);
        }
      },
      heartbeat: async () => (await call('POST', `/${job!.jobId}/heartbeat`, { agent: id })).status,
      async probeAndPost(): Promise<number> {
        const out = await probeStep(
          { vantage: 'dc1', targets: job!.targets, timeoutMs: 500, retries: 0 },
          { policy: job!.policy },
        );
        const body = { agent: id, page: 0, results: out.results, last: true };
        return (await call('POST', `/${job!.jobId}/results`, body)).status;
      },
      fail: async (reason: string) =>
        (await call('POST', `/${job!.jobId}/fail`, { agent: id, reason })).status,
    };
  }

  /** dc1's environment with a probe budget of 5 s: its callback task's HeartbeatSeconds. */
  function fiveSeconds(name: string) {
    const env = withAgent(name, true);
    return { ...env, probe: { ...env.probe, budgetSeconds: 5 } };
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('keeps a task alive past HeartbeatSeconds while its agent heartbeats; the results posted after the deadline complete it', async () => {
    // Arrange
    const env = fiveSeconds('sfn-heartbeats');
    const run = await harness.store.createRun(queuedRun(env.name, 'api'));
    const agent = scriptedAgent('scripted-beating');
    // Act: the agent takes the job, heartbeats every second for 9 s (past the 5 s), then probes and posts.
    const execution = harness.execute({
      checkId: run.checkId,
      environmentName: env.name,
      environment: env,
      trigger: 'api',
    });
    await agent.take();
    const beats: number[] = [];
    for (let i = 0; i < 9; i++) {
      await sleep(1_000);
      beats.push(await agent.heartbeat());
    }
    const posted = await agent.probeAndPost();
    const outcome = await execution;
    // Assert: one callback task, alive for more than 9 s on heartbeats of a 5 s clock, completed by the results.
    expect(beats.every((status) => status === 200)).toBe(true);
    expect(posted).toBe(200);
    expect(outcome).toMatchObject({ status: 'SUCCEEDED' });
    expect(outcome.callbacks).toEqual([
      { state: STATES.awaitAgent, ended: 'SendTaskSuccess', waitedMs: expect.any(Number) },
    ]);
    expect(outcome.callbacks[0]!.waitedMs).toBeGreaterThan(9_000);
    // the take and the nine heartbeats
    expect(outcome.heartbeats[STATES.awaitAgent]).toBe(10);
    const ingress = (await harness.store.listFindings(run.checkId, { limit: 100 })).items.filter(
      (f) => f.direction === 'ingress',
    );
    expect(ingress.map((f) => [f.destination, f.verdict]).sort()).toEqual(
      lab.extraIpv4.slice(0, 2).map((host) => [host, 'refused']),
    );
  }, 90_000);

  it('fails a task with States.HeartbeatTimeout when its agent stops heartbeating; its late results are refused', async () => {
    // Arrange
    const env = fiveSeconds('sfn-silent');
    const run = await harness.store.createRun(queuedRun(env.name, 'api'));
    const agent = scriptedAgent('scripted-silent');
    // Act: the agent takes the job, heartbeats twice a second apart, then falls silent.
    const execution = harness.execute({
      checkId: run.checkId,
      environmentName: env.name,
      environment: env,
      trigger: 'api',
    });
    await agent.take();
    for (let i = 0; i < 2; i++) {
      await sleep(1_000);
      await agent.heartbeat();
    }
    const outcome = await execution;
    const late = await agent.probeAndPost();
    // Assert: the heartbeats moved the clock (more than 5 s from the start), then 5 s of silence ended the task.
    expect(outcome).toMatchObject({ status: 'SUCCEEDED' });
    expect(outcome.callbacks).toEqual([
      { state: STATES.awaitAgent, ended: 'States.HeartbeatTimeout', waitedMs: expect.any(Number) },
    ]);
    expect(outcome.callbacks[0]!.waitedMs).toBeGreaterThanOrEqual(7_000);
    expect(outcome.callbacks[0]!.waitedMs).toBeLessThan(20_000);
    expect(late).toBe(409);
    const ingress = (await harness.store.listFindings(run.checkId, { limit: 100 })).items.filter(
      (f) => f.direction === 'ingress',
    );
    expect(ingress.length).toBeGreaterThan(0);
    for (const f of ingress)
      expect(f).toMatchObject({
        verdict: 'skipped',
        cause: 'not probed: no agent for vantage dc1 reported within 5 s',
      });
  }, 90_000);

  it('fails the task at once when the agent cannot run the job, its reason on the flows', async () => {
    // Arrange
    const env = withAgent('sfn-cannot', true);
    const run = await harness.store.createRun(queuedRun(env.name, 'api'));
    const agent = scriptedAgent('scripted-cannot');
    // Act
    const execution = harness.execute({
      checkId: run.checkId,
      environmentName: env.name,
      environment: env,
      trigger: 'api',
    });
    await agent.take();
    const reported = await agent.fail('the probe engine failed: EMFILE: too many open files');
    const outcome = await execution;
    // Assert: SendTaskFailure ended the wait long before the 10 s budget.
    expect(reported).toBe(200);
    expect(outcome).toMatchObject({ status: 'SUCCEEDED' });
    expect(outcome.callbacks).toEqual([
      { state: STATES.awaitAgent, ended: 'AgentJobFailed', waitedMs: expect.any(Number) },
    ]);
    expect(outcome.callbacks[0]!.waitedMs).toBeLessThan(8_000);
    const findings = (await harness.store.listFindings(run.checkId, { limit: 100 })).items;
    const ingress = findings.filter((f) => f.direction === 'ingress');
    expect(ingress.length).toBeGreaterThan(0);
    for (const f of ingress)
      expect(f).toMatchObject({
        verdict: 'skipped',
        cause:
          'not probed: the agent for vantage dc1 could not run the job: the probe engine failed: EMFILE: too many open files',
      });
    expect(runReadiness(await harness.store.getRun(run.checkId)).decision).toBe('INCOMPLETE');
  }, 90_000);
});
