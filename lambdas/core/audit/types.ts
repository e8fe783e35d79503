/**
 * The AWS configuration the audit reads, in the shapes the EC2 API returns them (PascalCase, as in
 * `aws ec2 describe-security-groups` output), trimmed to the fields the audit uses. The core never
 * imports the AWS SDK: the live reader (lambdas/aws) and the offline file reader both produce these.
 */

/** One rule of a Security Group (`IpPermissions` / `IpPermissionsEgress`). */
export interface IpPermission {
  /** `tcp`, `udp`, `icmp`, `icmpv6`, a protocol number such as `6`, or `-1` for all traffic. */
  IpProtocol: string;
  /** Absent (or -1) for all traffic; for ICMP these are type and code. */
  FromPort?: number;
  ToPort?: number;
  IpRanges?: Array<{ CidrIp: string; Description?: string }>;
  Ipv6Ranges?: Array<{ CidrIpv6: string; Description?: string }>;
  PrefixListIds?: Array<{ PrefixListId: string; Description?: string }>;
  UserIdGroupPairs?: Array<{ GroupId: string; UserId?: string; VpcId?: string; Description?: string }>;
}

export interface SecurityGroup {
  GroupId: string;
  GroupName?: string;
  VpcId?: string;
  Description?: string;
  IpPermissions?: IpPermission[];
  IpPermissionsEgress?: IpPermission[];
}

export interface NetworkAclEntry {
  RuleNumber: number;
  /** A protocol number as a string (`6` tcp, `17` udp, `1` icmp, `58` icmpv6) or `-1` for all. */
  Protocol: string;
  RuleAction: 'allow' | 'deny';
  Egress: boolean;
  CidrBlock?: string;
  Ipv6CidrBlock?: string;
  PortRange?: { From: number; To: number };
}

export interface NetworkAcl {
  NetworkAclId: string;
  VpcId?: string;
  IsDefault?: boolean;
  Entries?: NetworkAclEntry[];
  Associations?: Array<{ NetworkAclAssociationId?: string; NetworkAclId?: string; SubnetId?: string }>;
}

export interface Route {
  DestinationCidrBlock?: string;
  DestinationIpv6CidrBlock?: string;
  DestinationPrefixListId?: string;
  GatewayId?: string;
  NatGatewayId?: string;
  TransitGatewayId?: string;
  VpcPeeringConnectionId?: string;
  NetworkInterfaceId?: string;
  InstanceId?: string;
  LocalGatewayId?: string;
  CarrierGatewayId?: string;
  EgressOnlyInternetGatewayId?: string;
  CoreNetworkArn?: string;
  /** `active` or `blackhole` (the target is gone). */
  State?: string;
  Origin?: string;
}

export interface RouteTable {
  RouteTableId: string;
  VpcId?: string;
  Routes?: Route[];
  Associations?: Array<{ Main?: boolean; SubnetId?: string; RouteTableId?: string; GatewayId?: string }>;
}

export interface NetworkInterface {
  NetworkInterfaceId: string;
  SubnetId?: string;
  VpcId?: string;
  Groups?: Array<{ GroupId: string; GroupName?: string }>;
  PrivateIpAddress?: string;
  PrivateIpAddresses?: Array<{ PrivateIpAddress: string; Primary?: boolean }>;
  Ipv6Addresses?: Array<{ Ipv6Address: string }>;
  /** Prefixes delegated to the interface (prefix delegation): every address in them is the interface's. */
  Ipv4Prefixes?: Array<{ Ipv4Prefix: string }>;
  Ipv6Prefixes?: Array<{ Ipv6Prefix: string }>;
  /** `interface`, `nat_gateway`, `vpc_endpoint`, … */
  InterfaceType?: string;
  /** For a NAT gateway's interface: `Interface for NAT Gateway nat-…`. */
  Description?: string;
  /** The public IPv4 address (Elastic IP) of the interface, when it has one. */
  Association?: { PublicIp?: string };
}

/** A NAT gateway (`aws ec2 describe-nat-gateways`), trimmed to what the audit reads. */
export interface NatGateway {
  NatGatewayId: string;
  SubnetId?: string;
  VpcId?: string;
  /** `public` (the default: it has an Elastic IP) or `private`. */
  ConnectivityType?: string;
  State?: string;
  NatGatewayAddresses?: Array<{ PublicIp?: string; PrivateIp?: string; NetworkInterfaceId?: string }>;
}

export interface Subnet {
  SubnetId: string;
  VpcId?: string;
  CidrBlock?: string;
  Ipv6CidrBlockAssociationSet?: Array<{ Ipv6CidrBlock?: string }>;
}

/** Everything the audit knows about the AWS side, merged from API calls or export files. */
export interface Inventory {
  readonly securityGroups: ReadonlyMap<string, SecurityGroup>;
  readonly networkInterfaces: readonly NetworkInterface[];
  readonly networkAcls: readonly NetworkAcl[];
  readonly routeTables: readonly RouteTable[];
  readonly subnets: readonly Subnet[];
  /** Managed prefix list id → its CIDR entries. */
  readonly prefixLists: ReadonlyMap<string, readonly string[]>;
  /** NAT gateways by id (`describe-nat-gateways`); a NAT gateway's interface tells the same. */
  readonly natGateways?: ReadonlyMap<string, NatGateway>;
  /**
   * False when no `describe-network-interfaces` export was read at all: which addresses a group holds is
   * then unknown (a group reference can neither be counted nor ruled out).
   * @default - true: the interfaces were read (the live reader always reads them)
   */
  readonly networkInterfacesRead?: boolean;
}

