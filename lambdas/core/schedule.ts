/**
 * EventBridge schedule expressions, parsed and evaluated without any AWS call, so that local mode fires an
 * environment's `schedule` when EventBridge would. Everything here is in UTC, as EventBridge rules are.
 *
 * - `rate(N minute|minutes|hour|hours|day|days)`: every N units, counted from a fixed origin (the Unix epoch
 *   by default), so `rate(5 minutes)` fires at :00, :05, :10… and a restart does not shift the times.
 *   As in EventBridge, N = 1 takes the singular unit and N > 1 the plural.
 * - `cron(minutes hours day-of-month month day-of-week year)`: EventBridge's six fields. Each field takes `*`,
 *   numbers, lists (`,`), ranges (`-`) and steps (`/`); months also `JAN`–`DEC`, days of the week `SUN`–`SAT`
 *   (numbered 1 = Sunday to 7 = Saturday). Exactly one of day-of-month and day-of-week is `?`. Day-of-month
 *   also takes `L` (last day), `LW` (last weekday) and `nW` (the weekday nearest day n, within the month);
 *   day-of-week also takes `nL` (the last such day of the month) and `n#k` (the k-th such day, 1–5).
 * - `at(yyyy-mm-ddThh:mm:ss)`: once, at that time.
 */

/** Raised when an expression is not a schedule this module understands; the message names it and the fault. */
export class ScheduleError extends Error {
  override readonly name = 'ScheduleError';
  constructor(
    readonly expression: string,
    readonly problem: string,
  ) {
    super(`${JSON.stringify(expression)} is not a valid schedule: ${problem}`);
  }
}

export type RateUnit = 'minute' | 'hour' | 'day';

export interface RateSchedule {
  readonly kind: 'rate';
  readonly expression: string;
  readonly value: number;
  readonly unit: RateUnit;
  /** The period in milliseconds. */
  readonly everyMs: number;
}

/** A day-of-month item beyond plain numbers. */
export type DayOfMonthSpecial =
  | { readonly kind: 'last' }
  | { readonly kind: 'lastWeekday' }
  | {
      readonly kind: 'nearestWeekday';
      readonly day: number;
    };

/** A day-of-week item beyond plain numbers; `weekday` is 1 (Sunday) to 7 (Saturday). */
export type DayOfWeekSpecial =
  | { readonly kind: 'lastOfMonth'; readonly weekday: number }
  | { readonly kind: 'nth'; readonly weekday: number; readonly nth: number };

export interface CronSchedule {
  readonly kind: 'cron';
  readonly expression: string;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  /** `undefined` when the field is `?`. */
  readonly daysOfMonth?: {
    readonly days: ReadonlySet<number>;
    readonly special: readonly DayOfMonthSpecial[];
  };
  readonly months: ReadonlySet<number>;
  /** `undefined` when the field is `?`; `days` are 1 (Sunday) to 7 (Saturday). */
  readonly daysOfWeek?: { readonly days: ReadonlySet<number>; readonly special: readonly DayOfWeekSpecial[] };
  readonly years: ReadonlySet<number>;
}

export interface AtSchedule {
  readonly kind: 'at';
  readonly expression: string;
  readonly at: Date;
}

export type Schedule = RateSchedule | CronSchedule | AtSchedule;

