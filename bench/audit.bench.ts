/**
 * The static audit at scale: 2,000 Security Groups × 50 rules (IPv4 and IPv6 ranges, some prefix lists and
 * group references, single ports and ranges), 5,000 network interfaces, one network ACL and route table,
 * and 5,000 requirements, each against 1-5 groups in a subnet. Everything is generated from a seeded PRNG,
 * so every run audits the same inventory. Times `createAuditor` plus every audit, on one thread; then the
 * same at ¼ and ½ of rules × flows, to show the growth is close to linear.
 */
import { performance } from 'node:perf_hooks';
import { createAuditor } from '../lambdas/core/audit/evaluate';
import type {
  AuditRequirement,
  AuditStatus,
  AuditVantage,
  Inventory,
  IpPermission,
  NetworkAclEntry,
  NetworkInterface,
  Route,
  SecurityGroup,
} from '../lambdas/core/audit/types';

/** The size of one generated workload. */
export interface AuditWorkload {
  readonly groups: number;
  readonly rulesPerGroup: number;
  readonly flows: number;
  readonly interfaces: number;
}

/** One timed size: the median of several runs, each with a fresh auditor (so compiling is included). */
export interface AuditBenchPoint extends AuditWorkload {
  /** rulesPerGroup × flows relative to the full size. */
  readonly fraction: number;
  readonly runsMs: number[];
  readonly medianMs: number;
  /** Σ over flows of the rules of the flow's groups: the rules a flow is matched against. */
  readonly ruleFlowPairs: number;
  readonly nsPerRuleFlow: number;
  readonly statuses: Partial<Record<AuditStatus, number>>;
}

/** The numbers {@link benchAudit} prints. */
export interface AuditBenchFigures {
  readonly full: AuditBenchPoint;
  /** The very first full-size run of the process, JIT compilation included. */
  readonly coldMs: number;
  /** ¼, ½ and full size of rules × flows, in that order. */
  readonly scaling: readonly AuditBenchPoint[];
  /** The goal the issue sets for the full size on one core. */
  readonly goalMs: number;
  /**
   * From the ½ and full sizes (same rules, twice the flows): the cost of one more flow, and the part of the
   * time that does not grow with flows (reading each rule once and resolving its peers).
   */
  readonly perFlowUs: number;
  readonly perRulesMs: number;
}

export const FULL_WORKLOAD: AuditWorkload = {
  groups: 2000,
  rulesPerGroup: 50,
  flows: 5000,
  interfaces: 5000,
};
const GOAL_MS = 500;

