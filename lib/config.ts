/**
 * The deployment config: one YAML or JSON file named by context (`npx cdk deploy -c config=deploy.yaml`), with
 * single settings overridable by context (`-c region=eu-west-1`), parsed once at synth by one zod schema. Errors
 * name the file, the field and the value. With no config the app synthesizes a self-contained demo.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { securityGroupIdSchema, subnetIdSchema, vantageSchema } from '../lambdas/core/environment';
import { describeValue, formatIssues } from '../lambdas/core/errors';
import { parseAllowedCidrs, SafetyConfigError } from '../lambdas/core/target-policy';
import { parseSchedule, ScheduleError } from '../lambdas/core/schedule';
import { environmentNameSchema } from '../lambdas/core/store';

const shown = (v: unknown) => describeValue(v);

const cidrList = z
  .array(z.string())
  .min(1, { error: 'give at least one CIDR block the probers may reach (your on-prem ranges)' })
  .superRefine((cidrs, ctx) => {
    cidrs.forEach((c, i) => {
      try {
        parseAllowedCidrs([c]);
      } catch (err) {
        if (!(err instanceof SafetyConfigError)) throw err;
        ctx.addIssue({
          code: 'custom',
          path: [i],
          message: `${shown(c)} is not a CIDR block (10.20.0.0/16)`,
        });
      }
    });
  });

/** A prober's place: a vantage of the environment files, in the target VPC's subnets with its Security Groups. */
export const deployVantageSchema = z
  .object({
    name: vantageSchema.shape.name,
    subnetIds: z.array(subnetIdSchema).min(1, { error: 'a prober needs at least one subnet of the VPC' }),
    securityGroupIds: z
      .array(securityGroupIdSchema)
      .min(1, { error: "give the vantage's Security Groups: the prober's packets must take their path" })
      .max(5, { error: 'a Lambda function takes at most 5 Security Groups' }),
  })
  .strict();

/** A schedule: an environment stored through the API, checked on an EventBridge Scheduler expression. */
export const deployScheduleSchema = z
  .object({
    environment: environmentNameSchema,
    expression: z.string().superRefine((text, ctx) => {
      try {
        parseSchedule(text);
      } catch (err) {
        if (!(err instanceof ScheduleError)) throw err;
        ctx.addIssue({ code: 'custom', message: err.message });
      }
    }),
    /** An IANA time zone for cron expressions. @default UTC */
    timeZone: z
      .string()
      .refine((tz) => Intl.supportedValuesOf('timeZone').includes(tz) || tz === 'UTC', {
        error: (iss) => `${shown(iss.input)} is not an IANA time zone (Europe/Paris)`,
      })
      .optional(),
  })
  .strict();

const accountSchema = z
  .string()
  .regex(/^\d{12}$/, { error: (iss) => `${shown(iss.input)} is not an AWS account id (12 digits)` });
const regionSchema = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, {
  error: (iss) => `${shown(iss.input)} is not an AWS region (eu-west-1)`,
});