const UNIT_MS: Record<RateUnit, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/** The years EventBridge's cron accepts. */
export const CRON_YEARS = { min: 1970, max: 2199 } as const;

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldSpec {
  readonly label: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const FIELDS = {
  minutes: { label: 'minutes', min: 0, max: 59 },
  hours: { label: 'hours', min: 0, max: 23 },
  daysOfMonth: { label: 'day-of-month', min: 1, max: 31 },
  months: { label: 'month', min: 1, max: 12, names: MONTH_NAMES },
  daysOfWeek: { label: 'day-of-week', min: 1, max: 7, names: DAY_NAMES },
  years: { label: 'year', min: CRON_YEARS.min, max: CRON_YEARS.max },
} satisfies Record<string, FieldSpec>;

/**
 * Parses an EventBridge schedule expression.
 * @throws ScheduleError naming the expression and what is wrong with it.
 */
export function parseSchedule(expression: string): Schedule {
  const text = expression.trim();
  const fail = (problem: string): never => {
    throw new ScheduleError(expression, problem);
  };
  const call = /^(rate|cron|at)\((.*)\)$/s.exec(text);
  if (!call)
    fail(
      'expected rate(…), cron(…) or at(…), for example rate(1 hour), cron(0 6 ? * MON-FRI *) or at(2026-12-01T06:00:00)',
    );
  const [, kind, body] = call!;
  if (kind === 'rate') return parseRate(expression, body!.trim(), fail);
  if (kind === 'at') return parseAt(expression, body!.trim(), fail);
  return parseCron(expression, body!.trim(), fail);
}

function parseRate(expression: string, body: string, fail: (p: string) => never): RateSchedule {
  const m = /^(\d+)\s+([a-z]+)$/.exec(body);
  if (!m) fail(`rate takes a whole number and a unit, as in rate(5 minutes) (got "${body}")`);
  const value = Number(m![1]);
  const word = m![2]!;
  const unit = word.replace(/s$/, '') as RateUnit;
  if (!(unit in UNIT_MS)) fail(`"${word}" is not a rate unit (minute(s), hour(s) or day(s))`);
  if (!Number.isSafeInteger(value) || value < 1)
    fail(`the rate must be a whole number of at least 1 (got ${m![1]})`);
  const plural = word.endsWith('s');
  if (value === 1 && plural) fail(`a rate of 1 takes the singular unit: rate(1 ${unit})`);
  if (value > 1 && !plural) fail(`a rate above 1 takes the plural unit: rate(${value} ${unit}s)`);
  return { kind: 'rate', expression, value, unit, everyMs: value * UNIT_MS[unit] };
}

function parseAt(expression: string, body: string, fail: (p: string) => never): AtSchedule {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/.exec(body);
  if (!m) fail(`at takes a time as yyyy-mm-ddThh:mm:ss, as in at(2026-12-01T06:00:00) (got "${body}")`);
  const [y, mo, d, h, mi, s] = m!.slice(1).map(Number) as [number, number, number, number, number, number];
  const at = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (
    at.getUTCFullYear() !== y ||
    at.getUTCMonth() !== mo - 1 ||
    at.getUTCDate() !== d ||
    at.getUTCHours() !== h ||
    at.getUTCMinutes() !== mi ||
    at.getUTCSeconds() !== s
  )
    fail(`"${body}" is not a real date and time`);
  return { kind: 'at', expression, at };
}

/** Parses a number or (where the field has them) a name; undefined when it is neither. */
function atom(text: string, spec: FieldSpec): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  const i = spec.names?.indexOf(text.toUpperCase()) ?? -1;
  return i >= 0 ? i + 1 : undefined;
}

/** Parses the `*`, number, list, range and step syntax of one field into the set of values it matches. */
function parseItem(item: string, spec: FieldSpec, fail: (p: string) => never, into: Set<number>): void {
  const bad = (why: string): never =>
    fail(
      `the ${spec.label} field item "${item}" ${why} (allowed: ${spec.min}-${spec.max}${spec.names ? ` or ${spec.names[0]}-${spec.names.at(-1)}` : ''})`,
    );
  const [range, step, extra] = item.split('/');
  if (extra !== undefined || range === '' || step === '') bad('is not a value, range or step');
  let low: number;
  let high: number;
  if (range === '*') {
    low = spec.min;
    high = spec.max;
  } else {
    const [a, b, more] = range!.split('-');
    if (more !== undefined) bad('is not a value, range or step');
    const from = atom(a!, spec);
    if (from === undefined) bad('is not a value, range or step');
    low = from!;
    if (b === undefined) {
      // `5/15` means from 5 to the end of the field, every 15.
      high = step !== undefined ? spec.max : low;
    } else {
      const to = atom(b, spec);
      if (to === undefined) bad('is not a value, range or step');
      high = to!;
    }
  }
  if (low < spec.min || high > spec.max || low > spec.max || high < spec.min) bad('is out of range');
  if (low > high) bad('is a range whose start is after its end');
  let every = 1;
  if (step !== undefined) {
    if (!/^\d+$/.test(step) || Number(step) < 1) bad('has a step that is not a whole number of at least 1');
    every = Number(step);
  }
  for (let v = low; v <= high; v += every) into.add(v);
}

