import { defaultCatalog } from '../../../lambdas/core/catalog';
import { parseEnvironment } from '../../../lambdas/core/environment';
import { type Flow, plan } from '../../../lambdas/core/plan';
import type { ProbeResult } from '../../../lambdas/core/probe';
import { indexResults, judgeLive } from '../../../lambdas/core/finding/live';

const catalog = defaultCatalog();

function flowsOf(raw: Record<string, unknown>): readonly Flow[] {
  return plan(
    parseEnvironment({ name: 'v', vantages: [{ name: 'w', roles: ['target-worker'] }], ...raw }, catalog),
    catalog,
  ).flows;
}

const result = (port: number, state: ProbeResult['state'], code?: string): ProbeResult => ({
  host: '10.0.0.1',
  port,
  state,
  latencyMs: state === 'skipped' ? null : 1,
  attempts: 1,
  ...(code ? { code } : {}),
});

describe('judgeLive', () => {
  const [flow] = flowsOf({ flows: [{ name: 'app', to: ['10.0.0.1'], ports: '8000-8003' }] });

  it('passes a flow whose every port is open', () => {
    // Act
    const outcome = judgeLive(flow!, indexResults([8000, 8001, 8002, 8003].map((p) => result(p, 'open'))));
    // Assert
    expect(outcome).toEqual({
      flowId: flow!.id,
      outcome: 'connected',
      cause: 'every port accepted a connection',
      ports: { open: '8000-8003' },
    });
  });

  it('fails with one cause per state, naming the ports and codes', () => {
    // Arrange
    const results = [
      result(8000, 'open'),
      result(8001, 'closed', 'ECONNREFUSED'),
      result(8002, 'filtered'),
      result(8003, 'unreachable', 'EHOSTUNREACH'),
    ];
    // Act
    const outcome = judgeLive(flow!, indexResults(results));
    // Assert
    expect(outcome.outcome).toBe('failed');
    expect(outcome.ports).toEqual({ open: '8000', closed: '8001', filtered: '8002', unreachable: '8003' });
    expect(outcome.cause).toBe(
      '8001 closed (ECONNREFUSED): refused: the host was reached but nothing listens there (is the service running?); ' +
        '8002 filtered: no answer: a firewall, Security Group, network ACL, route or VPN drops it; ' +
        '8003 unreachable (EHOSTUNREACH): host or network unreachable (ICMP): a missing route, or a firewall rejecting it',
    );
  });

  it('calls a flow skipped when the rest is open but some ports were never probed', () => {
    // Act
    const outcome = judgeLive(flow!, indexResults([result(8000, 'open'), result(8001, 'skipped')]));
    // Assert
    expect(outcome).toMatchObject({ outcome: 'unprobed', ports: { open: '8000', skipped: '8001-8003' } });
  });

  it('warns when every port is open but one was answered by something else, naming the port and why', () => {
    // Arrange
    const results = [8000, 8001, 8002, 8003].map((p) => result(p, 'open'));
    results[1] = { ...results[1]!, service: { kind: 'http', status: 200, server: 'nginx' } };
    results[2] = {
      ...results[2]!,
      service: { kind: 'http', status: 502, server: 'squid', warning: 'HTTP 502 Bad Gateway from "squid"' },
    };
    // Act
    const outcome = judgeLive(flow!, indexResults(results));
    // Assert
    expect(outcome).toEqual({
      flowId: flow!.id,
      outcome: 'warned',
      cause: '8002 open: HTTP 502 Bad Gateway from "squid"',
      ports: { open: '8000-8003' },
      services: [
        { port: 8001, service: { kind: 'http', status: 200, server: 'nginx' } },
        { port: 8002, service: results[2]!.service },
      ],
    });
  });

  it('passes with the services when every identification is fine, and a skipped identification does not warn', () => {
    // Arrange
    const results = [8000, 8001, 8002, 8003].map((p) => result(p, 'open'));
    results[0] = { ...results[0]!, service: { kind: 'ssh', banner: 'SSH-2.0-x' } };
    results[3] = { ...results[3]!, service: { kind: 'skipped', expected: 'tls', reason: 'no time' } };
    // Act
    const outcome = judgeLive(flow!, indexResults(results));
    // Assert
    expect(outcome.outcome).toBe('connected');
    expect(outcome.services?.map((s) => s.port)).toEqual([8000, 8003]);
  });

  it('keeps fail when a port failed, and adds the warning after the failure', () => {
    // Arrange
    const results = [
      {
        ...result(8000, 'open'),
        service: { kind: 'none', expected: 'tls', reason: 'closed at once' },
      } as const,
      result(8001, 'closed', 'ECONNREFUSED'),
      result(8002, 'open'),
      result(8003, 'open'),
    ];
    // Act
    const outcome = judgeLive(flow!, indexResults(results));
    // Assert
    expect(outcome.outcome).toBe('failed');
    expect(outcome.cause).toMatch(/^8001 closed \(ECONNREFUSED\): .*; 8000 open: closed at once$/);
  });
});
