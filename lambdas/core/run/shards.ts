/**
 * Shards of a check run: each vantage's targets split into pieces that one prober invocation finishes inside its
 * own budget, and whose results fit in a Step Functions state. Pure functions, no I/O; the start step plans the
 * shards, the state machine's Distributed Map runs them, each with its own deadline.
 */
import type { ProbeTarget } from '../probe';

/**
 * Host:port pairs of one shard at most, whatever the budget allows: the prober returns its shard's results through
 * the state machine (it makes no AWS API call), so they must stay far below Step Functions' 256 KB state limit. A
 * silent or refused port is about 75 bytes of JSON (500 of them about 37 KB), an identified open port at most about
 * 450 (500 of them about 225 KB).
 */
export const MAX_SHARD_PAIRS = 500;

/**
 * Shards of one run at most. The Map's item list is the only thing in the state that grows with the wave (one
 * number per shard, at most about 5 KB), and this bound keeps it so.
 */
export const MAX_SHARDS = 1000;

/**
 * Host:port pairs one run may probe at most (summed over its vantages), so that the service is no general port
 * scanner: a 1,000-host PrimaryIO HDM wave is about 65,000. The API refuses more; it is well inside what
 * {@link MAX_SHARDS} shards of {@link MAX_SHARD_PAIRS} hold.
 */
export const MAX_PROBE_PAIRS_PER_RUN = 200_000;

/**
 * Flows one run may plan at most. The probes are bounded by the shards (above); what grows with flows is the finish
 * step, which combines and writes one finding per flow (25 per BatchWriteItem) in one Lambda invocation, and the
 * reports. A 1,000-host PrimaryIO HDM wave plans 2,928 flows.
 */
export const MAX_FLOWS_PER_RUN = 20_000;

/**
 * The factor by which a shard's worst-case probing time must undercut its budget: DNS, identification of open
 * ports, cold starts and the kernel's scheduling all take some of it.
 */
export const SHARD_MARGIN = 1.5;

/** What a shard's size follows from. */
export interface ShardSizing {
  /** One shard's budget: the deadline it gets when it starts, in ms. */
  readonly budgetMs: number;
  /** The engine's timeout of one attempt, in ms. */
  readonly timeoutMs: number;
  /** Extra attempts a filtered port may get. */
  readonly retries: number;
  /** Sockets one prober keeps open at once. */
  readonly concurrency: number;
  /**
   * The longest identification of an open port (it holds its socket that long), or 0 when no target port is one
   * the engine identifies.
   */
  readonly identifyMs: number;
}

/** Raised when the targets cannot be split into shards that each finish in time; says what to change. */
export class ShardPlanError extends Error {
  override readonly name = 'ShardPlanError';
}

/**
 * The longest a port holds a socket: when nothing answers, every attempt waits its full timeout (the engine's
 * attempt timeouts never exceed `timeoutMs`); when it opens, its connect and its identification.
 */
export function worstPortMs(sizing: Pick<ShardSizing, 'timeoutMs' | 'retries' | 'identifyMs'>): number {
  return Math.max(sizing.timeoutMs * (1 + sizing.retries), sizing.timeoutMs + sizing.identifyMs);
}

/**
 * Host:port pairs one shard may hold: as many as `concurrency` sockets probe inside the budget when every port is
 * silent (ports × worst time ÷ concurrency ≤ budget ÷ margin), and never more than {@link MAX_SHARD_PAIRS}.
 * @throws ShardPlanError when not even one port fits the budget.
 */
export function shardCapacity(sizing: ShardSizing): number {
  const perPort = worstPortMs(sizing) * SHARD_MARGIN;
  const fits = Math.floor((sizing.budgetMs * sizing.concurrency) / perPort);
  if (fits < 1) {
    throw new ShardPlanError(
      `a port takes up to ${worstPortMs(sizing)} ms (timeoutMs ${sizing.timeoutMs} × ${1 + sizing.retries} attempts, or a connect and ${sizing.identifyMs} ms of identification), more than a shard's budget of ${sizing.budgetMs} ms allows with a margin of ${SHARD_MARGIN}: lower probe.timeoutMs or probe.retries, or raise the deployment's probeBudgetSeconds`,
    );
  }
  return Math.min(MAX_SHARD_PAIRS, fits);
}

/** One vantage's targets split by {@link splitTargets}. */
export interface Shard {
  readonly vantage: string;
  readonly targets: ProbeTarget[];
}

/**
 * Splits each vantage's targets into shards of at most `capacity` host:port pairs, in order: a host's ports stay
 * together when they fit, and a host with more ports than a shard holds is spread over several.
 */
export function splitTargets(
  jobs: ReadonlyArray<{ readonly vantage: string; readonly targets: readonly ProbeTarget[] }>,
  capacity: number,
): Shard[] {
  if (!Number.isInteger(capacity) || capacity < 1)
    throw new RangeError(`a shard holds at least one port (capacity ${capacity})`);
  const shards: Shard[] = [];
  for (const job of jobs) {
    let current: ProbeTarget[] = [];
    let pairs = 0;
    const close = () => {
      if (current.length > 0) shards.push({ vantage: job.vantage, targets: current });
      current = [];
      pairs = 0;
    };
    for (const target of job.targets) {
      let ports = [...target.ports];
      // A host that does not fit in what is left starts a new shard, unless it fills whole shards anyway.
      if (pairs > 0 && pairs + ports.length > capacity && ports.length <= capacity) close();
      while (ports.length > 0) {
        const room = capacity - pairs;
        const piece = ports.slice(0, room);
        ports = ports.slice(room);
        current.push({ host: target.host, ports: piece });
        pairs += piece.length;
        if (pairs >= capacity) close();
      }
    }
    close();
  }
  return shards;
}

/**
 * The shards of a run: every vantage's targets split by {@link shardCapacity}.
 * @throws ShardPlanError when they would need more than {@link MAX_SHARDS} shards, naming the numbers.
 */
export function planShards(
  jobs: ReadonlyArray<{ readonly vantage: string; readonly targets: readonly ProbeTarget[] }>,
  sizing: ShardSizing,
): Shard[] {
  const capacity = shardCapacity(sizing);
  const shards = splitTargets(jobs, capacity);
  if (shards.length > MAX_SHARDS) {
    const pairs = jobs.reduce((n, j) => n + j.targets.reduce((m, t) => m + t.ports.length, 0), 0);
    throw new ShardPlanError(
      `${pairs} host:port pairs need ${shards.length} shards of at most ${capacity} (timeoutMs ${sizing.timeoutMs}, retries ${sizing.retries}, concurrency ${sizing.concurrency}, shard budget ${sizing.budgetMs} ms); one run runs at most ${MAX_SHARDS}: split the environment, or lower probe.timeoutMs or probe.retries`,
    );
  }
  return shards;
}
