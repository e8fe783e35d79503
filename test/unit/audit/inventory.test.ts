import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  emptyInventory,
  INVENTORY_KEYS,
  InventoryError,
  mergeInventory,
  parseInventoryDocument,
  parseInventoryFile,
  readInventoryFiles,
} from '../../../lambdas/core/audit/inventory';

const FIXTURES = join(__dirname, '../../fixtures/aws');
const SG_FILE = 'describe-security-groups.json';
const ENI_FILE = 'describe-network-interfaces.json';
const ACL_FILE = 'describe-network-acls.json';
const RTB_FILE = 'describe-route-tables.json';
const SUBNET_FILE = 'describe-subnets.json';
const PL_FILE = 'pl-0a1b2c3d4e5f60718.json';
const ALL_FILES = [SG_FILE, ENI_FILE, ACL_FILE, RTB_FILE, SUBNET_FILE, PL_FILE];

const WORKERS = 'sg-0a1b2c3d4e5f60aa1';
const APPLIANCE = 'sg-0a1b2c3d4e5f60bb2';
const PL = 'pl-0a1b2c3d4e5f60718';

function text(file: string): string {
  return readFileSync(join(FIXTURES, file), 'utf8');
}

/** Parsed AWS output, changed freely by the tests. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** A fixture as parsed JSON, a fresh copy each time, so a test may change it. */
function fixture(file: string): Json {
  return structuredClone(JSON.parse(text(file)));
}

/** The problems of the InventoryError that `fn` throws, failing the test if it throws nothing or another error. */
function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InventoryError);
    return (err as InventoryError).problems;
  }
  throw new Error('expected an InventoryError');
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'preflight-inventory-'));
}

