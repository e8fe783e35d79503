/**
 * The change set's CDK snippet and CloudFormation template are code a person pastes: run the snippet in a
 * real stack and compare what it synthesizes with the template and with the AWS CLI script.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { parse as parseYaml } from 'yaml';
import { buildChangeSet, type Fix } from '../../lambdas/core/finding/change-set';

const SG = 'sg-0123456789abcdef0';
const fixes: Fix[] = [
  {
    securityGroup: {
      groupId: SG,
      direction: 'egress',
      permissions: [
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
          Ipv6Ranges: [{ CidrIpv6: 'fd00:20::16/128', Description: 'preflight: rm-os-data-transfer' }],
        },
      ],
    },
  },
  {
    securityGroup: {
      groupId: SG,
      direction: 'ingress',
      permissions: [
        {
          IpProtocol: 'udp',
          FromPort: 53,
          ToPort: 53,
          IpRanges: [{ CidrIp: '10.20.8.0/24', Description: 'preflight: dns' }],
        },
      ],
    },
  },
  {
    networkAcl: {
      networkAclId: 'acl-0a1b2c3d4e5f60718',
      requested: [
        {
          Protocol: '6',
          RuleAction: 'allow',
          Egress: true,
          CidrBlock: '10.20.0.40/32',
          PortRange: { From: 5022, To: 5023 },
        },
        {
          Protocol: '6',
          RuleAction: 'allow',
          Egress: false,
          CidrBlock: '10.20.0.40/32',
          PortRange: { From: 1024, To: 65535 },
        },
      ],
      existing: [],
    },
  },
  {
    routes: {
      changes: [
        {
          action: 'create',
          routeTableId: 'rtb-0a1b2c3d4e5f60718',
          destination: '10.21.0.0/24',
          target: 'tgw-0a1b2c3d4e5f60718',
        },
        {
          action: 'create',
          routeTableId: 'rtb-0a1b2c3d4e5f60718',
          destination: 'fd00:21::/64',
          target: 'vgw-0a1b2c3d4e5f60718',
        },
        {
          action: 'replace',
          routeTableId: 'rtb-0a1b2c3d4e5f60718',
          destination: '10.20.0.32/28',
          target: 'tgw-0a1b2c3d4e5f60718',
        },
      ],
      questions: [],
    },
  },
];

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

/** The resources of a type, without the Description (CDK words an imported group's rule on its own). */
const propertiesOf = (resources: Resources, type: string) =>
  Object.values(resources)
    .filter((r) => r.Type === type)
    .map((r) => r.Properties);

describe('the change set as CDK and CloudFormation', () => {
  it('runs as CDK code in a stack and synthesizes the same resources as the template', () => {
    // Arrange
    const cs = buildChangeSet(fixes);
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'ChangeSet');

    // Act: the snippet as written, with `this` the stack and `ec2` the module, as in a stack's constructor.
    new Function('ec2', cs.cdk).call(stack, ec2);
    const synthesized = Template.fromStack(stack).toJSON().Resources as Resources;
    const template = (parseYaml(cs.cloudFormation) as { Resources: Resources }).Resources;

    // Assert: every resource of the template, with the same properties (group ids as given, not looked up).
    const types = [
      'AWS::EC2::SecurityGroupEgress',
      'AWS::EC2::SecurityGroupIngress',
      'AWS::EC2::NetworkAclEntry',
      'AWS::EC2::Route',
    ];
    for (const type of types) {
      const pick = (r: Record<string, unknown>) => {
        const { Description: _d, ...rest } = r;
        return rest;
      };
      const fromCdk = propertiesOf(synthesized, type).map(pick);
      const fromTemplate = propertiesOf(template, type).map(pick);
      expect({ type, resources: fromCdk }).toEqual({ type, resources: expect.arrayContaining(fromTemplate) });
      expect(fromCdk).toHaveLength(fromTemplate.length);
    }
    expect(propertiesOf(synthesized, 'AWS::EC2::SecurityGroupEgress')).toHaveLength(2);
    expect(propertiesOf(synthesized, 'AWS::EC2::Route')).toHaveLength(2);
    // The template holds one resource per command line of the script, except the replacement it cannot express.
    expect(cs.cloudFormation).toContain(
      'replace-route --route-table-id rtb-0a1b2c3d4e5f60718 --destination-cidr-block 10.20.0.32/28',
    );
  });
});
