import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { type RunningDynalite, startDynalite } from '../../lambdas/aws/dynalite';
import { type Environment, environmentSchema } from '../../lambdas/core/environment';
import {
  type CheckRun,
  checkIdTime,
  ConflictError,
  CursorError,
  type FindingRecord,
  newCheckId,
  NotFoundError,
  type Page,
  type RunStatus,
  StoreValidationError,
} from '../../lambdas/core/store';

const T0 = Date.parse('2026-03-01T00:00:00.000Z');
const minutes = (n: number) => new Date(T0 + n * 60_000);

function environment(name: string): Environment {
  return environmentSchema.parse({
    name,
    profiles: ['rivermeadow-os'],
    vantages: [
      {
        name: 'workers',
        roles: ['target-worker'],
        subnetIds: ['subnet-0123456789abcdef0'],
        securityGroupIds: ['sg-0123456789abcdef0'],
      },
    ],
    endpoints: { 'source-server': ['10.20.0.15'] },
  });
}

function run(environmentName: string, at: Date, status: RunStatus = 'queued'): CheckRun {
  return {
    checkId: newCheckId(at),
    environmentName,
    trigger: 'api',
    status,
    createdAt: at.toISOString(),
    counts: {},
    flowCount: 0,
  };
}

function finding(r: CheckRun, flowId: string, verdict = 'pass'): FindingRecord {
  return {
    checkId: r.checkId,
    environmentName: r.environmentName,
    flowId,
    createdAt: r.createdAt,
    verdict,
    cause: verdict === 'pass' ? 'every port accepted a connection' : 'blocked by sg-0123456789abcdef0 egress',
    direction: 'egress',
    source: 'vantage workers',
    destination: '10.20.0.15 (source-server)',
    protocol: 'tcp',
    ports: '443,8000-8010',
    requirements: ['rivermeadow-os/https'],
    optional: false,
    detail: { sourceVantage: 'workers', probe: { ports: { open: '443,8000-8010' } } },
  };
}

/** Follows every cursor of a listing. */
async function all<T>(first: (cursor?: string) => Promise<Page<T>>): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await first(cursor);
    items.push(...page.items);
    cursor = page.nextCursor;
    pages++;
  } while (cursor !== undefined && pages < 1000);
  return { items, pages };
}