describe('parsing one AWS CLI export', () => {
  it('reads describe-security-groups output, keeping the fields AWS adds', () => {
    // Act
    const part = parseInventoryFile(SG_FILE, text(SG_FILE));
    // Assert
    expect(part.securityGroups.map((g) => g.GroupId)).toEqual([WORKERS, APPLIANCE]);
    const workers = part.securityGroups[0]!;
    expect(workers.IpPermissionsEgress?.[0]?.PrefixListIds).toEqual([
      { Description: 'On-prem management networks', PrefixListId: PL },
    ]);
    expect(workers.IpPermissionsEgress?.[1]?.UserIdGroupPairs?.[0]?.GroupId).toBe(APPLIANCE);
    expect(workers).toMatchObject({
      OwnerId: '123456789012',
      SecurityGroupArn: `arn:aws:ec2:eu-west-1:123456789012:security-group/${WORKERS}`,
      Tags: [
        { Key: 'Name', Value: 'preflight-workers' },
        { Key: 'migration-wave', Value: 'wave-1' },
      ],
    });
  });

  it('reads network interfaces, NACLs, route tables and subnets exactly as the CLI prints them', () => {
    // Act
    const enis = parseInventoryFile(ENI_FILE, text(ENI_FILE)).networkInterfaces;
    const acls = parseInventoryFile(ACL_FILE, text(ACL_FILE)).networkAcls;
    const tables = parseInventoryFile(RTB_FILE, text(RTB_FILE)).routeTables;
    const subnets = parseInventoryFile(SUBNET_FILE, text(SUBNET_FILE)).subnets;
    // Assert
    expect(enis.map((e) => e.PrivateIpAddresses?.map((a) => a.PrivateIpAddress))).toEqual([
      ['10.10.1.25', '10.10.1.26'],
      ['10.10.2.10'],
    ]);
    expect(enis[0]).toMatchObject({
      TagSet: [{ Key: 'Name', Value: 'worker-1' }],
      Attachment: { DeviceIndex: 0 },
    });
    const custom = acls.find((a) => a.NetworkAclId === 'acl-0a1b2c3d4e5f60c01')!;
    expect(custom.Entries?.filter((e) => e.Egress).map((e) => [e.RuleNumber, e.RuleAction])).toEqual([
      [100, 'allow'],
      [110, 'deny'],
      [120, 'allow'],
      [130, 'allow'],
      [200, 'allow'],
      [32767, 'deny'],
    ]);
    expect(custom.Entries?.find((e) => e.Protocol === '1')).toMatchObject({
      IcmpTypeCode: { Code: -1, Type: 3 },
    });
    expect(tables[0]?.Routes?.find((r) => r.State === 'blackhole')?.DestinationCidrBlock).toBe(
      '10.20.99.0/24',
    );
    expect(tables[1]?.Associations?.[0]?.Main).toBe(true);
    expect(subnets[1]?.Ipv6CidrBlockAssociationSet?.[0]).toMatchObject({
      Ipv6CidrBlock: '2a05:d018:1c2:4a02::/64',
      Ipv6CidrBlockState: { State: 'associated' },
    });
  });

  it('passes through unknown nested fields it has never heard of', () => {
    // Arrange
    const raw = fixture(SG_FILE);
    raw.SecurityGroups[0].IpPermissions[1].IpRanges[0].FutureField = { nested: [1, 2] };
    raw.SecurityGroups[0].BrandNewAwsAttribute = 'yes';
    // Act
    const part = parseInventoryFile(SG_FILE, JSON.stringify(raw));
    // Assert
    expect(part.securityGroups[0]).toMatchObject({
      BrandNewAwsAttribute: 'yes',
      IpPermissions: [{}, { IpRanges: [{ CidrIp: '10.20.0.0/16', FutureField: { nested: [1, 2] } }] }],
    });
  });

  it('tolerates NextToken and a byte-order mark', () => {
    // Arrange
    const raw = { ...fixture(SUBNET_FILE), NextToken: 'eyJ2IjoiMiIsImMiOiJ' };
    // Act
    const part = parseInventoryFile(SUBNET_FILE, `\uFEFF${JSON.stringify(raw, null, 4)}`);
    // Assert
    expect(part.subnets).toHaveLength(2);
  });

  it('reads one object holding several exports (jq -s add) and a list of exports (jq -s .)', () => {
    // Arrange
    const combined = { ...fixture(SG_FILE), ...fixture(ACL_FILE), ...fixture(RTB_FILE) };
    const list = [fixture(SG_FILE), fixture(SUBNET_FILE), { ...fixture(PL_FILE), PrefixListId: PL }];
    // Act
    const fromObject = parseInventoryFile('all.json', JSON.stringify(combined));
    const fromList = parseInventoryFile('all.json', JSON.stringify(list));
    // Assert
    expect([
      fromObject.securityGroups.length,
      fromObject.networkAcls.length,
      fromObject.routeTables.length,
    ]).toEqual([2, 2, 2]);
    expect([fromList.securityGroups.length, fromList.subnets.length]).toEqual([2, 2]);
    expect(fromList.prefixListEntries).toEqual([
      { prefixListId: PL, cidrs: ['10.20.10.0/24', '192.168.40.0/24'] },
    ]);
  });

  it('accepts describe-managed-prefix-lists output as metadata', () => {
    // Arrange
    const raw = {
      PrefixLists: [
        {
          PrefixListId: PL,
          AddressFamily: 'IPv4',
          State: 'create-complete',
          PrefixListArn: `arn:aws:ec2:eu-west-1:123456789012:prefix-list/${PL}`,
          PrefixListName: 'onprem-management',
          MaxEntries: 10,
          Version: 3,
          Tags: [],
          OwnerId: '123456789012',
        },
      ],
    };
    // Act
    const part = parseInventoryFile('prefix-lists.json', JSON.stringify(raw));
    // Assert
    expect(part.managedPrefixLists[0]).toMatchObject({
      PrefixListId: PL,
      PrefixListName: 'onprem-management',
    });
    expect(mergeInventory([part]).prefixLists.size).toBe(0);
  });
});

