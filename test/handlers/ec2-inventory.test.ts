import {
  DescribeNatGatewaysCommand,
  DescribeNetworkAclsCommand,
  DescribeNetworkInterfacesCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  EC2Client,
  EC2ServiceException,
  GetManagedPrefixListEntriesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { acls, groups, interfaces, mockTheVpc, ONPREM_LIST, subnets, tables } from '../support/ec2-vpc';
import {
  createEc2Client,
  EC2_INVENTORY_ACTIONS,
  Ec2InventoryError,
  readInventory,
  type ReadInventoryOptions,
} from '../../lambdas/aws/ec2-inventory';
import { THROTTLING_ERROR_NAMES, throttlingCode, withThrottlingRetry } from '../../lambdas/aws/throttling';

const WORKERS = 'sg-0a1b2c3d4e5f60aa1';
const APPLIANCE = 'sg-0a1b2c3d4e5f60bb2';
const WORKER_SUBNET = 'subnet-0a1b2c3d4e5f60001';
const VPC = 'vpc-0a1b2c3d4e5f60789';
const S3_LIST = 'pl-6da54004';

const ec2 = mockClient(EC2Client);
const client = new EC2Client({ region: 'eu-west-1' });

/** No real waiting in tests; the waits are recorded instead. */
function fastRetry(maxAttempts = 4): { options: ReadInventoryOptions; delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    options: {
      retry: {
        maxAttempts,
        baseDelayMs: 100,
        random: () => 0,
        sleep: async (ms) => {
          delays.push(ms);
        },
      },
    },
  };
}

function awsError(name: string, message: string, status = 400): EC2ServiceException {
  return new EC2ServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: status } });
}

const inputsOf = (command: Parameters<typeof ec2.commandCalls>[0]) =>
  ec2.commandCalls(command).map((call) => call.args[0].input);

