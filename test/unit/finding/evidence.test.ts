import {
  describeAnswer,
  describeDecision,
  describeService,
  serviceWarning,
  serviceWarnings,
} from '../../../lambdas/core/finding/evidence';
import { httpWarning, type ServiceIdentity } from '../../../lambdas/core/identify';

const tls = (over: Partial<Extract<ServiceIdentity, { kind: 'tls' }>> = {}): ServiceIdentity => ({
  kind: 'tls',
  version: 'TLSv1.3',
  subject: 'CN=app01',
  issuer: 'CN=Example CA',
  notBefore: '2026-01-01T00:00:00.000Z',
  notAfter: '2027-01-01T00:00:00.000Z',
  selfSigned: false,
  hostnameMatch: 'match',
  ...over,
});

const count = (text: string, part: string) => text.split(part).length - 1;

describe('describeDecision: one wording of an audit decision', () => {
  it('words Security Group rules, network ACL entries (with the entry) and routes', () => {
    // Act + Assert
    expect(
      describeDecision({
        layer: 'security-group',
        groupId: 'sg-1',
        direction: 'ingress',
        effect: 'allows',
        rule: { IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: 'sg-2' }] },
      }),
    ).toBe('Security Group sg-1 ingress rule: all traffic from sg-2 allows');
    expect(
      describeDecision({
        layer: 'network-acl',
        networkAclId: 'acl-1',
        direction: 'inbound',
        ruleNumber: 90,
        effect: 'denies',
        path: 'return',
        entry: {
          RuleNumber: 90,
          Protocol: '6',
          RuleAction: 'deny',
          Egress: false,
          CidrBlock: '0.0.0.0/0',
          PortRange: { From: 1024, To: 65535 },
        },
      }),
    ).toBe('network ACL acl-1 inbound rule 90 (tcp 1024-65535 0.0.0.0/0) denies the return path');
    expect(
      describeDecision({
        layer: 'network-acl',
        networkAclId: 'acl-1',
        direction: 'outbound',
        ruleNumber: '*',
        effect: 'denies',
        path: 'request',
      }),
    ).toBe('network ACL acl-1 outbound the final deny (*) denies the request path');
    expect(
      describeDecision({
        layer: 'route',
        routeTableId: 'rtb-1',
        destination: '10.20.0.0/16',
        target: 'tgw-1',
        effect: 'denies',
        reason: 'blackhole',
        mainTable: true,
      }),
    ).toBe('route table rtb-1 (main): 10.20.0.0/16 via tgw-1 denies (blackhole)');
  });
});

describe('what answered on a port: each fact once', () => {
  it('says a proxy 502 once, naming the proxy from its Via header', () => {
    // Arrange
    const headers = new Map([
      ['server', 'squid/5.7'],
      ['via', '1.1 proxy01 (squid/5.7)'],
    ]);
    const warning = httpWarning(502, headers)!;
    const service: ServiceIdentity = { kind: 'http', status: 502, server: 'squid/5.7', warning };
    // Act
    const text = describeAnswer(service);
    // Assert
    expect(text).toBe(
      'HTTP 502 Bad Gateway from "squid/5.7" through "1.1 proxy01 (squid/5.7)" (its Via header): a proxy or gateway answered, not the service behind it',
    );
    expect(count(text, '502')).toBe(1);
  });

  it('says a 407 once, with the proxy named once', () => {
    // Arrange
    const warning = httpWarning(407, new Map([['server', 'squid/5.7']]))!;
    // Act
    const text = describeAnswer({ kind: 'http', status: 407, server: 'squid/5.7', warning });
    // Assert
    expect(count(text, '407')).toBe(1);
    expect(count(text, 'squid/5.7')).toBe(1);
  });

  it("says an expired certificate's subject and date once", () => {
    // Arrange
    const service = tls({
      notAfter: '2021-01-01T00:00:00.000Z',
      warning: 'the certificate expired on 2021-01-01',
    });
    // Act
    const text = describeAnswer(service);
    // Assert
    expect(text).toBe(
      'TLS TLSv1.3, subject CN=app01, issuer CN=Example CA: the certificate expired on 2021-01-01',
    );
    expect(count(text, 'CN=app01')).toBe(1);
    expect(count(text, '2021-01-01')).toBe(1);
  });

  it('says "not verified" where the certificate name was not checked (probed by IP address)', () => {
    // Act + Assert
    expect(describeService(tls({ hostnameMatch: 'not-checked' }))).toContain(
      'host name not verified (probed by IP address)',
    );
    expect(describeService(tls())).toContain('host name verified');
  });

  it('does not label a server that said nothing "not TLS", and never stutters a none reason', () => {
    // Arrange
    const closed: ServiceIdentity = {
      kind: 'none',
      expected: 'tls',
      reason:
        'accepted the connection and closed it without a word (a middlebox, or a load balancer with no backend?)',
    };
    // Act + Assert
    expect(describeAnswer(closed)).toBe(closed.reason);
    expect(describeAnswer(closed)).not.toMatch(/not TLS/);
    expect(serviceWarnings([{ port: 443, service: closed }])).toBe(`443 open: ${closed.reason}`);
  });

  it('warns only for none, and TLS or HTTP answers with a warning', () => {
    // Arrange
    const services: ServiceIdentity[] = [
      { kind: 'ssh', banner: 'SSH-2.0-x' },
      { kind: 'smb', dialect: '3.1.1' },
      { kind: 'http', status: 200 },
      { kind: 'http', status: 502, warning: 'gateway' },
      { kind: 'none', expected: 'tls', reason: 'closed' },
      { kind: 'skipped', expected: 'tls', reason: 'no time' },
    ];
    // Act + Assert
    expect(services.map(serviceWarning)).toEqual([
      undefined,
      undefined,
      undefined,
      'gateway',
      'closed',
      undefined,
    ]);
    expect(services.map(describeAnswer)).toEqual([
      'SSH "SSH-2.0-x"',
      'SMB dialect 3.1.1',
      'HTTP 200',
      'gateway',
      'closed',
      'TLS not identified: no time',
    ]);
  });
});
