/**
 * The scheduler of local mode: what EventBridge Scheduler does once deployed. It reads every environment from the
 * store, arms one timer per environment that has a `schedule` for its next run (see `core/schedule.ts`), and
 * starts a run with trigger `schedule` when it fires. Environments are read again every `refreshMs`, so ones
 * added, changed or deleted through the API are picked up without a restart.
 *
 * - A run is never started while the previous scheduled run of the same environment is still open (`queued` or
 *   `running`): that firing is skipped and logged, as EventBridge would not stack them either.
 * - Missed firings (the process was down or asleep) are not caught up: the next one is armed from now.
 * - Every error (store, bad schedule, starter) is logged and never escapes: a timer callback never rejects.
 * - Timers are unref'd by default, so the scheduler alone does not keep the process alive.
 */
import type { Environment } from '../core/environment';
import type { EnvironmentSchedules } from '../handlers/api/router';
import { nextRun, parseSchedule, type Schedule, ScheduleError } from '../core/schedule';
import { type CheckRun, isClosed, type ResultStore } from '../core/store';

/** What the scheduler starts runs with: the runner (`Runner` of `core/run/runner.ts`) fits. */
export interface ScheduleStarter {
  start(input: { environment: Environment; trigger: 'schedule' }): Promise<Pick<CheckRun, 'checkId'>>;
}

/** An opaque timer handle of {@link SchedulerOptions.setTimer}. */
export type TimerHandle = unknown;

export interface SchedulerOptions {
  /** Read for environments (following cursors) and for the scheduled runs still open. */
  readonly store: Pick<ResultStore, 'listEnvironments' | 'listRuns' | 'getRun'>;
  readonly starter: ScheduleStarter;
  /** @default - the system clock */
  readonly now?: () => Date;
  /** @default - `setTimeout`, unref'd */
  readonly setTimer?: (callback: () => void, delayMs: number) => TimerHandle;
  /** @default - `clearTimeout` */
  readonly clearTimer?: (handle: TimerHandle) => void;
  /** How often environments are read again, in ms. @default 30000 */
  readonly refreshMs?: number;
  /** One line per event worth telling (a run started, a firing skipped, an error). @default - stderr */
  readonly log?: (message: string) => void;
  /** Where `rate(…)` schedules count their periods from. @default - the Unix epoch */
  readonly rateOrigin?: Date;
}

export interface Scheduler {
  /** Clears every timer, and resolves once a refresh or a start in progress has settled. Idempotent. */
  stop(): Promise<void>;
  /** Reads the environments now and re-arms what changed; never rejects (errors are logged). */
  refresh(): Promise<void>;
}

/** The longest delay `setTimeout` takes; a later run is reached in several hops. */
export const MAX_TIMER_MS = 2_147_483_647;

const PAGE = 100;

