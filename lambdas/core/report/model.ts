/**
 * The readiness report of one check run: a pure function from the run, its findings and the catalog to a
 * plain-JSON model ({@link Report}) that every renderer (Markdown, HTML, JUnit, CSV, JSON) reads. The zod
 * schemas document the JSON form in the OpenAPI document and let the CLI validate what the API sends.
 */
import { z } from 'zod';
import type { Catalog } from '../catalog';
import { changeSetOfDetails, changeSetSchema } from '../finding/change-set';
import type { FindingDetail } from '../finding/detail';
import { describePortService } from '../finding/evidence';
import { readiness, readinessSchema, type Tally, tallySchema } from '../finding/readiness';
import { blocksRun, compareListed, ruleOf, verdictClassSchema } from '../finding/verdicts';
import { portServiceSchema, type CheckRun, type FindingRecord } from '../store';

// ---------------------------------------------------------------------------------------------------------------
// The model

export const REPORT_FORMATS = ['md', 'html', 'junit', 'csv', 'json'] as const;
export const reportFormatSchema = z.enum(REPORT_FORMATS);
export type ReportFormat = z.infer<typeof reportFormatSchema>;

const countSchema = z.number().int().nonnegative();

export { tallySchema, type Tally };

/** The fix of one flow at one vantage, as commands and snippets a person can paste. */
export const reportRemediationSchema = z
  .object({
    vantage: z.string().optional(),
    /** The subnets it applies to (one fix often serves several subnets of a vantage). */
    subnetIds: z.array(z.string()),
    awsCli: z.array(z.string()),
    cloudFormation: z.array(z.string()),
    cdk: z.array(z.string()),
    onPremFirewall: z.string().optional(),
    /** Warnings and notes of the fix (an ACL that must be renumbered by hand, a route to add). */
    notes: z.array(z.string()),
  })
  .strict();
export type ReportRemediation = z.infer<typeof reportRemediationSchema>;

/** What the audit read at one vantage end of a flow. */
export const auditEndSchema = z
  .object({
    vantage: z.string(),
    subnetId: z.string().optional(),
    direction: z.string().optional(),
    securityGroupIds: z.array(z.string()),
    status: z.string().optional(),
    /** Each rule that decided, one line each: Security Group rules, network ACL entries, routes. */
    rules: z.array(z.string()),
    /** Ids the inventory lacked. */
    unknown: z.array(z.string()),
    problem: z.string().optional(),
  })
  .strict();

export const evidenceSchema = z
  .object({
    /** When the run checked the flow: its start (else its creation). */
    checkedAt: z.string(),
    /** Why the flow is checked the way it is. */
    how: z.string().optional(),
    /** The live probe: its verdict, cause and ports by state (`open: "443"`). */
    probe: z
      .object({
        verdict: z.string().optional(),
        cause: z.string().optional(),
        ports: z.record(z.string(), z.string()),
      })
      .strict()
      .optional(),
    /** What answered on identified open ports, one line each (`443: TLS TLSv1.3, subject …`). */
    services: z.array(z.string()).optional(),
    audit: z
      .object({
        status: z.string().optional(),
        /** Why the audit did not run. */
        skipped: z.string().optional(),
        ends: z.array(auditEndSchema),
      })
      .strict()
      .optional(),
  })
  .strict();
export type Evidence = z.infer<typeof evidenceSchema>;

export const reportFlowSchema = z
  .object({
    flowId: z.string(),
    verdict: z.string(),
    class: verdictClassSchema,
    /** A required flow whose verdict keeps the run from GO (NO-GO when it fails, INCOMPLETE otherwise). */
    blocking: z.boolean(),
    /** What to do next, or how to verify it live (the verdict table's `next`). */
    next: z.string(),
    optional: z.boolean(),
    direction: z.string(),
    source: z.string(),
    destination: z.string(),
    protocol: z.string(),
    ports: z.string(),
    requirements: z.array(z.string()),
    /** The catalog profiles of its requirements (`custom` for the environment's own flows). */
    profiles: z.array(z.string()),
    /** The vantages at its ends (by name); empty for a flow outside the VPC. */
    vantages: z.array(z.string()),
    subnets: z.array(z.string()),
    cause: z.string(),
    remediation: z.array(reportRemediationSchema),
    evidence: evidenceSchema,
  })
  .strict();
