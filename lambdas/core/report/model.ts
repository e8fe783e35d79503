/**
 * The readiness report of one check run: a pure function from the run, its findings and the catalog to a
 * plain-JSON model ({@link Report}) that every renderer (Markdown, HTML, JUnit, CSV, JSON) reads. The zod
 * schemas document the JSON form in the OpenAPI document and let the CLI validate what the API sends.
 */
import { z } from 'zod';
import type { Catalog } from '../catalog';
import { changeSetOfDetails, changeSetSchema } from '../finding/change-set';
import type { CheckRun, FindingRecord } from '../store';
import { CLASS_ORDER, ruleOf, type VerdictClass } from './verdicts';

// ---------------------------------------------------------------------------------------------------------------
// The model

export const REPORT_FORMATS = ['md', 'html', 'junit', 'csv', 'json'] as const;
export const reportFormatSchema = z.enum(REPORT_FORMATS);
export type ReportFormat = z.infer<typeof reportFormatSchema>;

export const verdictClassSchema = z.enum(['pass', 'warn', 'fail', 'other']);

const countSchema = z.number().int().nonnegative();

/** Flows by class; `blocking` counts the required flows that make the run NO-GO. */
export const tallySchema = z
  .object({
    pass: countSchema,
    warn: countSchema,
    fail: countSchema,
    other: countSchema,
    blocking: countSchema,
    total: countSchema,
  })
  .strict();
export type Tally = z.infer<typeof tallySchema>;

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
    /** A required flow whose verdict makes the run NO-GO. */
    blocking: z.boolean(),
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