describe('which prefix list a get-managed-prefix-list-entries export belongs to', () => {
  const entries = () => fixture(PL_FILE);

  it('takes the id from a pl-… in the file name', () => {
    // Act
    const part = parseInventoryFile(`exports/${PL}.json`, JSON.stringify(entries()));
    // Assert
    expect(part.prefixListEntries).toEqual([
      { prefixListId: PL, cidrs: ['10.20.10.0/24', '192.168.40.0/24'] },
    ]);
  });

  it('takes the id from a top-level PrefixListId added to the export', () => {
    // Arrange
    const raw = { ...entries(), PrefixListId: 'pl-63a5400a' };
    // Act
    const part = parseInventoryFile('onprem-entries.json', JSON.stringify(raw));
    // Assert
    expect(part.prefixListEntries[0]?.prefixListId).toBe('pl-63a5400a');
  });

  it('says exactly what to do when neither gives the id', () => {
    // Act
    const problems = problemsOf(() => parseInventoryFile('entries.json', JSON.stringify(entries())));
    // Assert
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^entries\.json: Entries: cannot tell which prefix list these entries belong to/,
    );
    expect(problems[0]).toContain(`jq '. + {PrefixListId: "pl-…"}'`);
    expect(problems[0]).toContain('pl-0123456789abcdef0.json');
  });

  it('rejects a PrefixListId that contradicts the file name', () => {
    // Arrange
    const raw = { ...entries(), PrefixListId: 'pl-0fffffffffffffff1' };
    // Act
    const problems = problemsOf(() => parseInventoryFile(`${PL}.json`, JSON.stringify(raw)));
    // Assert
    expect(problems).toEqual([
      `${PL}.json: PrefixListId: "pl-0fffffffffffffff1" disagrees with the prefix list named in the file name (${PL}): rename the file or correct PrefixListId`,
    ]);
  });

  it('rejects a file name naming two lists, and a malformed PrefixListId', () => {
    // Act
    const twoNames = problemsOf(() =>
      parseInventoryFile('pl-11111111-pl-22222222.json', JSON.stringify(entries())),
    );
    const malformed = problemsOf(() =>
      parseInventoryFile('x.json', JSON.stringify({ ...entries(), PrefixListId: 'pl-0123' })),
    );
    // Assert
    expect(twoNames[0]).toContain('names several prefix lists (pl-11111111, pl-22222222)');
    expect(malformed).toEqual([
      'x.json: PrefixListId: "pl-0123" is not a prefix list id ("pl-" and 8 or 17 hex digits, like pl-0123456789abcdef0)',
    ]);
  });

  it('rejects a PrefixListId with no Entries beside it', () => {
    // Act
    const problems = problemsOf(() =>
      parseInventoryFile('x.json', JSON.stringify({ ...fixture(SG_FILE), PrefixListId: PL })),
    );
    // Assert
    expect(problems).toEqual([`x.json: PrefixListId: "${PL}" is given but there are no Entries beside it`]);
  });

  it('unites the entries of one list exported to several files', () => {
    // Arrange
    const page2 = { Entries: [{ Cidr: '192.168.40.0/24' }, { Cidr: '172.31.5.0/24', Description: 'new' }] };
    // Act
    const inventory = mergeInventory([
      parseInventoryFile(`${PL}.json`, JSON.stringify(entries())),
      parseInventoryFile(`page2-${PL}.json`, JSON.stringify(page2)),
    ]);
    // Assert
    expect(inventory.prefixLists.get(PL)).toEqual(['10.20.10.0/24', '192.168.40.0/24', '172.31.5.0/24']);
  });

  it('keeps a list with no entries as an empty list', () => {
    // Act
    const inventory = mergeInventory([parseInventoryFile(`${PL}.json`, '{"Entries": []}')]);
    // Assert
    expect(inventory.prefixLists.get(PL)).toEqual([]);
  });
});

