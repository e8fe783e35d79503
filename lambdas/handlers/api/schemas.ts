/**
 * The zod schemas of the HTTP API's inputs and outputs; the router validates with them and `openapi.ts`
 * generates the OpenAPI document from them, so the two cannot drift apart.
 */
import { readinessSchema } from '../../core/finding/readiness';
import { verdictRuleSchema } from '../../core/finding/verdicts';
import { z } from 'zod';
import { environmentSchema } from '../../core/environment';
import { reportFormatSchema, reportSchema } from '../../core/report/model';
import {
  checkIdSchema,
  checkRunSchema,
  environmentNameSchema,
  environmentRecordSchema,
  findingRecordSchema,
  flowIdSchema,
  isoTimeSchema,
  PAGE_LIMIT_DEFAULT,
  runStatusSchema,
} from '../../core/store';

/** Query strings carry text: a page size is digits, read as a number. */
const limitParamSchema = z
  .string()
  .regex(/^\d{1,6}$/, { error: (iss) => `${JSON.stringify(iss.input)} is not a page size (a whole number)` })
  .transform(Number);

export const pageQuerySchema = z
  .object({
    limit: limitParamSchema.optional(),
    cursor: z.string().min(1).max(2048).optional(),
  })
  .strict();

export const listChecksQuerySchema = pageQuerySchema
  .extend({
    environment: environmentNameSchema,
    since: isoTimeSchema.optional(),
    until: isoTimeSchema.optional(),
    status: runStatusSchema.optional(),
  })
  .strict();

/** `GET /checks/{checkId}/report`: the format, Markdown when not given. */
export const reportQuerySchema = z
  .object({
    format: reportFormatSchema.default('md'),
  })
  .strict();

/** `POST /checks`: a stored environment by name, or an inline environment; exactly one of them. */
export const startCheckBodySchema = z
  .object({
    environmentName: environmentNameSchema.optional(),
    environment: z.unknown().optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    const count = Number(body.environmentName !== undefined) + Number(body.environment !== undefined);
    if (count !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message:
          count === 0
            ? 'give either "environmentName" (a stored environment) or "environment" (an inline one)'
            : 'give only one of "environmentName" and "environment"',
      });
    }
  });

/** The documented form of the `POST /checks` body (the inline environment is validated in a second step). */
export const startCheckBodyDocSchema = z.union([
  z.object({ environmentName: environmentNameSchema }).strict(),
  z.object({ environment: environmentSchema }).strict(),
]);

export const startCheckResponseSchema = z
  .object({ checkId: checkIdSchema, status: runStatusSchema })
  .strict();

/** A run as the API returns it: the record and its readiness (the one readiness function's answer). */
export const checkRunViewSchema = checkRunSchema.extend({ readiness: readinessSchema }).strict();

export const checkWithFindingsSchema = checkRunViewSchema
  .extend({
    findings: z.array(findingRecordSchema),
    /** The cursor of the next page of findings. */
    nextCursor: z.string().optional(),
  })
  .strict();

/** `GET /verdicts`: the verdict table every surface reads (the dashboard included). */
export const verdictTableSchema = z.object({ verdicts: z.array(verdictRuleSchema) }).strict();

export function pageSchema<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().optional() }).strict();
}

export const profileSummarySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    vendor: z.string(),
    description: z.string(),
    requirementCount: z.number().int(),
  })
  .strict();

export const profileRequirementSchema = z
  .object({
    id: z.string(),
    from: z.string(),
    to: z.string(),
    protocol: z.enum(['tcp', 'udp']),
    ports: z.string(),
    purpose: z.string(),
    optional: z.boolean(),
    source: z.object({ file: z.string(), document: z.string(), section: z.string(), row: z.number() }),
  })
  .strict();

export const profileDetailSchema = profileSummarySchema
  .extend({ requirements: z.array(profileRequirementSchema) })
  .strict();

export const healthSchema = z.object({ status: z.literal('ok'), mode: z.enum(['local', 'aws']) }).strict();

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() }).strict()).optional(),
  })
  .strict();

export const pathParamSchemas = {
  name: environmentNameSchema,
  checkId: checkIdSchema,
  flowId: flowIdSchema,
  profileId: z.string().regex(/^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/, {
    error: (iss) => `${JSON.stringify(iss.input)} is not a profile id`,
  }),
} as const;

export { environmentRecordSchema, environmentSchema, PAGE_LIMIT_DEFAULT, reportSchema };
