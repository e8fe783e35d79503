/**
 * What the audit could not evaluate, in one place: the wording of each missing piece and the AWS CLI export
 * that brings it. A layer that was not evaluated never decides a flow: its part is `undecided`, and a flow
 * nothing seen drops but something unseen could is `not-audited` (see `auditStatus` in regions.ts).
 */
import type { NotEvaluated } from './types';

/** A Security Group of the vantage, or one a rule references, absent from the inventory. */
export function missingSecurityGroup(groupId: string): NotEvaluated {
  return {
    layer: 'security-group',
    id: groupId,
    what: `Security Group ${groupId}`,
    export: `aws ec2 describe-security-groups --group-ids ${groupId}`,
  };
}

/** The subnet's network ACL: no ACL in the inventory is associated with it (nor its VPC's default). */
export function missingNetworkAcl(subnetId: string): NotEvaluated {
  return {
    layer: 'network-acl',
    id: subnetId,
    what: `the network ACL of ${subnetId}`,
    export: `aws ec2 describe-network-acls --filters Name=association.subnet-id,Values=${subnetId}`,
  };
}

/** The subnet's route table: none associated with it, and not its VPC's main table. */
export function missingRouteTable(subnetId: string, vpcId: string | undefined): NotEvaluated {
  return {
    layer: 'route-table',
    id: subnetId,
    what: `the route table of ${subnetId}`,
    export:
      vpcId !== undefined
        ? `aws ec2 describe-route-tables --filters Name=vpc-id,Values=${vpcId}`
        : `aws ec2 describe-route-tables --filters Name=association.subnet-id,Values=${subnetId} ` +
          '(and its VPC main table when it has none of its own)',
  };
}

/** A managed prefix list a rule or route names, whose entries the inventory lacks. */
export function missingPrefixList(prefixListId: string): NotEvaluated {
  return {
    layer: 'prefix-list',
    id: prefixListId,
    what: `the entries of prefix list ${prefixListId}`,
    export:
      `aws ec2 get-managed-prefix-list-entries --prefix-list-id ${prefixListId} ` +
      `(an AWS-managed list: aws ec2 describe-prefix-lists --prefix-list-ids ${prefixListId})`,
  };
}

/** The members of a referenced group, when no network interfaces were exported at all. */
export function unknownGroupMembers(groupId: string): NotEvaluated {
  return {
    layer: 'group-members',
    id: groupId,
    what: `the members of ${groupId} (no network interfaces in the inventory)`,
    export: `aws ec2 describe-network-interfaces --filters Name=group-id,Values=${groupId}`,
  };
}

/** A NAT gateway a route sends traffic to, whose subnet is unknown. */
export function missingNatGateway(natGatewayId: string): NotEvaluated {
  return {
    layer: 'nat-gateway',
    id: natGatewayId,
    what: `NAT gateway ${natGatewayId} (its subnet, so where it sends the traffic)`,
    export: `aws ec2 describe-nat-gateways --nat-gateway-ids ${natGatewayId}`,
  };
}

/** The route table of the subnet a NAT gateway sits in. */
export function missingNatRoutes(
  natGatewayId: string,
  subnetId: string,
  vpcId: string | undefined,
): NotEvaluated {
  return {
    ...missingRouteTable(subnetId, vpcId),
    what: `the route table of ${subnetId}, where NAT gateway ${natGatewayId} sends the traffic`,
  };
}

/** A NAT gateway reached through another NAT gateway's subnet: the audit follows one NAT gateway only. */
export function unfollowedNatGateway(natGatewayId: string): NotEvaluated {
  return {
    layer: 'nat-gateway',
    id: natGatewayId,
    what: `where NAT gateway ${natGatewayId} sends traffic that another NAT gateway passed to it (not followed)`,
    export: `aws ec2 describe-nat-gateways --nat-gateway-ids ${natGatewayId}`,
  };
}

/** Adds a piece once (by layer and id). */
export function addNotEvaluated(list: NotEvaluated[], piece: NotEvaluated): void {
  if (!list.some((p) => p.layer === piece.layer && p.id === piece.id)) list.push(piece);
}

/**
 * Why an audit is `not-audited`, in one sentence: what the inventory lacks and the export that brings each.
 * Every surface that explains a not-audited flow (the CLI, the check run's cause) says it with these words.
 */
export function describeNotEvaluated(pieces: readonly NotEvaluated[]): string {
  if (pieces.length === 0) return 'nothing is missing';
  return `not in the inventory: ${pieces.map((p) => `${p.what} (export: ${p.export})`).join('; ')}`;
}
