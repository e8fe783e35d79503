/**
 * The probe engine: TCP connect probes with adaptive timeouts, bounded concurrency and a hard
 * deadline. Pure Node (`node:net`, `node:dns`), so it runs unchanged inside a VPC Lambda.
 *
 * Timing follows nmap: each address has an RTT estimator (srtt/rttvar as in RFC 6298) fed by every
 * answered attempt, and an attempt times out after `clamp(srtt + 4 * rttvar, 100 ms, timeoutMs)`.
 * Attempts are checked by a sweep every few milliseconds against the host's *current* timeout, so
 * ports started before the first answer do not wait out the initial timeout once answers come in.
 */
import * as dns from 'node:dns';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  identifyService,
  SERVICE_KINDS,
  SERVICE_PORTS,
  type ServiceIdentity,
  type ServiceKind,
} from './identify';
import { resendsSynWithinASecond, SYN_RETRANSMIT_MS, synRetransmitSlackMs } from './syn-retransmit';

export { SERVICE_PORTS, type ServiceIdentity, type ServiceKind } from './identify';

/** How a port answered, or why it has no answer. */
export type ProbeState = 'open' | 'closed' | 'filtered' | 'unreachable' | 'dns-error' | 'error' | 'skipped';

/** A host (hostname, IPv4 or IPv6 literal) and the TCP ports to probe on it. */
export interface ProbeTarget {
  readonly host: string;
  readonly ports: readonly number[];
}

/** One probed port. */
export interface ProbeResult {
  /** The host as given in the target. */
  host: string;
  /** The address probed (absent when the host could not be resolved or was never reached). */
  address?: string;
  port: number;
  state: ProbeState;
  /**
   * Connect round-trip time of the concluding attempt in ms (0.1 ms precision); for `filtered`,
   * the time waited on the last attempt; null when nothing was sent (`dns-error`, `skipped`).
   */
  latencyMs: number | null;
  /**
   * The errno behind `closed` (ECONNREFUSED), `unreachable` (EHOSTUNREACH, ENETUNREACH),
   * `dns-error` (ENOTFOUND, EAI_AGAIN, …) and `error`; absent for `open`, `filtered` and `skipped`.
   */
  code?: string;
  /** Connection attempts made for this port. */
  attempts: number;
  /**
   * What answered on an `open` port of a known service (see {@link ProbeOptions.identify}); absent for other
   * ports, other states, and when identification is off.
   */
  service?: ServiceIdentity;
}

/** A snapshot passed to {@link ProbeOptions.onProgress}. */
export interface ProbeProgress {
  /** Ports concluded so far. */
  done: number;
  /** Distinct ports in the run. */
  total: number;
  counts: Record<ProbeState, number>;
  /** Sockets open right now. */
  inFlight: number;
  elapsedMs: number;
}

/** Options of {@link probe}. */
export interface ProbeOptions {
  /** Ceiling for one attempt, in ms. @default 3000 */
  timeoutMs?: number;
  /** Most sockets open at once, 1-512 (a Lambda has 1,024 file descriptors). @default 512 */
  concurrency?: number;
  /**
   * Most extra attempts for a port that looks filtered, 0-10; as in nmap, a host gets one retry
   * per port until one of its ports has needed a retry to answer. @default 2
   */
  retries?: number;
  /** Absolute deadline (epoch ms); the run returns before it. @default - none */
  deadline?: number;
  /** Time budget in ms from the call; with `deadline` too, the earlier one applies. @default - none */
  budgetMs?: number;
  /** Called after each port concludes; keep it cheap. @default - none */
  onProgress?: (p: ProbeProgress) => void;
  /** Resolves a hostname (never called for IP literals). @default - `dns.promises.lookup` */
  lookup?: (host: string) => Promise<{ address: string; family: 4 | 6 }>;
  /** Aborting acts like reaching the deadline: the run returns what it has, the rest `skipped`. */
  signal?: AbortSignal;
  /**
   * Identify what answers on open ports of known services (a TLS handshake, `GET /`, the SSH banner, an SMB2
   * NEGOTIATE) on the connection the probe opened; `false` turns it off, an object changes the port table or
   * the time limit. Identification holds its socket, so it counts against `concurrency`, and it ends before
   * the deadline (an identification cut short is `skipped`). @default true, with {@link SERVICE_PORTS}
   */
  identify?: boolean | IdentifyOptions;
}

/** Options of {@link ProbeOptions.identify}. */
export interface IdentifyOptions {
  /** Which port is identified how. @default SERVICE_PORTS */
  services?: Readonly<Record<number, ServiceKind>>;
  /** Longest identification of one port, in ms, 1-60000. @default 3000 */
  timeoutMs?: number;
}

/** Per-address timing at the end of a run. */
export interface ProbeHostStats {
  /** Smoothed connect round-trip time, or null when no attempt was answered. */
  srttMs: number | null;
  /** The attempt timeout the engine had arrived at. */
  timeoutMs: number;
}

