import { DescribeSecurityGroupsCommand, EC2Client, EC2ServiceException } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { mockTheVpc } from '../support/ec2-vpc';
import { EC2_INVENTORY_ACTIONS, Ec2InventoryError } from '../../lambdas/aws/ec2-inventory';
import { defaultCatalog } from '../../lambdas/core/catalog';
import { parseEnvironment } from '../../lambdas/core/environment';
import { plan } from '../../lambdas/core/plan';
import { formatPortList } from '../../lambdas/core/ports';
import { queuedRun } from '../../lambdas/core/store';
import { StepInputError } from '../../lambdas/handlers/run/parse';
import { MemoryRunData } from '../support/run-data';

// The auditor Lambda's work: read the inventory its vantages name from EC2 (mocked with the recorded shapes in
// test/fixtures/aws) with only the calls its role allows, and store the static verdict of every flow with the run
// (the state machine gets a count).

// The handler module reads its settings at import: set them first, then load it.
process.env.TABLE_NAME ??= 'not-used-by-these-tests';
type AuditModule = typeof import('../../lambdas/handlers/run/audit');
const { audit } = jest.requireActual<AuditModule>('../../lambdas/handlers/run/audit');

const WORKERS = 'sg-0a1b2c3d4e5f60aa1';
const WORKER_SUBNET = 'subnet-0a1b2c3d4e5f60001';

const ec2 = mockClient(EC2Client);
const client = new EC2Client({ region: 'eu-west-1' });

/** The environment of the fixture VPC, as the execution input carries it. */
const ENVIRONMENT = {
  name: 'audit-wave',
  vantages: [
    { name: 'workers', roles: ['target-worker'], subnetIds: [WORKER_SUBNET], securityGroupIds: [WORKERS] },
  ],
  flows: [
    { name: 'https', to: ['10.20.0.15'], ports: '443' },
    { name: 'rdp', to: ['10.20.0.16'], ports: '3389' },
    { name: 'rpc', to: ['10.20.0.0/28'], ports: '49152-49160' },
    { name: 'ssh', to: ['10.20.0.17'], ports: '22' },
  ],
};

/** `ec2:DescribeSecurityGroups` for a recorded `DescribeSecurityGroupsCommand` call. */
const actionOf = (call: ReturnType<typeof ec2.calls>[number]) =>
  `ec2:${(call.args[0] as object).constructor.name.replace(/Command$/, '')}`;

let data: MemoryRunData;
let checkId: string;
beforeEach(async () => {
  ec2.reset();
  data = new MemoryRunData();
  checkId = queuedRun(ENVIRONMENT.name, 'api').checkId;
  // What the start step stored for the run.
  await data.putPlan(
    checkId,
    {
      environment: parseEnvironment(ENVIRONMENT, defaultCatalog(), 'environment'),
      shardCount: 0,
      probeFailures: [],
    },
    [],
  );
});

describe('audit', () => {
  it('makes only the EC2 calls of EC2_INVENTORY_ACTIONS and stores one FlowAudit per flow, returning a count', async () => {
    // Arrange
    mockTheVpc(ec2);
    const flows = plan(
      parseEnvironment(ENVIRONMENT, defaultCatalog(), 'environment'),
      defaultCatalog(),
    ).flows;

    // Act
    const summary = await audit({ checkId }, { ec2: client, data });
    const out = (await data.getAudit(checkId))!;

    // Assert: the calls
    const actions = ec2.calls().map(actionOf);
    expect(actions.length).toBeGreaterThan(0);
    expect(EC2_INVENTORY_ACTIONS).toEqual(expect.arrayContaining([...new Set(actions)]));
    expect(ec2.commandCalls(DescribeSecurityGroupsCommand)[0]?.args[0].input).toEqual({
      GroupIds: [WORKERS],
    });

    // Assert: one audit per flow, each with a verdict and the vantage it was read for; only the count travels
    expect(summary).toEqual({ checkId, audits: flows.length });
    expect(out.skipped).toBeUndefined();
    expect(out.audits.map((a) => a.flowId).sort()).toEqual(flows.map((f) => f.id).sort());
    for (const a of out.audits) {
      expect(a).toMatchObject({ vantage: 'workers', subnetId: WORKER_SUBNET, securityGroupIds: [WORKERS] });
      expect(a.problem).toBeUndefined();
      expect(['allowed', 'partial', 'blocked']).toContain(a.result?.status);
    }
    const byPort = (port: string) =>
      out.audits.find((a) => a.flowId === flows.find((f) => formatPortList(f.ports) === port)?.id);
    // The group has no egress rule for 22 at all; the NACL denies 3389 to 10.20.0.0/16.
    expect(byPort('22')?.result?.status).toBe('blocked');
    expect(byPort('3389')?.result?.status).toBe('blocked');
    expect(JSON.stringify(byPort('3389')?.result)).toContain('network-acl');
    expect(byPort('22')?.remediation).toBeDefined();
  });

  it('fails naming the operation and the code when EC2 refuses a call (the state machine catches it)', async () => {
    // Arrange
    mockTheVpc(ec2);
    ec2.on(DescribeSecurityGroupsCommand).rejects(
      new EC2ServiceException({
        name: 'UnauthorizedOperation',
        message: 'You are not authorized to perform this operation.',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
      }),
    );

    // Act
    const err = await audit({ checkId }, { ec2: client, data }).then(
      () => undefined,
      (e: unknown) => e as Ec2InventoryError,
    );

    // Assert
    expect(err).toBeInstanceOf(Ec2InventoryError);
    expect(err?.operation).toBe('DescribeSecurityGroups');
    expect(err?.message).toContain('UnauthorizedOperation');
    expect(await data.getAudit(checkId)).toBeUndefined();
  });

  it('refuses an input without a run, naming it, before calling EC2', async () => {
    // Act
    const missing = await audit({}, { ec2: client, data }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    const notObject = await audit('workers', { ec2: client, data }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );

    // Assert
    expect(missing).toBeInstanceOf(StepInputError);
    expect(missing?.message).toMatch(/^the audit input is not valid: checkId: /);
    expect(notObject).toBeInstanceOf(StepInputError);
    expect(ec2.calls()).toHaveLength(0);
  });
});
