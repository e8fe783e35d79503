import { nextRun, parseSchedule, ScheduleError } from '../../lambdas/core/schedule';
import { type Environment, environmentSchema } from '../../lambdas/core/environment';
import {
  type CheckRun,
  type EnvironmentRecord,
  type ListRunsOptions,
  newCheckId,
  queuedRun,
  NotFoundError,
  type Page,
  type PageOptions,
  type RunStatus,
} from '../../lambdas/core/store';
import { MAX_TIMER_MS, type ScheduleStarter, startScheduler } from '../../lambdas/local/scheduler';
import { FakeClock } from '../support/fake-clock';

const at = (iso: string) => new Date(iso);

/** The next `count` runs strictly after `from`, as ISO strings. */
function runs(expression: string, from: string, count: number): string[] {
  const schedule = parseSchedule(expression);
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < count; i++) {
    const next = nextRun(schedule, t);
    if (!next) break;
    out.push(next.toISOString());
    t = next;
  }
  return out;
}

describe('parseSchedule', () => {
  it.each([
    ['rate(1 minute)', { kind: 'rate', value: 1, unit: 'minute', everyMs: 60_000 }],
    ['rate(5 minutes)', { kind: 'rate', value: 5, unit: 'minute', everyMs: 300_000 }],
    ['rate(2 hours)', { kind: 'rate', value: 2, unit: 'hour', everyMs: 7_200_000 }],
    ['rate(1 day)', { kind: 'rate', value: 1, unit: 'day', everyMs: 86_400_000 }],
    ['rate( 3 days )', { kind: 'rate', value: 3, unit: 'day' }],
    ['at(2026-12-01T06:00:00)', { kind: 'at', at: at('2026-12-01T06:00:00Z') }],
    ['cron(0/5 * * * ? *)', { kind: 'cron' }],
  ])('reads %s', (expression, expected) => {
    // Act
    const schedule = parseSchedule(expression);

    // Assert
    expect(schedule).toMatchObject({ ...expected, expression });
  });

  it('reads the values of every cron field, with names, lists, ranges and steps', () => {
    // Act
    const s = parseSchedule('cron(0,30 6-8 ? JAN,MAR-APR MON-FRI 2026-2027)');

    // Assert
    expect(s.kind).toBe('cron');
    if (s.kind !== 'cron') return;
    expect([...s.minutes]).toEqual([0, 30]);
    expect([...s.hours]).toEqual([6, 7, 8]);
    expect(s.daysOfMonth).toBeUndefined();
    expect([...s.months]).toEqual([1, 3, 4]);
    expect([...s.daysOfWeek!.days]).toEqual([2, 3, 4, 5, 6]);
    expect([...s.years]).toEqual([2026, 2027]);
  });

  it.each([
    ['every 1 hour', 'expected rate(…), cron(…) or at(…)'],
    ['', 'expected rate(…), cron(…) or at(…)'],
    ['rate(0 minutes)', 'at least 1'],
    ['rate(1 minutes)', 'singular unit: rate(1 minute)'],
    ['rate(5 minute)', 'plural unit: rate(5 minutes)'],
    ['rate(5 weeks)', '"weeks" is not a rate unit'],
    ['rate(1.5 hours)', 'whole number'],
    ['rate(-1 hours)', 'whole number'],
    ['at(2026-02-30T06:00:00)', '"2026-02-30T06:00:00" is not a real date and time'],
    ['at(2026-12-01 06:00)', 'yyyy-mm-ddThh:mm:ss'],
    ['at(2026-12-01T24:00:00)', 'not a real date'],
    ['cron(0 6 * * *)', 'cron takes 6 fields'],
    ['cron(0 6 * * ? * *)', 'got 7'],
    ['cron(60 6 * * ? *)', 'minutes field item "60" is out of range (allowed: 0-59)'],
    ['cron(0 24 * * ? *)', 'hours field item "24" is out of range'],
    ['cron(0 6 0 * ? *)', 'day-of-month field item "0" is out of range'],
    ['cron(0 6 * 13 ? *)', 'month field item "13" is out of range'],
    ['cron(0 6 ? * 8 *)', 'day-of-week field item "8" is out of range'],
    ['cron(0 6 * * ? 1969)', 'year field item "1969" is out of range'],
    ['cron(0 6 * * * *)', 'exactly one of day-of-month ("*") and day-of-week ("*") must be "?"'],
    ['cron(0 6 ? * ? *)', 'exactly one of day-of-month'],
    ['cron(0 6 1 * MON *)', 'exactly one of day-of-month'],
    ['cron(? 6 * * ? *)', '"?" is only allowed in the day-of-month or day-of-week field, not in minutes'],
    ['cron(0 8-6 * * ? *)', '"8-6" is a range whose start is after its end'],
    ['cron(*/0 * * * ? *)', 'step that is not a whole number of at least 1'],
    ['cron(0 6 * FOO ? *)', 'month field item "FOO" is not a value, range or step'],
    ['cron(0 6 ? * MON-FOO *)', 'day-of-week field item "MON-FOO"'],
    ['cron(0 6 ? * L *)', 'day-of-week field item "L" is ambiguous'],
    ['cron(0 6 ? * 2#6 *)', 'occurrence 6'],
    ['cron(0 6 32W * ? *)', '"32W" is out of range'],
    ['cron(1,,2 * * * ? *)', 'minutes field item ""'],
    ['cron(1-2-3 * * * ? *)', '"1-2-3" is not a value, range or step'],
    ['cron(a * * * ? *)', 'minutes field item "a"'],
  ])('refuses %j, naming it and the fault', (expression, problem) => {
    // Act
    const act = () => parseSchedule(expression);

    // Assert
    expect(act).toThrow(ScheduleError);
    expect(act).toThrow(problem);
    expect(act).toThrow(`${JSON.stringify(expression)} is not a valid schedule`);
  });

  it('keeps the expression and the problem on the error', () => {
    // Act
    let error: unknown;
    try {
      parseSchedule('rate(0 hours)');
    } catch (err) {
      error = err;
    }

    // Assert
    expect(error).toBeInstanceOf(ScheduleError);
    expect(error).toMatchObject({ name: 'ScheduleError', expression: 'rate(0 hours)' });
    expect((error as ScheduleError).problem).toContain('at least 1');
  });

  it('accepts every expression the environment schema shows as an example', () => {
    // Act / Assert
    expect(() => parseSchedule('rate(1 hour)')).not.toThrow();
    expect(() => parseSchedule('cron(0 6 * * ? *)')).not.toThrow();
    expect(() => parseSchedule('at(2026-12-01T06:00:00)')).not.toThrow();
  });
});