function parseField(text: string, spec: FieldSpec, fail: (p: string) => never): Set<number> {
  const values = new Set<number>();
  for (const item of text.split(',')) parseItem(item, spec, fail, values);
  return values;
}

function parseDaysOfMonth(
  text: string,
  fail: (p: string) => never,
): NonNullable<CronSchedule['daysOfMonth']> {
  const days = new Set<number>();
  const special: DayOfMonthSpecial[] = [];
  for (const item of text.split(',')) {
    const upper = item.toUpperCase();
    if (upper === 'L') special.push({ kind: 'last' });
    else if (upper === 'LW') special.push({ kind: 'lastWeekday' });
    else if (/^\d+W$/.test(upper)) {
      const day = Number(upper.slice(0, -1));
      if (day < 1 || day > 31)
        fail(`the day-of-month field item "${item}" is out of range (W takes a day 1-31)`);
      special.push({ kind: 'nearestWeekday', day });
    } else parseItem(item, FIELDS.daysOfMonth, fail, days);
  }
  return { days, special };
}

function parseDaysOfWeek(text: string, fail: (p: string) => never): NonNullable<CronSchedule['daysOfWeek']> {
  const days = new Set<number>();
  const special: DayOfWeekSpecial[] = [];
  const weekday = (t: string, item: string) => {
    const v = atom(t, FIELDS.daysOfWeek);
    if (v === undefined || v < 1 || v > 7)
      fail(`the day-of-week field item "${item}" does not name a day of the week (1-7 or SUN-SAT)`);
    return v!;
  };
  for (const item of text.split(',')) {
    const nth = /^([A-Za-z]+|\d+)#(\d+)$/.exec(item);
    const last = /^([A-Za-z]+|\d+)L$/.exec(item);
    if (nth) {
      const n = Number(nth[2]);
      if (n < 1 || n > 5) fail(`the day-of-week field item "${item}" asks for occurrence ${n} (# takes 1-5)`);
      special.push({ kind: 'nth', weekday: weekday(nth[1]!, item), nth: n });
    } else if (last && !DAY_NAMES.includes(item.toUpperCase())) {
      special.push({ kind: 'lastOfMonth', weekday: weekday(last[1]!, item) });
    } else if (item.toUpperCase() === 'L') {
      fail('the day-of-week field item "L" is ambiguous here: use 7L (last Saturday), 6L (last Friday)…');
    } else parseItem(item, FIELDS.daysOfWeek, fail, days);
  }
  return { days, special };
}

