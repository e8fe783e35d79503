/**
 * One description of evidence: how an audit decision (a Security Group rule, a network ACL entry, a route) and
 * what answered on an open port are worded. `preflight audit`, `check`, `probe`, the reports, the API and the
 * dashboard all show these sentences; none words them again.
 */
import type { PortService, ServiceIdentity } from '../identify';
import type { DecidedBy, IpPermission, MissingBlock } from '../audit/types';

// ---------------------------------------------------------------------------------------------------------------
// Audit decisions

const portSpan = (from: number | undefined, to: number | undefined) =>
  from === undefined || from === -1 ? 'all ports' : from === to ? String(from) : `${from}-${to}`;

function rulePeers(rule: IpPermission): string {
  const peers = [
    ...(rule.IpRanges ?? []).map((x) => x.CidrIp),
    ...(rule.Ipv6Ranges ?? []).map((x) => x.CidrIpv6),
    ...(rule.PrefixListIds ?? []).map((x) => x.PrefixListId),
    ...(rule.UserIdGroupPairs ?? []).map((x) => x.GroupId),
  ];
  return peers.join(', ') || '(no peer)';
}

const NACL_PROTOCOLS: Readonly<Record<string, string>> = {
  '-1': 'all',
  '6': 'tcp',
  '17': 'udp',
  '1': 'icmp',
};

/**
 * One audit decision in one line, e.g. `Security Group sg-1 egress rule: tcp 443 to 10.20.0.0/16 allows`,
 * `network ACL acl-1 outbound rule 100 (tcp 1024-65535 0.0.0.0/0) denies the return path`,
 * `route table rtb-1 (main): 10.20.0.0/16 via tgw-1 denies (blackhole)`.
 */
export function describeDecision(d: DecidedBy): string {
  switch (d.layer) {
    case 'security-group': {
      const r = d.rule;
      const protocol =
        r.IpProtocol === '-1' ? 'all traffic' : `${r.IpProtocol} ${portSpan(r.FromPort, r.ToPort)}`;
      const way = d.direction === 'ingress' ? 'from' : 'to';
      return `Security Group ${d.groupId} ${d.direction} rule: ${protocol} ${way} ${rulePeers(r)} ${d.effect}`;
    }
    case 'network-acl': {
      const e = d.entry;
      const rule = d.ruleNumber === '*' ? 'the final deny (*)' : `rule ${d.ruleNumber}`;
      const what =
        e && d.ruleNumber !== '*'
          ? ` (${NACL_PROTOCOLS[e.Protocol] ?? `protocol ${e.Protocol}`}` +
            `${e.PortRange ? ` ${portSpan(e.PortRange.From, e.PortRange.To)}` : ''} ${e.CidrBlock ?? e.Ipv6CidrBlock ?? ''})`
          : '';
      return `network ACL ${d.networkAclId} ${d.direction} ${rule}${what} ${d.effect} the ${d.path} path`;
    }
    case 'route':
      return (
        `${d.via ? `(through ${d.via}) ` : ''}route table ${d.routeTableId}${d.mainTable ? ' (main)' : ''}: ${d.destination}` +
        `${d.target ? ` via ${d.target}` : ''} ${d.effect}${d.reason ? ` (${d.reason})` : ''}`
      );
  }
}

/** Missing blocks as `tcp 443 10.20.0.0/16, tcp 8443 10.20.0.0/16`, each once. */
export function describeMissing(list: readonly MissingBlock[]): string {
  return [...new Set(list.map((b) => `${b.protocol} ${portSpan(b.fromPort, b.toPort)} ${b.cidr}`))].join(
    ', ',
  );
}

// ---------------------------------------------------------------------------------------------------------------
// What answered on a port

/**
 * What answered, each fact once, e.g. `TLSv1.3, subject CN=app01, issuer CN=Example CA, valid until 2027-01-01,
 * host name not verified (probed by IP)`, `HTTP 502 from squid/5.7`, `SSH "SSH-2.0-OpenSSH_9.2"`. A warning
 * is not part of it: {@link serviceWarning} says why the answer deserves a look.
 */
export function describeService(service: ServiceIdentity): string {
  switch (service.kind) {
    case 'tls': {
      const facts = [
        service.version,
        `subject ${service.subject || '(none)'}`,
        service.selfSigned ? 'self-signed' : `issuer ${service.issuer || '(none)'}`,
        `valid ${service.notBefore.slice(0, 10)} to ${service.notAfter.slice(0, 10)}`,
        service.hostnameMatch === 'match'
          ? 'host name verified'
          : service.hostnameMatch === 'mismatch'
            ? 'for another host name'
            : 'host name not verified (probed by IP address)',
      ];
      return `TLS ${facts.join(', ')}`;
    }
    case 'http':
      return `HTTP ${service.status}${service.server !== undefined ? ` from ${JSON.stringify(service.server)}` : ''}`;
    case 'ssh':
      return `SSH ${JSON.stringify(service.banner)}`;
    case 'smb':
      return `SMB dialect ${service.dialect}`;
    case 'none':
      return service.reason;
    case 'skipped':
      return `${service.expected.toUpperCase()} not identified: ${service.reason}`;
  }
}

/** Why an answer is not the expected service, or deserves a look; undefined when it is fine (or skipped). */
export function serviceWarning(service: ServiceIdentity): string | undefined {
  switch (service.kind) {
    case 'none':
      return service.reason;
    case 'tls':
    case 'http':
      return service.warning;
    default:
      return undefined;
  }
}

/** Whether a warning is about the certificate (the service answered; its certificate deserves a look). */
export function isCertificateWarning(service: ServiceIdentity): boolean {
  return service.kind === 'tls' && service.warning !== undefined;
}

/**
 * What answered and, when it deserves a look, why, in one sentence that says each fact once: a proxy's warning
 * already names its status and server, a certificate's warning its date, a `none` reason what answered.
 */
export function describeAnswer(service: ServiceIdentity): string {
  const warning = serviceWarning(service);
  if (warning === undefined) return describeService(service);
  if (service.kind !== 'tls') return warning;
  const facts = [
    service.version,
    `subject ${service.subject || '(none)'}`,
    service.selfSigned ? 'self-signed' : `issuer ${service.issuer || '(none)'}`,
    ...(service.hostnameMatch === 'not-checked' ? ['host name not verified (probed by IP address)'] : []),
  ];
  return `TLS ${facts.join(', ')}: ${warning}`;
}

/** `443: TLS TLSv1.3, …` for one identified port. */
export function describePortService({ port, service }: PortService): string {
  return `${port}: ${describeAnswer(service)}`;
}

/**
 * `443 open: <why>; 8080 open: <why>` for the identified ports whose answer deserves a look; '' when none does.
 * What answered is said once: by the warning when there is one (it quotes the answer), else not at all.
 */
export function serviceWarnings(services: readonly PortService[] | undefined): string {
  return (services ?? [])
    .flatMap(({ port, service }) => {
      const warning = serviceWarning(service);
      return warning === undefined ? [] : [`${port} open: ${warning}`];
    })
    .join('; ');
}