describe('nextRun with cron', () => {
  it.each([
    [
      'every 5 minutes',
      'cron(0/5 * * * ? *)',
      '2026-03-10T10:02:31Z',
      ['2026-03-10T10:05:00.000Z', '2026-03-10T10:10:00.000Z', '2026-03-10T10:15:00.000Z'],
    ],
    [
      'every 5 minutes with */5, across an hour',
      'cron(*/5 * * * ? *)',
      '2026-03-10T10:55:00Z',
      ['2026-03-10T11:00:00.000Z', '2026-03-10T11:05:00.000Z'],
    ],
    [
      'strictly after: a time on a firing minute gives the next one',
      'cron(0 6 * * ? *)',
      '2026-03-10T06:00:00Z',
      ['2026-03-11T06:00:00.000Z'],
    ],
    [
      'seconds into a firing minute skip it',
      'cron(0 6 * * ? *)',
      '2026-03-10T06:00:00.500Z',
      ['2026-03-11T06:00:00.000Z'],
    ],
    [
      'weekdays at 06:00, from a Friday evening',
      'cron(0 6 ? * MON-FRI *)',
      '2026-03-13T18:00:00Z', // Friday
      ['2026-03-16T06:00:00.000Z', '2026-03-17T06:00:00.000Z', '2026-03-18T06:00:00.000Z'],
    ],
    [
      'weekdays at 06:00 as numbers (2-6)',
      'cron(0 6 ? * 2-6 *)',
      '2026-03-13T18:00:00Z',
      ['2026-03-16T06:00:00.000Z'],
    ],
    [
      'Sundays only (1 = Sunday)',
      'cron(30 23 ? * 1 *)',
      '2026-03-10T00:00:00Z',
      ['2026-03-15T23:30:00.000Z', '2026-03-22T23:30:00.000Z'],
    ],
    [
      'the last day of the month (L), across February of a leap year',
      'cron(0 0 L * ? *)',
      '2028-01-15T00:00:00Z',
      [
        '2028-01-31T00:00:00.000Z',
        '2028-02-29T00:00:00.000Z',
        '2028-03-31T00:00:00.000Z',
        '2028-04-30T00:00:00.000Z',
      ],
    ],
    [
      'the 31st skips the short months',
      'cron(0 12 31 * ? *)',
      '2026-01-31T12:00:00Z',
      ['2026-03-31T12:00:00.000Z', '2026-05-31T12:00:00.000Z', '2026-07-31T12:00:00.000Z'],
    ],
    [
      'month boundary: the 1st at midnight from the last minute of the year',
      'cron(0 0 1 * ? *)',
      '2026-12-31T23:59:00Z',
      ['2027-01-01T00:00:00.000Z', '2027-02-01T00:00:00.000Z'],
    ],
    [
      'selected months by name',
      'cron(15 9 1 JAN,JUL ? *)',
      '2026-02-01T00:00:00Z',
      ['2026-07-01T09:15:00.000Z', '2027-01-01T09:15:00.000Z'],
    ],
    [
      'hours with a step, minutes as a list',
      'cron(0,30 0/8 * * ? *)',
      '2026-03-10T08:10:00Z',
      [
        '2026-03-10T08:30:00.000Z',
        '2026-03-10T16:00:00.000Z',
        '2026-03-10T16:30:00.000Z',
        '2026-03-11T00:00:00.000Z',
      ],
    ],
    [
      'the second Monday (2#2)',
      'cron(0 6 ? * 2#2 *)',
      '2026-03-01T00:00:00Z',
      ['2026-03-09T06:00:00.000Z', '2026-04-13T06:00:00.000Z'],
    ],
    [
      'the last Friday (6L)',
      'cron(0 6 ? * 6L *)',
      '2026-03-01T00:00:00Z',
      ['2026-03-27T06:00:00.000Z', '2026-04-24T06:00:00.000Z'],
    ],
    [
      'the weekday nearest the 15th (15W): Saturday 15 Aug 2026 moves to Friday 14',
      'cron(0 6 15W * ? *)',
      '2026-08-01T00:00:00Z',
      ['2026-08-14T06:00:00.000Z', '2026-09-15T06:00:00.000Z'],
    ],
    [
      '1W on a Saturday moves forward to Monday the 3rd, within the month',
      'cron(0 6 1W * ? *)',
      '2026-07-31T00:00:00Z', // 1 Aug 2026 is a Saturday
      ['2026-08-03T06:00:00.000Z'],
    ],
    [
      'the last weekday (LW): Saturday 31 Oct 2026 moves to Friday 30',
      'cron(0 6 LW * ? *)',
      '2026-10-01T00:00:00Z',
      ['2026-10-30T06:00:00.000Z', '2026-11-30T06:00:00.000Z'],
    ],
    ['a single year', 'cron(0 6 1 1 ? 2030)', '2026-05-05T00:00:00Z', ['2030-01-01T06:00:00.000Z']],
  ])('%s', (_title, expression, from, expected) => {
    // Act
    const got = runs(expression, from, expected.length);

    // Assert
    expect(got).toEqual(expected);
  });

  it('returns undefined once the years are over', () => {
    // Arrange
    const s = parseSchedule('cron(0 6 * * ? 2026)');

    // Act / Assert
    expect(nextRun(s, at('2026-12-31T05:00:00Z'))?.toISOString()).toBe('2026-12-31T06:00:00.000Z');
    expect(nextRun(s, at('2026-12-31T06:00:00Z'))).toBeUndefined();
  });

  it('returns undefined for a day that never comes (30 February)', () => {
    // Arrange
    const s = parseSchedule('cron(0 6 30 2 ? *)');

    // Act / Assert
    expect(nextRun(s, at('2026-01-01T00:00:00Z'))).toBeUndefined();
  });

  it('refuses a time that is not a time', () => {
    // Arrange
    const s = parseSchedule('cron(0 6 * * ? *)');

    // Act / Assert
    expect(() => nextRun(s, new Date(Number.NaN))).toThrow(RangeError);
  });
});