function parseCron(expression: string, body: string, fail: (p: string) => never): CronSchedule {
  const parts = body.split(/\s+/).filter((p) => p !== '');
  if (parts.length !== 6)
    fail(
      `cron takes 6 fields (minutes hours day-of-month month day-of-week year), got ${parts.length}: for example cron(0 6 ? * MON-FRI *)`,
    );
  const [min, hour, dom, month, dow, year] = parts as [string, string, string, string, string, string];
  for (const [label, value] of [
    ['minutes', min],
    ['hours', hour],
    ['month', month],
    ['year', year],
  ] as const) {
    if (value === '?') fail(`"?" is only allowed in the day-of-month or day-of-week field, not in ${label}`);
  }
  if ((dom === '?') === (dow === '?'))
    fail(
      `exactly one of day-of-month ("${dom}") and day-of-week ("${dow}") must be "?": for example cron(0 6 * * ? *) or cron(0 6 ? * MON-FRI *)`,
    );
  return {
    kind: 'cron',
    expression,
    minutes: parseField(min, FIELDS.minutes, fail),
    hours: parseField(hour, FIELDS.hours, fail),
    ...(dom !== '?' ? { daysOfMonth: parseDaysOfMonth(dom, fail) } : {}),
    months: parseField(month, FIELDS.months, fail),
    ...(dow !== '?' ? { daysOfWeek: parseDaysOfWeek(dow, fail) } : {}),
    years: parseField(year, FIELDS.years, fail),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

/** The fixed origin `rate(…)` counts from unless told otherwise: the Unix epoch. */
export const RATE_ORIGIN = new Date(0);

export interface NextRunOptions {
  /** Where a rate's periods are counted from. @default {@link RATE_ORIGIN} */
  readonly origin?: Date;
}

/**
 * The first time strictly after `after` at which the schedule fires, in UTC; `undefined` when it never fires
 * again (an `at` in the past, a cron whose years are over, or a day that never comes such as 30 February).
 */
export function nextRun(schedule: Schedule, after: Date, options: NextRunOptions = {}): Date | undefined {
  const t = after.getTime();
  if (Number.isNaN(t)) throw new RangeError(`nextRun: ${String(after)} is not a time`);
  switch (schedule.kind) {
    case 'at':
      return schedule.at.getTime() > t ? new Date(schedule.at.getTime()) : undefined;
    case 'rate': {
      const origin = (options.origin ?? RATE_ORIGIN).getTime();
      const k = Math.floor((t - origin) / schedule.everyMs) + 1;
      return new Date(origin + k * schedule.everyMs);
    }
    case 'cron':
      return nextCron(schedule, t);
  }
}

const daysInMonth = (year: number, month0: number) => new Date(Date.UTC(year, month0 + 1, 0)).getUTCDate();
/** 0 = Sunday … 6 = Saturday. */
const weekdayOf = (year: number, month0: number, day: number) =>
  new Date(Date.UTC(year, month0, day)).getUTCDay();
const isWeekday = (wd: number) => wd >= 1 && wd <= 5;

/** The weekday nearest `day` without leaving the month (Quartz/EventBridge `W`). */
function nearestWeekday(year: number, month0: number, day: number): number | undefined {
  const last = daysInMonth(year, month0);
  if (day > last) return undefined;
  const wd = weekdayOf(year, month0, day);
  if (isWeekday(wd)) return day;
  if (wd === 6) return day > 1 ? day - 1 : day + 2; // Saturday: Friday before, or Monday after on the 1st
  return day < last ? day + 1 : day - 2; // Sunday: Monday after, or Friday before on the last day
}

function dayMatches(s: CronSchedule, year: number, month0: number, day: number): boolean {
  const last = daysInMonth(year, month0);
  if (s.daysOfMonth) {
    const { days, special } = s.daysOfMonth;
    if (days.has(day)) return true;
    return special.some((sp) => {
      if (sp.kind === 'last') return day === last;
      if (sp.kind === 'lastWeekday') return day === nearestWeekday(year, month0, last);
      return day === nearestWeekday(year, month0, sp.day);
    });
  }
  const { days, special } = s.daysOfWeek!;
  const wd = weekdayOf(year, month0, day) + 1; // 1 = Sunday, as in EventBridge
  if (days.has(wd)) return true;
  return special.some((sp) => {
    if (sp.weekday !== wd) return false;
    if (sp.kind === 'lastOfMonth') return day + 7 > last;
    return Math.ceil(day / 7) === sp.nth;
  });
}

const sorted = (set: ReadonlySet<number>) => [...set].sort((a, b) => a - b);

function nextCron(s: CronSchedule, after: number): Date | undefined {
  // Cron fires on whole minutes: start at the first whole minute strictly after `after`.
  const start = new Date(Math.floor(after / MINUTE_MS) * MINUTE_MS + MINUTE_MS);
  const hours = sorted(s.hours);
  const minutes = sorted(s.minutes);
  let year = start.getUTCFullYear();
  let month0 = start.getUTCMonth();
  let day = start.getUTCDate();
  let firstDay = true;
  while (year <= CRON_YEARS.max) {
    if (!s.years.has(year)) {
      year += 1;
      month0 = 0;
      day = 1;
      firstDay = false;
      continue;
    }
    if (!s.months.has(month0 + 1)) {
      month0 += 1;
      day = 1;
      firstDay = false;
      if (month0 === 12) {
        year += 1;
        month0 = 0;
      }
      continue;
    }
    if (day <= daysInMonth(year, month0) && dayMatches(s, year, month0, day)) {
      const fromHour = firstDay ? start.getUTCHours() : 0;
      for (const h of hours) {
        if (h < fromHour) continue;
        const fromMinute = firstDay && h === fromHour ? start.getUTCMinutes() : 0;
        const m = minutes.find((v) => v >= fromMinute);
        if (m !== undefined) return new Date(Date.UTC(year, month0, day, h, m));
      }
    }
    firstDay = false;
    const next = new Date(Date.UTC(year, month0, day) + DAY_MS);
    year = next.getUTCFullYear();
    month0 = next.getUTCMonth();
    day = next.getUTCDate();
  }
  return undefined;
}
