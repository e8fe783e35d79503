/**
 * The auditor: outside the VPC, it reads the Security Groups, network interfaces, network ACLs, route tables and
 * prefix lists the environment's vantages name (only the EC2 `Describe*`/`Get*` calls of `EC2_INVENTORY_ACTIONS`,
 * which with the run's table is all its role allows) and evaluates every flow of the plan against them. It reads
 * the run's environment from the store and writes the audits there: its output (1.6 MB at 600 HDM hosts) would
 * not fit in a Step Functions state. It returns a count.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { defaultCatalog } from '../../core/catalog';
import { parseEnvironment } from '../../core/environment';
import { plan } from '../../core/plan';
import { auditStep, type AuditStepOutput } from '../../core/run/steps';
import { inventoryScope } from '../../core/audit/plan-audit';
import { EC2_CLIENT_RETRY, readInventory } from '../../aws/ec2-inventory';
import type { RunData } from '../../core/run/run-data';
import { resultStore, runData } from '../clients';
import { instrument } from '../instrument';
import { readSettings } from '../settings';
import { instruments, logger, tracer } from '../observability';
import { auditInputSchema } from './payloads';
import { parseWith } from './parse';

/** What the auditor returns to the state machine: how much it stored, never the audits themselves. */
export interface AuditSummary {
  readonly checkId: string;
  readonly audits: number;
  readonly skipped?: string;
}

/** The audit with its EC2 client and the run's data; the handler binds them. */
export async function audit(raw: unknown, deps: { ec2: EC2Client; data: RunData }): Promise<AuditSummary> {
  const input = parseWith(auditInputSchema, raw, 'the audit input');
  const catalog = defaultCatalog();
  const stored = await deps.data.getPlan(input.checkId);
  const environment = parseEnvironment(stored.environment, catalog, 'environment');
  const inventory = await readInventory(deps.ec2, inventoryScope(environment));
  const out: AuditStepOutput = await auditStep({ plan: plan(environment, catalog), environment, inventory });
  await deps.data.putAudit(input.checkId, out);
  return {
    checkId: input.checkId,
    audits: out.audits.length,
    ...(out.skipped !== undefined ? { skipped: out.skipped } : {}),
  };
}

const settings = readSettings(['TABLE_NAME', 'RETENTION_DAYS']);
const { client } = resultStore(settings);
const data = runData(settings, client);
const ec2 = tracer.captureAWSv3Client(new EC2Client({ ...EC2_CLIENT_RETRY }));

export const handler = instrument('audit', instruments, async (event: unknown) => {
  const out = await audit(event, { ec2, data });
  logger.info('audited', { flows: out.audits });
  return out;
});
