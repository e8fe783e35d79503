/**
 * Apply and re-audit: for every example environment audited against the example AWS exports, the change
 * set's AWS CLI script, applied to the inventory as EC2 would apply it, leaves every audited flow allowed,
 * and opens nothing the flows do not need.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { readEnvironmentFile } from '../../../lambdas/cli/env-file';
import { createAuditor } from '../../../lambdas/core/audit/evaluate';
import { readInventoryFiles } from '../../../lambdas/core/audit/inventory';
import { auditPlan, auditWithRemediation, type FlowAudit } from '../../../lambdas/core/audit/plan-audit';
import { auditChangeSet, needsFix } from '../../../lambdas/core/audit/remediation';
import type { Inventory } from '../../../lambdas/core/audit/types';
import { defaultCatalog } from '../../../lambdas/core/catalog';
import { readFixes, buildChangeSet } from '../../../lambdas/core/finding/change-set';
import { plan } from '../../../lambdas/core/plan';
import { applyAwsCli, parseAwsCli } from '../../support/apply-change-set';

const ROOT = path.join(__dirname, '../../..');
const EXAMPLES = path.join(ROOT, 'examples');
const inventory = readInventoryFiles([path.join(EXAMPLES, 'aws-wave-1')], ROOT);
const catalog = defaultCatalog();

/** A resolver with fixed answers (examples/aws-wave-1's README: app01 is 10.20.0.15); other names fail. */
async function resolve(host: string): Promise<string[]> {
  if (host === 'app01.corp.example') return ['10.20.0.15'];
  throw Object.assign(new Error(`${host} does not resolve`), { code: 'ENOTFOUND' });
}

async function auditExample(file: string, inv: Inventory): Promise<FlowAudit[]> {
  const env = readEnvironmentFile(file, ROOT, catalog);
  return auditPlan(plan(env, catalog), env, inv, createAuditor(inv), resolve);
}

// deploy.yaml configures a deployment, not an environment.
const examples = readdirSync(EXAMPLES).filter((f) => /\.(ya?ml|json)$/.test(f) && f !== 'deploy.yaml');

describe('apply and re-audit: examples against examples/aws-wave-1', () => {
  it('finds the examples', () => {
    expect(examples).toEqual(expect.arrayContaining(['wave-1.yaml', 'livedata.json', 'hdm.yaml']));
  });

  it.each(examples)('%s: applying the change set leaves every audited flow allowed', async (name) => {
    // Arrange
    const file = path.join(EXAMPLES, name);
    const before = await auditExample(file, inventory);
    const changeSet = auditChangeSet(before);

    // Act
    const after = await auditExample(file, applyAwsCli(inventory, changeSet.awsCli));

    // Assert: the script is the operations, and no question is left open for these exports.
    expect(changeSet.awsCli.map(parseAwsCli)).toEqual(changeSet.operations);
    expect(changeSet.questions).toEqual([]);
    const audited = (audits: FlowAudit[]) =>
      audits.filter((a) => a.result !== undefined && a.result.unknown.length === 0);
    expect(audited(after).length).toBe(audited(before).length);
    for (const a of audited(after))
      expect({ flow: a.flowId, subnet: a.subnetId, status: a.result?.status }).toEqual({
        flow: a.flowId,
        subnet: a.subnetId,
        status: 'allowed',
      });
  });

  it('wave-1: one command per gap, numbered past the ACL, the blackhole pointed at the transit gateway', async () => {
    // Arrange
    const audits = await auditExample(path.join(EXAMPLES, 'wave-1.yaml'), inventory);

    // Act
    const changeSet = auditChangeSet(audits);

    // Assert: both subnets share the group, the ACL and the table: each fix appears once.
    expect(changeSet.awsCli).toEqual([
      `aws ec2 authorize-security-group-egress --group-id sg-0123456789abcdef0 --ip-permissions '${JSON.stringify(
        [
          {
            IpProtocol: 'tcp',
            FromPort: 5022,
            ToPort: 5023,
            IpRanges: [{ CidrIp: '10.20.0.40/32', Description: 'preflight: custom:app-db' }],
          },
          {
            IpProtocol: 'tcp',
            FromPort: 5994,
            ToPort: 5994,
            IpRanges: [{ CidrIp: '10.20.0.16/32', Description: 'preflight: rm-os-data-transfer' }],
          },
        ],
      )}'`,
      'aws ec2 create-network-acl-entry --network-acl-id acl-0a1b2c3d4e5f60718 --rule-number 140 --protocol 6 --rule-action allow --egress --cidr-block 10.20.0.40/32 --port-range From=5022,To=5023',
      'aws ec2 replace-route --route-table-id rtb-0a1b2c3d4e5f60718 --destination-cidr-block 10.20.0.32/28 --transit-gateway-id tgw-0a1b2c3d4e5f60718',
    ]);
    expect(changeSet.awsCli.join('\n')).not.toMatch(/[<>]/);
  });

  it('gives the same change set from the remediation as stored in findings (JSON) as from the audit', async () => {
    // Arrange
    const audits = await auditExample(path.join(EXAMPLES, 'wave-1.yaml'), inventory);
    const stored = JSON.parse(
      JSON.stringify(audits.flatMap((a) => (needsFix(a.result) && a.remediation ? [a.remediation] : []))),
    ) as unknown[];

    // Act
    const fromStore = buildChangeSet(readFixes(stored));

    // Assert
    expect(fromStore).toEqual(auditChangeSet(audits));
  });
});

