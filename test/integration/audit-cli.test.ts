import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, runCli } from '../support/cli';

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

  it('ends with one change set: unique NACL numbers where each flow alone would take 140, no placeholder', async () => {
    // Arrange: six requirements that each miss an outbound NACL entry on the same ACL (the report).
    const requires = ['5022', '5023', '3260', '445', '135', '22'].flatMap((port, i) => [
      '--require',
      `egress:tcp:${port}:10.20.0.${40 + i}/32`,
    ]);
    const args = ['audit', '--inventory', EXPORTS, '--security-group', SG, '--subnet', SUBNET, ...requires];

    // Act
    const json = await runCli([...args, '--json']);
    const text = await runCli(args);

    // Assert
    expect(json.code).toBe(1);
    const { findings, changeSet } = JSON.parse(json.stdout);
    const perFlow = findings.flatMap(
      (f: { remediation: { networkAcl?: { awsCli: string[] } } }) => f.remediation.networkAcl?.awsCli ?? [],
    );
    expect(perFlow.every((c: string) => c.includes('--rule-number 140 '))).toBe(true);
    const numbers = (changeSet.awsCli as string[]).flatMap((c) => /--rule-number (\d+) /.exec(c)?.[1] ?? []);
    expect(numbers).toEqual(['140', '150', '160', '170', '180', '190']);
    expect(changeSet.awsCli[0]).toMatch(
      /^aws ec2 authorize-security-group-egress --group-id sg-0123456789abcdef0 /,
    );
    expect(changeSet.awsCli.filter((c: string) => c.startsWith('aws ec2 authorize-'))).toHaveLength(1);
    expect(changeSet.awsCli.filter((c: string) => c.startsWith('aws ec2 replace-route '))).toEqual([
      'aws ec2 replace-route --route-table-id rtb-0a1b2c3d4e5f60718 --destination-cidr-block 10.20.0.32/28 --transit-gateway-id tgw-0a1b2c3d4e5f60718',
    ]);
    expect(JSON.stringify(changeSet)).not.toMatch(/<[^>]*>/);
    expect(changeSet.cloudFormation).toMatch(/^AWSTemplateFormatVersion/);
    const tail = text.stdout.slice(text.stdout.indexOf('Change set:'));
    expect(tail).toContain(changeSet.awsCli.join('\n    '));
    expect(text.stdout.trimEnd().endsWith('changeSet.cdk)')).toBe(true);
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
      'denied by   rtb-0a1b2c3d4e5f60718 10.20.0.32/28 → pcx-0a1b2c3d4e5f60718: blackhole',
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

  it('gives the plan audit one change set in JSON and at the end of the text', async () => {
    // Act
    const json = await runCli([
      'audit',
      '--config',
      'examples/wave-1.yaml',
      '--inventory',
      EXPORTS,
      '--json',
    ]);
    const text = await runCli(['audit', '--config', 'examples/wave-1.yaml', '--inventory', EXPORTS]);

    // Assert: the two subnets share the group, the ACL and the table, so each fix is there once.
    const { changeSet } = JSON.parse(json.stdout);
    expect(changeSet.awsCli.map((c: string) => c.split(' ').slice(0, 3).join(' '))).toEqual([
      'aws ec2 authorize-security-group-egress',
      'aws ec2 create-network-acl-entry',
      'aws ec2 replace-route',
    ]);
    expect(text.stdout).toContain(`Change set: every fix above, merged`);
    expect(text.stdout.indexOf('Change set:')).toBeGreaterThan(text.stdout.indexOf('NO-GO'));
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

describe('not seen is neither allowed nor blocked (issues 10 and 15)', () => {
  it('calls a flow whose group and subnet are not in the inventory NOT AUDITED, naming each export, with no fix', async () => {
    // Arrange
    const args = [
      'audit',
      '--inventory',
      EXPORTS,
      '--security-group',
      'sg-00000000000000fff',
      '--subnet',
      'subnet-00000000000000fff',
      '--require',
      'egress:tcp:443:10.20.0.5/32',
    ];
    // Act
    const text = await runCli(args);
    const json = await runCli([...args, '--json']);
    // Assert
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^egress:tcp:443:10\.20\.0\.5\/32 {2}NOT AUDITED\n/);
    expect(text.stdout).toContain(
      'not in the inventory: Security Group sg-00000000000000fff; export: aws ec2 describe-security-groups --group-ids sg-00000000000000fff',
    );
    expect(text.stdout).toContain(
      'not in the inventory: the network ACL of subnet-00000000000000fff; export: aws ec2 describe-network-acls --filters Name=association.subnet-id,Values=subnet-00000000000000fff',
    );
    expect(text.stdout).toContain('not in the inventory: the route table of subnet-00000000000000fff');
    expect(text.stdout).not.toMatch(/fix \(AWS CLI\)|authorize-security-group|on-prem firewall|BLOCKED/);
    const [finding] = JSON.parse(json.stdout).findings;
    expect(finding).toMatchObject({ status: 'not-audited', missing: [] });
    expect(finding.remediation).toBeUndefined();
    expect(finding.notEvaluated.map((p: { layer: string }) => p.layer)).toEqual([
      'security-group',
      'network-acl',
      'route-table',
    ]);
  });

  it('does not say "no rule matches" when a rule names a group whose members are unknown', async () => {
    // Arrange: the workers' group also opens 8443 to a group the inventory lacks.
    const sgs = JSON.parse(readFileSync(join(REPO, EXPORTS, 'describe-security-groups.json'), 'utf8'));
    sgs.SecurityGroups[0].IpPermissionsEgress.push({
      IpProtocol: 'tcp',
      FromPort: 8443,
      ToPort: 8443,
      IpRanges: [],
      Ipv6Ranges: [],
      PrefixListIds: [],
      UserIdGroupPairs: [{ GroupId: 'sg-0aaaaaaaaaaaaaaa1', UserId: '123456789012' }],
    });
    const file = join(dir, 'sgs-with-reference.json');
    writeFileSync(file, JSON.stringify(sgs));
    // Act
    const { code, stdout } = await runCli([
      'audit',
      file,
      '--security-group',
      SG,
      '--require',
      'egress:tcp:8443:10.20.0.9/32',
    ]);
    // Assert
    expect(code).toBe(1);
    expect(stdout).toMatch(/NOT AUDITED/);
    expect(stdout).toContain('not in the inventory: the members of sg-0aaaaaaaaaaaaaaa1');
    expect(stdout).not.toContain('no rule of the Security Groups matches');
  });

  it.each(['examples/hdm.yaml', 'examples/livedata.json'])(
    'audits %s (whose groups and subnets are not in the wave-1 exports) as not audited, with no fix',
    async (env) => {
      // Act
      const { code, stdout } = await runCli(['audit', '--config', env, '--inventory', EXPORTS, '--json']);
      // Assert
      expect(code).toBe(1);
      const { summary, findings } = JSON.parse(stdout);
      expect(findings.length).toBeGreaterThan(0);
      expect(summary).toMatchObject({ allowed: 0, partial: 0, blocked: 0, notAudited: findings.length });
      for (const f of findings) {
        expect(f.remediation).toBeUndefined();
        // Either audited as not-audited with what is missing, or not auditable at all, saying which export.
        if (f.problem === undefined) {
          expect(f.status).toBe('not-audited');
          expect(f.notEvaluated.length).toBeGreaterThan(0);
        } else
          expect(f.problem).toMatch(
            /not in the inventory .*; export: aws ec2 describe-subnets --subnet-ids /,
          );
      }
    },
  );

  it('counts in its summary the blocks it prints (subnets with the same answer share one)', async () => {
    // Act
    const { stdout } = await runCli(['audit', '--config', 'examples/wave-1.yaml', '--inventory', EXPORTS]);
    // Assert
    const printed = (label: string) =>
      stdout.split('\n').filter((line) => line.includes(`)  ${label}`)).length;
    const summary = /^(\d+) allowed, (\d+) partial, (\d+) blocked, (\d+) not audited$/m.exec(stdout);
    expect(summary?.slice(1).map(Number)).toEqual([
      printed('ALLOWED'),
      printed('PARTIAL'),
      printed('BLOCKED'),
      printed('NOT AUDITED'),
    ]);
    expect(printed('ALLOWED') + printed('BLOCKED')).toBeGreaterThan(0);
  });

  it("runs the README's offline example as written against examples/aws-wave-1", async () => {
    // Arrange: the ids the README sets, and its command against the example exports.
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const value = (name: string) => new RegExp(`^${name}=(\\S+)`, 'm').exec(readme)?.[1];
    const command = /^preflight audit --inventory examples\/aws-wave-1 .*$/m.exec(readme)?.[0];
    // Act
    const argv = (command ?? '')
      .replace('$SG', value('SG') ?? '')
      .replace('$SUBNET', value('SUBNET') ?? '')
      .split(/\s+/)
      .slice(1);
    const { code, stdout } = await runCli(argv);
    // Assert
    expect(command).toBeDefined();
    expect(stdout).not.toContain('not in the inventory');
    expect(stdout).toMatch(/ {2}ALLOWED\n/);
    expect(code).toBe(0);
  });
});
