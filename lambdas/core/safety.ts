/**
 * The safety rules of DESIGN.md: the service probes only what an environment declares, only on the ports of its
 * profiles plus its own flows, and only inside the deployment's `allowedTargetCidrs`. Host names are resolved
 * and every address they resolve to is checked. Link-local and instance-metadata addresses, `0.0.0.0/8`,
 * multicast and broadcast are always refused; loopback is refused in AWS mode and allowed in local mode (so that
 * a newcomer can try the service against their own machine), but it must still be inside `allowedTargetCidrs`.
 *
 * The API applies them before anything is stored or started; the prober applies the address rules again right
 * before it connects (since a name can resolve differently later) through `target-policy.ts`, which has no
 * dependency beyond Node.
 */
import type { Catalog } from './catalog';
import { classifyAddress, type Environment } from './environment';
import { formatPath } from './errors';
import { plan, probeTargetsFromHere } from './plan';
import { mergePortRanges, parsePortList, type PortRange } from './ports';
import {
  parseAllowedCidrs,
  type Resolver,
  type SafetyProblem,
  systemResolver,
  type TargetPolicy,
  vetTarget,
} from './target-policy';

export {
  type IpBlock,
  type IpValue,
  LOCAL_ALLOWED_TARGET_CIDRS,
  parseAllowedCidrs,
  parseCidr,
  parseIp,
  refusalOf,
  type Resolver,
  SafetyConfigError,
  type SafetyMode,
  type SafetyProblem,
  systemResolver,
  type TargetPolicy,
} from './target-policy';

/**
 * Checks one address, host name or CIDR as written at `path` through {@link vetTarget}: host names are resolved
 * and every address is checked. A name that does not resolve is not refused here: the probe step, which vets it
 * again right before it connects, gives its flow a `dns-error` finding. Returns one problem per refusal (empty
 * when the target is allowed).
 */
export async function checkTarget(
  path: string,
  target: string,
  policy: TargetPolicy,
  resolve: Resolver = systemResolver,
): Promise<SafetyProblem[]> {
  const shown = JSON.stringify(target);
  const kind = classifyAddress(target);
  if (kind === undefined) return [{ path, message: `${shown} is not a host name, IP address or CIDR block` }];
  const decision = await vetTarget(target, policy, resolve);
  if (decision.kind !== 'refused') return [];
  return decision.reasons.map((why) => ({ path, message: `${shown} ${why}: refused` }));
}

/** The ports an environment may be probed on: its profiles' requirements plus its own flows. */
export function allowedPorts(env: Environment, catalog: Catalog): { tcp: PortRange[]; udp: PortRange[] } {
  const tcp: PortRange[] = [];
  const udp: PortRange[] = [];
  for (const id of env.profiles) {
    for (const r of catalog.profile(id)?.requirements ?? [])
      (r.protocol === 'udp' ? udp : tcp).push(...r.ports);
  }
  for (const f of env.flows) (f.protocol === 'udp' ? udp : tcp).push(...parsePortList(f.ports));
  return { tcp: mergePortRanges(tcp), udp: mergePortRanges(udp) };
}

const inRanges = (ranges: readonly PortRange[], p: PortRange) =>
  ranges.some((r) => r.from <= p.from && p.to <= r.to);

/**
 * Applies every safety rule to a validated environment: each endpoint address and each address of its own flows
 * that is probed is inside the allowed CIDRs and not forbidden (host names resolved, every address checked), and
 * every flow of its plan stays on the ports of its profiles and its own flows. A target no flow probes (a SaaS
 * endpoint, a CIDR that is only audited) is not refused for where it is: nothing connects to it.
 * @returns the problems, each naming the field and the value; empty when the environment may be checked.
 * @throws SafetyConfigError when `policy.allowedTargetCidrs` holds something that is not a CIDR.
 */
export async function checkEnvironmentSafety(
  env: Environment,
  catalog: Catalog,
  policy: TargetPolicy,
  resolve: Resolver = systemResolver,
): Promise<SafetyProblem[]> {
  parseAllowedCidrs(policy.allowedTargetCidrs);
  const planned = plan(env, catalog);
  const probed = new Set(probeTargetsFromHere(planned).map((t) => t.host));
  const targets: Array<{ path: string; target: string }> = [];
  const add = (path: string, target: string) => {
    // Not probed: only its form is checked (an address that is not one is still refused).
    if (probed.has(target) || classifyAddress(target) === undefined) targets.push({ path, target });
  };
  for (const [role, addresses] of Object.entries(env.endpoints)) {
    addresses.forEach((target, i) => add(formatPath(['endpoints', role, i]), target));
  }
  env.flows.forEach((f, i) => f.to.forEach((target, j) => add(formatPath(['flows', i, 'to', j]), target)));
  // One lookup per distinct name, however often it is written.
  const lookups = new Map<string, Promise<string[]>>();
  const cachedResolve: Resolver = (name) => {
    const key = name.toLowerCase();
    let p = lookups.get(key);
    if (!p) {
      p = resolve(name);
      lookups.set(key, p);
    }
    return p;
  };
  const perTarget = await Promise.all(
    targets.map((t) => checkTarget(t.path, t.target, policy, cachedResolve)),
  );
  const problems = perTarget.flat();

  const ports = allowedPorts(env, catalog);
  for (const flow of planned.flows) {
    const allowed = flow.protocol === 'udp' ? ports.udp : ports.tcp;
    for (const range of flow.ports) {
      if (!inRanges(allowed, range)) {
        problems.push({
          path: 'flows',
          message: `flow ${flow.id} would reach port(s) ${range.from}-${range.to}/${flow.protocol}, which neither the profiles nor the environment's own flows declare: refused`,
        });
      }
    }
  }
  return problems;
}