describe('apply and re-audit: routes that deny inside a blackhole', () => {
  it('replaces the blackhole, and the more specific internet route inside it that cannot carry its part', () => {
    // Arrange: 10.30.0.0/16 is a blackhole, but 10.30.5.0/24 inside it goes to the internet gateway
    // (which cannot reach private addresses); 10.0.0.0/8 goes to the transit gateway.
    const inv = structuredClone(inventory) as Inventory;
    const table = inv.routeTables[0]!;
    table.Routes = [
      ...(table.Routes ?? []),
      { DestinationCidrBlock: '10.30.0.0/16', VpcPeeringConnectionId: 'pcx-0dead', State: 'blackhole' },
      { DestinationCidrBlock: '10.30.5.0/24', GatewayId: 'igw-0a1b2c3d4e5f60718', State: 'active' },
      { DestinationCidrBlock: '10.0.0.0/8', TransitGatewayId: 'tgw-0a1b2c3d4e5f60718', State: 'active' },
    ];
    const auditor = createAuditor(inv);
    const vantage = { securityGroupIds: ['sg-0123456789abcdef0'], subnetId: 'subnet-0123456789abcdef0' };
    const requirement = {
      direction: 'egress' as const,
      protocol: 'tcp' as const,
      ports: [{ from: 443, to: 443 }],
      cidrs: ['10.30.4.0/23'],
    };
    const audit = auditWithRemediation(auditor, inv, vantage, requirement, { label: 'x', vantageCidrs: [] });

    // Act
    const changeSet = auditChangeSet([audit]);
    const fixed = applyAwsCli(inv, changeSet.awsCli);

    // Assert
    expect(changeSet.awsCli.filter((c) => c.includes('route'))).toEqual([
      'aws ec2 replace-route --route-table-id rtb-0a1b2c3d4e5f60718 --destination-cidr-block 10.30.0.0/16 --transit-gateway-id tgw-0a1b2c3d4e5f60718',
      'aws ec2 replace-route --route-table-id rtb-0a1b2c3d4e5f60718 --destination-cidr-block 10.30.5.0/24 --transit-gateway-id tgw-0a1b2c3d4e5f60718',
    ]);
    expect(createAuditor(fixed).audit(vantage, requirement).status).toBe('allowed');
  });
});
