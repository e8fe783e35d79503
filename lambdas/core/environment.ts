import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { classifyAddress } from './address-kind';
import type { Catalog } from './catalog';
import { placementSchema, portListSchema, protocolSchema } from './catalog/schema';
import { countPorts, formatPortList } from './ports';
import { describeValue, formatIssues, formatPath } from './errors';
import { PROBE_DEFAULTS } from './probe';
import { parseSchedule, ScheduleError } from './schedule';

export { type AddressKind, classifyAddress } from './address-kind';

/** Raised when an environment file cannot be read or does not validate; `problems` has one line per fault. */
export class EnvironmentError extends Error {
  override readonly name = 'EnvironmentError';
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(
      problems.length === 1
        ? `${source}: ${problems[0]}`
        : `${source}: ${problems.length} problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
}

const shown = (input: unknown) => describeValue(input);

function idPattern(re: RegExp, what: string, example: string) {
  return z.string().regex(re, { error: (iss) => `${shown(iss.input)} is not ${what} (${example})` });
}

/** `subnet-` followed by 8 or 17 hex digits, as EC2 issues them. */
export const subnetIdSchema = idPattern(/^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$/, 'a subnet id', 'subnet-…');
/** `sg-` followed by 8 or 17 hex digits. */
export const securityGroupIdSchema = idPattern(
  /^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$/,
  'a security group id',
  'sg-…',
);

const nameSchema = z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, {
  error: (iss) =>
    `${shown(iss.input)} is not a name (1-63 lower-case letters, digits and '-', not at either end)`,
});

const addressSchema = z.string().refine((s) => classifyAddress(s) !== undefined, {
  error: (iss) => `${shown(iss.input)} is not a host name, IP address or CIDR block`,
});

/** An IP address or CIDR block (no host names): where an on-premises vantage's traffic comes from. */
const sourceAddressSchema = z.string().refine(
  (s) => {
    const kind = classifyAddress(s);
    return kind === 'ip' || kind === 'cidr';
  },
  { error: (iss) => `${shown(iss.input)} is not an IP address or CIDR block` },
);

/** Where a vantage is: `cloud` (a prober in the VPC's subnets) or `on-prem` (an agent on a machine there). */
export const vantagePlacementSchema = z.enum(['cloud', 'on-prem']);
export type VantagePlacement = z.infer<typeof vantagePlacementSchema>;

export const vantageSchema = z
  .object({
    name: nameSchema,
    /** `cloud` (default): probes start in `subnetIds` with `securityGroupIds`; `on-prem`: from `preflight agent`. */
    placement: vantagePlacementSchema.default('cloud'),
    roles: z
      .array(z.string())
      .min(1, { error: 'a vantage needs at least one role (for example target-worker)' }),
    subnetIds: z.array(subnetIdSchema).default([]),
    securityGroupIds: z.array(securityGroupIdSchema).default([]),
    /**
     * On-premises only: the IPs or CIDR blocks its traffic comes from as AWS sees it (after any NAT); the
     * audit of its ingress flows reads the destination's inbound rules for these.
     */
    addresses: z.array(sourceAddressSchema).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.placement === 'on-prem') {
      if (v.subnetIds.length > 0)
        ctx.addIssue({
          code: 'custom',
          path: ['subnetIds'],
          input: v.subnetIds,
          message: 'an on-prem vantage has no subnets (its agent runs on a machine on-premises); remove them',
        });
      if (v.securityGroupIds.length > 0)
        ctx.addIssue({
          code: 'custom',
          path: ['securityGroupIds'],
          input: v.securityGroupIds,
          message: 'an on-prem vantage has no Security Groups; remove them',
        });
      if (!v.addresses || v.addresses.length === 0)
        ctx.addIssue({
          code: 'custom',
          path: ['addresses'],
          input: v.addresses,
          message:
            'an on-prem vantage needs addresses: the IPs or CIDR blocks its traffic comes from (e.g. [10.20.0.5])',
        });
    } else if (v.addresses !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['addresses'],
        input: v.addresses,
        message:
          'only an on-prem vantage has addresses (a cloud vantage is its subnets); add placement: on-prem',
      });
    }
  });
export type Vantage = z.infer<typeof vantageSchema>;

/**
 * The most ports one custom flow may name. A custom flow's ports are its own allowlist (the service probes
 * them), so an unbounded list would make the service a port scanner.
 */
export const MAX_PORTS_PER_FLOW = 1024;

/** True for a vantage whose probes run from `preflight agent` on-premises. */
export const isOnPrem = (v: Pick<Vantage, 'placement'>): boolean => v.placement === 'on-prem';

export const customFlowSchema = z
  .object({
    name: nameSchema,
    /** A vantage name (cloud or on-prem, e.g. `dc1`); default: the first vantage. */
    from: z.string().optional(),
    to: z.array(addressSchema).min(1),
    /**
     * Kept as text, in canonical form (`1433,5022-5023`): a parsed environment then parses again to
     * itself, so it can be stored and read back unchanged. The planner reads it into ranges.
     */
    ports: portListSchema
      .superRefine((ranges, ctx) => {
        const count = countPorts(ranges);
        if (count > MAX_PORTS_PER_FLOW) {
          ctx.addIssue({
            code: 'custom',
            input: formatPortList(ranges),
            message: `names ${count} ports, more than the ${MAX_PORTS_PER_FLOW} a custom flow may name (list the ports the migration uses)`,
          });
        }
      })
      .transform((ranges) => formatPortList(ranges)),
    protocol: protocolSchema.default('tcp'),
    /** Where the destination is; default `on-prem`. */
    placement: placementSchema.default('on-prem'),
    purpose: z.string().min(1).optional(),
  })
  .strict();
export type CustomFlow = z.infer<typeof customFlowSchema>;

/** Defaults for live probes; the configured timeout is a ceiling, the engine adapts below it. */
/**
 * The longest probe budget an environment may ask for (`probe.budgetSeconds`): also the longest a run waits for an
 * on-prem vantage's agent, which the state machine's own timeout covers (lib/orchestration.ts).
 */
export const MAX_PROBE_BUDGET_SECONDS = 900;

export const probeSettingsSchema = z
  .object({
    timeoutMs: z.number().int().min(100).max(60_000).default(PROBE_DEFAULTS.timeoutMs),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(PROBE_DEFAULTS.maxConcurrency)
      .default(PROBE_DEFAULTS.concurrency),
    retries: z.number().int().min(0).max(5).default(PROBE_DEFAULTS.retries),
    /**
     * How long a run's probes may take, in seconds, on-prem vantages' agents included (a run waits that long
     * for each agent). @default - the service's budget (300 s locally; the deployment's `probeBudgetSeconds`)
     */
    budgetSeconds: z.number().int().min(5).max(MAX_PROBE_BUDGET_SECONDS).optional(),
  })
  .strict();
export type ProbeSettings = z.infer<typeof probeSettingsSchema>;

/** An EventBridge schedule expression, checked by the same parser the scheduler uses. */
const scheduleSchema = z.string().superRefine((expression, ctx) => {
  try {
    parseSchedule(expression);
  } catch (err) {
    if (!(err instanceof ScheduleError)) throw err;
    ctx.addIssue({ code: 'custom', input: expression, message: err.message });
  }
});

export const environmentSchema = z
  .object({
    name: nameSchema,
    description: z.string().optional(),
    profiles: z.array(z.string()).default([]),
    vantages: z
      .array(vantageSchema)
      .min(1, { error: 'at least one vantage is needed (where cloud roles run)' }),
    endpoints: z.record(z.string(), z.array(addressSchema).min(1)).default({}),
    flows: z.array(customFlowSchema).default([]),
    /** Requirement ids (see `preflight catalog`) to leave out of the plan; they are listed as excluded. */
    exclude: z.array(z.string()).default([]),
    /** Whether requirements the vendor marks optional are checked; default true (they are reported as optional). */
    includeOptional: z.boolean().default(true),
    // prefault: an absent block is parsed as {}, so it gets the same field defaults as a partial one.
    probe: probeSettingsSchema.prefault({}),
    schedule: scheduleSchema.optional(),
  })
  .strict();
export type Environment = z.infer<typeof environmentSchema>;

function known(ids: Iterable<string>): string {
  return [...ids].sort().join(', ');
}

/** Checks what only the catalog can tell: profile, role and requirement ids, vantage and flow names. */
function crossCheck(env: Environment, catalog: Catalog): string[] {
  const problems: string[] = [];
  const at = (path: PropertyKey[], msg: string) => problems.push(`${formatPath(path)}: ${msg}`);
  const profileIds = catalog.profiles.map((p) => p.id);
  const roleIds = catalog.roles.map((r) => r.id);

  env.profiles.forEach((p, i) => {
    if (!catalog.profile(p)) at(['profiles', i], `"${p}" is not a profile (known: ${known(profileIds)})`);
  });
  if (env.profiles.length === 0 && env.flows.length === 0) {
    problems.push(
      'profiles: none given and no flows of your own: nothing to check (known profiles: ' +
        known(profileIds) +
        ')',
    );
  }
  const vantageNames = new Set<string>();
  env.vantages.forEach((v, i) => {
    if (vantageNames.has(v.name))
      at(['vantages', i, 'name'], `"${v.name}" is used by another vantage; names must be unique`);
    vantageNames.add(v.name);
    v.roles.forEach((r, j) => {
      if (!catalog.role(r))
        at(['vantages', i, 'roles', j], `"${r}" is not a role (known: ${known(roleIds)})`);
    });
  });
  for (const role of Object.keys(env.endpoints)) {
    if (!catalog.role(role)) at(['endpoints', role], `"${role}" is not a role (known: ${known(roleIds)})`);
  }
  const flowNames = new Set<string>();
  env.flows.forEach((f, i) => {
    if (flowNames.has(f.name))
      at(['flows', i, 'name'], `"${f.name}" is used by another flow; names must be unique`);
    flowNames.add(f.name);
    if (f.from !== undefined && !vantageNames.has(f.from)) {
      at(['flows', i, 'from'], `"${f.from}" is not a vantage (known: ${known(vantageNames)})`);
    }
  });
  const inProfiles = new Set(
    env.profiles.flatMap((p) => catalog.profile(p)?.requirements.map((r) => r.id) ?? []),
  );
  env.exclude.forEach((id, i) => {
    if (!catalog.requirements.some((r) => r.id === id)) {
      at(['exclude', i], `"${id}" is not a requirement id (see \`preflight catalog\`)`);
    } else if (env.profiles.every((p) => catalog.profile(p)) && !inProfiles.has(id)) {
      at(['exclude', i], `"${id}" is not a requirement of the profiles ${known(env.profiles)}`);
    }
  });
  return problems;
}

/**
 * Validates an environment object against the schema and the catalog.
 * @param source - a label for error messages, usually the file name.
 * @throws EnvironmentError listing every problem, each as `path: what is wrong`.
 */
export function parseEnvironment(raw: unknown, catalog: Catalog, source = 'environment'): Environment {
  const parsed = environmentSchema.safeParse(raw);
  if (!parsed.success) throw new EnvironmentError(source, formatIssues(parsed.error.issues, raw));
  const problems = crossCheck(parsed.data, catalog);
  if (problems.length > 0) throw new EnvironmentError(source, problems);
  return parsed.data;
}

/**
 * Reads environment text (YAML, of which JSON is a subset) and validates it.
 * @throws EnvironmentError with the line and column of a syntax error, or every validation problem.
 */
export function parseEnvironmentText(text: string, catalog: Catalog, source = 'environment'): Environment {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0];
      const where = pos ? `line ${pos.line}, column ${pos.col}` : 'syntax';
      throw new EnvironmentError(source, [`${where}: ${err.message.split('\n')[0]}`]);
    }
    throw err;
  }
  if (raw === null || raw === undefined) throw new EnvironmentError(source, ['the file is empty']);
  return parseEnvironment(raw, catalog, source);
}