describe('nextRun with rate', () => {
  it('counts from the epoch, so runs fall on the period boundaries', () => {
    // Act / Assert
    expect(runs('rate(5 minutes)', '2026-03-10T10:02:31Z', 3)).toEqual([
      '2026-03-10T10:05:00.000Z',
      '2026-03-10T10:10:00.000Z',
      '2026-03-10T10:15:00.000Z',
    ]);
    expect(runs('rate(1 hour)', '2026-03-10T10:00:00Z', 2)).toEqual([
      '2026-03-10T11:00:00.000Z',
      '2026-03-10T12:00:00.000Z',
    ]);
    expect(runs('rate(1 day)', '2026-03-10T10:00:00Z', 1)).toEqual(['2026-03-11T00:00:00.000Z']);
  });

  it('gives the same times whatever the starting point within a period', () => {
    // Arrange
    const s = parseSchedule('rate(7 minutes)');

    // Act
    const a = nextRun(s, at('2026-03-10T10:00:00Z'))!;
    const b = nextRun(s, new Date(a.getTime() - 1))!;

    // Assert
    expect(b.getTime()).toBe(a.getTime());
    expect(a.getTime() % (7 * 60_000)).toBe(0);
  });

  it('counts from another origin when told', () => {
    // Arrange
    const s = parseSchedule('rate(2 hours)');
    const origin = at('2026-03-10T09:30:00Z');

    // Act
    const next = nextRun(s, at('2026-03-10T10:00:00Z'), { origin });

    // Assert
    expect(next?.toISOString()).toBe('2026-03-10T11:30:00.000Z');
  });
});

