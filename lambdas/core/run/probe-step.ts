/**
 * The probe step of a check run: one vantage's targets through the probe engine, never past a deadline. It has
 * no dependency beyond Node (no zod, no AWS SDK) because the prober Lambda, which runs it inside the VPC, must
 * stay small and needs no AWS API access.
 */
import { isIP } from 'node:net';
import { probe, type ProbeResult, type ProbeTarget } from '../probe';
import { type Resolver, systemResolver, type TargetPolicy, vetTarget } from '../target-policy';

export interface ProbeStepInput {
  readonly vantage: string;
  readonly targets: readonly ProbeTarget[];
  readonly timeoutMs?: number;
  readonly concurrency?: number;
  readonly retries?: number;
  /** Epoch ms; the step returns before it with what it has (the rest `skipped`). */
  readonly deadline?: number;
}
export interface ProbeStepOutput {
  readonly vantage: string;
  readonly results: ProbeResult[];
  readonly durationMs: number;
  /** Targets the policy refused, with why (their ports are `error` with code {@link POLICY_REFUSED}). */
  readonly refusals?: string[];
}

/** Dependencies of {@link probeStep}; tests and local shutdown inject them. */
export interface ProbeStepDeps {
  /** @default - the probe engine */
  readonly engine?: typeof probe;
  /** Aborting returns what was concluded, the rest `skipped`. */
  readonly signal?: AbortSignal;
  /**
   * The target policy applied right before connecting, in every mode and on every trigger (the API vetted the
   * environment when it was stored, but a stored schedule outlives a narrower `--allow`, and a name can resolve
   * elsewhere by now: DNS rebinding). Host names are resolved once here, every address is checked, and the
   * engine connects to the address that was checked. A refused target is not probed: its ports are `error` with
   * code {@link POLICY_REFUSED}. A name that does not resolve gets `dns-error` on its ports.
   */
  readonly policy: TargetPolicy;
  /** Resolves host names for the policy check. @default - the system resolver (every address) */
  readonly resolve?: Resolver;
}

/** The code of a port the prober refused to probe under its target policy. */
export const POLICY_REFUSED = 'EPOLICY';

interface Vetted {
  readonly allowed: ProbeTarget[];
  readonly refused: ProbeResult[];
  readonly refusals: string[];
  /** The first address of each allowed host name: what the engine connects to. */
  readonly addresses: Map<string, { address: string; family: 4 | 6 }>;
}

async function vet(
  targets: readonly ProbeTarget[],
  policy: TargetPolicy,
  resolve: Resolver,
): Promise<Vetted> {
  const out: Vetted = { allowed: [], refused: [], refusals: [], addresses: new Map() };
  const unresolved = (t: ProbeTarget, code: string) => {
    for (const port of t.ports) {
      out.refused.push({ host: t.host, port, state: 'dns-error', latencyMs: null, code, attempts: 0 });
    }
  };
  const refuse = (t: ProbeTarget, why: string) => {
    out.refusals.push(why);
    for (const port of t.ports) {
      out.refused.push({
        host: t.host,
        port,
        state: 'error',
        latencyMs: null,
        code: POLICY_REFUSED,
        attempts: 0,
      });
    }
  };
  await Promise.all(
    targets.map(async (t) => {
      const decision = await vetTarget(t.host, policy, resolve);
      if (decision.kind === 'unresolved') {
        // Not a refusal: the flow is told that its name does not resolve (as the engine would say).
        unresolved(t, decision.code);
      } else if (decision.kind === 'refused') {
        refuse(t, decision.reasons.map((why) => `${t.host} ${why}`).join('; '));
      } else {
        const first = decision.addresses[0] as string;
        if (!isIP(t.host)) out.addresses.set(t.host, { address: first, family: isIP(first) === 6 ? 6 : 4 });
        out.allowed.push(t);
      }
    }),
  );
  return out;
}

/** Probes one vantage's targets with the engine, never past `deadline`. */
export async function probeStep(input: ProbeStepInput, deps: ProbeStepDeps): Promise<ProbeStepOutput> {
  const engine = deps.engine ?? probe;
  const started = Date.now();
  const vetted = await vet(input.targets, deps.policy, deps.resolve ?? systemResolver);
  const { allowed: targets, refused, refusals } = vetted;
  // The engine never resolves a name itself: it connects to the address vetted above.
  const lookup = async (host: string) => {
    const found = vetted.addresses.get(host);
    if (!found) throw Object.assign(new Error(`${host} was not vetted`), { code: POLICY_REFUSED });
    return found;
  };
  const run = await engine(targets, {
    ...(input.timeoutMs !== undefined ? { timeoutMs: input.timeoutMs } : {}),
    ...(input.concurrency !== undefined ? { concurrency: input.concurrency } : {}),
    ...(input.retries !== undefined ? { retries: input.retries } : {}),
    ...(input.deadline !== undefined ? { deadline: input.deadline } : {}),
    ...(deps.signal ? { signal: deps.signal } : {}),
    lookup,
  });
  return {
    vantage: input.vantage,
    results: [...run.results, ...refused],
    durationMs: Date.now() - started,
    ...(refusals.length > 0 ? { refusals: refusals.sort() } : {}),
  };
}
