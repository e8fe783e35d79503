import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DescribeNetworkAclsCommand,
  type DescribeNetworkAclsCommandInput,
  type DescribeNetworkAclsCommandOutput,
  DescribeNetworkInterfacesCommand,
  type DescribeNetworkInterfacesCommandOutput,
  DescribeRouteTablesCommand,
  type DescribeRouteTablesCommandInput,
  type DescribeRouteTablesCommandOutput,
  DescribeSecurityGroupsCommand,
  type DescribeSecurityGroupsCommandOutput,
  DescribeSubnetsCommand,
  type DescribeSubnetsCommandOutput,
  type EC2Client,
  GetManagedPrefixListEntriesCommand,
  type GetManagedPrefixListEntriesCommandInput,
  type GetManagedPrefixListEntriesCommandOutput,
} from '@aws-sdk/client-ec2';
import type { AwsClientStub } from 'aws-sdk-client-mock';

// The fixture VPC of test/fixtures/aws (recorded EC2 response shapes), answered through aws-sdk-client-mock: shared
// by the live inventory reader's tests and the auditor Lambda's.

const FIXTURES = join(__dirname, '../fixtures/aws');

/** A fresh copy of a fixture; the CLI's JSON is the API's response shape. */
export function fixture<T>(file: string): T {
  return structuredClone(JSON.parse(readFileSync(join(FIXTURES, file), 'utf8'))) as T;
}

/** The on-premises prefix list the fixture groups reference. */
export const ONPREM_LIST = 'pl-0a1b2c3d4e5f60718';

export const groups = fixture<DescribeSecurityGroupsCommandOutput>('describe-security-groups.json');
export const interfaces = fixture<DescribeNetworkInterfacesCommandOutput>('describe-network-interfaces.json');
export const subnets = fixture<DescribeSubnetsCommandOutput>('describe-subnets.json');
export const acls = fixture<DescribeNetworkAclsCommandOutput>('describe-network-acls.json');
export const tables = fixture<DescribeRouteTablesCommandOutput>('describe-route-tables.json');
export const onpremEntries = fixture<GetManagedPrefixListEntriesCommandOutput>('pl-0a1b2c3d4e5f60718.json');

export const filterNames = (input: DescribeNetworkAclsCommandInput | DescribeRouteTablesCommandInput) =>
  (input.Filters ?? []).map((f) => f.Name).join(',');

/** Answers like EC2 for the fixture VPC: the workers' group and subnet, their NACL and route tables. */
export function mockTheVpc(ec2: AwsClientStub<EC2Client>): void {
  ec2
    .on(DescribeSecurityGroupsCommand)
    .resolves({ SecurityGroups: [structuredClone(groups.SecurityGroups![0]!)] });
  ec2.on(DescribeNetworkInterfacesCommand).resolves(structuredClone(interfaces));
  ec2.on(DescribeSubnetsCommand).resolves({ Subnets: [structuredClone(subnets.Subnets![0]!)] });
  ec2.on(DescribeNetworkAclsCommand).callsFake((input: DescribeNetworkAclsCommandInput) => ({
    NetworkAcls: [
      structuredClone(acls.NetworkAcls![filterNames(input) === 'association.subnet-id' ? 0 : 1]!),
    ],
  }));
  ec2.on(DescribeRouteTablesCommand).callsFake((input: DescribeRouteTablesCommandInput) => ({
    RouteTables: [
      structuredClone(tables.RouteTables![filterNames(input) === 'association.subnet-id' ? 0 : 1]!),
    ],
  }));
  ec2
    .on(GetManagedPrefixListEntriesCommand)
    .callsFake((input: GetManagedPrefixListEntriesCommandInput) =>
      input.PrefixListId === ONPREM_LIST
        ? structuredClone(onpremEntries)
        : { Entries: [{ Cidr: '52.218.0.0/17' }, { Cidr: '3.5.64.0/21' }] },
    );
}
