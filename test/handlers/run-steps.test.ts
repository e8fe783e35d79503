import { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { DynamoRunData } from '../../lambdas/aws/dynamo-run-data';
import { type RunningDynalite, startDynalite } from '../../lambdas/aws/dynalite';
import { parseEnvironment } from '../../lambdas/core/environment';
import type { ProbeResult } from '../../lambdas/core/probe';
import {
  type EventSink,
  recordStep,
  combineStep,
  planStep,
  STATE_CHANGED,
  type StateChangedDetail,
} from '../../lambdas/core/run/steps';
import { defaultCatalog } from '../../lambdas/core/catalog';
import { type CheckRun, type FindingRecord, queuedRun } from '../../lambdas/core/store';
import type { DeployedVantages } from '../../lambdas/handlers/settings';

// The steps of a check run (start → per shard: load, prober, store → audit → finish, and the Catch's fail) driven
// the way the state machine drives them, against the real embedded store. Probe results are data here: the prober
// is tested in prober.test.ts, and nothing is probed (the 10.x targets are never contacted). The executed state
// machine is tested in test/integration/state-machine.netns.test.ts.

// The handler modules read their settings at import: set them first, then load the modules.
Object.assign(process.env, {
  AWS_REGION: 'eu-west-1',
  TABLE_NAME: 'not-used-by-these-tests',
  VANTAGES: '{}',
  ALLOWED_TARGET_CIDRS: '["10.0.0.0/8"]',
  EVENT_BUS_NAME: 'not-used-by-these-tests',
});
type StartModule = typeof import('../../lambdas/handlers/run/start');
type FinishModule = typeof import('../../lambdas/handlers/run/finish');
type FailModule = typeof import('../../lambdas/handlers/run/fail');
type ParseModule = typeof import('../../lambdas/handlers/run/parse');
type ShardModule = typeof import('../../lambdas/handlers/run/shard');
let start: StartModule['start'];
let finish: FinishModule['finish'];
let fail: FailModule['fail'];
let StepInputError: ParseModule['StepInputError'];
let loadShard: ShardModule['loadShard'];
let storeShard: ShardModule['storeShard'];

const SUBNET = 'subnet-0123456789abcdef0';
const SG = 'sg-0123456789abcdef0';
const OTHER_SG = 'sg-0123456789abcdef1';
const BUDGET_MS = 240_000;

/** Records what the finish step emits. */
class RecordingEvents implements EventSink {
  readonly sent: Array<{ detailType: string; detail: StateChangedDetail }> = [];
  emit(detailType: typeof STATE_CHANGED, detail: StateChangedDetail) {
    this.sent.push({ detailType, detail });
  }
}

/** A clock that moves one second per reading, so that runs sort in the order they were made. */
function steppingClock(from = Date.UTC(2025, 0, 1)): () => Date {
  let t = from;
  return () => new Date((t += 1000));
}

/** An environment (as the parsed JSON the execution input carries) with one or more vantages. */
function environmentJson(
  name: string,
  vantages: Array<{ name: string; sgs?: string[] }> = [{ name: 'workers' }],
) {
  return {
    name,
    vantages: vantages.map((v) => ({
      name: v.name,
      roles: ['target-worker'],
      subnetIds: [SUBNET],
      securityGroupIds: v.sgs ?? [SG],
    })),
    flows: vantages.flatMap((v, i) => [
      { name: `db-${v.name}`, from: v.name, to: [`10.20.${i}.40`], ports: '1433' },
      { name: `web-${v.name}`, from: v.name, to: [`10.20.${i}.41`], ports: '443' },
    ]),
  };
}

const deployed: DeployedVantages = { workers: { subnetIds: [SUBNET], securityGroupIds: [SG] } };

/** A prober's output for a job, every port in `state` unless `states` says otherwise (by host:port). */
function proberOutput(
  job: { vantage: string; targets: Array<{ host: string; ports: number[] }> },
  states: Record<string, ProbeResult['state']> = {},
) {
  const results: ProbeResult[] = job.targets.flatMap((t) =>
    t.ports.map((port) => {
      const state = states[`${t.host}:${port}`] ?? 'open';
      return {
        host: t.host,
        address: t.host,
        port,
        state,
        latencyMs: state === 'open' || state === 'closed' ? 1.2 : null,
        attempts: 1,
        ...(state === 'closed' ? { code: 'ECONNREFUSED' } : {}),
      };
    }),
  );
  return { vantage: job.vantage, results, durationMs: 12 };
}

/** What Step Functions passes between states: JSON, nothing else. */
const overTheWire = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

let dyn: RunningDynalite;
let store: DynamoResultStore;
let data: DynamoRunData;

beforeAll(async () => {
  ({ start } = jest.requireActual<StartModule>('../../lambdas/handlers/run/start'));
  ({ finish } = jest.requireActual<FinishModule>('../../lambdas/handlers/run/finish'));
  ({ fail } = jest.requireActual<FailModule>('../../lambdas/handlers/run/fail'));
  ({ StepInputError } = jest.requireActual<ParseModule>('../../lambdas/handlers/run/parse'));
  ({ loadShard, storeShard } = jest.requireActual<ShardModule>('../../lambdas/handlers/run/shard'));
  dyn = await startDynalite();
  store = new DynamoResultStore(dyn.client, { tableName: dyn.tableName });
  data = new DynamoRunData(dyn.client, { tableName: dyn.tableName });
});
afterAll(async () => {
  await dyn.close();
});

async function findingsOf(checkId: string): Promise<FindingRecord[]> {
  return (await store.listFindings(checkId, { limit: 100 })).items;
}

/** The API's side of a check: the queued run and the execution input the starter sends. */
async function queued(env: ReturnType<typeof environmentJson>, now: () => Date) {
  const run = await store.createRun(queuedRun(env.name, 'api', now()));
  return {
    run,
    input: { checkId: run.checkId, environmentName: env.name, environment: env, trigger: 'api' },
  };
}

/** The rejection of `promise`, failing the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

type Job = Awaited<ReturnType<ShardModule['loadShard']>>;

/** Each shard's job as the Map's load step hands it to the prober. */
async function jobsOf(started: { checkId: string; shards: number[] }, now?: () => Date): Promise<Job[]> {
  return Promise.all(
    started.shards.map(async (shard) =>
      overTheWire(
        await loadShard(overTheWire({ checkId: started.checkId, shard }), { data, ...(now ? { now } : {}) }),
      ),
    ),
  );
}

/**
 * The Map: every shard's prober answers (`states` by host:port, else open) unless `errors` names its shard, and
 * the store step keeps the outcome. Returns the summaries the Map would discard.
 */
async function probeShards(
  started: { checkId: string; shards: number[] },
  states: Record<string, ProbeResult['state']> = {},
  errors: Record<number, { Error: string; Cause?: string }> = {},
) {
  const summaries = [];
  for (const job of await jobsOf(started)) {
    const error = errors[job.shard];
    const state = error ? { ...job, error } : { ...job, probe: proberOutput(job, states) };
    summaries.push(overTheWire(await storeShard(overTheWire(state), { data })));
  }
  return summaries;
}

/** The finish step's input as the state machine has it after a successful audit. */
const afterAudit = (started: { checkId: string; shards: number[] }) =>
  overTheWire({ ...started, audit: { checkId: started.checkId, audits: 0 } });

/** Stores the audit the auditor would have stored (none here: no inventory). */
const auditSkipped = (checkId: string) =>
  data.putAudit(checkId, { audits: [], skipped: 'no inventory in this test' });

describe('start', () => {
  it('takes the queued run of the API, marks it running, stores its shards and hands out only their numbers', async () => {
    // Arrange
    const now = steppingClock();
    const env = environmentJson('steps-api');
    const { run, input } = await queued(env, now);

    // Act
    const out = overTheWire(
      await start(overTheWire(input), { store, data, deployed, budgetMs: BUDGET_MS, now }),
    );

    // Assert: the state holds the run and the shard numbers; the plan is in the store
    expect(out).toEqual({ checkId: run.checkId, shards: [1] });
    expect((await data.getPlan(run.checkId)).probeFailures).toEqual([]);
    const loadedAt = now();
    const [job] = await jobsOf(out, () => loadedAt);
    expect(job).toMatchObject({
      checkId: run.checkId,
      shard: 1,
      vantage: 'workers',
      timeoutMs: expect.any(Number),
      retries: expect.any(Number),
    });
    expect(job?.targets.map((t) => `${t.host}:${t.ports.join()}`).sort()).toEqual([
      '10.20.0.40:1433',
      '10.20.0.41:443',
    ]);
    // Each shard's deadline counts from when it is loaded, not from the run's start.
    expect(job?.deadline).toBe(loadedAt.getTime() + BUDGET_MS);
    const stored = await store.getRun(run.checkId);
    expect(stored).toMatchObject({ status: 'running', trigger: 'api', startedAt: expect.any(String) });
  });

  it('creates the run itself when a schedule starts the machine (no checkId)', async () => {
    // Arrange
    const now = steppingClock();
    const env = environmentJson('steps-schedule');
    await store.putEnvironment(parseEnvironment(env, defaultCatalog(), 'environment'));

    // Act
    const out = await start(
      { environmentName: 'steps-schedule', trigger: 'schedule' },
      { store, data, deployed, budgetMs: BUDGET_MS, now },
    );

    // Assert
    const stored = await store.getRun(out.checkId);
    expect(stored).toMatchObject({
      environmentName: 'steps-schedule',
      trigger: 'schedule',
      status: 'running',
    });
    expect((await jobsOf(out)).map((j) => j.vantage)).toEqual(['workers']);
  });

  it('reports a vantage with no deployed prober, or one in other groups, instead of probing it', async () => {
    // Arrange
    const now = steppingClock();
    const env = environmentJson('steps-mismatch', [
      { name: 'workers' },
      { name: 'appliance' },
      { name: 'elsewhere', sgs: [OTHER_SG] },
    ]);
    const withElsewhere: DeployedVantages = {
      ...deployed,
      elsewhere: { subnetIds: [SUBNET], securityGroupIds: [SG] },
    };
    const { run, input } = await queued(env, now);

    // Act
    const out = overTheWire(
      await start(input, { store, data, deployed: withElsewhere, budgetMs: BUDGET_MS, now }),
    );

    // Assert
    expect((await jobsOf(out)).map((j) => j.vantage)).toEqual(['workers']);
    const reasons = Object.fromEntries(
      (await data.getPlan(run.checkId)).probeFailures.map((f) => [f.vantage, f.reason]),
    );
    expect(Object.keys(reasons).sort()).toEqual(['appliance', 'elsewhere']);
    expect(reasons.appliance).toContain('no prober is deployed for vantage "appliance"');
    expect(reasons.appliance).toContain('deployed: elsewhere, workers');
    expect(reasons.elsewhere).toContain(`groups ${SG}`);
    expect(reasons.elsewhere).toContain(`declares subnets ${SUBNET} with groups ${OTHER_SG}`);

    // Act: finish with what the Map of the one matching vantage produced
    await probeShards(out);
    await auditSkipped(out.checkId);
    const finished = await finish(afterAudit(out), { store, data, events: new RecordingEvents(), now });

    // Assert: partial, naming both vantages; their flows are skipped with the reason, the others checked
    expect(finished.status).toBe('partial');
    expect(finished.reason).toContain('the probe of vantage appliance failed: no prober is deployed');
    expect(finished.reason).toContain('the probe of vantage elsewhere failed: the prober of vantage');
    const findings = await findingsOf(run.checkId);
    expect(findings).toHaveLength(6);
    const applianceDb = findings.find((f) => f.destination.startsWith('10.20.1.40'));
    expect(applianceDb?.cause).toContain('no prober is deployed');
    const workersDb = findings.find((f) => f.destination.startsWith('10.20.0.40'));
    expect(workersDb?.verdict).toBe('pass');
  });

  it('plans again when a retried start finds its own run running (the execution is named after the run)', async () => {
    // Arrange: the first attempt marked the run running, then its answer was lost
    const now = steppingClock();
    const env = environmentJson('steps-retry');
    const { run, input } = await queued(env, now);
    const first = await start(input, { store, data, deployed, budgetMs: BUDGET_MS, now });

    // Act
    const second = await start(input, { store, data, deployed, budgetMs: BUDGET_MS, now });

    // Assert
    expect(second).toEqual(first);
    expect((await jobsOf(second)).map((j) => j.targets)).toEqual([
      expect.arrayContaining([{ host: '10.20.0.40', ports: [1433] }]),
    ]);
    expect((await store.getRun(run.checkId)).status).toBe('running');
  });

  it('does not take a run that is closed already, and leaves it as it was', async () => {
    // Arrange
    const now = steppingClock();
    const env = environmentJson('steps-closed');
    const { run, input } = await queued(env, now);
    await store.updateRun(run.checkId, {
      status: 'failed',
      reason: 'stopped by hand',
      finishedAt: now().toISOString(),
    });

    // Act
    const err = await rejection(start(input, { store, data, deployed, budgetMs: BUDGET_MS, now }));

    // Assert
    expect(err.message).toContain(run.checkId);
    expect(await store.getRun(run.checkId)).toMatchObject({ status: 'failed', reason: 'stopped by hand' });
  });
});

describe('finish', () => {
  it('closes a run succeeded with one stored finding per flow, and emits nothing on the first run', async () => {
    // Arrange
    const now = steppingClock();
    const env = environmentJson('steps-success');
    const { run, input } = await queued(env, now);
    const started = overTheWire(await start(input, { store, data, deployed, budgetMs: BUDGET_MS, now }));
    const events = new RecordingEvents();

    await probeShards(started);
    await auditSkipped(started.checkId);

    // Act
    const closed = await finish(afterAudit(started), { store, data, events, now });

    // Assert
    expect(closed).toMatchObject({ checkId: run.checkId, status: 'succeeded', flowCount: 2, changes: [] });
    expect(closed.reason).toBeUndefined();
    expect(closed.finishedAt).toBeDefined();
    const findings = await findingsOf(run.checkId);
    expect(findings).toHaveLength(2);
    expect(findings.every((f) => f.verdict === 'pass' && f.environmentName === 'steps-success')).toBe(true);
    expect(events.sent).toEqual([]);
  });

  it('emits exactly one event per flow whose verdict changed on the next run', async () => {
    // Arrange: a first run where everything is open
    const now = steppingClock();
    const env = environmentJson('steps-changes');
    const events = new RecordingEvents();
    const runOnce = async (states: Record<string, ProbeResult['state']>): Promise<CheckRun> => {
      const { input } = await queued(env, now);
      const s = overTheWire(await start(input, { store, data, deployed, budgetMs: BUDGET_MS, now }));
      await probeShards(s, states);
      await auditSkipped(s.checkId);
      return finish(afterAudit(s), { store, data, events, now });
    };
    const first = await runOnce({});
    const dbFlow = (await findingsOf(first.checkId)).find((f) => f.destination.startsWith('10.20.0.40'))!;

    // Act: the database port now refuses
    const second = await runOnce({ '10.20.0.40:1433': 'closed' });

    // Assert
    expect(second.status).toBe('succeeded');
    expect(second.previousCheckId).toBe(first.checkId);
    expect(second.changes).toEqual([{ flowId: dbFlow.flowId, from: 'pass', to: expect.any(String) }]);
    expect(second.changes?.[0]?.to).not.toBe('pass');
    expect(events.sent).toHaveLength(1);
    expect(events.sent[0]).toEqual({
      detailType: STATE_CHANGED,
      detail: expect.objectContaining({
        checkId: second.checkId,
        previousCheckId: first.checkId,
        environmentName: 'steps-changes',
        flowId: dbFlow.flowId,
        from: 'pass',
      }),
    });

    // Act: nothing changes on a third run
    const third = await runOnce({ '10.20.0.40:1433': 'closed' });

    // Assert
    expect(third.changes).toEqual([]);
    expect(events.sent).toHaveLength(1);
  });

  it('makes the run partial, naming the vantage, when the probe Map caught a prober error', async () => {
    // Arrange
    const now = steppingClock();
    const env = environmentJson('steps-probe-error');
    const { input } = await queued(env, now);
    const s = overTheWire(await start(input, { store, data, deployed, budgetMs: BUDGET_MS, now }));
    const [summary] = await probeShards(
      s,
      {},
      {
        1: { Error: 'Sandbox.Timedout', Cause: '{"errorMessage":"Task timed out after 300.00 seconds"}' },
      },
    );
    await auditSkipped(s.checkId);

    // Act
    const closed = await finish(afterAudit(s), { store, data, events: new RecordingEvents(), now });

    // Assert
    expect(summary).toEqual({
      shard: 1,
      vantage: 'workers',
      ports: 0,
      states: {},
      error: 'Task timed out after 300.00 seconds',
    });
    expect(closed.status).toBe('partial');
    expect(closed.reason).toBe('the probe of vantage workers failed: Task timed out after 300.00 seconds');
    const findings = await findingsOf(s.checkId);
    expect(findings).toHaveLength(2);
    expect(findings.every((f) => f.cause.includes('Task timed out after 300.00 seconds'))).toBe(true);
  });

  it('makes the run partial when the audit failed, keeping the probe answers', async () => {
    // Arrange
    const now = steppingClock();
    const env = environmentJson('steps-audit-error');
    const { input } = await queued(env, now);
    const s = overTheWire(await start(input, { store, data, deployed, budgetMs: BUDGET_MS, now }));

    await probeShards(s);

    // Act
    const closed = await finish(
      overTheWire({
        ...s,
        // The audit's Catch keeps the state and puts the error beside it.
        auditError: {
          Error: 'Ec2InventoryError',
          Cause: JSON.stringify({
            errorType: 'Ec2InventoryError',
            errorMessage: 'DescribeSecurityGroups: UnauthorizedOperation',
          }),
        },
      }),
      { store, data, events: new RecordingEvents(), now },
    );

    // Assert
    expect(closed.status).toBe('partial');
    expect(closed.reason).toBe(
      'the audit failed: Ec2InventoryError: DescribeSecurityGroups: UnauthorizedOperation',
    );
    expect((await findingsOf(s.checkId)).map((f) => f.verdict)).toEqual(['pass', 'pass']);
  });

  it('returns a closed run unchanged when a retried finish comes again, emitting nothing twice', async () => {
    // Arrange: a first run, then a second one with a change, finished once
    const now = steppingClock();
    const env = environmentJson('steps-finish-retry');
    const events = new RecordingEvents();
    const finishInput = async (states: Record<string, ProbeResult['state']>) => {
      const { input } = await queued(env, now);
      const s = overTheWire(await start(input, { store, data, deployed, budgetMs: BUDGET_MS, now }));
      await probeShards(s, states);
      await auditSkipped(s.checkId);
      return afterAudit(s);
    };
    await finish(await finishInput({}), { store, data, events, now });
    const again = await finishInput({ '10.20.0.41:443': 'closed' });
    const once = await finish(again, { store, data, events, now });

    // Act
    const twice = await finish(again, { store, data, events, now });

    // Assert
    expect(events.sent).toHaveLength(1);
    expect(twice).toEqual(once);
  });
});

describe('fail', () => {
  it('closes a run without findings failed, with the reason the failing state gave', async () => {
    // Arrange
    const now = steppingClock();
    const env = environmentJson('steps-fail');
    const { input } = await queued(env, now);
    const s = await start(input, { store, data, deployed, budgetMs: BUDGET_MS, now });

    // Act
    const out = await fail(
      {
        checkId: s.checkId,
        error: { Error: 'States.Timeout', Cause: 'the state timed out' },
      },
      { store, now },
    );

    // Assert
    expect(out).toEqual({
      checkId: s.checkId,
      status: 'failed',
      reason: 'States.Timeout: the state timed out',
    });
    expect(await store.getRun(s.checkId)).toMatchObject({
      status: 'failed',
      reason: 'States.Timeout: the state timed out',
      finishedAt: expect.any(String),
    });
  });

  it('closes a run partial when findings were recorded before the failure', async () => {
    // Arrange: the finish step recorded the findings, then died
    const now = steppingClock();
    const env = environmentJson('steps-fail-partial');
    const { run, input } = await queued(env, now);
    const s = await start(input, { store, data, deployed, budgetMs: BUDGET_MS, now });
    const { plan } = await planStep(
      { environment: parseEnvironment(env, defaultCatalog()) },
      defaultCatalog(),
    );
    const findings = await combineStep({
      plan,
      probes: (await jobsOf(s)).map((j) => proberOutput(j)),
      audit: { audits: [] },
    });
    await recordStep(store, await store.getRun(run.checkId), findings);

    // Act
    const out = await fail(
      {
        checkId: s.checkId,
        error: {
          Error: 'Lambda.Unknown',
          Cause: '{"errorMessage":"out of memory","errorType":"Runtime.OutOfMemory"}',
        },
      },
      { store, now },
    );

    // Assert
    expect(out).toEqual({
      checkId: s.checkId,
      status: 'partial',
      reason: 'Runtime.OutOfMemory: out of memory',
    });
    expect(await findingsOf(s.checkId)).toHaveLength(2);
  });

  it('leaves a run that is closed already as it is', async () => {
    // Arrange
    const now = steppingClock();
    const env = environmentJson('steps-fail-closed');
    const { input } = await queued(env, now);
    const s = overTheWire(await start(input, { store, data, deployed, budgetMs: BUDGET_MS, now }));
    await probeShards(s);
    await auditSkipped(s.checkId);
    await finish(afterAudit(s), { store, data, events: new RecordingEvents(), now });
    const before = await store.getRun(s.checkId);

    // Act
    const out = await fail({ checkId: s.checkId, error: { Error: 'States.TaskFailed' } }, { store, now });

    // Assert
    expect(out.status).toBe('succeeded');
    expect(await store.getRun(s.checkId)).toEqual(before);
  });

  it('answers with the reason when the execution names a run that is not in the table', async () => {
    // Arrange: a well-formed id that no run has
    const checkId = queuedRun('steps-fail-missing', 'api', new Date(Date.UTC(2024, 0, 1))).checkId;

    // Act
    const out = await fail({ checkId, error: { Error: 'NotFoundError', Cause: 'no such run' } }, { store });

    // Assert
    expect(out.status).toBeUndefined();
    expect(out.checkId).toBe(checkId);
    expect(out.reason).toContain('NotFoundError: no such run');
    expect(out.reason).toContain(`no run ${checkId} to close`);
  });

  it('answers with the reason alone when no run was created (the schedule start failed first)', async () => {
    // Act
    const out = await fail(
      { error: { Error: 'NotFoundError', Cause: '{"errorMessage":"no environment named \\"gone\\""}' } },
      { store },
    );

    // Assert
    expect(out).toEqual({ reason: 'no environment named "gone"' });
  });
});

describe('bad step inputs', () => {
  it('are refused with a StepInputError naming the field and the value', async () => {
    // Arrange
    const deps = { store, data, deployed, budgetMs: BUDGET_MS };

    // Act
    const badTrigger = await rejection(start({ environmentName: 'x', trigger: 'cron' }, deps));
    const badCheckId = await rejection(
      finish(
        { checkId: 'not-a-check', audit: { audits: 0 } },
        { store, data, events: new RecordingEvents() },
      ),
    );
    const badProbeItem = await rejection(
      storeShard(
        { checkId: '01J9ZK3V8Q4W5X6Y7Z8A9B0C1D', shard: 1, vantage: 'w', probe: { vantage: 'w' } },
        { data },
      ),
    );
    const badShard = await rejection(
      loadShard({ checkId: '01J9ZK3V8Q4W5X6Y7Z8A9B0C1D', shard: 0 }, { data }),
    );
    const badError = await rejection(
      fail({ checkId: '01J9ZK3V8Q4W5X6Y7Z8A9B0C1D', error: 'boom' }, { store }),
    );
    const unknownField = await rejection(
      start({ environmentName: 'x', trigger: 'api', checkid: '01J9ZK3V8Q4W5X6Y7Z8A9B0C1D' }, deps),
    );

    // Assert
    for (const err of [badTrigger, badCheckId, badProbeItem, badShard, badError, unknownField])
      expect(err).toBeInstanceOf(StepInputError);
    expect(badTrigger.message).toContain('the execution input is not valid');
    expect(badTrigger.message).toContain('trigger: "cron" is not one of "api", "schedule", "cli"');
    expect(badCheckId.message).toContain('checkId');
    expect(badCheckId.message).toContain('"not-a-check"');
    expect(badProbeItem.message).toContain('probe.results');
    expect(badShard.message).toContain('shard: 0 is not a shard number');
    expect(badError.message).toContain('error: expected object, got "boom"');
    expect(unknownField.message).toContain('unknown field "checkid"');
  });

  it('refuses an environment that does not validate, naming the field, and stores nothing', async () => {
    // Arrange
    const env = { ...environmentJson('steps-bad-env'), vantages: [] };

    // Act
    const err = await rejection(
      start(
        { environmentName: 'steps-bad-env', environment: env, trigger: 'schedule' },
        {
          store,
          data,
          deployed,
          budgetMs: BUDGET_MS,
        },
      ),
    );

    // Assert
    expect(err.message).toContain('environment: vantages: at least one vantage is needed');
    expect((await store.listRuns('steps-bad-env', { limit: 10 })).items).toEqual([]);
  });
});
