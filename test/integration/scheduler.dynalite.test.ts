import { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { type RunningDynalite, startDynalite } from '../../lambdas/aws/dynalite';
import { type Environment, environmentSchema } from '../../lambdas/core/environment';
import { queuedRun } from '../../lambdas/core/store';
import { type ScheduleStarter, startScheduler } from '../../lambdas/local/scheduler';
import { FakeClock } from '../support/fake-clock';

const env = (name: string, schedule?: string): Environment =>
  environmentSchema.parse({
    name,
    vantages: [{ name: 'here', roles: ['target-worker'] }],
    flows: [{ name: 'one', to: ['127.0.0.1'], ports: '443' }],
    ...(schedule !== undefined ? { schedule } : {}),
  });

let dyn: RunningDynalite;
let store: DynamoResultStore;

beforeAll(async () => {
  dyn = await startDynalite();
  store = new DynamoResultStore(dyn.client, { tableName: dyn.tableName });
});
afterAll(async () => {
  await dyn.close();
});

describe('the scheduler on the embedded store', () => {
  it('starts scheduled runs of the stored environments, skips while one is open, and follows changes', async () => {
    // Arrange: more environments than one page of the scheduler's listing, a few of them scheduled
    const clock = new FakeClock(Date.parse('2026-03-10T10:02:30.000Z'));
    for (let i = 0; i < 105; i++) await store.putEnvironment(env(`plain-${String(i).padStart(3, '0')}`));
    await store.putEnvironment(env('zz-every-five', 'cron(0/5 * * * ? *)'));
    await store.putEnvironment(env('zz-hourly', 'rate(1 hour)'));
    const calls: Array<{ name: string; at: string; checkId: string }> = [];
    const pending: Array<Promise<unknown>> = [];
    const starter: ScheduleStarter = {
      async start({ environment, trigger }) {
        const at = clock.now();
        const created = store.createRun(queuedRun(environment.name, trigger, at));
        pending.push(created);
        const run = await created;
        calls.push({ name: environment.name, at: at.toISOString(), checkId: run.checkId });
        return run;
      },
    };
    const logs: string[] = [];
    const scheduler = startScheduler({
      store,
      starter,
      now: clock.now,
      setTimer: clock.setTimer,
      clearTimer: clock.clearTimer,
      refreshMs: 60_000,
      log: (m) => logs.push(m),
    });
    /** Waits for the store calls a firing or a refresh makes (real I/O to dynalite). */
    const settled = async () => {
      await scheduler.refresh();
      await Promise.all(pending);
      for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    };
    const finish = async (checkId: string) => {
      await store.updateRun(checkId, { status: 'running', startedAt: clock.now().toISOString() });
      await store.updateRun(checkId, { status: 'succeeded', finishedAt: clock.now().toISOString() });
    };

    try {
      await scheduler.refresh();

      // Act: 10:05 fires; 10:10 is skipped while the 10:05 run is open
      await clock.advance(2.5 * 60_000, settled);
      const first = calls.map((c) => c.at);
      await clock.advance(5 * 60_000, settled);
      const afterSkip = calls.length;
      await finish(calls[0]!.checkId);
      // The hourly one is removed, a new one appears
      await store.putEnvironment(env('zz-hourly'));
      await store.putEnvironment(env('zz-new', 'rate(10 minutes)'));
      await clock.advance(5 * 60_000, settled); // 10:15 (and refreshes on the way)
      await finish(calls.at(-1)!.checkId);
      await clock.advance(60 * 60_000, settled);

      // Assert
      expect(first).toEqual(['2026-03-10T10:05:00.000Z']);
      expect(afterSkip).toBe(1);
      expect(logs.some((l) => l.includes('zz-every-five') && l.includes('skipped'))).toBe(true);
      const names = new Set(calls.map((c) => c.name));
      expect(names.has('zz-hourly')).toBe(false);
      expect(names.has('zz-new')).toBe(true);
      expect([...names].some((n) => n.startsWith('plain-'))).toBe(false);
      expect(calls.filter((c) => c.name === 'zz-every-five').map((c) => c.at)).toEqual([
        '2026-03-10T10:05:00.000Z',
        '2026-03-10T10:15:00.000Z',
        '2026-03-10T10:20:00.000Z', // then open until the end: every later firing skipped
      ]);
      expect(calls.find((c) => c.name === 'zz-new')?.at).toBe('2026-03-10T10:20:00.000Z');
      const stored = await store.listRuns('zz-every-five', { limit: 10 });
      expect(stored.items.map((r) => r.trigger)).toEqual(['schedule', 'schedule', 'schedule']);
      expect(stored.items.map((r) => r.status).sort()).toEqual(['queued', 'succeeded', 'succeeded']);
    } finally {
      await scheduler.stop();
    }

    // Assert: nothing left armed
    expect(clock.pending).toBe(0);
  });
});