/** The error `promise` rejects with, failing the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Ec2InventoryError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(Ec2InventoryError);
    return err as Ec2InventoryError;
  }
  throw new Error('expected readInventory to fail');
}

beforeEach(() => {
  ec2.reset();
});

describe('reading the inventory live from EC2', () => {
  it('asks only for the named ids and what they reference', async () => {
    // Arrange
    mockTheVpc(ec2);
    // Act
    await readInventory(client, { securityGroupIds: [WORKERS, WORKERS], subnetIds: [WORKER_SUBNET] });
    // Assert
    expect(inputsOf(DescribeSecurityGroupsCommand)).toEqual([{ GroupIds: [WORKERS] }]);
    expect(inputsOf(DescribeNetworkInterfacesCommand)).toEqual([
      { Filters: [{ Name: 'group-id', Values: [WORKERS, APPLIANCE] }] },
    ]);
    expect(inputsOf(DescribeSubnetsCommand)).toEqual([{ SubnetIds: [WORKER_SUBNET] }]);
    expect(inputsOf(DescribeNetworkAclsCommand)).toEqual([
      { Filters: [{ Name: 'association.subnet-id', Values: [WORKER_SUBNET] }] },
      {
        Filters: [
          { Name: 'vpc-id', Values: [VPC] },
          { Name: 'default', Values: ['true'] },
        ],
      },
    ]);
    expect(inputsOf(DescribeRouteTablesCommand)).toEqual([
      { Filters: [{ Name: 'association.subnet-id', Values: [WORKER_SUBNET] }] },
      {
        Filters: [
          { Name: 'vpc-id', Values: [VPC] },
          { Name: 'association.main', Values: ['true'] },
        ],
      },
    ]);
    expect(inputsOf(GetManagedPrefixListEntriesCommand)).toEqual([
      { PrefixListId: ONPREM_LIST },
      { PrefixListId: S3_LIST },
    ]);
    expect(ec2.calls()).toHaveLength(9);
  });

  it('returns the groups, the referenced groups interfaces, the prefix lists, the NACLs and both route tables', async () => {
    // Arrange
    mockTheVpc(ec2);
    // Act
    const inventory = await readInventory(client, {
      securityGroupIds: [WORKERS],
      subnetIds: [WORKER_SUBNET],
    });
    // Assert
    expect([...inventory.securityGroups.keys()]).toEqual([WORKERS]);
    expect(inventory.networkInterfaces.map((e) => [e.PrivateIpAddress, e.Groups?.[0]?.GroupId])).toEqual([
      ['10.10.1.25', WORKERS],
      ['10.10.2.10', APPLIANCE],
    ]);
    expect(inventory.subnets.map((s) => s.SubnetId)).toEqual([WORKER_SUBNET]);
    expect(inventory.networkAcls.map((a) => [a.NetworkAclId, a.IsDefault])).toEqual([
      ['acl-0a1b2c3d4e5f60c01', false],
      ['acl-0a1b2c3d4e5f60c02', true],
    ]);
    expect(inventory.routeTables.map((t) => [t.RouteTableId, t.Associations?.[0]?.Main])).toEqual([
      ['rtb-0a1b2c3d4e5f60e01', false],
      ['rtb-0a1b2c3d4e5f60e02', true],
    ]);
    expect(Object.fromEntries(inventory.prefixLists)).toEqual({
      [ONPREM_LIST]: ['10.20.10.0/24', '192.168.40.0/24'],
      [S3_LIST]: ['52.218.0.0/17', '3.5.64.0/21'],
    });
    expect(inventory.securityGroups.get(WORKERS)).toMatchObject({ OwnerId: '123456789012' });
  });

  it('follows an active NAT gateway route to the NAT gateway and its subnet route table', async () => {
    // Arrange: the workers table's NAT route made active; EC2 answers as describe-nat-gateways prints it.
    mockTheVpc(ec2);
    const own = structuredClone(tables.RouteTables![0]!);
    const natRoute = own.Routes!.find((r) => r.NatGatewayId !== undefined)!;
    natRoute.State = 'active';
    const natTable = {
      RouteTableId: 'rtb-0a1b2c3d4e5f60e09',
      VpcId: VPC,
      Routes: [
        {
          DestinationCidrBlock: '10.10.0.0/16',
          GatewayId: 'local',
          Origin: 'CreateRouteTable',
          State: 'active',
        },
        {
          DestinationCidrBlock: '0.0.0.0/0',
          GatewayId: 'igw-0a1b2c3d4e5f60e09',
          Origin: 'CreateRoute',
          State: 'active',
        },
      ],
      Associations: [
        { Main: false, RouteTableId: 'rtb-0a1b2c3d4e5f60e09', SubnetId: 'subnet-0a1b2c3d4e5f60009' },
      ],
    };
    ec2.on(DescribeRouteTablesCommand).callsFake((input) => {
      const values = (input.Filters ?? []).flatMap((f: { Values?: string[] }) => f.Values ?? []);
      if (values.includes('subnet-0a1b2c3d4e5f60009')) return { RouteTables: [natTable] };
      if (values.includes(WORKER_SUBNET)) return { RouteTables: [own] };
      return { RouteTables: [structuredClone(tables.RouteTables![1]!)] };
    });
    ec2.on(DescribeNatGatewaysCommand).resolves({
      NatGateways: [
        {
          NatGatewayId: natRoute.NatGatewayId,
          SubnetId: 'subnet-0a1b2c3d4e5f60009',
          VpcId: VPC,
          State: 'available',
          ConnectivityType: 'public',
          NatGatewayAddresses: [
            { AllocationId: 'eipalloc-0a1b2c3d4e5f60e09', PrivateIp: '10.10.9.5', PublicIp: '198.51.100.9' },
          ],
        },
      ],
    });
    // Act
    const inventory = await readInventory(client, { securityGroupIds: [], subnetIds: [WORKER_SUBNET] });
    // Assert
    expect(inputsOf(DescribeNatGatewaysCommand)).toEqual([{ NatGatewayIds: [natRoute.NatGatewayId] }]);
    expect(inventory.natGateways?.get(natRoute.NatGatewayId!)).toMatchObject({
      SubnetId: 'subnet-0a1b2c3d4e5f60009',
      ConnectivityType: 'public',
    });
    expect(inventory.routeTables.map((t) => t.RouteTableId)).toContain('rtb-0a1b2c3d4e5f60e09');
    expect(EC2_INVENTORY_ACTIONS).toContain('ec2:DescribeNatGateways');
  });

  it('asks for no NAT gateway when the only NAT route is a blackhole', async () => {
    // Arrange
    mockTheVpc(ec2);
    // Act
    await readInventory(client, { securityGroupIds: [], subnetIds: [WORKER_SUBNET] });
    // Assert
    expect(inputsOf(DescribeNatGatewaysCommand)).toEqual([]);
  });

  it('keeps one copy of a NACL found both by association and as the default', async () => {
    // Arrange
    mockTheVpc(ec2);
    ec2.on(DescribeNetworkAclsCommand).resolves({ NetworkAcls: [structuredClone(acls.NetworkAcls![1]!)] });
    // Act
    const inventory = await readInventory(client, { securityGroupIds: [], subnetIds: [WORKER_SUBNET] });
    // Assert
    expect(inventory.networkAcls.map((a) => a.NetworkAclId)).toEqual(['acl-0a1b2c3d4e5f60c02']);
  });

  it('makes no call at all for an empty scope (an empty GroupIds would list the whole account)', async () => {
    // Act
    const inventory = await readInventory(client, { securityGroupIds: [], subnetIds: [] });
    // Assert
    expect(ec2.calls()).toHaveLength(0);
    expect(inventory.securityGroups.size).toBe(0);
  });

  it('reads groups without subnets, and subnets without groups', async () => {
    // Arrange
    mockTheVpc(ec2);
    // Act
    await readInventory(client, { securityGroupIds: [WORKERS], subnetIds: [] });
    const groupCalls = ec2.calls().length;
    ec2.resetHistory();
    await readInventory(client, { securityGroupIds: [], subnetIds: [WORKER_SUBNET] });
    // Assert
    expect(groupCalls).toBe(3); // groups, interfaces, one prefix list
    expect(inputsOf(DescribeSecurityGroupsCommand)).toEqual([]);
    expect(inputsOf(GetManagedPrefixListEntriesCommand)).toEqual([{ PrefixListId: S3_LIST }]);
  });

  it('follows NextToken across pages', async () => {
    // Arrange
    mockTheVpc(ec2);
    const [workers, appliance] = structuredClone(groups.SecurityGroups!);
    ec2
      .on(DescribeSecurityGroupsCommand)
      .resolvesOnce({ SecurityGroups: [workers!], NextToken: 'sg-page-2' })
      .resolvesOnce({ SecurityGroups: [appliance!] });
    const [eni1, eni2] = structuredClone(interfaces.NetworkInterfaces!);
    ec2
      .on(DescribeNetworkInterfacesCommand)
      .resolvesOnce({ NetworkInterfaces: [eni1!], NextToken: 'eni-page-2' })
      .resolvesOnce({ NetworkInterfaces: [], NextToken: 'eni-page-3' })
      .resolvesOnce({ NetworkInterfaces: [eni2!] });
    ec2
      .on(GetManagedPrefixListEntriesCommand)
      .resolvesOnce({ Entries: [{ Cidr: '10.20.10.0/24' }], NextToken: 'pl-page-2' })
      .resolvesOnce({ Entries: [{ Cidr: '192.168.40.0/24' }] });
    // Act
    const inventory = await readInventory(client, { securityGroupIds: [WORKERS, APPLIANCE], subnetIds: [] });
    // Assert
    expect(inputsOf(DescribeSecurityGroupsCommand)).toEqual([
      { GroupIds: [WORKERS, APPLIANCE] },
      { GroupIds: [WORKERS, APPLIANCE], NextToken: 'sg-page-2' },
    ]);
    expect(inputsOf(DescribeNetworkInterfacesCommand).map((i) => i.NextToken)).toEqual([
      undefined,
      'eni-page-2',
      'eni-page-3',
    ]);
    expect(inputsOf(GetManagedPrefixListEntriesCommand)).toEqual([
      { PrefixListId: ONPREM_LIST },
      { PrefixListId: ONPREM_LIST, NextToken: 'pl-page-2' },
    ]);
    expect([...inventory.securityGroups.keys()]).toEqual([WORKERS, APPLIANCE]);
    expect(inventory.networkInterfaces).toHaveLength(2);
    expect(inventory.prefixLists.get(ONPREM_LIST)).toEqual(['10.20.10.0/24', '192.168.40.0/24']);
  });

  it('stops when EC2 repeats the same NextToken', async () => {
    // Arrange
    mockTheVpc(ec2);
    ec2
      .on(DescribeSubnetsCommand)
      .resolves({ Subnets: [structuredClone(subnets.Subnets![0]!)], NextToken: 'same' });
    // Act
    await readInventory(client, { securityGroupIds: [], subnetIds: [WORKER_SUBNET] });
    // Assert
    expect(inputsOf(DescribeSubnetsCommand)).toEqual([
      { SubnetIds: [WORKER_SUBNET] },
      { SubnetIds: [WORKER_SUBNET], NextToken: 'same' },
    ]);
  });

  it('splits long id lists into several requests', async () => {
    // Arrange
    mockTheVpc(ec2);
    const ids = Array.from({ length: 150 }, (_, i) => `subnet-${i.toString(16).padStart(17, '0')}`);
    ec2.on(DescribeSubnetsCommand).callsFake((input: { SubnetIds: string[] }) => ({
      Subnets: input.SubnetIds.map((SubnetId) => ({ SubnetId, VpcId: VPC, CidrBlock: '10.10.1.0/24' })),
    }));
    // Act
    const inventory = await readInventory(client, { securityGroupIds: [], subnetIds: ids });
    // Assert
    expect(inputsOf(DescribeSubnetsCommand).map((i) => i.SubnetIds?.length)).toEqual([100, 50]);
    expect(inventory.subnets).toHaveLength(150);
  });
});

describe('throttling', () => {
  it('retries a throttled call with growing waits, then succeeds', async () => {
    // Arrange
    mockTheVpc(ec2);
    ec2
      .on(DescribeSecurityGroupsCommand)
      .rejectsOnce(awsError('RequestLimitExceeded', 'Request limit exceeded.', 503))
      .rejectsOnce(awsError('RequestLimitExceeded', 'Request limit exceeded.', 503))
      .rejectsOnce(awsError('Throttling', 'Rate exceeded'))
      .resolves({ SecurityGroups: [structuredClone(groups.SecurityGroups![0]!)] });
    const { options, delays } = fastRetry(4);
    // Act
    const inventory = await readInventory(client, { securityGroupIds: [WORKERS], subnetIds: [] }, options);
    // Assert
    expect(inputsOf(DescribeSecurityGroupsCommand)).toHaveLength(4);
    expect(delays).toEqual([50, 100, 200]);
    expect(inventory.securityGroups.has(WORKERS)).toBe(true);
  });

  it('retries only the throttled page, not the whole listing', async () => {
    // Arrange
    mockTheVpc(ec2);
    const [eni1, eni2] = structuredClone(interfaces.NetworkInterfaces!);
    ec2
      .on(DescribeNetworkInterfacesCommand)
      .resolvesOnce({ NetworkInterfaces: [eni1!], NextToken: 'page-2' })
      .rejectsOnce(awsError('ThrottlingException', 'Rate exceeded'))
      .resolvesOnce({ NetworkInterfaces: [eni2!] });
    // Act
    const inventory = await readInventory(
      client,
      { securityGroupIds: [WORKERS], subnetIds: [] },
      fastRetry().options,
    );
    // Assert
    expect(inputsOf(DescribeNetworkInterfacesCommand).map((i) => i.NextToken)).toEqual([
      undefined,
      'page-2',
      'page-2',
    ]);
    expect(inventory.networkInterfaces).toHaveLength(2);
  });

  it('gives up after the last attempt with a clear error', async () => {
    // Arrange
    mockTheVpc(ec2);
    ec2.on(DescribeSubnetsCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
    // Act
    const err = await rejection(
      readInventory(client, { securityGroupIds: [], subnetIds: [WORKER_SUBNET] }, fastRetry(3).options),
    );
    // Assert
    expect(inputsOf(DescribeSubnetsCommand)).toHaveLength(3);
    expect(err.message).toBe(
      "DescribeSubnets was still throttled by AWS after 3 attempts (ThrottlingException): the account's API request " +
        'rate is used up, by this run or by other callers in the same account and region; wait a minute and try again',
    );
    expect(err.code).toBe('ThrottlingException');
    expect(err.operation).toBe('DescribeSubnets');
  });

  it.each([...THROTTLING_ERROR_NAMES])('recognises %s as throttling', (name) => {
    // Act
    const code = throttlingCode(awsError(name, 'slow down'));
    // Assert
    expect(code).toBe(name);
  });

  it('recognises a bare 429 and ignores other errors', () => {
    // Act
    const tooMany = throttlingCode(awsError('SomethingNew', 'x', 429));
    const notFound = throttlingCode(awsError('InvalidGroup.NotFound', 'x'));
    // Assert
    expect(tooMany).toBe('SomethingNew');
    expect(notFound).toBeUndefined();
  });

  it('waits with exponential backoff and jitter, capped', async () => {
    // Arrange
    const delays: number[] = [];
    let calls = 0;
    const attempt = async () => {
      calls++;
      if (calls < 6) throw awsError('RequestLimitExceeded', 'x');
      return 'done';
    };
    // Act
    const result = await withThrottlingRetry('Op', attempt, {
      maxAttempts: 6,
      baseDelayMs: 100,
      maxDelayMs: 1000,
      random: () => 0.5,
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    // Assert: half of min(cap, base × 2^n) plus half of the other half
    expect(result).toBe('done');
    expect(delays).toEqual([75, 150, 300, 600, 750]);
  });

  it('does not retry errors that are not throttling', async () => {
    // Arrange
    mockTheVpc(ec2);
    ec2.on(DescribeSecurityGroupsCommand).rejects(awsError('InternalError', 'boom', 500));
    // Act
    const err = await rejection(
      readInventory(client, { securityGroupIds: [WORKERS], subnetIds: [] }, fastRetry().options),
    );
    // Assert
    expect(inputsOf(DescribeSecurityGroupsCommand)).toHaveLength(1);
    expect(err.message).toBe('DescribeSecurityGroups failed (InternalError): boom');
  });
});

describe('errors name the id or what to configure', () => {
  it('names a security group that does not exist', async () => {
    // Arrange
    mockTheVpc(ec2);
    ec2
      .on(DescribeSecurityGroupsCommand)
      .rejects(awsError('InvalidGroup.NotFound', "The security group 'sg-0123456789abcdef0' does not exist"));
    // Act
    const err = await rejection(
      readInventory(client, { securityGroupIds: [WORKERS, 'sg-0123456789abcdef0'], subnetIds: [] }),
    );
    // Assert
    expect(err.message).toBe(
      'security group sg-0123456789abcdef0 does not exist in eu-west-1 for these credentials ' +
        '(DescribeSecurityGroups: InvalidGroup.NotFound): check securityGroupIds (--security-group), and that ' +
        'AWS_REGION and the credentials point at the account that owns it',
    );
    expect(err.message).not.toMatch(/\n\s+at /);
  });

  it('names a subnet that does not exist', async () => {
    // Arrange
    mockTheVpc(ec2);
    ec2
      .on(DescribeSubnetsCommand)
      .rejects(
        awsError('InvalidSubnetID.NotFound', "The subnet ID 'subnet-0123456789abcdef0' does not exist"),
      );
    // Act
    const err = await rejection(
      readInventory(client, { securityGroupIds: [], subnetIds: ['subnet-0123456789abcdef0'] }),
    );
    // Assert
    expect(err.message).toMatch(
      /^subnet subnet-0123456789abcdef0 does not exist in eu-west-1 .*check subnetIds/,
    );
    expect(err.code).toBe('InvalidSubnetID.NotFound');
  });

  it('names a malformed id', async () => {
    // Arrange
    mockTheVpc(ec2);
    ec2
      .on(DescribeSecurityGroupsCommand)
      .rejects(awsError('InvalidGroupId.Malformed', 'Invalid id: "sg-xyz"'));
    // Act
    const err = await rejection(readInventory(client, { securityGroupIds: ['sg-xyz'], subnetIds: [] }));
    // Assert
    expect(err.message).toBe(
      'sg-xyz is not a valid security group id (DescribeSecurityGroups: InvalidGroupId.Malformed): ' +
        'check securityGroupIds (--security-group)',
    );
  });

  it('names ids EC2 silently left out of its answer', async () => {
    // Arrange
    mockTheVpc(ec2);
    // Act
    const err = await rejection(
      readInventory(client, { securityGroupIds: [WORKERS, 'sg-0fffffffffffffff1'], subnetIds: [] }),
    );
    // Assert
    expect(err.message).toBe(
      'security group sg-0fffffffffffffff1 not returned by DescribeSecurityGroups: ' +
        'check securityGroupIds (--security-group) and the region',
    );
  });

  it('says which IAM actions to grant when access is denied', async () => {
    // Arrange
    mockTheVpc(ec2);
    ec2
      .on(DescribeNetworkAclsCommand)
      .rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.', 403));
    // Act
    const err = await rejection(readInventory(client, { securityGroupIds: [], subnetIds: [WORKER_SUBNET] }));
    // Assert
    expect(err.message).toBe(
      'these credentials may not call ec2:DescribeNetworkAcls (UnauthorizedOperation): grant the auditor the ' +
        `read-only actions ${EC2_INVENTORY_ACTIONS.join(', ')}, or audit offline from exports with --inventory FILE`,
    );
  });

  it('says how to configure credentials when there are none', async () => {
    // Arrange
    const missing = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    ec2.onAnyCommand().rejects(missing);
    // Act
    const err = await rejection(readInventory(client, { securityGroupIds: [WORKERS], subnetIds: [] }));
    // Assert
    expect(err.message).toMatch(
      /^no AWS credentials found: set AWS_PROFILE .* or audit offline from exports/,
    );
  });

  it('says to refresh rejected credentials and to set a region', async () => {
    // Arrange
    ec2
      .on(DescribeSecurityGroupsCommand)
      .rejects(awsError('ExpiredToken', 'The security token included in the request is expired'));
    ec2.on(DescribeSubnetsCommand).rejects(new Error('Region is missing'));
    // Act
    const expired = await rejection(readInventory(client, { securityGroupIds: [WORKERS], subnetIds: [] }));
    const noRegion = await rejection(
      readInventory(client, { securityGroupIds: [], subnetIds: [WORKER_SUBNET] }),
    );
    // Assert
    expect(expired.message).toMatch(/^AWS rejected the credentials \(ExpiredToken: .*\): refresh them/);
    expect(noRegion.message).toMatch(/^no AWS region configured: set AWS_REGION/);
  });

  it('says what to open when the EC2 endpoint cannot be reached', async () => {
    // Arrange
    ec2
      .on(DescribeSecurityGroupsCommand)
      .rejects(
        Object.assign(new Error('getaddrinfo ENOTFOUND ec2.eu-west-1.amazonaws.com'), { code: 'ENOTFOUND' }),
      );
    // Act
    const err = await rejection(readInventory(client, { securityGroupIds: [WORKERS], subnetIds: [] }));
    // Assert
    expect(err.message).toMatch(
      /^cannot reach the EC2 API \(ENOTFOUND\): allow HTTPS to ec2\.eu-west-1\.amazonaws\.com/,
    );
  });

  it('leaves out a referenced prefix list that no longer exists', async () => {
    // Arrange
    mockTheVpc(ec2);
    ec2
      .on(GetManagedPrefixListEntriesCommand, { PrefixListId: ONPREM_LIST })
      .rejects(
        awsError('InvalidPrefixListID.NotFound', `The prefix list ID '${ONPREM_LIST}' does not exist`),
      );
    // Act
    const inventory = await readInventory(client, {
      securityGroupIds: [WORKERS],
      subnetIds: [WORKER_SUBNET],
    });
    // Assert
    expect([...inventory.prefixLists.keys()]).toEqual([S3_LIST]);
  });

  it('refuses API data the audit cannot read, naming the path', async () => {
    // Arrange
    mockTheVpc(ec2);
    const eni = structuredClone(interfaces.NetworkInterfaces![0]!);
    eni.PrivateIpAddress = 'not-an-ip';
    ec2.on(DescribeNetworkInterfacesCommand).resolves({ NetworkInterfaces: [eni] });
    // Act
    const err = await rejection(readInventory(client, { securityGroupIds: [WORKERS], subnetIds: [] }));
    // Assert
    expect(err.message).toBe(
      'the EC2 API returned data the audit cannot read: EC2 DescribeNetworkInterfaces: ' +
        'NetworkInterfaces[0].PrivateIpAddress: "not-an-ip" is not an IPv4 address',
    );
  });
});

describe('createEc2Client', () => {
  it('uses the adaptive retry mode with more attempts, and the given region', async () => {
    // Act
    const created = createEc2Client('eu-west-1');
    // Assert
    const strategy = await created.config.retryStrategy();
    expect(strategy).toMatchObject({ mode: 'adaptive' });
    expect(await created.config.maxAttempts()).toBe(6);
    expect(await created.config.region()).toBe('eu-west-1');
  });
});