describe('nextRun with at', () => {
  const s = parseSchedule('at(2026-12-01T06:00:00)');

  it('fires once, at the time, when that is still to come', () => {
    // Act / Assert
    expect(nextRun(s, at('2026-11-30T00:00:00Z'))?.toISOString()).toBe('2026-12-01T06:00:00.000Z');
  });

  it('returns undefined when the time is past or now', () => {
    // Act / Assert
    expect(nextRun(s, at('2026-12-01T06:00:00Z'))).toBeUndefined();
    expect(nextRun(s, at('2027-01-01T00:00:00Z'))).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The scheduler of local mode, on a fake clock

const env = (name: string, schedule?: string): Environment =>
  environmentSchema.parse({
    name,
    vantages: [{ name: 'here', roles: ['target-worker'] }],
    flows: [{ name: 'one', to: ['127.0.0.1'], ports: '443' }],
    ...(schedule !== undefined ? { schedule } : {}),
  });

/** The part of the store the scheduler reads, in memory, with small pages so that cursors are followed. */
class MemoryStore {
  environments = new Map<string, Environment>();
  runs: CheckRun[] = [];
  failListing = false;
  listCalls = 0;

  put(environment: Environment) {
    this.environments.set(environment.name, environment);
  }
  async listEnvironments(options: PageOptions = {}): Promise<Page<EnvironmentRecord>> {
    this.listCalls++;
    if (this.failListing) throw new Error('the store is down');
    const names = [...this.environments.keys()].sort();
    const start = options.cursor ? Number(options.cursor) : 0;
    const size = 2;
    const items = names.slice(start, start + size).map((name) => ({
      name,
      environment: this.environments.get(name)!,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
    }));
    return start + size < names.length ? { items, nextCursor: String(start + size) } : { items };
  }
  async listRuns(name: string, options: ListRunsOptions = {}): Promise<Page<CheckRun>> {
    return {
      items: this.runs.filter(
        (r) => r.environmentName === name && (options.status === undefined || r.status === options.status),
      ),
    };
  }
  async getRun(checkId: string): Promise<CheckRun> {
    const run = this.runs.find((r) => r.checkId === checkId);
    if (!run) throw new NotFoundError(`no run ${checkId}`);
    return run;
  }
  setStatus(checkId: string, status: RunStatus) {
    const i = this.runs.findIndex((r) => r.checkId === checkId);
    this.runs[i] = { ...this.runs[i]!, status };
  }
}

/** Records each start and creates the run `queued` in the store, as the runner does. */
class RecordingStarter implements ScheduleStarter {
  readonly calls: Array<{ name: string; at: string; environment: Environment }> = [];
  fail = false;
  constructor(
    private readonly store: MemoryStore,
    private readonly clock: FakeClock,
  ) {}
  async start(input: { environment: Environment; trigger: 'schedule' }) {
    if (this.fail) throw new Error('the runner is shutting down');
    const at = this.clock.now();
    const run: CheckRun = queuedRun(input.environment.name, input.trigger, at);
    this.store.runs.push(run);
    this.calls.push({ name: input.environment.name, at: at.toISOString(), environment: input.environment });
    return run;
  }
  /** Closes every run started so far. */
  finishAll() {
    for (const r of this.store.runs) if (r.status === 'queued') this.store.setStatus(r.checkId, 'succeeded');
  }
}

const MIN = 60_000;

function setup(startIso = '2026-03-10T10:02:30.000Z', refreshMs = 30_000) {
  const clock = new FakeClock(Date.parse(startIso));
  const store = new MemoryStore();
  const starter = new RecordingStarter(store, clock);
  const logs: string[] = [];
  const begin = () =>
    startScheduler({
      store,
      starter,
      now: clock.now,
      setTimer: clock.setTimer,
      clearTimer: clock.clearTimer,
      refreshMs,
      log: (m) => logs.push(m),
    });
  return { clock, store, starter, logs, begin };
}

describe('startScheduler', () => {
  it('starts a run with trigger schedule at each firing, re-arming after each', async () => {
    // Arrange
    const { clock, store, starter, begin } = setup();
    store.put(env('every-five', 'cron(0/5 * * * ? *)'));
    store.put(env('no-schedule'));
    const scheduler = begin();
    await scheduler.refresh();

    // Act
    await clock.advance(2.5 * MIN); // 10:05
    starter.finishAll();
    await clock.advance(5 * MIN); // 10:10
    starter.finishAll();
    await clock.advance(5 * MIN); // 10:15

    // Assert
    expect(starter.calls.map((c) => [c.name, c.at])).toEqual([
      ['every-five', '2026-03-10T10:05:00.000Z'],
      ['every-five', '2026-03-10T10:10:00.000Z'],
      ['every-five', '2026-03-10T10:15:00.000Z'],
    ]);
    expect(store.runs.every((r) => r.trigger === 'schedule')).toBe(true);
    await scheduler.stop();
  });

  it('follows cursors to find every environment', async () => {
    // Arrange: pages of 2
    const { clock, store, starter, begin } = setup();
    for (const name of ['a1', 'a2', 'a3', 'a4', 'a5']) store.put(env(name, 'rate(1 hour)'));
    const scheduler = begin();
    await scheduler.refresh();

    // Act
    await clock.advance(60 * MIN);

    // Assert
    expect(starter.calls.map((c) => c.name).sort()).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    expect(starter.calls.every((c) => c.at === '2026-03-10T11:00:00.000Z')).toBe(true);
    await scheduler.stop();
  });

  it('skips and logs a firing while the previous scheduled run is still going', async () => {
    // Arrange
    const { clock, store, starter, logs, begin } = setup();
    store.put(env('slow', 'rate(5 minutes)'));
    const scheduler = begin();
    await scheduler.refresh();

    // Act
    await clock.advance(2.5 * MIN); // 10:05: starts
    await clock.advance(5 * MIN); // 10:10: the 10:05 run is still queued: skipped
    store.setStatus(store.runs[0]!.checkId, 'running');
    await clock.advance(5 * MIN); // 10:15: running: skipped
    store.setStatus(store.runs[0]!.checkId, 'succeeded');
    await clock.advance(5 * MIN); // 10:20: starts

    // Assert
    expect(starter.calls.map((c) => c.at)).toEqual(['2026-03-10T10:05:00.000Z', '2026-03-10T10:20:00.000Z']);
    const skips = logs.filter((l) => l.includes('skipped'));
    expect(skips).toHaveLength(2);
    expect(skips[0]).toContain('slow');
    expect(skips[0]).toContain('2026-03-10T10:10:00.000Z');
    expect(skips[0]).toContain(store.runs[0]!.checkId);
    await scheduler.stop();
  });

  it('skips a firing while a scheduled run of an earlier process is still open, but not for API runs', async () => {
    // Arrange
    const { clock, store, starter, begin } = setup();
    store.put(env('leftover', 'rate(5 minutes)'));
    const base = {
      environmentName: 'leftover',
      createdAt: '2026-03-10T09:00:00.000Z',
      counts: {},
      flowCount: 0,
    };
    store.runs.push({ ...base, checkId: newCheckId(new Date(0)), trigger: 'schedule', status: 'running' });
    store.runs.push({ ...base, checkId: newCheckId(new Date(1)), trigger: 'api', status: 'running' });
    const scheduler = begin();
    await scheduler.refresh();

    // Act
    await clock.advance(2.5 * MIN);
    const before = starter.calls.length;
    store.setStatus(store.runs[0]!.checkId, 'failed');
    await clock.advance(5 * MIN);

    // Assert
    expect(before).toBe(0);
    expect(starter.calls.map((c) => c.at)).toEqual(['2026-03-10T10:10:00.000Z']);
    await scheduler.stop();
  });

  it('picks up environments added, changed and deleted on refresh', async () => {
    // Arrange
    const { clock, store, starter, begin } = setup('2026-03-10T10:00:00.000Z', 60_000);
    store.put(env('stays', 'rate(10 minutes)'));
    store.put(env('goes', 'rate(10 minutes)'));
    store.put(env('changes', 'rate(10 minutes)'));
    const scheduler = begin();
    await scheduler.refresh();

    // Act: after the first refresh, one is added, one deleted, one moves to every 5 minutes
    store.put(env('added', 'rate(10 minutes)'));
    store.environments.delete('goes');
    store.put(env('changes', 'rate(5 minutes)'));
    await clock.advance(1 * MIN); // the periodic refresh
    starter.finishAll();
    await clock.advance(4 * MIN); // 10:05
    starter.finishAll();
    await clock.advance(5 * MIN); // 10:10

    // Assert
    const byName = (name: string) => starter.calls.filter((c) => c.name === name).map((c) => c.at);
    expect(byName('goes')).toEqual([]);
    expect(byName('stays')).toEqual(['2026-03-10T10:10:00.000Z']);
    expect(byName('added')).toEqual(['2026-03-10T10:10:00.000Z']);
    expect(byName('changes')).toEqual(['2026-03-10T10:05:00.000Z', '2026-03-10T10:10:00.000Z']);
    await scheduler.stop();
  });

  it('runs the environment as it is now when only its definition changed', async () => {
    // Arrange
    const { clock, store, starter, begin } = setup('2026-03-10T10:00:00.000Z', 60_000);
    store.put(env('edited', 'rate(10 minutes)'));
    const scheduler = begin();
    await scheduler.refresh();

    // Act
    store.put({ ...env('edited', 'rate(10 minutes)'), description: 'edited later' });
    await clock.advance(10 * MIN);

    // Assert
    expect(starter.calls).toHaveLength(1);
    expect(starter.calls[0]!.environment.description).toBe('edited later');
    await scheduler.stop();
  });

  it('drops a schedule removed from an environment', async () => {
    // Arrange
    const { clock, store, starter, logs, begin } = setup('2026-03-10T10:00:00.000Z', 60_000);
    store.put(env('unscheduled', 'rate(10 minutes)'));
    const scheduler = begin();
    await scheduler.refresh();

    // Act
    store.put(env('unscheduled'));
    await clock.advance(30 * MIN);

    // Assert
    expect(starter.calls).toEqual([]);
    expect(logs).toContain('environment unscheduled: no longer scheduled');
    await scheduler.stop();
  });

  it('fires an at() schedule once, and never one in the past', async () => {
    // Arrange
    const { clock, store, starter, begin } = setup('2026-03-10T10:00:00.000Z', 60_000);
    store.put(env('once', 'at(2026-03-10T10:30:00)'));
    store.put(env('past', 'at(2026-03-10T09:00:00)'));
    const scheduler = begin();
    await scheduler.refresh();

    // Act
    await clock.advance(3 * 60 * MIN);

    // Assert
    expect(starter.calls.map((c) => [c.name, c.at])).toEqual([['once', '2026-03-10T10:30:00.000Z']]);
    await scheduler.stop();
  });

  it('logs an environment whose schedule it cannot read and schedules the others', async () => {
    // Arrange: a stored environment whose schedule no longer parses (the schema refuses it today, but a
    // record written before that, or by hand, must not stop the scheduler).
    const { clock, store, starter, logs, begin } = setup('2026-03-10T10:00:00.000Z');
    store.put({ ...env('bad'), schedule: 'rate(1 minutes)' });
    store.put(env('good', 'rate(1 minute)'));
    const scheduler = begin();
    await scheduler.refresh();

    // Act
    await clock.advance(1 * MIN);

    // Assert
    expect(starter.calls.map((c) => c.name)).toEqual(['good']);
    expect(
      logs.some((l) => l.includes('environment bad: not scheduled') && l.includes('rate(1 minutes)')),
    ).toBe(true);
    await scheduler.stop();
  });

  it('logs a failed start and keeps the schedule going', async () => {
    // Arrange
    const { clock, store, starter, logs, begin } = setup('2026-03-10T10:00:00.000Z');
    store.put(env('flaky', 'rate(1 minute)'));
    const scheduler = begin();
    await scheduler.refresh();

    // Act
    starter.fail = true;
    await clock.advance(1 * MIN);
    starter.fail = false;
    await clock.advance(1 * MIN);

    // Assert
    expect(logs.some((l) => l.includes('did not start: the runner is shutting down'))).toBe(true);
    expect(starter.calls.map((c) => c.at)).toEqual(['2026-03-10T10:02:00.000Z']);
    await scheduler.stop();
  });

  it('logs a store that cannot be read, keeps the timers it has and reads again on the next refresh', async () => {
    // Arrange
    const { clock, store, starter, logs, begin } = setup('2026-03-10T10:00:00.000Z', 60_000);
    store.put(env('kept', 'rate(2 minutes)'));
    const scheduler = begin();
    await scheduler.refresh();

    // Act
    store.failListing = true;
    await clock.advance(2 * MIN);
    store.failListing = false;
    store.put(env('later', 'rate(5 minutes)'));
    await clock.advance(3 * MIN);

    // Assert
    expect(
      logs.some((l) => l.includes('cannot read the environments') && l.includes('the store is down')),
    ).toBe(true);
    expect(starter.calls.map((c) => c.name)).toContain('kept');
    expect(starter.calls.map((c) => c.name)).toContain('later');
    await scheduler.stop();
  });

  it('does not catch up missed runs: after a late wake-up, the next run is armed from now', async () => {
    // Arrange: a timer that fires 12 minutes late (the machine slept)
    const { clock, store, starter, begin } = setup('2026-03-10T10:00:00.000Z', 3_600_000);
    store.put(env('sleepy', 'rate(5 minutes)'));
    const scheduler = begin();
    await scheduler.refresh();
    const [delay] = clock.delays();

    // Act
    clock.time += 12 * MIN; // nothing fires while asleep
    await clock.advance(0);

    // Assert
    expect(delay).toBe(5 * MIN);
    expect(starter.calls.map((c) => c.at)).toEqual(['2026-03-10T10:12:00.000Z']);
    expect(clock.delays()).toContain(3 * MIN); // 10:15
    await scheduler.stop();
  });

  it('reaches a run further away than setTimeout allows in several hops', async () => {
    // Arrange
    const { clock, store, starter, begin } = setup('2026-03-10T10:00:00.000Z', 3_600_000);
    store.put(env('far', 'cron(0 6 1 1 ? 2030)'));
    const scheduler = begin();
    await scheduler.refresh();

    // Act
    const firstDelays = clock.delays();
    await clock.advance(Date.parse('2030-01-01T06:00:00Z') - clock.time);

    // Assert
    expect(Math.max(...firstDelays)).toBe(MAX_TIMER_MS);
    expect(starter.calls.map((c) => c.at)).toEqual(['2030-01-01T06:00:00.000Z']);
    await scheduler.stop();
  });

  it('stop() clears every timer and no run starts after it', async () => {
    // Arrange
    const { clock, store, starter, begin } = setup('2026-03-10T10:00:00.000Z');
    store.put(env('one', 'rate(1 minute)'));
    store.put(env('two', 'rate(1 hour)'));
    const scheduler = begin();
    await scheduler.refresh();
    const armed = clock.pending;

    // Act
    await scheduler.stop();
    await scheduler.stop();
    await scheduler.refresh();
    await clock.advance(120 * MIN);

    // Assert
    expect(armed).toBe(3); // two environments and the refresh
    expect(clock.pending).toBe(0);
    expect(starter.calls).toEqual([]);
  });

  it('refuses a refresh period that is not positive', () => {
    // Arrange
    const { store, starter } = setup();

    // Act / Assert
    expect(() => startScheduler({ store, starter, refreshMs: 0 })).toThrow(
      'refreshMs must be a positive number',
    );
  });
});