/** What a flow needs from the AWS side, as seen from the vantage's network interface. */
export interface AuditRequirement {
  /** `egress`: from the vantage to `cidrs`; `ingress`: from `cidrs` to the vantage. */
  readonly direction: 'egress' | 'ingress';
  readonly protocol: 'tcp' | 'udp';
  readonly ports: ReadonlyArray<{ readonly from: number; readonly to: number }>;
  /** The peer's addresses: CIDR blocks (a single address is a /32 or /128). */
  readonly cidrs: readonly string[];
}

/** Where the vantage sits: its Security Groups and, optionally, its subnet (for the NACL and routes). */
export interface AuditVantage {
  readonly securityGroupIds: readonly string[];
  readonly subnetId?: string;
}

/** A block of the requirement that is not allowed: a port range towards (or from) one CIDR. */
export interface MissingBlock {
  readonly protocol: 'tcp' | 'udp';
  readonly fromPort: number;
  readonly toPort: number;
  readonly cidr: string;
}

/**
 * `allowed`, `partial` or `blocked` by what the inventory shows; `not-audited` when nothing seen drops the
 * flow but a layer needed to decide it was not in the inventory (see {@link NotEvaluated}): not seen is
 * neither allowed nor blocked.
 */
export type AuditStatus = 'allowed' | 'partial' | 'blocked' | 'not-audited';

/** A piece of configuration the audit needed and the inventory lacks. */
export interface NotEvaluated {
  /** What kind of thing is missing. */
  readonly layer:
    'security-group' | 'network-acl' | 'route-table' | 'prefix-list' | 'group-members' | 'nat-gateway';
  /** The missing id (for a subnet's ACL or route table, and a NAT gateway's routes: the subnet). */
  readonly id: string;
  /** In words, e.g. `the network ACL of subnet-0123…`. */
  readonly what: string;
  /** The AWS CLI command whose JSON output brings it. */
  readonly export: string;
}

/** One piece of configuration that decided (part of) the verdict. */
export type DecidedBy =
  | {
      readonly layer: 'security-group';
      readonly groupId: string;
      readonly direction: 'egress' | 'ingress';
      /** The rule as the API shows it, narrowed to the one peer (CIDR, prefix list or group) that matched. */
      readonly rule: IpPermission;
      /** `allows` when it covers part of the requirement. */
      readonly effect: 'allows';
    }
  | {
      readonly layer: 'network-acl';
      readonly networkAclId: string;
      /** `outbound` or `inbound` as the NACL sees the packet (the return path is the opposite one). */
      readonly direction: 'outbound' | 'inbound';
      /** The rule number, or `*` for the implicit final deny. */
      readonly ruleNumber: number | '*';
      readonly effect: 'allows' | 'denies';
      /** `request` for the flow's own packets, `return` for the replies on ephemeral ports. */
      readonly path: 'request' | 'return';
      readonly entry?: NetworkAclEntry;
    }
  | {
      readonly layer: 'route';
      readonly routeTableId: string;
      /** The route's destination (CIDR or prefix list), or `none` when no route matches. */
      readonly destination: string;
      /** The target id (`vgw-…`, `tgw-…`, `local`, …), when there is a route. */
      readonly target?: string;
      readonly effect: 'allows' | 'denies';
      /** Why a route denies: `blackhole`, `no route`, `internet gateway cannot reach private addresses`. */
      readonly reason?: string;
      /** True when the subnet has no table of its own and the VPC's main table applies. */
      readonly mainTable?: boolean;
      /** Set when this is the table of a NAT gateway's subnet, which the traffic reached through it. */
      readonly via?: string;
    };

/** The static verdict of one requirement for one vantage. */
export interface AuditResult {
  readonly status: AuditStatus;
  /** The blocks no layer-by-layer evaluation allows, fewest CIDRs per port range. */
  readonly missing: readonly MissingBlock[];
  /** Per layer, what it leaves uncovered (empty when that layer allows everything). */
  readonly layers: {
    /** In the requirement's terms: ports and peer CIDRs no rule of the vantage's groups allows. */
    readonly securityGroups: readonly MissingBlock[];
    /** Present with a subnet. NACLs are stateless, so both packet paths are checked. */
    readonly networkAcl?: {
      readonly networkAclId: string;
      /** The flow's own packets (outbound for egress, inbound for ingress): ports × peer CIDRs. */
      readonly request: readonly MissingBlock[];
      /** The replies, on the ephemeral ports 1024-65535 × peer CIDRs, in the opposite direction. */
      readonly return: readonly MissingBlock[];
    };
    /** Present with a subnet: peer CIDRs with no usable route (`fromPort`/`toPort` span the requirement). */
    readonly routes?: {
      readonly routeTableId: string | undefined;
      readonly missing: readonly MissingBlock[];
    };
  };
  readonly decidedBy: readonly DecidedBy[];
  /** Ids the audit needed but the inventory lacks (a Security Group, a prefix list, the subnet's NACL…). */
  readonly unknown: readonly string[];
  /** What the inventory lacks, in words, with the export that brings each (absent or empty: nothing). */
  readonly notEvaluated?: readonly NotEvaluated[];
  /** The blocks nothing seen drops but that a missing piece could: why a flow is `not-audited`. */
  readonly undecided?: readonly MissingBlock[];
}
