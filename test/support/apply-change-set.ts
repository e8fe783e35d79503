/**
 * Applies a change set to an inventory the way EC2 would, for the apply-and-re-audit tests: the AWS CLI
 * commands are read back into operations (so what is tested is the script a person runs), and each is applied
 * to a copy of the inventory with the API's refusals: an unknown group, ACL or table, a rule number in use or
 * out of range, a static route that already exists, a replace of a route that does not.
 */
import type { ChangeOperation } from '../../lambdas/core/finding/change-set';
import { routeTargetProperty } from '../../lambdas/core/finding/change-set';
import type {
  Inventory,
  IpPermission,
  NetworkAclEntry,
  Route,
  SecurityGroup,
} from '../../lambdas/core/audit/types';

/** Splits a command line into words: spaces separate, single quotes keep (with `'\''` as a quote). */
function words(command: string): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < command.length; i++) {
    const c = command[i] as string;
    if (c === "'") {
      const end = command.indexOf("'", i + 1);
      if (end === -1) throw new Error(`unbalanced quote in ${command}`);
      word += command.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '\\' && command[i + 1] === "'") {
      word += "'";
      i++;
      inWord = true;
    } else if (c === ' ') {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) out.push(word);
  return out;
}

const TARGET_OPTIONS = [
  '--transit-gateway-id',
  '--gateway-id',
  '--vpc-peering-connection-id',
  '--nat-gateway-id',
  '--network-interface-id',
  '--instance-id',
  '--local-gateway-id',
  '--carrier-gateway-id',
  '--egress-only-internet-gateway-id',
  '--core-network-arn',
  '--vpc-endpoint-id',
];

/** Reads one `aws ec2 …` command of a change set back into its operation. */
export function parseAwsCli(command: string): ChangeOperation {
  const [aws, ec2, action, ...rest] = words(command);
  if (aws !== 'aws' || ec2 !== 'ec2') throw new Error(`not an aws ec2 command: ${command}`);
  const options = new Map<string, string | true>();
  for (let i = 0; i < rest.length; i++) {
    const name = rest[i] as string;
    if (!name.startsWith('--')) throw new Error(`unexpected word ${name} in ${command}`);
    const value = rest[i + 1];
    if (value === undefined || value.startsWith('--')) options.set(name, true);
    else {
      options.set(name, value);
      i++;
    }
  }
  const need = (name: string): string => {
    const v = options.get(name);
    if (typeof v !== 'string') throw new Error(`${name} missing in ${command}`);
    if (/[<>…]/.test(v)) throw new Error(`placeholder ${v} in ${command}`);
    return v;
  };
  switch (action) {
    case 'authorize-security-group-egress':
    case 'authorize-security-group-ingress':
      return {
        action,
        groupId: need('--group-id'),
        permissions: JSON.parse(need('--ip-permissions')) as IpPermission[],
      };
    case 'create-network-acl-entry': {
      const ports = options.get('--port-range');
      const m = typeof ports === 'string' ? /^From=(\d+),To=(\d+)$/.exec(ports) : null;
      const cidr = options.get('--cidr-block');
      const entry: NetworkAclEntry = {
        RuleNumber: Number(need('--rule-number')),
        Protocol: need('--protocol'),
        RuleAction: need('--rule-action') as 'allow' | 'deny',
        Egress: options.get('--egress') === true,
        ...(typeof cidr === 'string' ? { CidrBlock: cidr } : { Ipv6CidrBlock: need('--ipv6-cidr-block') }),
        ...(m ? { PortRange: { From: Number(m[1]), To: Number(m[2]) } } : {}),
      };
      if (options.get('--egress') !== true && options.get('--ingress') !== true)
        throw new Error(`neither --egress nor --ingress in ${command}`);
      return { action, networkAclId: need('--network-acl-id'), entry };
    }
    case 'create-route':
    case 'replace-route': {
      const destination = [
        '--destination-cidr-block',
        '--destination-ipv6-cidr-block',
        '--destination-prefix-list-id',
      ]
        .map((o) => options.get(o))
        .find((v): v is string => typeof v === 'string');
      const targets = TARGET_OPTIONS.filter((o) => options.has(o));
      if (destination === undefined || targets.length !== 1)
        throw new Error(`a route needs one destination and one target: ${command}`);
      return {
        action,
        routeTableId: need('--route-table-id'),
        destination,
        target: need(targets[0] as string),
      };
    }
    default:
      throw new Error(`unknown command ${action} in ${command}`);
  }
}

const peerKeys = (p: IpPermission) => [
  ...(p.IpRanges ?? []).map((r) => `${p.IpProtocol}|${p.FromPort}|${p.ToPort}|${r.CidrIp}`),
  ...(p.Ipv6Ranges ?? []).map((r) => `${p.IpProtocol}|${p.FromPort}|${p.ToPort}|${r.CidrIpv6}`),
];