/** The outcome of {@link probe}. */
export interface ProbeRun {
  /** One result per distinct host:port, in input order. */
  results: ProbeResult[];
  durationMs: number;
  stats: {
    /** Most sockets open at once, counted from socket creation to its `close` event. */
    maxInFlight: number;
    /** Connection attempts (sockets) in total. */
    attempts: number;
    /**
     * Set when the process ran out of file descriptors (EMFILE/ENFILE, the open-files limit): the most sockets
     * the run held at once from then on. The ports that could not get a socket were tried again, not failed.
     */
    descriptorLimit?: number;
    /** Keyed by address. */
    hosts: Record<string, ProbeHostStats>;
  };
}

/** Raised when the targets or options of {@link probe} are invalid; names the field and its value. */
export class ProbeOptionsError extends Error {
  override readonly name = 'ProbeOptionsError';
  constructor(
    /** The offending field, e.g. `concurrency` or `targets[0].ports[2]`. */
    readonly option: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`${option}: ${describe(value)} ${reason}`);
  }
}

/** The engine's fixed parameters and option defaults. */
export const PROBE_DEFAULTS = Object.freeze({
  timeoutMs: 3000,
  concurrency: 512,
  maxConcurrency: 512,
  retries: 2,
  maxRetries: 10,
  /** Floor of the adaptive timeout (nmap -T4's --min-rtt-timeout). */
  minTimeoutMs: 100,
  /**
   * Linux's initial retransmission timeout: a connect() with no answer sends its SYN again after 1 s (and the
   * kernel's timer rounding, see `syn-retransmit.ts`), inside the same attempt.
   */
  synRetransmitMs: SYN_RETRANSMIT_MS,
  /**
   * Timeout of an attempt on a host that has not answered yet, while no host of the run has (capped by
   * `timeoutMs`): it outlasts the kernel's SYN retransmission (at most 1,080 ms) by 170 ms or more, time for an
   * answer to the second SYN. Once some host has answered, the attempt lasts until the latest the second SYN
   * leaves this kernel plus the largest round-trip bound (srtt + 4 × rttvar, TCP's own retransmission bound)
   * among the hosts that have answered, at least {@link silentRttFloorMs} (as nmap times a silent host by its
   * group). Such an attempt has sent two SYNs, so it is not retried unless the host has shown loss.
   */
  initialTimeoutMs: 1250,
  /** Least round trip allowed for the answer to a silent host's second SYN: timer jitter, a near network. */
  silentRttFloorMs: 20,
  /**
   * Most connects started in one turn of the event loop; the rest follow once the answers that arrived
   * meanwhile are handled, so that none waits behind hundreds of connects and is timed long.
   */
  burst: 8,
  /** How often in-flight attempts are checked against their host's current timeout. */
  sweepIntervalMs: 10,
  /** Largest safety margin kept before the deadline (else 5% of the budget). */
  safetyMarginMs: 250,
  /** Longest identification of one open port (TLS handshake, HTTP answer, banner). */
  identifyTimeoutMs: 3000,
  /** An open port is not identified when less time than this is left before the deadline. */
  minIdentifyMs: 20,
});

/** Every probe state, from the best answer to no answer at all (the order reports use). */
export const PROBE_STATES: readonly ProbeState[] = [
  'open',
  'closed',
  'filtered',
  'unreachable',
  'dns-error',
  'error',
  'skipped',
];
// setTimeout fires at once beyond this; farther deadlines are left to the sweep.
const MAX_TIMER_MS = 2_147_483_647;

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value === null || typeof value !== 'object') return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function round1(ms: number): number {
  return Math.round(ms * 10) / 10;
}

interface Config {
  ceiling: number;
  floor: number;
  concurrency: number;
  retries: number;
  deadline: number; // epoch ms, Infinity when none
  onProgress: ((p: ProbeProgress) => void) | undefined;
  lookup: (host: string) => Promise<{ address: string; family: number }>;
  signal: AbortSignal | undefined;
  /** Port → kind of the ports to identify; empty when identification is off. */
  services: ReadonlyMap<number, ServiceKind>;
  identifyTimeoutMs: number;
}

function checkNumber(option: string, value: unknown, min: number, max: number, integer: boolean): number {
  if (typeof value !== 'number' || Number.isNaN(value) || (integer && !Number.isInteger(value))) {
    throw new ProbeOptionsError(option, value, `is not ${integer ? 'an integer' : 'a number'}`);
  }
  if (value < min || value > max) {
    throw new ProbeOptionsError(option, value, `is out of range (${min}-${max})`);
  }
  return value;
}

