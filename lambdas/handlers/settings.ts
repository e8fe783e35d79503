/**
 * The Lambdas' configuration: environment variables set by the CDK app, parsed once at cold start by one zod
 * schema per handler, so that a missing or bad value fails at once and names itself. (The prober reads its two
 * variables by hand: it must not carry zod.)
 */
import { z } from 'zod';
import { formatIssues } from '../core/errors';

/** A JSON array of CIDR strings, as the CDK app writes `ALLOWED_TARGET_CIDRS`. */
const jsonStringArray = z.string().transform((text, ctx) => {
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  } catch {
    // reported below
  }
  ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} is not a JSON array of strings` });
  return z.NEVER;
});

/** Every setting a handler may read; each handler picks the ones it needs. */
export const SETTINGS = {
  TABLE_NAME: z.string().min(1),
  RETENTION_DAYS: z.coerce.number().positive().default(90),
  STATE_MACHINE_ARN: z.string().startsWith('arn:'),
  /** The stack's own EventBridge Scheduler group of environment schedules. */
  SCHEDULE_GROUP: z.string().regex(/^[0-9a-zA-Z-_.]{1,64}$/),
  /** The role EventBridge Scheduler assumes to start the state machine (the API passes it to the schedules). */
  SCHEDULER_ROLE_ARN: z.string().startsWith('arn:'),
  EVENT_BUS_NAME: z.string().min(1),
  ALLOWED_TARGET_CIDRS: jsonStringArray,
  /** The deployed probers: vantage name → subnets and Security Groups (JSON). */
  VANTAGES: z.string().transform((text, ctx) => {
    try {
      return deployedVantagesSchema.parse(JSON.parse(text));
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        message: `not the JSON of the deployed vantages (${(err as Error).message})`,
      });
      return z.NEVER;
    }
  }),
  /** One shard's probe budget in ms: its prober's deadline counts from when the shard starts. */
  PROBE_BUDGET_MS: z.coerce.number().int().min(1000).default(240_000),
} as const;

export const deployedVantagesSchema = z.record(
  z.string(),
  z.object({ subnetIds: z.array(z.string()), securityGroupIds: z.array(z.string()) }).strict(),
);
export type DeployedVantages = z.infer<typeof deployedVantagesSchema>;

/** Raised at cold start when the function's environment is not what the CDK app sets. */
export class SettingsError extends Error {
  override readonly name = 'SettingsError';
}

/** Parses the named settings from `env` (default: `process.env`). */
export function readSettings<K extends keyof typeof SETTINGS>(
  keys: readonly K[],
  env: NodeJS.ProcessEnv = process.env,
): { [P in K]: z.output<(typeof SETTINGS)[P]> } {
  const shape = Object.fromEntries(keys.map((k) => [k, SETTINGS[k]])) as { [P in K]: (typeof SETTINGS)[P] };
  const schema = z.object(shape);
  const raw = Object.fromEntries(keys.map((k) => [k, env[k]]));
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new SettingsError(
      `the function's environment is not valid (redeploy the stack): ${formatIssues(parsed.error.issues as z.core.$ZodIssue[], raw).join('; ')}`,
    );
  }
  return parsed.data as { [P in K]: z.output<(typeof SETTINGS)[P]> };
}