describe('merging several exports', () => {
  it('reads every fixture into one inventory', () => {
    // Act
    const inventory = readInventoryFiles(ALL_FILES, FIXTURES);
    // Assert
    expect([...inventory.securityGroups.keys()]).toEqual([WORKERS, APPLIANCE]);
    expect(inventory.networkInterfaces.map((e) => e.NetworkInterfaceId)).toEqual([
      'eni-0a1b2c3d4e5f60301',
      'eni-0a1b2c3d4e5f60302',
    ]);
    expect(inventory.networkAcls.map((a) => [a.NetworkAclId, a.IsDefault])).toEqual([
      ['acl-0a1b2c3d4e5f60c01', false],
      ['acl-0a1b2c3d4e5f60c02', true],
    ]);
    expect(inventory.routeTables.map((t) => t.RouteTableId)).toEqual([
      'rtb-0a1b2c3d4e5f60e01',
      'rtb-0a1b2c3d4e5f60e02',
    ]);
    expect(inventory.subnets.map((s) => s.CidrBlock)).toEqual(['10.10.1.0/24', '10.10.2.0/24']);
    expect([...inventory.prefixLists]).toEqual([[PL, ['10.20.10.0/24', '192.168.40.0/24']]]);
  });

  it('reads a folder as the .json files in it', () => {
    // Act
    const inventory = readInventoryFiles(['.'], FIXTURES);
    // Assert
    expect(inventory.securityGroups.size).toBe(2);
    expect(inventory.prefixLists.has(PL)).toBe(true);
  });

  it('gives the same inventory from one combined file as from separate files', () => {
    // Arrange
    const combined = Object.assign({}, ...ALL_FILES.slice(0, 5).map(fixture));
    // Act
    const separate = readInventoryFiles(ALL_FILES.slice(0, 5), FIXTURES);
    const together = mergeInventory([parseInventoryFile('all.json', JSON.stringify(combined))]);
    // Assert
    expect(together).toEqual(separate);
  });

  it('keeps a resource found identically in two files once', () => {
    // Act
    const inventory = mergeInventory([
      parseInventoryFile('a.json', text(SG_FILE)),
      parseInventoryFile('b.json', text(SG_FILE)),
    ]);
    // Assert
    expect(inventory.securityGroups.size).toBe(2);
  });

  it('treats copies that differ only in fields the audit ignores, or in rule order, as the same', () => {
    // Arrange
    const later = fixture(SG_FILE);
    later.SecurityGroups[0].Tags = [{ Key: 'Name', Value: 'renamed' }];
    later.SecurityGroups[0].IpPermissionsEgress.reverse();
    // Act
    const inventory = mergeInventory([
      parseInventoryFile('old.json', text(SG_FILE)),
      parseInventoryFile('new.json', JSON.stringify(later)),
    ]);
    // Assert: the first file's copy is kept
    expect(inventory.securityGroups.get(WORKERS)).toMatchObject({
      Tags: fixture(SG_FILE).SecurityGroups[0].Tags,
    });
  });

  it('refuses two different copies of the same resource, naming the id, both files and the field', () => {
    // Arrange
    const later = fixture(SG_FILE);
    later.SecurityGroups[0].IpPermissionsEgress[0].ToPort = 8443;
    const laterAcls = fixture(ACL_FILE);
    laterAcls.NetworkAcls[0].Entries[1].RuleAction = 'allow';
    // Act
    const problems = problemsOf(() =>
      mergeInventory([
        parseInventoryFile('old/sgs.json', text(SG_FILE)),
        parseInventoryFile('old/acls.json', text(ACL_FILE)),
        parseInventoryFile('sgs.json', JSON.stringify(later)),
        parseInventoryFile('acls.json', JSON.stringify(laterAcls)),
      ]),
    );
    // Assert
    expect(problems).toEqual([
      `sgs.json: SecurityGroups: ${WORKERS} is also in old/sgs.json with a different IpPermissionsEgress (IpPermissionsEgress: only in old/sgs.json: egress tcp 443 ${PL}; only in sgs.json: egress tcp 443-8443 ${PL}): the exports disagree; pass only the newer one, or export all files again at the same time`,
      'acls.json: NetworkAcls: acl-0a1b2c3d4e5f60c01 is also in old/acls.json with a different Entries: the exports disagree; pass only the newer one, or export all files again at the same time',
    ]);
  });

  it('refuses the same id twice in one file with different contents', () => {
    // Arrange
    const raw = fixture(SUBNET_FILE);
    raw.Subnets.push({ ...raw.Subnets[0], CidrBlock: '10.10.9.0/24' });
    // Act
    const problems = problemsOf(() =>
      mergeInventory([parseInventoryFile('subnets.json', JSON.stringify(raw))]),
    );
    // Assert
    expect(problems[0]).toMatch(
      /^subnets\.json: Subnets: subnet-0a1b2c3d4e5f60001 is twice in this file with a different CidrBlock/,
    );
  });

  it('merges nothing into an empty inventory', () => {
    // Act
    const inventory = mergeInventory([]);
    // Assert: not even an interfaces export, so group membership is unknown
    expect(inventory).toEqual({ ...emptyInventory(), natGateways: new Map(), networkInterfacesRead: false });
    expect(readInventoryFiles([], FIXTURES)).toEqual(inventory);
  });
});

