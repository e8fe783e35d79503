import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli';

// `preflight audit` end to end on the AWS CLI exports in examples/aws-wave-1 (no AWS, no network).

const EXPORTS = 'examples/aws-wave-1';
const SG = 'sg-0123456789abcdef0';
const SUBNET = 'subnet-0123456789abcdef0';
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'preflight-audit-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('preflight audit --require', () => {
  it('gives findings in the order of the flags, echoing each, with status, missing, decidedBy and remediation', async () => {
    // Act
    const { code, stdout } = await runCli([
      'audit',
      '--inventory',
      EXPORTS,
      '--security-group',
      SG,
      '--subnet',
      SUBNET,
      '--require',
      'egress:tcp:443:10.20.0.5/32',
      '--require',
      'egress:tcp:5990-5999:10.20.0.0/28',
      '--require',
      'ingress:tcp:22:10.20.0.0/16',
      '--json',
    ]);
    // Assert
    expect(code).toBe(1);
    const { findings } = JSON.parse(stdout);
    expect(findings.map((f: { require: string; status: string }) => [f.require, f.status])).toEqual([
      ['egress:tcp:443:10.20.0.5/32', 'allowed'],
      ['egress:tcp:5990-5999:10.20.0.0/28', 'partial'],
      ['ingress:tcp:22:10.20.0.0/16', 'blocked'],
    ]);
    const [allowed, partial, blocked] = findings;
    expect(allowed.missing).toEqual([]);
    expect(allowed.decidedBy).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ layer: 'security-group', groupId: SG, effect: 'allows' }),
        expect.objectContaining({ layer: 'network-acl', ruleNumber: 100, path: 'request', effect: 'allows' }),
        expect.objectContaining({ layer: 'network-acl', ruleNumber: 100, path: 'return', effect: 'allows' }),
        expect.objectContaining({ layer: 'route', target: 'tgw-0a1b2c3d4e5f60718', effect: 'allows' }),
      ]),
    );
    // The group allows 5994 to .15 only, and the NACL 5994 only: everything else of the block is missing.
    expect(partial.missing).toEqual(
      expect.arrayContaining([
        { protocol: 'tcp', fromPort: 5990, toPort: 5993, cidr: '10.20.0.0/28' },
        { protocol: 'tcp', fromPort: 5995, toPort: 5999, cidr: '10.20.0.0/28' },
      ]),
    );
    expect(partial.missing).not.toContainEqual(
      expect.objectContaining({ fromPort: 5994, toPort: 5994, cidr: '10.20.0.15/32' }),
    );
    expect(partial.remediation.securityGroup.awsCli[0]).toMatch(
      /^aws ec2 authorize-security-group-egress --group-id sg-0123456789abcdef0 /,
    );
    expect(partial.remediation.onPremFirewall).toBe(
      'permit tcp from 10.0.1.0/24 to 10.20.0.0/28 port 5990-5999 (and the replies)',
    );
    expect(blocked.remediation.securityGroup.awsCli[0]).toMatch(/^aws ec2 authorize-security-group-ingress /);
  });

  it('prints a readable finding with the fix in text', async () => {
    // Act
    const { code, stdout } = await runCli([
      'audit',
      `${EXPORTS}/describe-security-groups.json`,
      '--inventory',
      `${EXPORTS}/describe-network-acls.json`,
      `${EXPORTS}/describe-route-tables.json`,
      `${EXPORTS}/describe-subnets.json`,
      '--security-group',
      SG,
      '--subnet',
      SUBNET,
      '--require',
      'egress:tcp:5022-5023:10.20.0.40/32',
    ]);
    // Assert
    expect(code).toBe(1);
    expect(stdout).toMatch(/^egress:tcp:5022-5023:10\.20\.0\.40\/32 {2}BLOCKED\n/);
    expect(stdout).toContain(
      'denied by   route table rtb-0a1b2c3d4e5f60718: 10.20.0.32/28 via pcx-0a1b2c3d4e5f60718 denies (blackhole)',
    );
    expect(stdout).toContain(
      '--rule-number 140 --protocol 6 --rule-action allow --egress --cidr-block 10.20.0.40/32',
    );
    expect(stdout).toContain('on-prem firewall  permit tcp from 10.0.1.0/24 to 10.20.0.40/32 port 5022-5023');
  });

  it('exits 0 when every requirement is allowed', async () => {
    const { code } = await runCli([
      'audit',
      '--inventory',
      EXPORTS,
      '--security-group',
      SG,
      '--require',
      'egress:tcp:8888:10.20.0.5/32',
    ]);
    expect(code).toBe(0);
  });

  it.each([
    [['--require', 'egress:tcp:443'], 'it has fewer than four parts'],
    [['--require', 'outbound:tcp:443:10.0.0.0/8'], 'direction "outbound" is neither egress nor ingress'],
    [['--require', 'egress:icmp:443:10.0.0.0/8'], 'protocol "icmp" is neither tcp nor udp'],
    [['--require', 'egress:tcp:99999:10.0.0.0/8'], 'port 99999 is outside 1-65535'],
    [
      ['--require', 'egress:tcp:443:10.0.0.1'],
      '"10.0.0.1" is not a CIDR block (a single address is 10.20.0.5/32)',
    ],
  ])('rejects a bad --require %j with exit 2', async (extra, message) => {
    // Act
    const { code, stderr } = await runCli([
      'audit',
      '--inventory',
      EXPORTS,
      '--security-group',
      SG,
      ...extra,
    ]);
    // Assert
    expect(code).toBe(2);
    expect(stderr).toContain(message);
  });

  it('names a bad inventory file and value, exit 2', async () => {
    // Arrange
    const file = join(dir, 'sgs.json');
    writeFileSync(
      file,
      JSON.stringify({
        SecurityGroups: [{ GroupId: SG, IpPermissionsEgress: [{ IpProtocol: 'tcp', FromPort: 'x' }] }],
      }),
    );
    // Act
    const { code, stderr } = await runCli([
      'audit',
      '--inventory',
      file,
      '--security-group',
      SG,
      '--require',
      'egress:tcp:443:10.0.0.0/8',
    ]);
    // Assert
    expect(code).toBe(2);
    expect(stderr).toContain('SecurityGroups[0].IpPermissionsEgress[0].FromPort: expected number, got "x"');
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('requires the Security Groups and a requirement', async () => {
    const noGroup = await runCli(['audit', '--inventory', EXPORTS, '--require', 'egress:tcp:443:10.0.0.0/8']);
    expect(noGroup).toMatchObject({ code: 2 });
    expect(noGroup.stderr).toContain("give the vantage's Security Groups with --security-group SG");
    const badGroup = await runCli([
      'audit',
      '--inventory',
      EXPORTS,
      '--security-group',
      'sg-12',
      '--require',
      'egress:tcp:443:10.0.0.0/8',
    ]);
    expect(badGroup.stderr).toContain('--security-group: "sg-12" is not a security group id (sg-…)');
  });
});