export const deployConfigSchema = z
  .object({
    /** The CloudFormation stack's name. @default Preflight */
    stackName: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, { error: (iss) => `${shown(iss.input)} is not a stack name` })
      .default('Preflight'),
    account: accountSchema.optional(),
    region: regionSchema.optional(),
    /** The target VPC; nothing is looked up at synth (`Vpc.fromVpcAttributes`). */
    vpc: z
      .object({
        vpcId: z.string().regex(/^vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})$/, {
          error: (iss) => `${shown(iss.input)} is not a VPC id (vpc-…)`,
        }),
        /** The VPC's availability zones, as the subnets of the vantages use them. */
        availabilityZones: z.array(z.string().min(1)).min(1),
      })
      .strict(),
    vantages: z
      .array(deployVantageSchema)
      .min(1, { error: 'give at least one vantage: where in the VPC the probes run' })
      .superRefine((vantages, ctx) => {
        const seen = new Set<string>();
        vantages.forEach((v, i) => {
          if (seen.has(v.name))
            ctx.addIssue({
              code: 'custom',
              path: [i, 'name'],
              message: `vantage ${shown(v.name)} is named twice`,
            });
          seen.add(v.name);
        });
      }),
    allowedTargetCidrs: cidrList,
    /**
     * The on-prem vantages of the environments (`placement: on-prem`): the stack outputs, for each, a managed
     * policy allowing `execute-api:Invoke` on `/agents/<name>/*` only, to attach to that machine's role.
     * @default - none
     */
    onPremVantages: z
      .array(vantageSchema.shape.name)
      .default([])
      .superRefine((names, ctx) => {
        names.forEach((n, i) => {
          if (names.indexOf(n) !== i)
            ctx.addIssue({
              code: 'custom',
              path: [i],
              message: `on-prem vantage ${shown(n)} is named twice`,
            });
        });
      }),
    schedules: z.array(deployScheduleSchema).default([]),
    /** Where "Preflight Check State Changed" events and alarms are sent. @default - no subscription */
    notificationEmail: z.email({ error: (iss) => `${shown(iss.input)} is not an email address` }).optional(),
    /** Days a run and its findings are kept (the table's TTL). @default 90 */
    retentionDays: z.number().int().min(1).max(3650).default(90),
    /** Days the functions', the state machine's and the API's logs are kept. @default 30 */
    logRetentionDays: z.number().int().min(1).max(3653).default(30),
    /**
     * One shard's probe budget, in seconds: a prober's deadline from when its shard starts (the start step sizes
     * the shards to finish inside it). @default 240
     */
    probeBudgetSeconds: z.number().int().min(10).max(840).default(240),
    /**
     * Shards probed at once by the Distributed Map (prober invocations in flight; mind the account's Lambda
     * concurrency). @default 40
     */
    maxConcurrentShards: z.number().int().min(1).max(1000).default(40),
    /** API Gateway throttling: steady requests per second and burst. @default 10 / 20 */
    api: z
      .object({
        rateLimit: z.number().positive().default(10),
        burstLimit: z.number().int().positive().default(20),
      })
      .strict()
      .default({ rateLimit: 10, burstLimit: 20 }),
    /** Keep the results table when the stack is deleted. @default true */
    retainData: z.boolean().default(true),
  })
  .strict();

export type DeployConfig = z.infer<typeof deployConfigSchema>;
export type DeployVantage = z.infer<typeof deployVantageSchema>;

/** Raised when the deployment config cannot be read or is not valid; names the file, field and value. */
export class DeployConfigError extends Error {
  override readonly name = 'DeployConfigError';
}

/** Context keys that override one setting of the file, each read as its field's type. */
export const CONTEXT_OVERRIDES = [
  'stackName',
  'account',
  'region',
  'notificationEmail',
  'retentionDays',
  'logRetentionDays',
  'probeBudgetSeconds',
  'allowedTargetCidrs',
] as const;

function overrideValue(key: (typeof CONTEXT_OVERRIDES)[number], value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (key === 'allowedTargetCidrs') {
    return value.trim().startsWith('[')
      ? (JSON.parse(value) as unknown)
      : value
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  }
  if (key === 'retentionDays' || key === 'logRetentionDays' || key === 'probeBudgetSeconds') {
    return /^\d+$/.test(value) ? Number(value) : value;
  }
  return value;
}

/**
 * Parses a deployment config (already read) with context overrides.
 * @throws DeployConfigError naming `source`, the field and the value.
 */
export function parseDeployConfig(
  raw: unknown,
  overrides: Readonly<Record<string, unknown>> = {},
  source = 'the deployment config',
): DeployConfig {
  const merged: Record<string, unknown> =
    typeof raw === 'object' && raw !== null && !Array.isArray(raw)
      ? { ...(raw as Record<string, unknown>) }
      : {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new DeployConfigError(
      `${source}: expected a mapping of settings (vpc, vantages, …), got ${shown(raw)}`,
    );
  }
  for (const key of CONTEXT_OVERRIDES) {
    if (overrides[key] !== undefined) merged[key] = overrideValue(key, overrides[key]);
  }
  const parsed = deployConfigSchema.safeParse(merged);
  if (!parsed.success) {
    throw new DeployConfigError(
      `${source}: ${formatIssues(parsed.error.issues as z.core.$ZodIssue[], merged).join('; ')}`,
    );
  }
  return parsed.data;
}

/**
 * Reads the config file (YAML or JSON) at `path` relative to `cwd`, with context overrides.
 * @throws DeployConfigError
 */
export function loadDeployConfig(
  path: string,
  overrides: Readonly<Record<string, unknown>> = {},
  cwd: string = process.cwd(),
): DeployConfig {
  const file = resolve(cwd, path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new DeployConfigError(
      `cannot read the deployment config ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)}): pass -c config=FILE with a file that exists (see examples/deploy.yaml)`,
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const at = err.linePos?.[0];
      throw new DeployConfigError(
        `${path}${at ? `:${at.line}:${at.col}` : ''}: not valid YAML/JSON (${err.message.split('\n')[0]})`,
      );
    }
    throw err;
  }
  return parseDeployConfig(raw, overrides, path);
}