describe('inventory errors', () => {
  it('names the file, the path and the value of a wrongly typed field', () => {
    // Arrange
    const raw = fixture(SG_FILE);
    raw.SecurityGroups[1].IpPermissions[0].FromPort = 'x';
    // Act
    const problems = problemsOf(() => parseInventoryFile('sgs.json', JSON.stringify(raw)));
    // Assert
    expect(problems).toEqual([
      'sgs.json: SecurityGroups[1].IpPermissions[0].FromPort: expected number, got "x"',
    ]);
  });

  it.each([
    [
      'a CIDR with too many bits',
      SG_FILE,
      (raw: Json) => (raw.SecurityGroups[0].IpPermissionsEgress[2].IpRanges[0].CidrIp = '10.20.0.0/33'),
      'SecurityGroups[0].IpPermissionsEgress[2].IpRanges[0].CidrIp: "10.20.0.0/33" is not an IPv4 CIDR block (like 10.0.0.0/16)',
    ],
    [
      'an IPv4 block among IPv6 ranges',
      SG_FILE,
      (raw: Json) => (raw.SecurityGroups[1].IpPermissionsEgress[0].Ipv6Ranges[0].CidrIpv6 = '0.0.0.0/0'),
      'SecurityGroups[1].IpPermissionsEgress[0].Ipv6Ranges[0].CidrIpv6: "0.0.0.0/0" is not an IPv6 CIDR block (like 2001:db8::/32)',
    ],
    [
      'a group without GroupId',
      SG_FILE,
      (raw: Json) => delete raw.SecurityGroups[0].GroupId,
      'SecurityGroups[0].GroupId: is required (string)',
    ],
    [
      'a port above 65535',
      SG_FILE,
      (raw: Json) => (raw.SecurityGroups[0].IpPermissions[1].ToPort = 70000),
      'SecurityGroups[0].IpPermissions[1].ToPort: 70000 is not a port (-1 to 65535)',
    ],
    [
      'a NACL action AWS does not have',
      ACL_FILE,
      (raw: Json) => (raw.NetworkAcls[0].Entries[3].RuleAction = 'permit'),
      'NetworkAcls[0].Entries[3].RuleAction: "permit" is not one of "allow", "deny"',
    ],
    [
      'a boolean as a string',
      ACL_FILE,
      (raw: Json) => (raw.NetworkAcls[0].Entries[0].Egress = 'true'),
      'NetworkAcls[0].Entries[0].Egress: expected boolean, got "true"',
    ],
    [
      'a rule number as a string',
      ACL_FILE,
      (raw: Json) => (raw.NetworkAcls[0].Entries[0].RuleNumber = '100'),
      'NetworkAcls[0].Entries[0].RuleNumber: expected number, got "100"',
    ],
    [
      'a route to an address without a prefix length',
      RTB_FILE,
      (raw: Json) => (raw.RouteTables[0].Routes[1].DestinationCidrBlock = '10.20.0.0'),
      'RouteTables[0].Routes[1].DestinationCidrBlock: "10.20.0.0" is not an IPv4 CIDR block (like 10.0.0.0/16)',
    ],
    [
      'a bad private address',
      ENI_FILE,
      (raw: Json) => (raw.NetworkInterfaces[0].PrivateIpAddresses[1].PrivateIpAddress = '10.10.1.256'),
      'NetworkInterfaces[0].PrivateIpAddresses[1].PrivateIpAddress: "10.10.1.256" is not an IPv4 address',
    ],
    [
      'an object where a list belongs',
      SUBNET_FILE,
      (raw: Json) => (raw.Subnets = { SubnetId: 'subnet-0a1b2c3d4e5f60001' }),
      'Subnets: expected array, got an object ({"SubnetId":"subnet-0a1b2c3d4e5f60001"})',
    ],
    [
      'a prefix-list entry that is not a CIDR',
      PL_FILE,
      (raw: Json) => (raw.Entries[1].Cidr = 'jump-hosts'),
      'Entries[1].Cidr: "jump-hosts" is not a CIDR block (like 10.0.0.0/16 or 2001:db8::/32)',
    ],
  ])('names the path and value of %s', (_name, file, change, expected) => {
    // Arrange
    const raw = fixture(file);
    change(raw);
    // Act
    const problems = problemsOf(() => parseInventoryFile(file, JSON.stringify(raw)));
    // Assert
    expect(problems).toEqual([`${file}: ${expected}`]);
  });

  it('reports every problem of a file, up to a limit', () => {
    // Arrange
    const raw = { SecurityGroups: Array.from({ length: 25 }, (_, i) => ({ GroupId: i })) };
    // Act
    const problems = problemsOf(() => parseInventoryFile('sgs.json', JSON.stringify(raw)));
    // Assert
    expect(problems).toHaveLength(21);
    expect(problems[0]).toBe('sgs.json: SecurityGroups[0].GroupId: expected string, got 0');
    expect(problems[20]).toBe('sgs.json: … and 5 more problems');
  });

  it('names an unknown top-level key and lists the known ones', () => {
    // Arrange
    const raw = { ...fixture(SG_FILE), Reservations: [] };
    // Act
    const problems = problemsOf(() => parseInventoryFile('instances.json', JSON.stringify(raw)));
    // Assert
    expect(problems).toEqual([
      `instances.json: unknown top-level key "Reservations": an inventory file holds the output of aws ec2 describe-… with the keys ${INVENTORY_KEYS.join(', ')}`,
    ]);
  });

  it('rejects a file with none of the known keys, and exports cut down with --query', () => {
    // Act
    const none = problemsOf(() => parseInventoryFile('token.json', '{"NextToken": "abc"}'));
    const bare = problemsOf(() => parseInventoryFile('ids.json', '["sg-0a1b2c3d4e5f60aa1"]'));
    const empty = problemsOf(() => parseInventoryFile('empty.json', '[]'));
    // Assert
    expect(none[0]).toMatch(
      /^token\.json: none of the inventory keys \(SecurityGroups, .*\): export with aws ec2 describe-security-groups/,
    );
    expect(bare).toEqual([
      'ids.json: [0]: expected an export object such as {"SecurityGroups": […]}, got "sg-0a1b2c3d4e5f60aa1": export with `aws ec2 describe-… --output json` and no --query',
    ]);
    expect(empty[0]).toMatch(/^empty\.json: an empty list: expected an export object/);
  });

  it('gives the file and the position for invalid JSON', () => {
    // Act
    const trailingComma = problemsOf(() => parseInventoryFile('sgs.json', '{\n  "SecurityGroups": [],\n}'));
    const truncated = problemsOf(() => parseInventoryFile('sgs.json', '{"SecurityGroups": ['));
    // Assert
    expect(trailingComma).toEqual([
      'sgs.json: not valid JSON: Expected double-quoted property name in JSON at position 26 (line 3, column 1)',
    ]);
    expect(truncated).toEqual(['sgs.json: not valid JSON: unexpected end of the text (line 1, column 21)']);
  });

  it('explains an empty file and one that is not JSON at all', () => {
    // Act
    const empty = problemsOf(() => parseInventoryFile('sgs.json', '  \n'));
    const text = problemsOf(() =>
      parseInventoryFile(
        'sgs.json',
        'An error occurred (UnauthorizedOperation) when calling the DescribeSecurityGroups',
      ),
    );
    // Assert
    expect(empty).toEqual([
      'sgs.json: is empty: expected the JSON printed by aws ec2 describe-… --output json',
    ]);
    expect(text[0]).toMatch(
      /^sgs\.json: not valid JSON: unexpected character "A" \(line 1, column 1\): it does not start with \{ or \[; export with --output json/,
    );
  });

  it('places every syntax error by line and column, a quote character or a bad token too', () => {
    // Act: a misspelt literal, a comma where a value should be, a quoted key with no value: JSON.parse
    // places none of them ("Unexpected token … is not valid JSON").
    const literal = problemsOf(() => parseInventoryFile('sgs.json', '{\n  "SecurityGroups": tru\n}'));
    const comma = problemsOf(() => parseInventoryFile('sgs.json', '{\n  "SecurityGroups": [\n    ,"x"]\n}'));
    const key = problemsOf(() =>
      parseInventoryFile('sgs.json', '{\n  "SecurityGroups": [],\n  "NextToken"\n}'),
    );
    // Assert
    expect(literal).toEqual(['sgs.json: not valid JSON: unexpected character "t" (line 2, column 21)']);
    expect(comma).toEqual(['sgs.json: not valid JSON: unexpected character "," (line 3, column 5)']);
    expect(key).toEqual(["sgs.json: not valid JSON: expected ':' after a property name (line 4, column 1)"]);
  });
});

describe('reading inventory files from disk', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports missing files and bad files together, and merges nothing', () => {
    // Arrange
    writeFileSync(join(dir, 'good.json'), text(SG_FILE));
    writeFileSync(join(dir, 'bad.json'), '{"Subnets": [{"SubnetId": 7}]}');
    // Act
    const problems = problemsOf(() => readInventoryFiles(['good.json', 'missing.json', 'bad.json'], dir));
    // Assert
    expect(problems).toEqual([
      'missing.json: cannot read: no such file',
      'bad.json: Subnets[0].SubnetId: expected string, got 7',
    ]);
  });

  it('resolves relative paths against cwd and keeps absolute ones', () => {
    // Arrange
    writeFileSync(join(dir, 'sgs.json'), text(SG_FILE));
    writeFileSync(join(dir, PL_FILE), text(PL_FILE));
    // Act
    const inventory = readInventoryFiles(['sgs.json', join(dir, PL_FILE)], dir);
    // Assert
    expect(inventory.securityGroups.size).toBe(2);
    expect(inventory.prefixLists.get(PL)).toHaveLength(2);
  });

  it('reads UTF-16 files as PowerShell 5 writes them', () => {
    // Arrange
    const body = text(SUBNET_FILE);
    writeFileSync(
      join(dir, 'le.json'),
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(body, 'utf16le')]),
    );
    const be = Buffer.from(body, 'utf16le');
    be.swap16();
    writeFileSync(join(dir, 'be.json'), Buffer.concat([Buffer.from([0xfe, 0xff]), be]));
    // Act
    const inventory = readInventoryFiles(['le.json', 'be.json'], dir);
    // Assert
    expect(inventory.subnets).toHaveLength(2);
  });

  it('rejects a folder with no .json files in it', () => {
    // Arrange
    mkdirSync(join(dir, 'exports'));
    writeFileSync(join(dir, 'exports', 'notes.txt'), 'not an export');
    // Act
    const problems = problemsOf(() => readInventoryFiles(['exports'], dir));
    // Assert
    expect(problems).toEqual([
      'exports: a folder with no .json files: pass the exports, or the folder that holds them',
    ]);
  });

  it('formats one problem as a single line and several as a list', () => {
    // Act
    let one: Error | undefined;
    let two: Error | undefined;
    try {
      readInventoryFiles(['a.json'], dir);
    } catch (err) {
      one = err as Error;
    }
    try {
      readInventoryFiles(['a.json', 'b.json'], dir);
    } catch (err) {
      two = err as Error;
    }
    // Assert
    expect(one?.message).toBe('a.json: cannot read: no such file');
    expect(one?.name).toBe('InventoryError');
    expect(two?.message).toBe(
      '2 problems in the inventory files:\n  - a.json: cannot read: no such file\n  - b.json: cannot read: no such file',
    );
  });
});

