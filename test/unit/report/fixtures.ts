/**
 * Findings of the example wave (`examples/wave-1.yaml`, RiverMeadow OS-based plus one flow of its own) made by
 * the real pipeline: the plan from the catalog, the static audit of the example AWS export
 * (`examples/aws-wave-1`) and `combineFlow`, with probe results chosen per host and port. So the report is
 * tested on findings exactly as the runner stores them.
 */
import { join } from 'node:path';
import { readEnvironmentFile } from '../../../lambdas/cli/env-file';
import { createAuditor } from '../../../lambdas/core/audit/evaluate';
import { readInventoryFiles } from '../../../lambdas/core/audit/inventory';
import { auditPlan } from '../../../lambdas/core/audit/plan-audit';
import { defaultCatalog } from '../../../lambdas/core/catalog';
import { plan } from '../../../lambdas/core/plan';
import type { ProbeResult, ProbeState } from '../../../lambdas/core/probe';
import { type AuditOutcome, combineFlow } from '../../../lambdas/core/run/combine';
import type { CheckRun, FindingRecord } from '../../../lambdas/core/store';

export const REPO = join(__dirname, '..', '..', '..');
export const catalog = defaultCatalog();
const file = readEnvironmentFile('examples/wave-1.yaml', REPO, catalog);
/**
 * The example wave as seen from the VPC only (its on-prem vantages left out, the admin workstation an address
 * again): these tests are about the report; the on-prem vantages have tests of their own.
 */
export const environment = {
  ...file,
  vantages: file.vantages.filter((v) => v.placement !== 'on-prem'),
  endpoints: { ...file.endpoints, 'admin-workstation': ['10.20.8.0/24'] },
};

/** Names resolve from this table only: unit tests never touch DNS. */
const resolve = async (host: string) => {
  if (host === 'app01.corp.example') return ['10.20.0.16'];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
};

export interface WaveOptions {
  /** Audit against the example export; without it the audit is skipped, as in local mode. */
  readonly audit: boolean;
  /** The state of each `host:port` probed; every other probed port is `open`. */
  readonly states?: Readonly<Record<string, ProbeState>>;
  /** When set, the probe of the vantage failed with this reason (its flows are `skipped`). */
  readonly probeProblem?: string;
  /** Makes the flows outside the VPC optional, so that a run of passing probes is GO. */
  readonly optionalOutside?: boolean;
}

/** The findings of one run of the example wave, as records of `run`. */
export async function waveFindings(run: CheckRun, options: WaveOptions): Promise<FindingRecord[]> {
  const p = plan(environment, catalog);
  let outcome: AuditOutcome = {
    audits: [],
    skipped:
      'no AWS inventory for this environment: Security Groups, network ACLs and routes were not audited',
  };
  if (options.audit) {
    const inventory = readInventoryFiles(['examples/aws-wave-1'], REPO);
    outcome = { audits: await auditPlan(p, environment, inventory, createAuditor(inventory), resolve) };
  }
  return p.flows.map((flow) => {
    const results = new Map<string, ProbeResult>();
    if (flow.probe && flow.destination.kind !== 'vantage') {
      const host = flow.destination.address;
      for (const range of flow.ports) {
        for (let port = range.from; port <= range.to; port++) {
          const state = options.states?.[`${host}:${port}`] ?? 'open';
          results.set(`${host}|${port}`, {
            host,
            port,
            state,
            latencyMs: state === 'open' || state === 'closed' ? 1.5 : 3000,
            attempts: 1,
            ...(state === 'closed' ? { code: 'ECONNREFUSED' } : {}),
          } as ProbeResult);
        }
      }
    }
    const audits = outcome.audits.filter((a) => a.flowId === flow.id);
    const probe = options.probeProblem !== undefined ? { problem: options.probeProblem } : { results };
    const finding = combineFlow(flow, probe, audits, outcome);
    return {
      ...finding,
      ...(options.optionalOutside && finding.verdict === 'not-checkable' ? { optional: true } : {}),
      checkId: run.checkId,
      environmentName: run.environmentName,
      createdAt: run.createdAt,
    };
  });
}

/** A closed run of the example wave. */
export function waveRun(overrides: Partial<CheckRun> = {}): CheckRun {
  return {
    checkId: '01J9ZK3V8Q4W5X6Y7Z8A9B0C1D',
    environmentName: 'wave-1',
    trigger: 'api',
    status: 'succeeded',
    createdAt: '2026-03-02T09:00:00.000Z',
    startedAt: '2026-03-02T09:00:01.000Z',
    finishedAt: '2026-03-02T09:00:07.500Z',
    counts: {},
    flowCount: 12,
    ...overrides,
  };
}

/** Text that breaks every format that does not escape: markup, entities, quotes, separators, line breaks. */
export const NASTY = `a <script>alert("x")</script> & 'quoted', "double", | pipe, *star* \`tick\`\r\nsecond line,]]>`;
