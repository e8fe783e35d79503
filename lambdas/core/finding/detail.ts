/**
 * The typed detail of a finding, as stored beside its verdict and cause: which vantages are at its ends (fields,
 * never display strings parsed back), what the probe saw, what the audit read (each deciding rule already worded
 * by {@link describeDecision}) and the fixes. Objects are not strict, so a record written by a newer version
 * still reads; every field a reader needs is optional or defaulted, so do older records.
 */
import { z } from 'zod';

const strings = z.array(z.string());

export const auditEndDetailSchema = z.object({
  vantage: z.string(),
  subnetId: z.string().optional(),
  direction: z.string().optional(),
  securityGroupIds: strings.default([]),
  /** `allowed`, `partial`, `blocked` (or a status a newer audit adds, such as `not-audited`). */
  status: z.string().optional(),
  /** Each rule that decided, worded once (see `describeDecision`). */
  rules: strings.default([]),
  /** What no layer allows, worded (`tcp 443 10.20.0.0/16`). */
  missing: z.string().optional(),
  /** Ids the inventory lacked. */
  unknown: strings.default([]),
  /** Why this end could not be audited. */
  problem: z.string().optional(),
});
export type AuditEndDetail = z.infer<typeof auditEndDetailSchema>;

// Loose: the full fix (Security Group permissions, ACL entries, route CIDRs) is kept for the change set.
export const remediationDetailSchema = z.looseObject({
  vantage: z.string().optional(),
  subnetId: z.string().optional(),
  securityGroup: z
    .looseObject({
      awsCli: strings.default([]),
      cloudFormation: z.string().optional(),
      cdk: z.string().optional(),
    })
    .optional(),
  networkAcl: z
    .looseObject({
      awsCli: strings.default([]),
      cloudFormation: z.string().optional(),
      warning: z.string().optional(),
    })
    .optional(),
  routes: z.looseObject({ awsCli: strings.default([]), note: z.string().optional() }).optional(),
  onPremFirewall: z.string().optional(),
});
export type RemediationDetail = z.infer<typeof remediationDetailSchema>;

export const findingDetailSchema = z.object({
  /** Why the flow is checked the way it is. */
  why: z.string().optional(),
  /** The vantage at the flow's source, when a vantage holds it. */
  sourceVantage: z.string().optional(),
  /** The vantage at the flow's destination, when the destination is a vantage. */
  destinationVantage: z.string().optional(),
  /** The live probe: ports by state (`open: "443"`) and what it says. */
  probe: z
    .object({ cause: z.string().optional(), ports: z.record(z.string(), z.string()).default({}) })
    .optional(),
  /** Why a flow that should have been probed was not. */
  notProbed: z.string().optional(),
  /** What answered on identified open ports, one line each, worded once (see `describePortService`). */
  answered: strings.optional(),
  audit: z
    .object({
      /** Why the audit did not run (no inventory, the local check, a failure). */
      skipped: z.string().optional(),
      status: z.string().nullable().optional(),
      ends: z.array(auditEndDetailSchema).default([]),
    })
    .optional(),
  remediation: z.array(remediationDetailSchema).optional(),
});
export type FindingDetail = z.infer<typeof findingDetailSchema>;