interface Entry {
  environment: Environment;
  /** The schedule text the timer was armed for. */
  expression: string;
  schedule: Schedule | undefined;
  due: Date | undefined;
  timer?: TimerHandle;
  /** The last run this scheduler started for the environment. */
  lastCheckId?: string;
  /** A firing in progress (overlap check and start). */
  firing?: Promise<void>;
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * Starts the scheduler: reads the environments at once (the returned object is usable right away; the first read
 * runs in the background, await `refresh()` to wait for one) and then every `refreshMs`.
 */
export function startScheduler(options: SchedulerOptions): Scheduler {
  const { store, starter } = options;
  const now = options.now ?? (() => new Date());
  const setTimer =
    options.setTimer ??
    ((callback: () => void, delayMs: number) => {
      const t = setTimeout(callback, delayMs);
      t.unref();
      return t;
    });
  const clearTimer = options.clearTimer ?? ((handle: TimerHandle) => clearTimeout(handle as NodeJS.Timeout));
  const refreshMs = options.refreshMs ?? 30_000;
  if (!Number.isFinite(refreshMs) || refreshMs <= 0)
    throw new RangeError(`refreshMs must be a positive number of milliseconds (got ${String(refreshMs)})`);
  const log = options.log ?? ((message: string) => process.stderr.write(`scheduler: ${message}\n`));
  const nextOptions = options.rateOrigin ? { origin: options.rateOrigin } : {};

  const entries = new Map<string, Entry>();
  let stopped = false;
  let refreshTimer: TimerHandle | undefined;
  let refreshing: Promise<void> = Promise.resolve();

  const disarm = (entry: Entry) => {
    if (entry.timer !== undefined) clearTimer(entry.timer);
    entry.timer = undefined;
  };

  /** Arms the entry's timer for `due` (in hops of at most {@link MAX_TIMER_MS}). */
  const armFor = (name: string, entry: Entry) => {
    disarm(entry);
    if (stopped || entry.due === undefined) return;
    const delay = Math.min(Math.max(0, entry.due.getTime() - now().getTime()), MAX_TIMER_MS);
    entry.timer = setTimer(() => onTimer(name, entry), delay);
  };

  /** Computes the next run after `after` and arms for it; logs when the schedule never fires again. */
  const scheduleNext = (name: string, entry: Entry, after: Date) => {
    entry.due = entry.schedule ? nextRun(entry.schedule, after, nextOptions) : undefined;
    if (entry.due === undefined) {
      disarm(entry);
      if (entry.schedule) log(`environment ${name}: ${entry.expression} does not fire again`);
      return;
    }
    armFor(name, entry);
  };

  /** Whether a run this scheduler started for the environment is still open. */
  const previousOpen = async (name: string, entry: Entry): Promise<string | undefined> => {
    if (entry.lastCheckId !== undefined) {
      const last = await store.getRun(entry.lastCheckId).catch(() => undefined);
      if (last && !isClosed(last.status)) return last.checkId;
    }
    // Runs of an earlier process, or whose id this process lost: ask the store.
    for (const status of ['running', 'queued'] as const) {
      const page = await store.listRuns(name, { status, limit: PAGE });
      const open = page.items.find((r) => r.trigger === 'schedule');
      if (open) return open.checkId;
    }
    return undefined;
  };

  const fire = async (name: string, entry: Entry, due: Date) => {
    try {
      const open = await previousOpen(name, entry);
      if (stopped || entries.get(name) !== entry) return;
      if (open !== undefined) {
        log(
          `environment ${name}: skipped the run due at ${due.toISOString()}: the previous scheduled run ${open} is still going`,
        );
        return;
      }
      const run = await starter.start({ environment: entry.environment, trigger: 'schedule' });
      entry.lastCheckId = run.checkId;
      log(`environment ${name}: started run ${run.checkId} (${entry.expression}, due ${due.toISOString()})`);
    } catch (err) {
      log(`environment ${name}: the run due at ${due.toISOString()} did not start: ${messageOf(err)}`);
    }
  };

  function onTimer(name: string, entry: Entry): void {
    entry.timer = undefined;
    if (stopped || entries.get(name) !== entry || entry.due === undefined) return;
    const due = entry.due;
    const at = now();
    if (at.getTime() < due.getTime()) {
      // A hop of a long delay, or a clock that woke early: wait on.
      armFor(name, entry);
      return;
    }
    // Arm the next run first, so that a failing start never ends the schedule; missed runs are not caught up.
    try {
      scheduleNext(name, entry, at.getTime() > due.getTime() ? at : due);
    } catch (err) {
      log(`environment ${name}: cannot compute the next run of ${entry.expression}: ${messageOf(err)}`);
    }
    if (entry.firing) {
      log(
        `environment ${name}: skipped the run due at ${due.toISOString()}: the previous one is still starting`,
      );
      return;
    }
    const firing = fire(name, entry, due).finally(() => {
      if (entry.firing === firing) entry.firing = undefined;
    });
    entry.firing = firing;
  }

  /** Reads every environment, following cursors. */
  const readAll = async (): Promise<Environment[]> => {
    const all: Environment[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.listEnvironments({ limit: PAGE, ...(cursor !== undefined ? { cursor } : {}) });
      all.push(...page.items.map((r) => r.environment));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return all;
  };

  const apply = (environments: Environment[]) => {
    const seen = new Set<string>();
    const at = now();
    for (const environment of environments) {
      const expression = environment.schedule;
      if (expression === undefined) continue;
      const name = environment.name;
      seen.add(name);
      const entry = entries.get(name);
      if (entry && entry.expression === expression) {
        entry.environment = environment; // the next run uses the definition as it is now
        continue;
      }
      // New, or its schedule changed: (re)arm from now. The entry is kept, with its last run and any firing.
      const current: Entry = entry ?? { environment, expression, schedule: undefined, due: undefined };
      disarm(current);
      current.environment = environment;
      current.expression = expression;
      entries.set(name, current);
      try {
        current.schedule = parseSchedule(expression);
      } catch (err) {
        current.schedule = undefined;
        current.due = undefined;
        const why = err instanceof ScheduleError ? err.message : messageOf(err);
        log(`environment ${name}: not scheduled: ${why}`);
        continue;
      }
      scheduleNext(name, current, at);
      if (current.due) log(`environment ${name}: ${expression}, next run at ${current.due.toISOString()}`);
    }
    for (const [name, entry] of entries) {
      if (seen.has(name)) continue;
      disarm(entry);
      entries.delete(name);
      log(`environment ${name}: no longer scheduled`);
    }
  };

  const armRefresh = () => {
    if (stopped) return;
    refreshTimer = setTimer(() => {
      refreshTimer = undefined;
      void refresh().finally(armRefresh);
    }, refreshMs);
  };

  function refresh(): Promise<void> {
    if (stopped) return refreshing;
    // Refreshes run one after another, never two at once.
    refreshing = refreshing.then(async () => {
      if (stopped) return;
      try {
        const environments = await readAll();
        if (!stopped) apply(environments);
      } catch (err) {
        log(`cannot read the environments (retrying in ${refreshMs} ms): ${messageOf(err)}`);
      }
    });
    return refreshing;
  }

  void refresh().finally(armRefresh);

  return {
    refresh,
    async stop() {
      if (!stopped) {
        stopped = true;
        if (refreshTimer !== undefined) clearTimer(refreshTimer);
        refreshTimer = undefined;
        for (const entry of entries.values()) disarm(entry);
      }
      await refreshing;
      await Promise.all([...entries.values()].map((e) => e.firing));
    },
  };
}

/**
 * The API's {@link EnvironmentSchedules} in local mode: the in-process scheduler reads the stored environments
 * again at once (instead of at its next refresh), so a schedule put or deleted through the API is armed or
 * disarmed before the request is answered.
 */
export function localSchedules(scheduler: Pick<Scheduler, 'refresh'>): EnvironmentSchedules {
  return { put: () => scheduler.refresh(), remove: () => scheduler.refresh() };
}