function routeDestination(r: Route): string | undefined {
  return r.DestinationCidrBlock ?? r.DestinationIpv6CidrBlock ?? r.DestinationPrefixListId;
}

function destinationFields(destination: string): Route {
  if (destination.startsWith('pl-')) return { DestinationPrefixListId: destination };
  return destination.includes(':')
    ? { DestinationIpv6CidrBlock: destination }
    : { DestinationCidrBlock: destination };
}

const TARGET_FIELDS = [
  'GatewayId',
  'NatGatewayId',
  'TransitGatewayId',
  'VpcPeeringConnectionId',
  'NetworkInterfaceId',
  'InstanceId',
  'LocalGatewayId',
  'CarrierGatewayId',
  'EgressOnlyInternetGatewayId',
  'CoreNetworkArn',
] as const;

/** Applies operations to a copy of the inventory, refusing what EC2 refuses. */
export function applyOperations(inventory: Inventory, operations: readonly ChangeOperation[]): Inventory {
  const groups = new Map<string, SecurityGroup>(
    [...inventory.securityGroups].map(([id, g]) => [id, structuredClone(g)]),
  );
  const acls = structuredClone([...inventory.networkAcls]);
  const tables = structuredClone([...inventory.routeTables]);
  for (const op of operations) {
    switch (op.action) {
      case 'authorize-security-group-egress':
      case 'authorize-security-group-ingress': {
        const g = groups.get(op.groupId);
        if (!g) throw new Error(`InvalidGroup.NotFound: ${op.groupId}`);
        const egress = op.action === 'authorize-security-group-egress';
        const rules = (egress ? (g.IpPermissionsEgress ??= []) : (g.IpPermissions ??= [])) as IpPermission[];
        const present = new Set(rules.flatMap(peerKeys));
        const incoming = op.permissions.flatMap(peerKeys);
        const duplicate = incoming.find((k, i) => present.has(k) || incoming.indexOf(k) !== i);
        if (duplicate) throw new Error(`InvalidPermission.Duplicate: ${duplicate} in ${op.groupId}`);
        rules.push(...structuredClone([...op.permissions]));
        break;
      }
      case 'create-network-acl-entry': {
        const acl = acls.find((a) => a.NetworkAclId === op.networkAclId);
        if (!acl) throw new Error(`InvalidNetworkAclID.NotFound: ${op.networkAclId}`);
        const n = op.entry.RuleNumber;
        if (!Number.isInteger(n) || n < 1 || n > 32766)
          throw new Error(`InvalidParameterValue: rule number ${n}`);
        if ((acl.Entries ?? []).some((e) => e.Egress === op.entry.Egress && e.RuleNumber === n))
          throw new Error(
            `NetworkAclEntryAlreadyExists: ${op.networkAclId} ${op.entry.Egress ? 'egress' : 'ingress'} ${n}`,
          );
        (acl.Entries ??= []).push(structuredClone(op.entry));
        break;
      }
      case 'create-route':
      case 'replace-route': {
        const table = tables.find((t) => t.RouteTableId === op.routeTableId);
        if (!table) throw new Error(`InvalidRouteTableID.NotFound: ${op.routeTableId}`);
        const routes = (table.Routes ??= []);
        const same = routes.filter((r) => routeDestination(r) === op.destination);
        // describe-route-tables shows a Gateway Load Balancer endpoint as a GatewayId.
        const property = routeTargetProperty(op.target);
        const target = { [property === 'VpcEndpointId' ? 'GatewayId' : property]: op.target } as Route;
        if (op.action === 'create-route') {
          // A static route may share its destination with a propagated one (the VPC guide's "How route
          // priority works" shows both for 172.31.0.0/24): only another static route collides.
          if (same.some((r) => r.Origin !== 'EnableVgwRoutePropagation'))
            throw new Error(`RouteAlreadyExists: ${op.destination} in ${op.routeTableId}`);
          routes.push({
            ...destinationFields(op.destination),
            ...target,
            State: 'active',
            Origin: 'CreateRoute',
          });
        } else {
          if (same.length === 0)
            throw new Error(`InvalidRoute.NotFound: ${op.destination} in ${op.routeTableId}`);
          for (const r of same) {
            for (const f of TARGET_FIELDS) delete r[f];
            Object.assign(r, target, { State: 'active' });
          }
        }
        break;
      }
    }
  }
  return { ...inventory, securityGroups: groups, networkAcls: acls, routeTables: tables };
}

/** Applies the change set's AWS CLI script (each command read back) to a copy of the inventory. */
export function applyAwsCli(inventory: Inventory, awsCli: readonly string[]): Inventory {
  return applyOperations(inventory, awsCli.map(parseAwsCli));
}