function validate(targets: unknown, options: unknown): Config {
  if (!Array.isArray(targets))
    throw new ProbeOptionsError('targets', targets, 'is not an array of { host, ports }');
  targets.forEach((t: unknown, i) => {
    if (t === null || typeof t !== 'object') {
      throw new ProbeOptionsError(`targets[${i}]`, t, 'is not an object { host, ports }');
    }
    const { host, ports } = t as { host?: unknown; ports?: unknown };
    if (typeof host !== 'string' || host.trim() === '') {
      throw new ProbeOptionsError(`targets[${i}].host`, host, 'is not a hostname or IP address');
    }
    if (!Array.isArray(ports))
      throw new ProbeOptionsError(`targets[${i}].ports`, ports, 'is not an array of ports');
    ports.forEach((p: unknown, j) => {
      if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) {
        throw new ProbeOptionsError(`targets[${i}].ports[${j}]`, p, 'is not a port (an integer 1-65535)');
      }
    });
  });

  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new ProbeOptionsError('options', options, 'is not an object');
  }
  const o = (options ?? {}) as ProbeOptions;
  const d = PROBE_DEFAULTS;
  const ceiling =
    o.timeoutMs === undefined ? d.timeoutMs : checkNumber('timeoutMs', o.timeoutMs, 1, 900_000, false);
  const concurrency =
    o.concurrency === undefined
      ? d.concurrency
      : checkNumber('concurrency', o.concurrency, 1, d.maxConcurrency, true);
  const retries =
    o.retries === undefined ? d.retries : checkNumber('retries', o.retries, 0, d.maxRetries, true);
  let deadline = Infinity;
  if (o.deadline !== undefined) {
    if (typeof o.deadline !== 'number' || !Number.isFinite(o.deadline)) {
      throw new ProbeOptionsError('deadline', o.deadline, 'is not a time in epoch milliseconds');
    }
    deadline = o.deadline;
  }
  if (o.budgetMs !== undefined) {
    deadline = Math.min(deadline, Date.now() + checkNumber('budgetMs', o.budgetMs, 0, 86_400_000, false));
  }
  for (const name of ['onProgress', 'lookup'] as const) {
    if (o[name] !== undefined && typeof o[name] !== 'function') {
      throw new ProbeOptionsError(name, o[name], 'is not a function');
    }
  }
  const signal = o.signal;
  if (
    signal !== undefined &&
    (typeof signal !== 'object' || signal === null || typeof signal.aborted !== 'boolean')
  ) {
    throw new ProbeOptionsError('signal', signal, 'is not an AbortSignal');
  }
  const { services, identifyTimeoutMs } = validateIdentify(o.identify);
  return {
    ceiling,
    floor: Math.min(d.minTimeoutMs, ceiling),
    concurrency,
    retries,
    deadline,
    onProgress: o.onProgress,
    lookup: o.lookup ?? ((host) => dns.promises.lookup(host)),
    signal,
    services,
    identifyTimeoutMs,
  };
}

function validateIdentify(identify: unknown): {
  services: Map<number, ServiceKind>;
  identifyTimeoutMs: number;
} {
  const off = {
    services: new Map<number, ServiceKind>(),
    identifyTimeoutMs: PROBE_DEFAULTS.identifyTimeoutMs,
  };
  if (identify === false) return off;
  if (identify === undefined || identify === true) {
    return {
      services: new Map(Object.entries(SERVICE_PORTS).map(([port, kind]) => [Number(port), kind])),
      identifyTimeoutMs: PROBE_DEFAULTS.identifyTimeoutMs,
    };
  }
  if (identify === null || typeof identify !== 'object') {
    throw new ProbeOptionsError('identify', identify, 'is not true, false or { services, timeoutMs }');
  }
  const o = identify as IdentifyOptions;
  const identifyTimeoutMs =
    o.timeoutMs === undefined
      ? PROBE_DEFAULTS.identifyTimeoutMs
      : checkNumber('identify.timeoutMs', o.timeoutMs, 1, 60_000, false);
  const table: unknown = o.services ?? SERVICE_PORTS;
  if (table === null || typeof table !== 'object' || Array.isArray(table)) {
    throw new ProbeOptionsError('identify.services', table, 'is not an object of port: kind');
  }
  const services = new Map<number, ServiceKind>();
  for (const [key, kind] of Object.entries(table)) {
    const port = Number(key);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ProbeOptionsError(
        `identify.services[${JSON.stringify(key)}]`,
        key,
        'is not a port (1-65535)',
      );
    }
    if (!SERVICE_KINDS.includes(kind as ServiceKind)) {
      throw new ProbeOptionsError(
        `identify.services[${port}]`,
        kind,
        `is not a service kind (${SERVICE_KINDS.join(', ')})`,
      );
    }
    services.set(port, kind as ServiceKind);
  }
  return { services, identifyTimeoutMs };
}

/**
 * What the hosts of a run that have answered say about the network: the largest of their current round-trip
 * bounds (recomputed after new answers, at most once per call of {@link RunTiming.answeredBoundMs}), which
 * times the attempts on hosts that have not answered. Current, not the largest ever seen: the first answers of
 * a run come back behind the burst of connects that started it and overstate the round trip.
 */
class RunTiming {
  private secondSyn: number | undefined;
  private readonly answered: RttEstimator[] = [];
  private bound: number | null = null;
  private stale = false;