describe('DynamoResultStore on embedded dynalite', () => {
  let db: RunningDynalite;
  let store: DynamoResultStore;

  beforeAll(async () => {
    db = await startDynalite();
    store = new DynamoResultStore(db.client, { tableName: db.tableName, now: () => minutes(0) });
  });

  afterAll(async () => {
    await db.close();
  });

  it('listens on loopback only', () => {
    expect(db.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('takes a run through its whole life, and refuses to move it backwards or close it twice', async () => {
    // Arrange
    const r = run('life', minutes(1));
    const flows = Array.from({ length: 60 }, (_, i) => `f-${i.toString(16).padStart(12, '0')}`);

    // Act
    await store.createRun(r);
    const running = await store.updateRun(
      r.checkId,
      { status: 'running', startedAt: minutes(2).toISOString() },
      { expectStatus: 'queued' },
    );
    await store.putFindings(
      r.checkId,
      flows.map((f, i) => finding(r, f, i % 3 === 0 ? 'fail' : 'pass')),
    );
    const done = await store.updateRun(r.checkId, {
      status: 'succeeded',
      finishedAt: minutes(3).toISOString(),
      counts: { pass: 40, fail: 20 },
      flowCount: 60,
    });

    // Assert
    expect(running.status).toBe('running');
    expect(running.startedAt).toBe(minutes(2).toISOString());
    expect(done).toEqual(await store.getRun(r.checkId));
    expect(done).toMatchObject({ status: 'succeeded', counts: { pass: 40, fail: 20 }, flowCount: 60 });
    expect(done).not.toHaveProperty('expiresAt');
    await expect(store.createRun(r)).rejects.toThrow(ConflictError);
    await expect(store.updateRun(r.checkId, { status: 'failed', reason: 'again' })).rejects.toThrow(
      /closed already \(succeeded\)/,
    );
    await expect(store.updateRun(r.checkId, { status: 'running' })).rejects.toThrow(ConflictError);
    expect((await store.getRun(r.checkId)).status).toBe('succeeded');
    const { items } = await all((cursor) => store.listFindings(r.checkId, { limit: 7, cursor }));
    expect(items.map((f) => f.flowId)).toEqual(flows);
    expect(items[0]).toEqual(finding(r, flows[0] as string, 'fail'));
  });

  it('refuses to move a running run back to queued, and honours expectStatus', async () => {
    const r = run('life', minutes(4));
    await store.createRun(r);
    await store.updateRun(r.checkId, { status: 'running' });

    await expect(store.updateRun(r.checkId, { status: 'queued' })).rejects.toThrow(
      /cannot go back to queued/,
    );
    await expect(store.updateRun(r.checkId, { reason: 'x' }, { expectStatus: ['queued'] })).rejects.toThrow(
      ConflictError,
    );
    await expect(store.updateRun(newCheckId(minutes(4)), { status: 'running' })).rejects.toThrow(
      NotFoundError,
    );
    await expect(store.getRun('not-an-id')).rejects.toThrow(StoreValidationError);
  });

  describe('runs of an environment', () => {
    const name = 'many-runs';
    const runs: CheckRun[] = [];
    const statusOf = (i: number): RunStatus =>
      i % 4 === 0 ? 'failed' : i % 4 === 1 ? 'partial' : 'succeeded';

    beforeAll(async () => {
      // Arrange: 60 runs a minute apart, created in a shuffled order, plus runs of another environment.
      for (let i = 0; i < 60; i++) runs.push(run(name, minutes(100 + i)));
      const order = runs.map((_, i) => (i * 37) % 60);
      for (const i of order) {
        const r = runs[i] as CheckRun;
        await store.createRun(r);
        await store.updateRun(r.checkId, { status: statusOf(i) });
      }
      for (let i = 0; i < 5; i++) await store.createRun(run('other-env', minutes(100 + i)));
    });

    it('lists them newest first across pages, with no duplicates nor gaps', async () => {
      const { items, pages } = await all((cursor) => store.listRuns(name, { limit: 7, cursor }));

      expect(pages).toBe(9);
      expect(items.map((r) => r.checkId)).toEqual(runs.map((r) => r.checkId).reverse());
    });

    it('gives no cursor on a last page that is exactly full', async () => {
      const page = await store.listRuns(name, { limit: 60 });

      expect(page.items).toHaveLength(60);
      expect(page.nextCursor).toBeUndefined();
      expect((await store.listRuns(name)).items).toHaveLength(25);
    });

    it('lists them between two times, both ends included', async () => {
      const since = minutes(110).toISOString();
      const until = minutes(119).toISOString();

      const { items } = await all((cursor) => store.listRuns(name, { since, until, limit: 3, cursor }));

      expect(items.map((r) => r.createdAt)).toEqual(
        runs
          .slice(10, 20)
          .map((r) => r.createdAt)
          .reverse(),
      );
      const after = await all((cursor) =>
        store.listRuns(name, { since: minutes(150).toISOString(), cursor }),
      );
      expect(after.items).toHaveLength(10);
      const before = await all((cursor) =>
        store.listRuns(name, { until: minutes(104).toISOString(), cursor, limit: 2 }),
      );
      expect(before.items.map((r) => r.checkId)).toEqual(
        runs
          .slice(0, 5)
          .map((r) => r.checkId)
          .reverse(),
      );
    });

    it('lists them by status, also between two times', async () => {
      const failed = await all((cursor) => store.listRuns(name, { status: 'failed', limit: 4, cursor }));
      const expected = runs.filter((_, i) => statusOf(i) === 'failed');

      expect(failed.items.map((r) => r.checkId)).toEqual(expected.map((r) => r.checkId).reverse());
      expect(failed.items.every((r) => r.status === 'failed')).toBe(true);
      const partialEarly = await store.listRuns(name, {
        status: 'partial',
        since: minutes(100).toISOString(),
        until: minutes(109).toISOString(),
      });
      expect(partialEarly.items.map((r) => r.createdAt)).toEqual(
        [minutes(109), minutes(105), minutes(101)].map((d) => d.toISOString()),
      );
      expect((await store.listRuns(name, { status: 'queued' })).items).toEqual([]);
    });

    it('refuses a cursor of another listing, a tampered one and garbage', async () => {
      const first = await store.listRuns(name, { limit: 5 });
      const cursor = first.nextCursor as string;
      const [body, mac] = cursor.split('.') as [string, string];
      const payload = JSON.parse(Buffer.from(body, 'base64url').toString()) as { k: Record<string, string> };
      payload.k.GSI1PK = 'ENV#other-env#RUNS';
      const forged = `${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${mac}`;

      for (const bad of [
        forged,
        `${body}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`,
        'garbage',
        '',
        '....',
        'eyJ2IjoxfQ.AAAAAAAAAAAAAAAAAAAAAA',
        'x'.repeat(5000),
      ]) {
        await expect(store.listRuns(name, { limit: 5, cursor: bad })).rejects.toThrow(
          bad === '' ? StoreValidationError : CursorError,
        );
      }
      await expect(store.listRuns('other-env', { limit: 5, cursor })).rejects.toThrow(CursorError);
      await expect(store.listRuns(name, { limit: 5, cursor, status: 'failed' })).rejects.toThrow(CursorError);
      await expect(store.listFindings(runs[0]!.checkId, { cursor })).rejects.toThrow(CursorError);
      expect((await store.listRuns(name, { limit: 5, cursor })).items).toHaveLength(5);
    });

    it('validates page sizes and times', async () => {
      for (const limit of [0, 101, 2.5, -1]) {
        await expect(store.listRuns(name, { limit })).rejects.toThrow(StoreValidationError);
      }
      await expect(store.listRuns(name, { since: 'yesterday' })).rejects.toThrow(/since/);
      await expect(
        store.listRuns(name, { since: minutes(2).toISOString(), until: minutes(1).toISOString() }),
      ).rejects.toThrow(/since must not be after until/);
      expect((await store.listRuns(name, { limit: 100 })).items).toHaveLength(60);
      expect((await store.listRuns(name, { limit: 1 })).items).toHaveLength(1);
    });
  });

  it("pages one flow's history across runs, newest first", async () => {
    // Arrange: 12 runs of one environment, each with 3 flows; the watched flow fails in every third run.
    const name = 'history';
    const watched = 'f-00000000aaaa';
    const runs: CheckRun[] = [];
    for (let i = 0; i < 12; i++) {
      const r = run(name, minutes(200 + i));
      runs.push(r);
      await store.createRun(r);
      await store.putFindings(r.checkId, [
        finding(r, watched, i % 3 === 0 ? 'fail' : 'pass'),
        finding(r, 'f-00000000bbbb'),
        finding(r, 'f-00000000cccc'),
      ]);
    }
    await store.putFindings(runs[0]!.checkId, [finding(runs[0]!, watched, 'pass')]);

    // Act
    const { items, pages } = await all((cursor) => store.flowHistory(name, watched, { limit: 5, cursor }));

    // Assert
    expect(pages).toBe(3);
    expect(items.map((f) => f.checkId)).toEqual(runs.map((r) => r.checkId).reverse());
    expect(items.every((f) => f.flowId === watched)).toBe(true);
    expect(items.at(-1)?.verdict).toBe('pass');
    expect(items[2]?.verdict).toBe('fail');
    expect((await store.flowHistory('other-env', watched)).items).toEqual([]);
  });

  it('refuses findings of another run, duplicated flows, or of a run that does not exist', async () => {
    const r = run('findings', minutes(300));
    await store.createRun(r);
    const other = run('findings', minutes(301));

    await expect(store.putFindings(r.checkId, [finding(other, 'f-01')])).rejects.toThrow(/is not the run/);
    await expect(store.putFindings(r.checkId, [finding(r, 'f-01'), finding(r, 'f-01')])).rejects.toThrow(
      /appears twice/,
    );
    await expect(store.putFindings(other.checkId, [finding(other, 'f-01')])).rejects.toThrow(NotFoundError);
    await expect(store.putFindings(r.checkId, [{ ...finding(r, 'f-01'), ports: '443;80' }])).rejects.toThrow(
      /\[0\]\.ports/,
    );
    expect((await store.listFindings(r.checkId)).items).toEqual([]);
  });

  it('puts, gets, lists and deletes environments', async () => {
    // Arrange
    const names = Array.from({ length: 12 }, (_, i) => `env-${String(i).padStart(2, '0')}`);
    const later = new DynamoResultStore(db.client, { tableName: db.tableName, now: () => minutes(9) });

    // Act
    for (const n of [...names].reverse()) await store.putEnvironment(environment(n));
    const updated = await later.putEnvironment({ ...environment('env-03'), description: 'changed' });
    const { items, pages } = await all((cursor) => store.listEnvironments({ limit: 5, cursor }));
    await store.deleteEnvironment('env-05');

    // Assert
    expect(updated).toMatchObject({
      name: 'env-03',
      createdAt: minutes(0).toISOString(),
      updatedAt: minutes(9).toISOString(),
      environment: { description: 'changed' },
    });
    expect(await store.getEnvironment('env-03')).toEqual(updated);
    expect(pages).toBe(3);
    expect(items.map((e) => e.name)).toEqual(names);
    expect(items[0]?.environment).toEqual(environment('env-00'));
    await expect(store.getEnvironment('env-05')).rejects.toThrow(NotFoundError);
    await expect(store.deleteEnvironment('env-05')).rejects.toThrow(/no environment named "env-05"/);
    await expect(store.getEnvironment('Bad Name')).rejects.toThrow(StoreValidationError);
    await expect(store.putEnvironment({ name: 'x' } as Environment)).rejects.toThrow(/vantages/);
    expect((await store.listEnvironments({ limit: 100 })).items.map((e) => e.name)).not.toContain('env-05');
  });

  it('finds the runs left queued or running before a time, and only those', async () => {
    // Arrange
    const old = [run('stale', minutes(400)), run('stale', minutes(401)), run('stale', minutes(402))];
    for (const r of old) await store.createRun(r);
    await store.updateRun(old[1]!.checkId, { status: 'running' });
    await store.updateRun(old[2]!.checkId, { status: 'failed', reason: 'probe timed out' });
    const recent = run('stale', minutes(500));
    await store.createRun(recent);

    // Act
    const stale = await store.listStaleRuns(minutes(450).toISOString());

    // Assert
    const ids = stale.map((r) => r.checkId);
    expect(ids).toEqual(expect.arrayContaining([old[0]!.checkId, old[1]!.checkId]));
    expect(ids).not.toContain(old[2]!.checkId);
    expect(ids).not.toContain(recent.checkId);
    expect(stale.every((r) => r.status === 'queued' || r.status === 'running')).toBe(true);
    // Closing them takes them out.
    for (const r of stale) await store.updateRun(r.checkId, { status: 'partial', reason: 'restarted' });
    expect(await store.listStaleRuns(minutes(450).toISOString())).toEqual([]);
  });

  it('makes check ids that sort by time and carry it', () => {
    const a = newCheckId(minutes(1));
    const b = newCheckId(minutes(2));

    expect(a).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(a < b).toBe(true);
    expect(checkIdTime(a)).toEqual(minutes(1));
    expect(newCheckId(minutes(1))).not.toBe(a);
  });
});

describe('startDynalite with a data folder', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'preflight-dynalite-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps runs, findings and environments across a restart', async () => {
    // Arrange
    const r = run('persisted', minutes(1));
    const first = await startDynalite({ path: dir });
    const before = new DynamoResultStore(first.client, { tableName: first.tableName });
    await before.putEnvironment(environment('persisted'));
    await before.createRun(r);
    await before.putFindings(r.checkId, [finding(r, 'f-0a'), finding(r, 'f-0b', 'fail')]);
    await first.close();

    // Act
    const second = await startDynalite({ path: dir });
    try {
      const after = new DynamoResultStore(second.client, { tableName: second.tableName });

      // Assert
      expect(second.endpoint).not.toBe('');
      expect(await after.getRun(r.checkId)).toEqual(r);
      expect((await after.listFindings(r.checkId)).items.map((f) => f.verdict)).toEqual(['pass', 'fail']);
      expect((await after.getEnvironment('persisted')).environment).toEqual(environment('persisted'));
      expect((await after.listStaleRuns(minutes(2).toISOString())).map((x) => x.checkId)).toEqual([
        r.checkId,
      ]);
    } finally {
      await second.close();
    }
  });
});