export type ReportFlow = z.infer<typeof reportFlowSchema>;

/**
 * The JSON report's version, raised when a field a consumer reads changes meaning or name. 2: the tallies and the
 * flow classes say `notVerified` (was `other`), `readiness` is the shared GO / NO-GO / INCOMPLETE decision, and
 * the report carries the run's `changeSet`.
 */
export const REPORT_VERSION = 2;

export const reportSchema = z
  .object({
    reportVersion: z.literal(REPORT_VERSION),
    checkId: z.string(),
    environmentName: z.string(),
    trigger: z.string(),
    status: z.string(),
    reason: z.string().optional(),
    createdAt: z.string(),
    startedAt: z.string().optional(),
    finishedAt: z.string().optional(),
    /** GO, NO-GO or INCOMPLETE, from lambdas/core/finding/readiness.ts. */
    readiness: readinessSchema,
    totals: tallySchema,
    /** Flows by verdict. */
    verdicts: z.record(z.string(), countSchema),
    profiles: z.array(tallySchema.extend({ id: z.string(), name: z.string() }).strict()),
    vantages: z.array(tallySchema.extend({ vantage: z.string() }).strict()),
    /** Every flow, the worst first. */
    flows: z.array(reportFlowSchema),
    /** Every fix of the run merged into one set to apply (see lambdas/core/finding/change-set.ts). */
    changeSet: changeSetSchema,
  })
  .strict();
export type Report = z.infer<typeof reportSchema>;

/** The group of flows that no vantage holds. */
export const OUTSIDE_VPC = '(outside the VPC)';
/** The profile group of the environment's own flows (`custom:<name>` requirements). */
export const CUSTOM_PROFILE = 'custom';
/** The profile group of requirements the catalog no longer has. */
export const UNKNOWN_PROFILE = '(not in the catalog)';

// ---------------------------------------------------------------------------------------------------------------
// Reading a finding's evidence