describe('documents from the API', () => {
  it('validates an already-parsed document under the given source name', () => {
    // Act
    const problems = problemsOf(() =>
      parseInventoryDocument('EC2 DescribeSubnets', { Subnets: [{ SubnetId: 'subnet-1', CidrBlock: 'x' }] }),
    );
    // Assert
    expect(problems).toEqual([
      'EC2 DescribeSubnets: Subnets[0].CidrBlock: "x" is not an IPv4 CIDR block (like 10.0.0.0/16)',
    ]);
  });
});

describe('real exports of other shapes (issue 15)', () => {
  const SHAPES = join(__dirname, '../../fixtures/aws-shapes');
  const shape = (file: string) => readFileSync(join(SHAPES, file), 'utf8');

  it('reads the CIDRs of describe-prefix-lists (AWS-managed lists such as S3 and DynamoDB)', () => {
    // Act
    const inventory = mergeInventory([parseInventoryFile('lists.json', shape('describe-prefix-lists.json'))]);
    // Assert
    expect(inventory.prefixLists.get('pl-6da54004')).toEqual(['52.218.0.0/17', '54.231.128.0/19']);
    expect(inventory.prefixLists.get('pl-6fa54006')).toEqual([
      '52.94.5.0/24',
      '52.119.240.0/21',
      '52.94.24.0/23',
    ]);
  });

  it('reads describe-security-group-rules as the same groups describe-security-groups gives', () => {
    // Act
    const rules = mergeInventory([
      parseInventoryFile('rules.json', shape('describe-security-group-rules.json')),
    ]);
    const both = mergeInventory([
      parseInventoryFile(SG_FILE, text(SG_FILE)),
      parseInventoryFile('rules.json', shape('describe-security-group-rules.json')),
    ]);
    // Assert: one permission per rule, each with its one peer
    expect([...rules.securityGroups.keys()]).toEqual([WORKERS, APPLIANCE]);
    expect(rules.securityGroups.get(WORKERS)?.IpPermissionsEgress).toContainEqual({
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
      PrefixListIds: [{ PrefixListId: PL, Description: 'On-prem management networks' }],
    });
    expect(both.securityGroups.get(WORKERS)).toMatchObject({ GroupName: 'preflight-workers' });
  });

  it('merges exports that differ only in descriptions or in an empty list the older one leaves out', () => {
    // Arrange
    const relabelled = fixture(SG_FILE);
    relabelled.SecurityGroups[0].IpPermissionsEgress[3].IpRanges[0].Description = 'DNS (renamed)';
    relabelled.SecurityGroups[0].Description = 'another text';
    const older = fixture(SG_FILE);
    for (const p of older.SecurityGroups[0].IpPermissionsEgress) delete p.Ipv6Ranges;
    // Act
    const act = () =>
      mergeInventory([
        parseInventoryFile('a/sgs.json', text(SG_FILE)),
        parseInventoryFile('b/sgs.json', JSON.stringify(relabelled)),
        parseInventoryFile('c/sgs.json', JSON.stringify(older)),
      ]);
    // Assert
    expect(act).not.toThrow();
  });

  it('names the rule that differs when a real conflict remains', () => {
    // Arrange: the DNS rule opened to another address
    const changed = fixture(SG_FILE);
    changed.SecurityGroups[0].IpPermissionsEgress[3].IpRanges[0].CidrIp = '10.20.0.3/32';
    // Act
    const problems = problemsOf(() =>
      mergeInventory([
        parseInventoryFile('a/sgs.json', text(SG_FILE)),
        parseInventoryFile('b/sgs.json', JSON.stringify(changed)),
      ]),
    );
    // Assert
    expect(problems).toEqual([
      `b/sgs.json: SecurityGroups: ${WORKERS} is also in a/sgs.json with a different IpPermissionsEgress ` +
        '(IpPermissionsEgress: only in a/sgs.json: egress udp 53 10.20.0.2/32; only in b/sgs.json: egress udp 53 10.20.0.3/32): ' +
        'the exports disagree; pass only the newer one, or export all files again at the same time',
    ]);
  });

  it('accepts a boto3 dump: its ResponseMetadata is ignored', () => {
    // Arrange
    const dump = {
      ...fixture(SG_FILE),
      ResponseMetadata: {
        RequestId: 'edb7c570-be05-4192-bd1b-example',
        HTTPStatusCode: 200,
        HTTPHeaders: { 'content-type': 'text/xml;charset=UTF-8' },
        RetryAttempts: 0,
      },
    };
    // Act
    const part = parseInventoryFile('boto3.json', JSON.stringify(dump));
    // Assert
    expect(part.securityGroups.map((g) => g.GroupId)).toEqual([WORKERS, APPLIANCE]);
  });

  it('accepts exports joined with cat (concatenated JSON documents)', () => {
    // Arrange: the pretty-printed AWS CLI outputs, one after the other
    const joined = `${text(SG_FILE)}${text(ACL_FILE)}\n${text(RTB_FILE)}`;
    // Act
    const inventory = mergeInventory([parseInventoryFile('all.json', joined)]);
    // Assert
    expect([...inventory.securityGroups.keys()]).toEqual([WORKERS, APPLIANCE]);
    expect(inventory.networkAcls.length).toBe(fixture(ACL_FILE).NetworkAcls.length);
    expect(inventory.routeTables.length).toBe(fixture(RTB_FILE).RouteTables.length);
  });

  it('says whether any network interfaces were exported (even none), and reads NAT gateways', () => {
    // Arrange
    const nat = {
      NatGateways: [
        {
          CreateTime: '2024-05-02T09:14:03.000Z',
          NatGatewayAddresses: [
            {
              AllocationId: 'eipalloc-0a1b2c3d4e5f60001',
              NetworkInterfaceId: 'eni-0a1b2c3d4e5f600a9',
              PrivateIp: '10.0.1.200',
              PublicIp: '198.51.100.20',
              AssociationId: 'eipassoc-0a1b2c3d4e5f60001',
              IsPrimary: true,
              Status: 'succeeded',
            },
          ],
          NatGatewayId: 'nat-0a1b2c3d4e5f60001',
          State: 'available',
          SubnetId: 'subnet-0a1b2c3d4e5f60001',
          VpcId: 'vpc-0a1b2c3d4e5f60789',
          Tags: [],
          ConnectivityType: 'public',
        },
      ],
    };
    // Act
    const without = mergeInventory([parseInventoryFile(SG_FILE, text(SG_FILE))]);
    const emptyExport = mergeInventory([parseInventoryFile('enis.json', '{"NetworkInterfaces": []}')]);
    const withNat = mergeInventory([parseInventoryFile('nat.json', JSON.stringify(nat))]);
    // Assert
    expect(without.networkInterfacesRead).toBe(false);
    expect(emptyExport.networkInterfacesRead).toBe(true);
    expect(withNat.natGateways?.get('nat-0a1b2c3d4e5f60001')).toMatchObject({
      SubnetId: 'subnet-0a1b2c3d4e5f60001',
      ConnectivityType: 'public',
    });
  });
});