  /**
   * When the kernel has sent a connect's second SYN at the latest (1 s and its timer's rounding); read when
   * first needed, once some host has answered, so that it costs the run's start nothing.
   */
  secondSynMs(): number {
    this.secondSyn ??= SYN_RETRANSMIT_MS + synRetransmitSlackMs();
    return this.secondSyn;
  }

  /** Records that an estimator has a new sample. */
  sampled(estimator: RttEstimator, first: boolean): void {
    if (first) this.answered.push(estimator);
    this.stale = true;
  }

  /** The largest round-trip bound among the hosts that have answered, or null when none has. */
  answeredBoundMs(): number | null {
    if (this.stale) {
      this.stale = false;
      let max: number | null = null;
      for (const estimator of this.answered) {
        const bound = estimator.boundMs() as number;
        if (max === null || bound > max) max = bound;
      }
      this.bound = max;
    }
    return this.bound;
  }
}

/** Per-address RTT estimator (RFC 6298 smoothing, nmap-style clamping). */
class RttEstimator {
  srtt: number | null = null;
  rttvar = 0;
  /**
   * Highest attempt number (1-based) that got an answer, an answer later than the kernel's SYN retransmission
   * counting as one to a second attempt; above 1, the host has shown loss. See {@link Engine.allowedAttempts}.
   */
  maxAnsweredAttempt = 1;

  constructor(
    private readonly floor: number,
    private readonly ceiling: number,
    private readonly run: RunTiming,
  ) {}

  sample(ms: number): void {
    const first = this.srtt === null;
    if (this.srtt === null) {
      this.srtt = ms;
      this.rttvar = ms / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - ms);
      this.srtt = 0.875 * this.srtt + 0.125 * ms;
    }
    this.run.sampled(this, first);
  }

  /** TCP's retransmission bound of this host's round trip (srtt + 4 × rttvar), or null before an answer. */
  boundMs(): number | null {
    return this.srtt === null ? null : this.srtt + 4 * this.rttvar;
  }

  /** The timeout for a first attempt right now. */
  timeout(): number {
    if (this.srtt === null) {
      const answered = this.run.answeredBoundMs();
      const silent =
        answered === null
          ? PROBE_DEFAULTS.initialTimeoutMs
          : this.run.secondSynMs() + Math.max(PROBE_DEFAULTS.silentRttFloorMs, answered);
      return Math.min(this.ceiling, silent);
    }
    return Math.min(this.ceiling, Math.max(this.floor, this.boundMs() as number));
  }
}

/** A hostname or address and the ports still to start on it. */
interface Group {
  readonly host: string;
  address: string | undefined;
  rtt: RttEstimator | undefined;
  readonly jobs: Job[];
  /** Jobs not yet started, in probing (interleaved) order. */
  queue: Job[];
  head: number;
}

/** One distinct host:port. */
interface Job {
  readonly group: Group;
  readonly port: number;
  attempts: number;
  /** Time waited by the last attempt that timed out. */
  lastWaitMs: number | null;
  result: ProbeResult | undefined;
}

interface Attempt {
  readonly job: Job;
  readonly socket: net.Socket;
  readonly startedAt: number;
  settled: boolean;
}

/** Puts ports in a spread-out order (a stride through the list) so answers come early. */
function interleave<T>(items: readonly T[]): T[] {
  const n = items.length;
  if (n <= 2) return [...items];
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let stride = Math.max(1, Math.round(n * 0.381966));
  while (gcd(stride, n) !== 1) stride++;
  const out: T[] = [];
  for (let i = 0, k = 0; i < n; i++, k = (k + stride) % n) out.push(items[k] as T);
  return out;
}