/** One line per identified service of a finding, worded once (`describePortService`). */
export function describeServices(f: FindingRecord): string[] | undefined {
  if (f.detail?.answered !== undefined && f.detail.answered.length > 0) return f.detail.answered;
  const list = (f as { services?: unknown }).services;
  if (!Array.isArray(list) || list.length === 0) return undefined;
  return list.map((entry) => {
    const parsed = portServiceSchema.safeParse(entry);
    return parsed.success ? describePortService(parsed.data) : JSON.stringify(entry);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Building

/** Options of {@link buildReport}. */
export interface ReportOptions {
  /**
   * The environment's profiles, when known: a requirement shared by several profiles is then counted only
   * under those the environment uses. @default - every profile of each requirement
   */
  readonly profiles?: readonly string[];
}

type Detail = FindingDetail;

function vantagesOf(detail: Detail): string[] {
  const names = new Set<string>();
  if (detail.sourceVantage !== undefined) names.add(detail.sourceVantage);
  if (detail.destinationVantage !== undefined) names.add(detail.destinationVantage);
  for (const end of detail.audit?.ends ?? []) names.add(end.vantage);
  return [...names].sort();
}

function profilesOf(
  requirements: readonly string[],
  catalog: Catalog,
  environmentProfiles: ReadonlySet<string> | undefined,
): string[] {
  const out = new Set<string>();
  for (const id of requirements) {
    if (id.startsWith('custom:')) {
      out.add(CUSTOM_PROFILE);
      continue;
    }
    const req = catalog.requirements.find((r) => r.id === id);
    if (!req) {
      out.add(UNKNOWN_PROFILE);
      continue;
    }
    const used = environmentProfiles ? req.profiles.filter((p) => environmentProfiles.has(p)) : [];
    // An environment that has changed since the run may no longer list the profile: keep the catalog's.
    for (const p of used.length > 0 ? used : req.profiles) out.add(p);
  }
  return [...out];
}

const nonEmpty = (list: ReadonlyArray<string | undefined>): string[] =>
  list.flatMap((x) => (x !== undefined && x.trim() !== '' ? [x.trim()] : []));

/** The fixes of a flow; identical fixes for several subnets of one vantage are listed once. */
function remediationOf(detail: Detail): ReportRemediation[] {
  const out = new Map<string, ReportRemediation & { subnetIds: string[] }>();
  for (const r of detail.remediation ?? []) {
    const fix = {
      awsCli: [
        ...(r.securityGroup?.awsCli ?? []),
        ...(r.networkAcl?.awsCli ?? []),
        ...(r.routes?.awsCli ?? []),
      ],
      cloudFormation: nonEmpty([r.securityGroup?.cloudFormation, r.networkAcl?.cloudFormation]),
      cdk: nonEmpty([r.securityGroup?.cdk]),
      ...(r.onPremFirewall !== undefined ? { onPremFirewall: r.onPremFirewall } : {}),
      notes: nonEmpty([r.networkAcl?.warning, r.routes?.note]),
    };
    const key = JSON.stringify([r.vantage, fix]);
    const seen = out.get(key);
    if (seen) {
      if (r.subnetId !== undefined && !seen.subnetIds.includes(r.subnetId)) seen.subnetIds.push(r.subnetId);
      continue;
    }
    out.set(key, {
      ...(r.vantage !== undefined ? { vantage: r.vantage } : {}),
      subnetIds: r.subnetId !== undefined ? [r.subnetId] : [],
      ...fix,
    });
  }
  return [...out.values()];
}

function evidenceOf(detail: Detail, services: string[] | undefined, checkedAt: string): Evidence {
  const audit = detail.audit;
  return {
    checkedAt,
    ...(detail.why !== undefined ? { how: detail.why } : {}),
    ...(services !== undefined ? { services } : {}),
    ...(detail.probe
      ? {
          probe: {
            ...(detail.probe.cause !== undefined ? { cause: detail.probe.cause } : {}),
            ports: detail.probe.ports,
          },
        }
      : detail.notProbed !== undefined
        ? { probe: { cause: `not probed: ${detail.notProbed}`, ports: {} } }
        : {}),
    ...(audit
      ? {
          audit: {
            ...(audit.status ? { status: audit.status } : {}),
            ...(audit.skipped !== undefined ? { skipped: audit.skipped } : {}),
            ends: audit.ends.map((e) => ({
              vantage: e.vantage,
              ...(e.subnetId !== undefined ? { subnetId: e.subnetId } : {}),
              ...(e.direction !== undefined ? { direction: e.direction } : {}),
              securityGroupIds: e.securityGroupIds,
              ...(e.status !== undefined ? { status: e.status } : {}),
              rules: e.rules,
              unknown: e.unknown,
              ...(e.problem !== undefined ? { problem: e.problem } : {}),
            })),
          },
        }
      : {}),
  };
}

const emptyTally = (): Tally => ({ pass: 0, warn: 0, fail: 0, notVerified: 0, blocking: 0, total: 0 });

function add(t: Tally, f: ReportFlow): void {
  t[f.class === 'not-verified' ? 'notVerified' : f.class]++;
  if (f.blocking) t.blocking++;
  t.total++;
}

function tallyOf(map: Map<string, Tally>, key: string): Tally {
  let t = map.get(key);
  if (!t) map.set(key, (t = emptyTally()));
  return t;
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The report of a run from its findings (every page of them). Pure: the same inputs give the same report.
 * Flows are classified by the verdict table and the run's readiness is the one readiness function's
 * (lambdas/core/finding): GO, NO-GO or INCOMPLETE.
 */
export function buildReport(
  run: CheckRun,
  findings: readonly FindingRecord[],
  catalog: Catalog,
  options: ReportOptions = {},
): Report {
  const own = options.profiles ?? run.profiles;
  const environmentProfiles = own ? new Set(own) : undefined;
  const checkedAt = run.startedAt ?? run.createdAt;
  const flows: ReportFlow[] = findings.map((f) => {
    const detail: Detail = f.detail ?? {};
    const rule = ruleOf(f.verdict);
    const services = describeServices(f);
    const evidence = evidenceOf(detail, services, checkedAt);
    return {
      flowId: f.flowId,
      verdict: f.verdict,
      class: rule.class,
      blocking: blocksRun(f),
      next: rule.next,
      optional: f.optional,
      direction: f.direction,
      source: f.source,
      destination: f.destination,
      protocol: f.protocol,
      ports: f.ports,
      requirements: [...f.requirements],
      profiles: profilesOf(f.requirements, catalog, environmentProfiles),
      vantages: vantagesOf(detail),
      subnets: [
        ...new Set(
          (evidence.audit?.ends ?? []).flatMap((e) => (e.subnetId !== undefined ? [e.subnetId] : [])),
        ),
      ].sort(),
      cause: f.cause,
      remediation: remediationOf(detail),
      evidence,
    };
  });
  flows.sort(compareListed);

  const totals = emptyTally();
  const verdicts: Record<string, number> = {};
  const byProfile = new Map<string, Tally>();
  const byVantage = new Map<string, Tally>();
  for (const f of flows) {
    add(totals, f);
    verdicts[f.verdict] = (verdicts[f.verdict] ?? 0) + 1;
    for (const p of f.profiles) add(tallyOf(byProfile, p), f);
    for (const v of f.vantages.length > 0 ? f.vantages : [OUTSIDE_VPC]) add(tallyOf(byVantage, v), f);
  }
  // Profiles in catalog order, then the environment's own flows, then requirements the catalog lost.
  const profileOrder = [...catalog.profiles.map((p) => p.id), CUSTOM_PROFILE, UNKNOWN_PROFILE];
  const profileName = (id: string) =>
    catalog.profile(id)?.name ??
    (id === CUSTOM_PROFILE ? "the environment's own flows" : 'requirements no longer in the catalog');
  const profiles = [...byProfile]
    .sort(([a], [b]) => profileOrder.indexOf(a) - profileOrder.indexOf(b))
    .map(([id, t]) => ({ id, name: profileName(id), ...t }));
  const vantages = [...byVantage]
    .sort(([a], [b]) => Number(a === OUTSIDE_VPC) - Number(b === OUTSIDE_VPC) || compareText(a, b))
    .map(([vantage, t]) => ({ vantage, ...t }));

  return {
    reportVersion: REPORT_VERSION,
    checkId: run.checkId,
    environmentName: run.environmentName,
    trigger: run.trigger,
    status: run.status,
    ...(run.reason !== undefined ? { reason: run.reason } : {}),
    createdAt: run.createdAt,
    ...(run.startedAt !== undefined ? { startedAt: run.startedAt } : {}),
    ...(run.finishedAt !== undefined ? { finishedAt: run.finishedAt } : {}),
    readiness: readiness(run, flows),
    totals,
    verdicts,
    profiles,
    vantages,
    flows,
    changeSet: changeSetOfDetails(findings.map((f) => f.detail)),
  };
}

/** A flow in one line: `vantage workers → 10.20.0.15 (source-server) tcp/443`. */
export function flowTitle(f: Pick<ReportFlow, 'source' | 'destination' | 'protocol' | 'ports'>): string {
  return `${f.source} → ${f.destination} ${f.protocol}/${f.ports}`;
}
