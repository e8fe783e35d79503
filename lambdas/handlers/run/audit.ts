/**
 * The auditor: outside the VPC, it reads the Security Groups, network interfaces, network ACLs, route tables and
 * prefix lists the environment's vantages name (only the EC2 `Describe*`/`Get*` calls of `EC2_INVENTORY_ACTIONS`,
 * which is all its role allows) and evaluates every flow of the plan against them.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { defaultCatalog } from '../../core/catalog';
import { parseEnvironment } from '../../core/environment';
import { plan } from '../../core/plan';
import { auditStep, type AuditStepOutput } from '../../core/run/steps';
import { inventoryScope } from '../../core/audit/plan-audit';
import { EC2_CLIENT_RETRY, readInventory } from '../../aws/ec2-inventory';
import { instrument } from '../instrument';
import { instruments, logger, tracer } from '../observability';
import { auditInputSchema } from './payloads';
import { parseWith } from './parse';

/** The audit with its EC2 client; the handler binds it. */
export async function audit(raw: unknown, ec2: EC2Client): Promise<AuditStepOutput> {
  const input = parseWith(auditInputSchema, raw, 'the audit input');
  const catalog = defaultCatalog();
  const environment = parseEnvironment(input.environment, catalog, 'environment');
  const inventory = await readInventory(ec2, inventoryScope(environment));
  return auditStep({ plan: plan(environment, catalog), environment, inventory });
}

const ec2 = tracer.captureAWSv3Client(new EC2Client({ ...EC2_CLIENT_RETRY }));

export const handler = instrument('audit', instruments, async (event: unknown) => {
  const out = await audit(event, ec2);
  logger.info('audited', { flows: out.audits.length });
  return out;
});