export const reportSchema = z
  .object({
    reportVersion: z.literal(1),
    checkId: z.string(),
    environmentName: z.string(),
    trigger: z.string(),
    status: z.string(),
    reason: z.string().optional(),
    createdAt: z.string(),
    startedAt: z.string().optional(),
    finishedAt: z.string().optional(),
    readiness: z
      .object({
        decision: z.enum(['GO', 'NO-GO']),
        /** The go/no-go line, e.g. `NO-GO: 2 required flows fail`. */
        line: z.string(),
        /** Why it is NO-GO, one reason each; empty for GO. */
        reasons: z.array(z.string()),
      })
      .strict(),
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
// Reading a finding's detail (opaque JSON written by lambdas/core/run/combine.ts)

// Each part is read on its own and dropped when it does not have the expected shape: a report of an older or
// newer record still shows everything it can.
const strings = z.array(z.string()).catch([]);
const text = z.string().optional().catch(undefined);

const detailSchema = z.object({
  why: text,
  probe: z
    .object({ verdict: text, cause: text, ports: z.record(z.string(), z.string()).catch({}) })
    .optional()
    .catch(undefined),
  audit: z
    .object({
      status: z.string().nullable().optional().catch(undefined),
      skipped: text,
      ends: z
        .array(
          z.object({
            vantage: z.string(),
            subnetId: text,
            direction: text,
            securityGroupIds: strings,
            status: text,
            decidedBy: z.array(z.unknown()).catch([]),
            unknown: strings,
            problem: text,
          }),
        )
        .catch([]),
    })
    .optional()
    .catch(undefined),
  remediation: z
    .array(
      z.object({
        vantage: text,
        subnetId: text,
        securityGroup: z
          .object({ awsCli: strings, cloudFormation: text, cdk: text })
          .optional()
          .catch(undefined),
        networkAcl: z
          .object({ awsCli: strings, cloudFormation: text, warning: text })
          .optional()
          .catch(undefined),
        routes: z.object({ awsCli: strings, note: text }).optional().catch(undefined),
        onPremFirewall: text,
      }),
    )
    .catch([]),
});
type Detail = z.infer<typeof detailSchema>;

function readDetail(detail: unknown): Detail {
  const parsed = detailSchema.safeParse(detail ?? {});
  return parsed.success ? parsed.data : { remediation: [] };
}

const ruleSchema = z.object({
  IpProtocol: z.string(),
  FromPort: z.number().optional(),
  ToPort: z.number().optional(),
  IpRanges: z.array(z.object({ CidrIp: z.string() })).optional(),
  Ipv6Ranges: z.array(z.object({ CidrIpv6: z.string() })).optional(),
  PrefixListIds: z.array(z.object({ PrefixListId: z.string() })).optional(),
  UserIdGroupPairs: z.array(z.object({ GroupId: z.string() })).optional(),
});

const decidedBySchema = z.discriminatedUnion('layer', [
  z.object({
    layer: z.literal('security-group'),
    groupId: z.string(),
    direction: z.string(),
    rule: ruleSchema,
    effect: z.string(),
  }),
  z.object({
    layer: z.literal('network-acl'),
    networkAclId: z.string(),
    direction: z.string(),
    ruleNumber: z.union([z.number(), z.literal('*')]),
    effect: z.string(),
    path: z.string(),
  }),
  z.object({
    layer: z.literal('route'),
    routeTableId: z.string(),
    destination: z.string(),
    target: z.string().optional(),
    effect: z.string(),
    reason: z.string().optional(),
    mainTable: z.boolean().optional(),
  }),
]);

const portSpan = (from: number | undefined, to: number | undefined) =>
  from === undefined || from === -1 ? 'all ports' : from === to ? String(from) : `${from}-${to}`;

/** One line per rule that decided an audit, e.g. `sg-1 egress tcp 443 to 10.20.0.0/16 allows`. */
export function describeRule(raw: unknown): string {
  const parsed = decidedBySchema.safeParse(raw);
  if (!parsed.success) return JSON.stringify(raw);
  const d = parsed.data;
  switch (d.layer) {
    case 'security-group': {
      const r = d.rule;
      const peers = [
        ...(r.IpRanges ?? []).map((x) => x.CidrIp),
        ...(r.Ipv6Ranges ?? []).map((x) => x.CidrIpv6),
        ...(r.PrefixListIds ?? []).map((x) => x.PrefixListId),
        ...(r.UserIdGroupPairs ?? []).map((x) => x.GroupId),
      ];
      const protocol =
        r.IpProtocol === '-1' ? 'all traffic' : `${r.IpProtocol} ${portSpan(r.FromPort, r.ToPort)}`;
      const way = d.direction === 'ingress' ? 'from' : 'to';
      return `Security Group ${d.groupId} ${d.direction} rule: ${protocol} ${way} ${peers.join(', ') || '(no peer)'} ${d.effect}`;
    }
    case 'network-acl': {
      const rule = d.ruleNumber === '*' ? 'the final deny (*)' : `rule ${d.ruleNumber}`;
      return `network ACL ${d.networkAclId} ${d.direction} ${rule} ${d.effect} the ${d.path} path`;
    }
    case 'route':
      return (
        `route table ${d.routeTableId}${d.mainTable ? ' (main)' : ''}: ${d.destination}` +
        `${d.target ? ` via ${d.target}` : ''} ${d.effect}${d.reason ? ` (${d.reason})` : ''}`
      );
  }
}

const serviceSchema = z.object({ port: z.number(), service: z.looseObject({ kind: z.string() }) });

/** One line per identified service of a finding (`443: tls TLSv1.3 …`); unreadable entries as JSON. */
export function describeServices(raw: unknown): string[] | undefined {
  if (!Array.isArray(raw) || raw.length === 0) return undefined;
  return raw.map((entry) => {
    const parsed = serviceSchema.safeParse(entry);
    if (!parsed.success) return JSON.stringify(entry);
    const { port, service } = parsed.data;
    const { kind, warning, ...rest } = service as Record<string, unknown>;
    const facts = Object.entries(rest)
      .filter(([, v]) => v !== undefined && v !== '')
      .map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`);
    const warn = typeof warning === 'string' && warning !== '' ? ` (warning: ${warning})` : '';
    return `${port}: ${String(kind)}${facts.length > 0 ? `, ${facts.join(', ')}` : ''}${warn}`;
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

const VANTAGE_PREFIX = 'vantage ';

function vantagesOf(f: FindingRecord, detail: Detail): string[] {
  const names = new Set<string>();
  for (const end of [f.source, f.destination]) {
    if (end.startsWith(VANTAGE_PREFIX)) names.add(end.slice(VANTAGE_PREFIX.length));
  }
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
  for (const r of detail.remediation) {
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
            ...(detail.probe.verdict !== undefined ? { verdict: detail.probe.verdict } : {}),
            ...(detail.probe.cause !== undefined ? { cause: detail.probe.cause } : {}),
            ports: detail.probe.ports,
          },
        }
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
              rules: e.decidedBy.map(describeRule),
              unknown: e.unknown,
              ...(e.problem !== undefined ? { problem: e.problem } : {}),
            })),
          },
        }
      : {}),
  };
}

const emptyTally = (): Tally => ({ pass: 0, warn: 0, fail: 0, other: 0, blocking: 0, total: 0 });

function add(t: Tally, f: ReportFlow): void {
  t[f.class]++;
  if (f.blocking) t.blocking++;
  t.total++;
}

function tallyOf(map: Map<string, Tally>, key: string): Tally {
  let t = map.get(key);
  if (!t) map.set(key, (t = emptyTally()));
  return t;
}

const CLASS_RANK: Record<VerdictClass, number> = Object.fromEntries(
  CLASS_ORDER.map((c, i) => [c, i]),
) as Record<VerdictClass, number>;

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The worst first: class, then required before optional, then by ends, ports and id (stable across runs). */
function compareFlows(a: ReportFlow, b: ReportFlow): number {
  return (
    CLASS_RANK[a.class] - CLASS_RANK[b.class] ||
    Number(b.blocking) - Number(a.blocking) ||
    Number(a.optional) - Number(b.optional) ||
    compareText(a.source, b.source) ||
    compareText(a.destination, b.destination) ||
    compareText(a.ports, b.ports) ||
    compareText(a.flowId, b.flowId)
  );
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function readinessOf(run: CheckRun, flows: readonly ReportFlow[], totals: Tally): Report['readiness'] {
  const reasons: string[] = [];
  const why = run.reason ? `: ${run.reason}` : '';
  switch (run.status) {
    case 'queued':
    case 'running':
      reasons.push(`the run is still ${run.status}, so this report is incomplete`);
      break;
    case 'failed':
      reasons.push(`the run failed${why}`);
      break;
    case 'partial':
      reasons.push(`the run is partial${why}`);
      break;
    case 'succeeded':
      break;
  }
  if (flows.length === 0) reasons.push('the run has no findings');
  const failing = flows.filter((f) => f.blocking && f.class === 'fail').length;
  if (failing > 0) reasons.push(`${plural(failing, 'required flow')} ${failing === 1 ? 'fails' : 'fail'}`);
  const unchecked = new Map<string, number>();
  for (const f of flows) {
    if (f.blocking && f.class !== 'fail') unchecked.set(f.verdict, (unchecked.get(f.verdict) ?? 0) + 1);
  }
  for (const [verdict, n] of unchecked) {
    reasons.push(
      `${plural(n, 'required flow')} ${verdict === 'skipped' ? 'not checked (skipped)' : verdict}`,
    );
  }
  const summary = [
    `${totals.pass} pass`,
    ...(totals.warn > 0 ? [`${totals.warn} warn`] : []),
    `${totals.fail} fail`,
    ...(totals.other > 0 ? [`${totals.other} not verified live`] : []),
  ].join(', ');
  if (reasons.length === 0) {
    const optionalFailing = flows.filter((f) => f.class === 'fail').length;
    const caveats = [
      ...(totals.warn > 0 ? [`${plural(totals.warn, 'warning')} to review`] : []),
      ...(optionalFailing > 0 ? [`${plural(optionalFailing, 'optional flow')} failing`] : []),
    ];
    return {
      decision: 'GO',
      line: `GO: every required flow passes or cannot be checked from the VPC (${summary})${caveats.length > 0 ? `; ${caveats.join(', ')}` : ''}`,
      reasons: [],
    };
  }
  return { decision: 'NO-GO', line: `NO-GO: ${reasons.join('; ')} (${summary})`, reasons };
}

/**
 * The report of a run from its findings (every page of them). Pure: the same inputs give the same report.
 * Flows are classified by {@link VERDICT_RULES}; the run is GO when it succeeded, has findings, and no
 * required flow has a blocking verdict.
 */
export function buildReport(
  run: CheckRun,
  findings: readonly FindingRecord[],
  catalog: Catalog,
  options: ReportOptions = {},
): Report {
  const environmentProfiles = options.profiles ? new Set(options.profiles) : undefined;
  const checkedAt = run.startedAt ?? run.createdAt;
  const flows: ReportFlow[] = findings.map((f) => {
    const detail = readDetail(f.detail);
    const rule = ruleOf(f.verdict);
    // Read without relying on the record's type: findings written before service identification have none.
    const services = describeServices((f as { services?: unknown }).services);
    const evidence = evidenceOf(detail, services, checkedAt);
    return {
      flowId: f.flowId,
      verdict: f.verdict,
      class: rule.class,
      blocking: rule.blocksGo && !f.optional,
      optional: f.optional,
      direction: f.direction,
      source: f.source,
      destination: f.destination,
      protocol: f.protocol,
      ports: f.ports,
      requirements: [...f.requirements],
      profiles: profilesOf(f.requirements, catalog, environmentProfiles),
      vantages: vantagesOf(f, detail),
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
  flows.sort(compareFlows);

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
    reportVersion: 1,
    checkId: run.checkId,
    environmentName: run.environmentName,
    trigger: run.trigger,
    status: run.status,
    ...(run.reason !== undefined ? { reason: run.reason } : {}),
    createdAt: run.createdAt,
    ...(run.startedAt !== undefined ? { startedAt: run.startedAt } : {}),
    ...(run.finishedAt !== undefined ? { finishedAt: run.finishedAt } : {}),
    readiness: readinessOf(run, flows, totals),
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