/** mulberry32: small, fast and good enough to make the same workload every time. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Generated {
  readonly inventory: Inventory;
  readonly flows: ReadonlyArray<{ vantage: AuditVantage; requirement: AuditRequirement }>;
  readonly ruleFlowPairs: number;
}

const COMMON_PORTS = [22, 53, 80, 123, 135, 389, 443, 445, 514, 1433, 3260, 3389, 5432, 8443, 9443];
const SUBNET = 'subnet-0bench000000000001';
const VPC = 'vpc-0bench000000000001';

/** Generates a workload; the same sizes and seed always give the same inventory and flows. */
export function generateWorkload(size: AuditWorkload, seed = 20240501): Generated {
  const random = prng(seed);
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const groupId = (i: number) => `sg-${i.toString(16).padStart(17, '0')}`;
  const prefixListIds = Array.from({ length: 20 }, (_, i) => `pl-${i.toString(16).padStart(17, '0')}`);

  const v4Cidr = (min: number, max: number) => {
    const length = int(min, max);
    const a = random() < 0.8 ? 10 : int(11, 223);
    return `${a}.${int(0, 255)}.${int(0, 255)}.${int(0, 255)}/${length}`;
  };
  const v6Cidr = (min: number, max: number) =>
    `2001:db8:${int(0, 0xffff).toString(16)}:${int(0, 0xffff).toString(16)}::/${int(min, max)}`;
  const ports = () => {
    const r = random();
    if (r < 0.6) {
      const p = random() < 0.7 ? pick(COMMON_PORTS) : int(1024, 65535);
      return { from: p, to: p };
    }
    const from = int(1, 65000);
    return { from, to: Math.min(65535, from + int(1, 200)) };
  };

  const groups: SecurityGroup[] = [];
  for (let g = 0; g < size.groups; g++) {
    const rules = (): IpPermission[] =>
      Array.from({ length: size.rulesPerGroup }, () => {
        const r = random();
        const protocol = r < 0.7 ? 'tcp' : r < 0.85 ? 'udp' : r < 0.9 ? '-1' : r < 0.95 ? 'icmp' : '6';
        const p = ports();
        const rule: IpPermission = {
          IpProtocol: protocol,
          IpRanges: [],
          Ipv6Ranges: [],
          PrefixListIds: [],
          UserIdGroupPairs: [],
          ...(protocol === '-1'
            ? {}
            : protocol === 'icmp'
              ? { FromPort: -1, ToPort: -1 }
              : { FromPort: p.from, ToPort: p.to }),
        };
        const peer = random();
        if (peer < 0.7) rule.IpRanges?.push({ CidrIp: v4Cidr(8, 32) });
        else if (peer < 0.94) rule.Ipv6Ranges?.push({ CidrIpv6: v6Cidr(32, 128) });
        else if (peer < 0.97) rule.PrefixListIds?.push({ PrefixListId: pick(prefixListIds) });
        else
          rule.UserIdGroupPairs?.push({ GroupId: groupId(int(0, size.groups - 1)), UserId: '123456789012' });
        return rule;
      });
    // Half the rules each way, so a group holds rulesPerGroup rules in all.
    const all = rules();
    groups.push({
      GroupId: groupId(g),
      VpcId: VPC,
      IpPermissions: all.slice(0, size.rulesPerGroup / 2),
      IpPermissionsEgress: all.slice(size.rulesPerGroup / 2),
    });
  }

  const interfaces: NetworkInterface[] = Array.from({ length: size.interfaces }, (_, i) => ({
    NetworkInterfaceId: `eni-${i.toString(16).padStart(17, '0')}`,
    SubnetId: SUBNET,
    VpcId: VPC,
    Groups: Array.from({ length: int(1, 2) }, () => ({ GroupId: groupId(int(0, size.groups - 1)) })),
    PrivateIpAddresses: Array.from({ length: int(1, 2) }, () => ({
      PrivateIpAddress: `10.0.${int(0, 255)}.${int(1, 254)}`,
    })),
    Ipv6Addresses:
      random() < 0.3
        ? [{ Ipv6Address: `2001:db8:0:${int(0, 255).toString(16)}::${int(1, 0xffff).toString(16)}` }]
        : [],
  }));

  // A NACL shaped like real ones: a few denies of whole networks first, allows of single service ports,
  // the ephemeral ranges for replies, the VPC and IPv6 wholesale, and the API's final denies.
  const entries: NetworkAclEntry[] = [];
  for (const Egress of [true, false]) {
    for (let n = 0; n < 3; n++)
      entries.push({
        RuleNumber: 90 + n,
        Protocol: '-1',
        RuleAction: 'deny',
        Egress,
        CidrBlock: v4Cidr(16, 24),
      });
    for (let n = 0; n < 12; n++) {
      const port = pick(COMMON_PORTS);
      entries.push({
        RuleNumber: 100 + n * 10,
        Protocol: pick(['6', '6', '17']),
        RuleAction: 'allow',
        Egress,
        CidrBlock: v4Cidr(8, 24),
        PortRange: { From: port, To: port },
      });
    }
    entries.push(
      {
        RuleNumber: 250,
        Protocol: '6',
        RuleAction: 'allow',
        Egress,
        CidrBlock: '0.0.0.0/0',
        PortRange: { From: 1024, To: 65535 },
      },
      {
        RuleNumber: 260,
        Protocol: '17',
        RuleAction: 'allow',
        Egress,
        CidrBlock: '10.0.0.0/8',
        PortRange: { From: 1024, To: 65535 },
      },
      { RuleNumber: 270, Protocol: '-1', RuleAction: 'allow', Egress, CidrBlock: '10.0.0.0/16' },
      { RuleNumber: 280, Protocol: '-1', RuleAction: 'allow', Egress, Ipv6CidrBlock: '::/0' },
      { RuleNumber: 32767, Protocol: '-1', RuleAction: 'deny', Egress, CidrBlock: '0.0.0.0/0' },
      { RuleNumber: 32768, Protocol: '-1', RuleAction: 'deny', Egress, Ipv6CidrBlock: '::/0' },
    );
  }

  const routes: Route[] = [
    { DestinationCidrBlock: '10.0.0.0/16', GatewayId: 'local', State: 'active' },
    { DestinationCidrBlock: '10.0.0.0/8', TransitGatewayId: 'tgw-0bench0000000001', State: 'active' },
    { DestinationCidrBlock: '10.128.0.0/9', GatewayId: 'vgw-0bench0000000001', State: 'active' },
    {
      DestinationCidrBlock: '10.99.0.0/16',
      VpcPeeringConnectionId: 'pcx-0bench0000000001',
      State: 'blackhole',
    },
    { DestinationCidrBlock: '0.0.0.0/0', GatewayId: 'igw-0bench0000000001', State: 'active' },
    {
      DestinationIpv6CidrBlock: '::/0',
      EgressOnlyInternetGatewayId: 'eigw-0bench000000001',
      State: 'active',
    },
    {
      DestinationPrefixListId: prefixListIds[0],
      VpcPeeringConnectionId: 'pcx-0bench0000000002',
      State: 'active',
    },
  ];
  for (let i = 0; i < 8; i++)
    routes.push({ DestinationCidrBlock: v4Cidr(12, 24), GatewayId: 'vgw-0bench0000000001', State: 'active' });

  const prefixLists = new Map(
    prefixListIds.map((id) => [
      id,
      Array.from({ length: int(5, 20) }, () => (random() < 0.8 ? v4Cidr(16, 32) : v6Cidr(40, 64))),
    ]),
  );

  const inventory: Inventory = {
    securityGroups: new Map(groups.map((g) => [g.GroupId, g])),
    networkInterfaces: interfaces,
    networkAcls: [
      {
        NetworkAclId: 'acl-0bench000000000001',
        VpcId: VPC,
        IsDefault: false,
        Entries: entries,
        Associations: [{ NetworkAclId: 'acl-0bench000000000001', SubnetId: SUBNET }],
      },
    ],
    routeTables: [
      {
        RouteTableId: 'rtb-0bench000000000001',
        VpcId: VPC,
        Routes: routes,
        Associations: [{ Main: false, SubnetId: SUBNET, RouteTableId: 'rtb-0bench000000000001' }],
      },
    ],
    subnets: [{ SubnetId: SUBNET, VpcId: VPC, CidrBlock: '10.0.0.0/24' }],
    prefixLists,
  };

  let ruleFlowPairs = 0;
  const flows = Array.from({ length: size.flows }, () => {
    const securityGroupIds = Array.from({ length: int(1, 5) }, () => groupId(int(0, size.groups - 1)));
    ruleFlowPairs += (securityGroupIds.length * size.rulesPerGroup) / 2;
    const requirement: AuditRequirement = {
      direction: random() < 0.8 ? 'egress' : 'ingress',
      protocol: random() < 0.85 ? 'tcp' : 'udp',
      ports: Array.from({ length: int(1, 3) }, ports),
      cidrs: Array.from({ length: int(1, 3) }, () => (random() < 0.8 ? v4Cidr(16, 32) : v6Cidr(48, 128))),
    };
    return { vantage: { securityGroupIds, subnetId: SUBNET }, requirement };
  });
  return { inventory, flows, ruleFlowPairs };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

function runOnce(
  inventory: Inventory,
  flows: Generated['flows'],
): { ms: number; statuses: Partial<Record<AuditStatus, number>> } {
  const statuses: Partial<Record<AuditStatus, number>> = {};
  const start = performance.now();
  const auditor = createAuditor(inventory);
  for (const { vantage, requirement } of flows) {
    const { status } = auditor.audit(vantage, requirement);
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
  return { ms: round(performance.now() - start), statuses };
}

/** Times one size: `runs` runs, each with a fresh auditor over the same generated workload. */
export function measureAuditSize(size: AuditWorkload, runs = 7): AuditBenchPoint {
  const { inventory, flows, ruleFlowPairs } = generateWorkload(size);
  const results = Array.from({ length: runs }, () => runOnce(inventory, flows));
  const runsMs = results.map((r) => r.ms);
  const medianMs = round(median(runsMs));
  const fraction = (size.rulesPerGroup * size.flows) / (FULL_WORKLOAD.rulesPerGroup * FULL_WORKLOAD.flows);
  return {
    ...size,
    fraction,
    runsMs,
    medianMs,
    ruleFlowPairs,
    nsPerRuleFlow: round((medianMs * 1e6) / ruleFlowPairs),
    statuses: results[results.length - 1]?.statuses ?? {},
  };
}

/**
 * The figures: the full size, and ¼, ½ and full size of rules × flows. A first full run, in a fresh
 * process, is reported apart (`coldMs`): it pays for the JIT compiling the code, which later runs do not.
 */
export function measureAuditBench(runs = 7): AuditBenchFigures {
  const full = FULL_WORKLOAD;
  const coldMs = ((warmUp) => runOnce(warmUp.inventory, warmUp.flows).ms)(generateWorkload(full));
  const quarter = measureAuditSize(
    { ...full, rulesPerGroup: full.rulesPerGroup / 2, flows: full.flows / 2 },
    runs,
  );
  const half = measureAuditSize({ ...full, flows: full.flows / 2 }, runs);
  const whole = measureAuditSize(full, runs);
  const perFlowMs = (whole.medianMs - half.medianMs) / (whole.flows - half.flows);
  return {
    full: whole,
    coldMs,
    scaling: [quarter, half, whole],
    goalMs: GOAL_MS,
    perFlowUs: round(perFlowMs * 1000),
    perRulesMs: round(whole.medianMs - perFlowMs * whole.flows),
  };
}

/** `npm run bench audit`: prints the figures. */
export async function benchAudit(): Promise<void> {
  const figures = measureAuditBench();
  const { full } = figures;
  const out = process.stdout;
  out.write(
    `${full.groups} groups × ${full.rulesPerGroup} rules, ${full.interfaces} interfaces, ${full.flows} flows (1-5 groups each, with a subnet)\n`,
  );
  out.write(
    `createAuditor + every audit: median ${full.medianMs} ms over ${full.runsMs.length} runs (${full.runsMs.join(', ')} ms); goal < ${figures.goalMs} ms: ${full.medianMs < figures.goalMs ? 'met' : 'NOT met'}\n`,
  );
  out.write(`first run of the process (JIT compiling the code as it goes): ${figures.coldMs} ms\n`);
  out.write(`verdicts: ${JSON.stringify(full.statuses)}\n`);
  out.write('growth with rules × flows:\n');
  const base = figures.scaling[figures.scaling.length - 1] as AuditBenchPoint;
  for (const p of figures.scaling) {
    out.write(
      `  ${String(p.fraction).padEnd(4)} (${p.rulesPerGroup} rules/group, ${p.flows} flows): ${p.medianMs} ms, ` +
        `${p.nsPerRuleFlow} ns per rule × flow, time ${round(p.medianMs / base.medianMs, 2)} of full for ${round(p.ruleFlowPairs / base.ruleFlowPairs, 2)} of the work\n`,
    );
  }
  out.write(
    `  at ${full.rulesPerGroup} rules/group: ${figures.perFlowUs} µs per flow, plus ${figures.perRulesMs} ms that grow with rules, not flows (each rule read once, its peers resolved once)\n`,
  );
}