/** A result with its keys in the documented order and no undefined members. */
function makeResult(
  job: Job,
  state: ProbeState,
  latencyMs: number | null,
  code: string | undefined,
): ProbeResult {
  return {
    host: job.group.host,
    ...(job.group.address !== undefined ? { address: job.group.address } : {}),
    port: job.port,
    state,
    latencyMs: latencyMs === null ? null : round1(latencyMs),
    ...(code !== undefined ? { code } : {}),
    attempts: job.attempts,
  };
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

class Engine {
  private readonly startedAt = performance.now();
  private readonly hardStopAt: number; // performance.now() scale
  private readonly groups = new Map<string, Group>();
  private readonly jobs: Job[] = [];
  private readonly estimators = new Map<string, RttEstimator>();
  private readonly timing = new RunTiming();
  private readonly ready: Group[] = [];
  private rr = 0;
  /** Round-robin position among the hosts that have not answered yet (see {@link next}). */
  private silentRr = 0;
  private readonly retryQueue: Job[] = [];
  /** Attempts that got no socket (out of file descriptors), started again first. */
  private readonly noSocket: Job[] = [];
  /** The most sockets this process can hold, once it has run out of file descriptors. */
  private descriptorLimit: number | undefined;
  private retryHead = 0;
  private readonly active = new Set<Attempt>();
  /** Open ports being identified, with what aborts each and the kind it expects. */
  private readonly identifying = new Map<Job, { controller: AbortController; kind: ServiceKind }>();
  private readonly counts = Object.fromEntries(PROBE_STATES.map((s) => [s, 0])) as Record<ProbeState, number>;
  private concluded = 0;
  private abandoned = 0; // first attempts that no longer fit before the deadline
  private inFlight = 0;
  private maxInFlight = 0;
  private totalAttempts = 0;
  private stopping = false;
  private finished = false;
  private callbackError: { error: unknown } | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopTimer: NodeJS.Timeout | undefined;
  private sweepQueued = false;
  private pumpQueued = false;
  /** Connects started since the last turn of the event loop began (see {@link PROBE_DEFAULTS}.burst). */
  private startedThisTurn = 0;
  private resolveRun!: (run: ProbeRun) => void;
  private rejectRun!: (error: unknown) => void;

  constructor(
    targets: readonly ProbeTarget[],
    private readonly cfg: Config,
  ) {
    const now = Date.now();
    const budget = cfg.deadline - now;
    const margin = Number.isFinite(budget)
      ? Math.max(0, Math.min(PROBE_DEFAULTS.safetyMarginMs, budget * 0.05))
      : 0;
    this.hardStopAt = this.startedAt + budget - margin;

    const seen = new Set<string>();
    for (const target of targets) {
      let group = this.groups.get(target.host);
      if (!group) {
        group = { host: target.host, address: undefined, rtt: undefined, jobs: [], queue: [], head: 0 };
        this.groups.set(target.host, group);
      }
      for (const port of target.ports) {
        const key = `${port}/${target.host}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const job: Job = { group, port, attempts: 0, lastWaitMs: null, result: undefined };
        group.jobs.push(job);
        this.jobs.push(job);
      }
    }
  }

  run(): Promise<ProbeRun> {
    return new Promise<ProbeRun>((resolve, reject) => {
      this.resolveRun = resolve;
      this.rejectRun = reject;
      const { signal } = this.cfg;
      if (signal?.aborted || this.hardStopAt <= this.startedAt) {
        this.stop();
        return;
      }
      signal?.addEventListener('abort', this.onAbort, { once: true });
      const untilStop = this.hardStopAt - performance.now();
      if (untilStop < MAX_TIMER_MS) this.stopTimer = setTimeout(() => this.stop(), untilStop);
      this.sweepTimer = setInterval(this.queueSweep, PROBE_DEFAULTS.sweepIntervalMs);

      for (const group of this.groups.values()) {
        if (group.jobs.length === 0) continue;
        const literal = stripBrackets(group.host);
        if (net.isIP(literal) !== 0) this.onResolved(group, literal);
        else this.resolve(group);
      }
      this.pump();
      this.maybeFinish();
    });
  }

  private readonly onAbort = (): void => this.stop();

  // Sweeping in the check phase (after poll) lets answers that already arrived be handled first.
  private readonly queueSweep = (): void => {
    if (this.sweepQueued) return;
    this.sweepQueued = true;
    setImmediate(() => {
      this.sweepQueued = false;
      this.sweep();
    });
  };

  private resolve(group: Group): void {
    let answer: Promise<{ address: string; family: number }>;
    try {
      answer = Promise.resolve(this.cfg.lookup(group.host));
    } catch (error) {
      answer = Promise.reject(error);
    }
    answer.then(
      (answer) => {
        if (this.stopping) return;
        const address = typeof answer?.address === 'string' ? answer.address : '';
        if (net.isIP(address) === 0) {
          this.failGroup(group, 'EBADRESP');
        } else {
          this.onResolved(group, address);
        }
        this.pump();
        this.maybeFinish();
      },
      (error: unknown) => {
        if (this.stopping) return;
        const code = (error as { code?: unknown } | null)?.code;
        this.failGroup(group, typeof code === 'string' ? code : 'ENOTFOUND');
        this.maybeFinish();
      },
    );
  }

  private onResolved(group: Group, address: string): void {
    group.address = address;
    let rtt = this.estimators.get(address);
    if (!rtt) {
      rtt = new RttEstimator(this.cfg.floor, this.cfg.ceiling, this.timing);
      this.estimators.set(address, rtt);
    }
    group.rtt = rtt;
    group.queue = interleave(group.jobs);
    if (group.queue.length > 0) this.ready.push(group);
  }

  private failGroup(group: Group, code: string): void {
    for (const job of group.jobs) this.conclude(job, 'dns-error', null, code);
  }

  /**
   * Attempts a port may get: like nmap, a host that has only ever answered first attempts gets one
   * retry; once a port of it needed a retry to answer, ports get up to `retries`.
   */
  private allowedAttempts(job: Job): number {
    const rtt = job.group.rtt!;
    return 1 + Math.min(this.cfg.retries, rtt.maxAnsweredAttempt);
  }

  /**
   * Whether a port whose attempt timed out after `limit` ms gets another. Not after waiting the full ceiling;
   * not after an attempt long enough for the kernel's own SYN retransmission (a host that has not answered
   * yet gets those), unless the host has shown loss; otherwise up to {@link allowedAttempts}.
   */
  private mayRetry(job: Job, limit: number): boolean {
    if (limit >= this.cfg.ceiling || job.attempts >= this.allowedAttempts(job)) return false;
    const sentTwoSyns = resendsSynWithinASecond() && limit > this.timing.secondSynMs();
    return !sentTwoSyns || job.group.rtt!.maxAnsweredAttempt > 1;
  }

  /** The timeout of the job's current attempt: the host's, doubled per retry, capped. */
  private attemptTimeout(job: Job): number {
    const base = job.group.rtt!.timeout();
    return Math.min(this.cfg.ceiling, base * 2 ** Math.max(0, job.attempts - 1));
  }

  /**
   * The next port of a host that has not answered yet. Such ports hold their socket longest (the initial timeout,
   * past the kernel's SYN retransmission): started first, their wait overlaps the quick answers of the other
   * hosts instead of trailing after them.
   */
  private nextSilent(): Job | undefined {
    for (let i = 0, n = this.ready.length; i < n; i++) {
      const index = (this.silentRr + i) % n;
      const group = this.ready[index] as Group;
      if (group.rtt!.srtt === null && group.head < group.queue.length) {
        this.silentRr = index + 1;
        return group.queue[group.head++];
      }
    }
    return undefined;
  }

  private next(): Job | undefined {
    const again = this.noSocket.pop();
    if (again) return again;
    const silent = this.nextSilent();
    if (silent) return silent;
    while (this.ready.length > 0) {
      if (this.rr >= this.ready.length) this.rr = 0;
      const group = this.ready[this.rr] as Group;
      if (group.head < group.queue.length) {
        this.rr++;
        return group.queue[group.head++];
      }
      this.ready.splice(this.rr, 1);
    }
    if (this.retryHead < this.retryQueue.length) {
      const job = this.retryQueue[this.retryHead++];
      if (this.retryHead > 1024 && this.retryHead * 2 > this.retryQueue.length) {
        this.retryQueue.splice(0, this.retryHead);
        this.retryHead = 0;
      }
      return job;
    }
    return undefined;
  }

  private pump(): void {
    while (
      !this.stopping &&
      this.inFlight < Math.min(this.cfg.concurrency, this.descriptorLimit ?? Infinity)
    ) {
      let job: Job | undefined;
      if (this.startedThisTurn >= PROBE_DEFAULTS.burst) {
        // The rest after the answers that came in meanwhile: an answer handled late is a round trip measured
        // long, and the timeouts of every host follow from those. Counted per turn of the event loop, not per
        // call: every closed socket calls this. Once some host has answered, the ports of hosts that have not
        // are not held back: they wait a second or more each, so a late start costs the whole run that long,
        // while a few milliseconds more on an answer they may still give changes little.
        job = this.timing.answeredBoundMs() === null ? undefined : this.nextSilent();
        if (!job) {
          this.queuePump();
          return;
        }
      } else {
        job = this.next();
        if (!job) return;
      }
      const now = performance.now();
      // The timeout of a first attempt is the host's, doubled per retry: it has to fit. On a host that has
      // not answered yet, a first attempt is worth starting while the first SYN's wait (up to the kernel's
      // retransmission) fits: an answer then shortens every timeout of the host.
      const rtt = job.group.rtt!;
      const needed =
        rtt.srtt === null && job.attempts === 0
          ? Math.min(this.cfg.ceiling, PROBE_DEFAULTS.synRetransmitMs)
          : Math.min(this.cfg.ceiling, rtt.timeout() * 2 ** job.attempts);
      if (now + needed > this.hardStopAt) {
        // A retry keeps the answer it has; a first attempt is left for `skipped` (a host's timeout
        // only shrinks when it answers, so waiting for a better estimate is not worth it here).
        if (job.attempts > 0) this.conclude(job, 'filtered', job.lastWaitMs, undefined);
        else this.abandoned++;
        continue;
      }
      this.start(job);
      this.startedThisTurn++;
    }
  }

  private queuePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.startedThisTurn = 0;
      if (this.finished) return;
      this.pump();
      this.maybeFinish();
    });
  }

  private start(job: Job): void {
    job.attempts++;
    this.totalAttempts++;
    const socket = new net.Socket();
    const attempt: Attempt = { job, socket, startedAt: performance.now(), settled: false };
    this.active.add(attempt);
    this.inFlight++;
    if (this.inFlight > this.maxInFlight) this.maxInFlight = this.inFlight;
    socket.on('error', (err: NodeJS.ErrnoException) => this.onError(attempt, err));
    socket.once('connect', () => this.onConnect(attempt));
    socket.once('close', () => {
      this.inFlight--;
      this.pump();
      this.maybeFinish();
    });
    const address = job.group.address!;
    try {
      socket.connect({ host: address, port: job.port, family: net.isIP(address) });
    } catch (error) {
      this.onError(attempt, error as NodeJS.ErrnoException);
    }
  }

  private settle(attempt: Attempt): boolean {
    if (attempt.settled) return false;
    attempt.settled = true;
    this.active.delete(attempt);
    return true;
  }

  private answered(attempt: Attempt, state: ProbeState, code: string | undefined, at: number): void {
    const rttMs = at - attempt.startedAt;
    const { job } = attempt;
    const rtt = job.group.rtt!;
    rtt.sample(rttMs);
    // An answer after the kernel re-sent the SYN most likely answers that second SYN: the first was lost.
    const answeredAttempt = job.attempts + (rttMs > PROBE_DEFAULTS.synRetransmitMs ? 1 : 0);
    if (answeredAttempt > rtt.maxAnsweredAttempt) rtt.maxAnsweredAttempt = answeredAttempt;
    this.conclude(job, state, rttMs, code);
  }

  private onConnect(attempt: Attempt): void {
    const at = performance.now();
    if (!this.settle(attempt)) return;
    this.answered(attempt, 'open', undefined, at);
    const kind = this.cfg.services.get(attempt.job.port);
    if (kind === undefined || this.stopping) {
      // A reset instead of a FIN: no TIME_WAIT left behind for every open port.
      attempt.socket.resetAndDestroy();
      return;
    }
    this.identify(attempt, kind);
  }

  /**
   * Identifies the service on the socket the probe just opened. The socket stays open (and counted in flight)
   * until the identification ends, which is before the hard stop; {@link stop} aborts the ones still running.
   */
  private identify(attempt: Attempt, kind: ServiceKind): void {
    const { job, socket } = attempt;
    const result = job.result as ProbeResult;
    const left = this.hardStopAt - performance.now();
    if (left < PROBE_DEFAULTS.minIdentifyMs) {
      socket.resetAndDestroy();
      result.service = { kind: 'skipped', expected: kind, reason: 'no time was left before the deadline' };
      return;
    }
    const controller = new AbortController();
    this.identifying.set(job, { controller, kind });
    void identifyService(socket, kind, {
      host: stripBrackets(job.group.host),
      port: job.port,
      timeoutMs: Math.max(1, Math.min(this.cfg.identifyTimeoutMs, left)),
      signal: controller.signal,
    })
      .catch((error: unknown): ServiceIdentity => {
        // identifyService does not reject; should it ever, the port must not hold the run open.
        if (!socket.destroyed) socket.destroy();
        return { kind: 'none', expected: kind, reason: `identification failed: ${String(error)}` };
      })
      .then((service) => {
        if (this.finished || !this.identifying.delete(job)) return;
        result.service = service;
        this.maybeFinish();
      });
  }

  private onError(attempt: Attempt, err: NodeJS.ErrnoException): void {
    const at = performance.now();
    if (!this.settle(attempt)) return;
    attempt.socket.destroy();
    const code = typeof err.code === 'string' ? err.code : 'UNKNOWN';
    switch (code) {
      case 'ECONNREFUSED':
        this.answered(attempt, 'closed', code, at);
        return;
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        this.answered(attempt, 'unreachable', code, at);
        return;
      case 'ETIMEDOUT':
        // The kernel gave up retransmitting the SYN: as good as waiting out the ceiling.
        this.conclude(attempt.job, 'filtered', at - attempt.startedAt, undefined);
        return;
      case 'EMFILE':
      case 'ENFILE':
        if (this.outOfDescriptors(attempt)) return;
        this.conclude(attempt.job, 'error', at - attempt.startedAt, code);
        return;
      default:
        this.conclude(attempt.job, 'error', at - attempt.startedAt, code);
    }
  }

  /**
   * An attempt that got no socket because this process (EMFILE) or the system (ENFILE) is out of file
   * descriptors says nothing about the port: it is started again once a socket closes, and the run holds fewer
   * sockets from now on (those open now, less a tenth for DNS, identification and the rest of the process).
   * False when none of this run's sockets is open: then no socket can be had at all, and the port is an error.
   */
  private outOfDescriptors(attempt: Attempt): boolean {
    const open = this.inFlight - 1; // this attempt's socket is counted until its `close`
    if (open < 1) return false;
    const limit = Math.max(1, Math.floor(open * 0.9));
    this.descriptorLimit = Math.min(this.descriptorLimit ?? limit, limit);
    const { job } = attempt;
    job.attempts--;
    this.totalAttempts--;
    this.noSocket.push(job);
    return true;
  }

  private sweep(): void {
    if (this.finished) return;
    const now = performance.now();
    if (now >= this.hardStopAt) {
      this.stop();
      return;
    }
    for (const attempt of this.active) {
      const waited = now - attempt.startedAt;
      const limit = this.attemptTimeout(attempt.job);
      if (waited < limit) continue;
      this.settle(attempt);
      attempt.socket.destroy();
      const { job } = attempt;
      if (this.mayRetry(job, limit)) {
        job.lastWaitMs = waited;
        this.retryQueue.push(job);
      } else {
        this.conclude(job, 'filtered', waited, undefined);
      }
    }
    this.pump();
  }

  private conclude(job: Job, state: ProbeState, latencyMs: number | null, code: string | undefined): void {
    if (job.result) return;
    job.result = makeResult(job, state, latencyMs, code);
    this.concluded++;
    this.counts[state]++;
    this.report();
  }

  private report(): void {
    const { onProgress } = this.cfg;
    if (!onProgress || this.callbackError) return;
    try {
      onProgress({
        done: this.concluded,
        total: this.jobs.length,
        counts: { ...this.counts },
        inFlight: this.inFlight,
        elapsedMs: round1(performance.now() - this.startedAt),
      });
    } catch (error) {
      this.callbackError = { error };
      this.stop();
    }
  }

  /** Deadline, abort or a failing callback: abort in-flight attempts and wrap up. */
  private stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    for (const attempt of [...this.active]) {
      this.settle(attempt);
      attempt.socket.destroy();
      // A port that already timed out once keeps that answer; one never answered is skipped.
      const { job } = attempt;
      if (job.lastWaitMs !== null) this.conclude(job, 'filtered', job.lastWaitMs, undefined);
    }
    for (const [job, { controller, kind }] of this.identifying) {
      controller.abort();
      (job.result as ProbeResult).service = {
        kind: 'skipped',
        expected: kind,
        reason: 'the time budget ran out (or the run was interrupted) before the service answered',
      };
    }
    this.identifying.clear();
    for (let i = this.retryHead; i < this.retryQueue.length; i++) {
      const job = this.retryQueue[i] as Job;
      this.conclude(job, 'filtered', job.lastWaitMs, undefined);
    }
    // A retry that was waiting for a socket keeps the answer it has, as one waiting in the queue does.
    for (const job of this.noSocket)
      if (job.lastWaitMs !== null) this.conclude(job, 'filtered', job.lastWaitMs, undefined);
    this.finish();
  }

  private maybeFinish(): void {
    if (this.finished) return;
    if (
      this.inFlight === 0 &&
      this.identifying.size === 0 &&
      this.concluded + this.abandoned === this.jobs.length
    )
      this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.stopping = true;
    clearInterval(this.sweepTimer);
    clearTimeout(this.stopTimer);
    this.cfg.signal?.removeEventListener('abort', this.onAbort);

    const skipped = this.jobs.filter((job) => !job.result);
    for (const job of skipped) {
      job.result = makeResult(job, 'skipped', null, undefined);
      this.counts.skipped++;
      this.concluded++;
    }
    if (skipped.length > 0) this.report();

    const hosts: Record<string, ProbeHostStats> = {};
    for (const [address, rtt] of this.estimators) {
      hosts[address] = {
        srttMs: rtt.srtt === null ? null : round1(rtt.srtt),
        timeoutMs: round1(rtt.timeout()),
      };
    }
    const run: ProbeRun = {
      results: this.jobs.map((job) => job.result as ProbeResult),
      durationMs: round1(performance.now() - this.startedAt),
      stats: {
        maxInFlight: this.maxInFlight,
        attempts: this.totalAttempts,
        hosts,
        ...(this.descriptorLimit !== undefined ? { descriptorLimit: this.descriptorLimit } : {}),
      },
    };
    if (this.callbackError) this.rejectRun(this.callbackError.error);
    else this.resolveRun(run);
  }
}

/**
 * Probes every port of every target with TCP connects and classifies each: `open` (connected),
 * `closed` (refused), `filtered` (no answer), `unreachable` (EHOSTUNREACH/ENETUNREACH),
 * `dns-error`, `error`, or `skipped` when the deadline or abort came first.
 *
 * Each distinct hostname is resolved once, while other hosts are probed; duplicate host:port pairs
 * are probed once and reported once, at their first position. Never more than `concurrency`
 * sockets are open; the call returns before `deadline` (or `budgetMs`) minus a safety margin of
 * min(250 ms, 5% of the budget), with what was concluded and the rest `skipped`.
 *
 * A port that timed out under an adaptive timeout shorter than `timeoutMs` is retried with the
 * timeout doubled (capped at `timeoutMs`), so a lost SYN is not taken for a firewall. As in nmap,
 * the number of retries follows the host: one while every answer came on a first attempt, up to
 * `retries` once an answer needed a retry (or came after the kernel re-sent the SYN). A host that
 * has answered nothing yet gets one attempt per port that lasts past the kernel's own SYN
 * retransmission (see {@link PROBE_DEFAULTS}.initialTimeoutMs), and no retry until it shows loss.
 *
 * An open port of a known service (by default {@link SERVICE_PORTS}: TLS on 443, 8443 and 2376, HTTP on 8080,
 * 8081, 18080 and 5985, SSH on 22, SMB on 445) is then identified on the same connection, and its result gets
 * a `service`: what answered, `none` with the reason when something else did, or `skipped` when the deadline
 * came first. Identification never changes a port's state.
 *
 * @throws ProbeOptionsError (as a rejection) when a target or option is invalid.
 * @throws whatever `onProgress` throws, after the run has been stopped.
 */
export async function probe(targets: readonly ProbeTarget[], options?: ProbeOptions): Promise<ProbeRun> {
  const cfg = validate(targets, options);
  return new Engine(targets, cfg).run();
}