describe('preflight audit --config', () => {
  it("audits every flow of the environment's plan, per vantage and subnet", async () => {
    // Arrange: wave-1 with addresses only (a host name would be resolved through DNS).
    const env = join(dir, 'wave.yaml');
    writeFileSync(
      env,
      [
        'name: wave-1',
        'profiles: [rivermeadow-os]',
        'vantages:',
        '  - { name: workers, roles: [target-worker], subnetIds: [subnet-0123456789abcdef0, subnet-0fedcba9876543210], securityGroupIds: [sg-0123456789abcdef0] }',
        'endpoints:',
        '  migration-appliance: [10.20.0.5]',
        '  source-server-linux: [10.20.0.15]',
        '  source-server-windows: [10.20.0.16]',
        'flows:',
        "  - { name: app-db, to: [10.20.0.40], ports: '1433,5022-5023' }",
      ].join('\n'),
    );
    // Act
    const { code, stdout } = await runCli(['audit', '--config', env, '--inventory', EXPORTS, '--json']);
    // Assert
    expect(code).toBe(1);
    const out = JSON.parse(stdout);
    expect(out.summary).toMatchObject({ audited: 10, allowed: 6, blocked: 4, go: false });
    const byReq = (req: string) =>
      out.findings.filter((f: { requirements: string[] }) => f.requirements.includes(req));
    expect(
      byReq('rm-worker-appliance-api').map((f: { subnetId: string; status: string }) => [
        f.subnetId,
        f.status,
      ]),
    ).toEqual([
      ['subnet-0123456789abcdef0', 'allowed'],
      ['subnet-0fedcba9876543210', 'allowed'],
    ]);
    const db = byReq('custom:app-db')[0];
    expect(db).toMatchObject({ direction: 'egress', peers: ['10.20.0.40/32'], status: 'blocked' });
    expect(db.layers.routes.missing).toEqual([
      { protocol: 'tcp', fromPort: 1433, toPort: 1433, cidr: '10.20.0.40/32' },
      { protocol: 'tcp', fromPort: 5022, toPort: 5023, cidr: '10.20.0.40/32' },
    ]);
  });

  it('refuses --require together with --config', async () => {
    const { code, stderr } = await runCli([
      'audit',
      '--config',
      'examples/wave-1.yaml',
      '--require',
      'egress:tcp:1:10.0.0.0/8',
    ]);
    expect(code).toBe(2);
    expect(stderr).toContain(
      '--config audits the whole plan: leave out --require, --security-group and --subnet',
    );
  });
});
