// Service identification inside the probe engine and the CLI, against real servers on loopback only
// (127.0.0.1 and ::1). Their ports are ephemeral, so each test gives the engine its own port table.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceKind } from '../../lambdas/core/identify';
import { probe, type ProbeResult } from '../../lambdas/core/probe';
import { runCli } from '../support/cli';
import {
  bannerServer,
  closeAtOnceServer,
  httpServer,
  makeCertificates,
  replyServer,
  silentServer,
  smbServer,
  type TestCertificates,
  type TestServer,
  tlsServer,
} from '../support/service-servers';

let certs: TestCertificates;
let servers: TestServer[] = [];
let dir: string;

beforeAll(() => {
  certs = makeCertificates();
  dir = mkdtempSync(join(tmpdir(), 'preflight-identify-'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function started(server: Promise<TestServer>): Promise<TestServer> {
  const s = await server;
  servers.push(s);
  return s;
}

const byPort = (results: readonly ProbeResult[]) => new Map(results.map((r) => [r.port, r]));

describe('the probe engine identifies open ports of known services', () => {
  test('each kind of server gets its identification, on the port table given', async () => {
    // Arrange
    const tls = await started(tlsServer(certs.selfSigned));
    const expired = await started(tlsServer(certs.expired));
    const plain = await started(replyServer('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const web = await started(httpServer(200, { server: 'preflight-test/1.0' }));
    const proxy = await started(httpServer(502, { server: 'squid/5.7' }));
    const ssh = await started(bannerServer('SSH-2.0-OpenSSH_9.2p1\r\n'));
    const dropper = await started(closeAtOnceServer());
    const smb = await started(smbServer(0x0302));
    const other = await started(silentServer());
    const services: Record<number, ServiceKind> = {
      [tls.port]: 'tls',
      [expired.port]: 'tls',
      [plain.port]: 'tls',
      [web.port]: 'http',
      [proxy.port]: 'http',
      [ssh.port]: 'ssh',
      [dropper.port]: 'ssh',
      [smb.port]: 'smb',
    };
    const ports = [tls, expired, plain, web, proxy, ssh, dropper, smb, other].map((s) => s.port);

    // Act
    const run = await probe([{ host: '127.0.0.1', ports }], { identify: { services } });

    // Assert
    const results = byPort(run.results);
    expect(run.results.every((r) => r.state === 'open')).toBe(true);
    expect(results.get(tls.port)?.service).toMatchObject({
      kind: 'tls',
      subject: 'CN=localhost',
      selfSigned: true,
      hostnameMatch: 'not-checked',
    });
    expect(results.get(expired.port)?.service).toMatchObject({
      kind: 'tls',
      notAfter: '2020-01-02T00:00:00.000Z',
      warning: expect.stringContaining('expired'),
    });
    expect(results.get(plain.port)?.service).toMatchObject({
      kind: 'none',
      expected: 'tls',
      reason: expect.stringMatching(/^not TLS/),
    });
    expect(results.get(web.port)?.service).toEqual({
      kind: 'http',
      status: 200,
      server: 'preflight-test/1.0',
    });
    expect(results.get(proxy.port)?.service).toMatchObject({
      kind: 'http',
      status: 502,
      warning: expect.any(String),
    });
    expect(results.get(ssh.port)?.service).toEqual({ kind: 'ssh', banner: 'SSH-2.0-OpenSSH_9.2p1' });
    expect(results.get(dropper.port)?.service).toMatchObject({ kind: 'none', expected: 'ssh' });
    expect(results.get(smb.port)?.service).toEqual({ kind: 'smb', dialect: '3.0.2' });
    expect(results.get(other.port)).not.toHaveProperty('service');
  });

  test('a host name is sent as SNI and checked against the certificate', async () => {
    // Arrange
    const tls = await started(tlsServer(certs.selfSigned, '::1'));

    // Act
    const run = await probe([{ host: 'localhost', ports: [tls.port] }], {
      lookup: async () => ({ address: '::1', family: 6 }),
      identify: { services: { [tls.port]: 'tls' } },
    });

    // Assert
    expect(run.results[0]).toMatchObject({
      host: 'localhost',
      address: '::1',
      state: 'open',
      service: { kind: 'tls', hostnameMatch: 'match' },
    });
  });

  test('identify: false only connects', async () => {
    // Arrange
    const ssh = await started(bannerServer('SSH-2.0-test\r\n'));
    const target = [{ host: '127.0.0.1', ports: [ssh.port] }];

    // Act
    const on = await probe(target, { identify: { services: { [ssh.port]: 'ssh' } } });
    const off = await probe(target, { identify: false });

    // Assert
    expect(on.results[0]?.service).toEqual({ kind: 'ssh', banner: 'SSH-2.0-test' });
    expect(off.results[0]).toMatchObject({ state: 'open' });
    expect(off.results[0]).not.toHaveProperty('service');
  });

  test('identification holds its socket: never more in flight than the concurrency', async () => {
    // Arrange: six silent "SSH" servers, each identification waits out 300 ms
    const silent = await Promise.all(Array.from({ length: 6 }, () => started(silentServer())));
    const services = Object.fromEntries(silent.map((s) => [s.port, 'ssh' as const]));

    // Act
    const run = await probe([{ host: '127.0.0.1', ports: silent.map((s) => s.port) }], {
      concurrency: 2,
      identify: { services, timeoutMs: 300 },
    });

    // Assert
    expect(run.stats.maxInFlight).toBe(2);
    expect(run.durationMs).toBeGreaterThanOrEqual(3 * 300 - 30);
    for (const r of run.results) {
      expect(r.service).toEqual({ kind: 'none', expected: 'ssh', reason: 'no SSH banner within 300 ms' });
    }
  });

  test('the deadline cuts identification short: the port stays open, its service skipped', async () => {
    // Arrange
    const silent = await started(silentServer());
    const began = Date.now();

    // Act
    const run = await probe([{ host: '127.0.0.1', ports: [silent.port] }], {
      budgetMs: 600,
      timeoutMs: 200, // a first connect must fit in the budget: its timeout is min(1000, timeoutMs)
      identify: { services: { [silent.port]: 'tls' }, timeoutMs: 10_000 },
    });

    // Assert
    expect(Date.now() - began).toBeLessThan(600);
    expect(run.results[0]).toMatchObject({ state: 'open', service: { kind: 'skipped', expected: 'tls' } });
  });

  test('an abort during identification returns at once with the service skipped', async () => {
    // Arrange
    const silent = await started(silentServer());
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const began = Date.now();

    // Act
    const run = await probe([{ host: '127.0.0.1', ports: [silent.port] }], {
      signal: controller.signal,
      identify: { services: { [silent.port]: 'http' }, timeoutMs: 10_000 },
    });

    // Assert
    expect(Date.now() - began).toBeLessThan(1000);
    expect(run.results[0]).toMatchObject({ state: 'open', service: { kind: 'skipped', expected: 'http' } });
  });

  test.each<[string, unknown, string]>([
    ['not an object', 'yes', 'identify: "yes" is not true, false or { services, timeoutMs }'],
    [
      'a kind that does not exist',
      { services: { 443: 'ftp' } },
      'identify.services[443]: "ftp" is not a service kind (tls, http, ssh, smb)',
    ],
    ['port 0', { services: { 0: 'tls' } }, 'identify.services["0"]: "0" is not a port (1-65535)'],
    ['a zero timeout', { timeoutMs: 0 }, 'identify.timeoutMs: 0 is out of range (1-60000)'],
  ])('rejects identify options with %s, naming the field', async (_name, identify, message) => {
    // Act
    const outcome = probe([{ host: '127.0.0.1', ports: [1] }], { identify: identify as false });

    // Assert
    await expect(outcome).rejects.toThrow(message);
  });
});

describe('preflight probe and check show the identification', () => {
  test('probe --service: the DETAIL column names the service and warns on a proxy error', async () => {
    // Arrange
    const web = await started(httpServer(200, { server: 'preflight-test/1.0' }));
    const proxy = await started(httpServer(502, { server: 'squid/5.7' }));

    // Act
    const { code, stdout } = await runCli([
      'probe',
      '--target',
      `127.0.0.1:${web.port},${proxy.port}`,
      '--service',
      `${web.port}:http`,
      '--service',
      `${proxy.port}:http`,
    ]);

    // Assert
    expect(code).toBe(0); // both ports are open: a warn does not fail the probe
    expect(stdout).toMatch(
      new RegExp(`${web.port}\\s+open\\s+\\S+ ms\\s+HTTP 200 from "preflight-test/1.0"`),
    );
    // What answered is said once: the status and the proxy's name each appear once on the line.
    const proxyLine = stdout.split('\n').find((l) => l.includes(`${proxy.port}  `))!;
    expect(proxyLine).toMatch(/warn: HTTP 502 Bad Gateway from "squid\/5.7": a proxy or gateway answered/);
    expect(proxyLine.split('502').length - 1).toBe(1);
    expect(proxyLine.split('squid/5.7').length - 1).toBe(1);
    expect(stdout).toContain('warn: the answer on 1 open port deserves a look');
  });

  test('probe --json carries the service; --no-identify leaves it out', async () => {
    // Arrange
    const ssh = await started(bannerServer('SSH-2.0-OpenSSH_9.2p1\r\n'));
    const target = `127.0.0.1:${ssh.port}`;

    // Act
    const on = await runCli(['probe', '--target', target, '--service', `${ssh.port}:ssh`, '--json']);
    const off = await runCli(['probe', '--target', target, '--no-identify', '--json']);

    // Assert
    expect(JSON.parse(on.stdout).results[0].service).toEqual({
      kind: 'ssh',
      banner: 'SSH-2.0-OpenSSH_9.2p1',
    });
    expect(JSON.parse(off.stdout).results[0]).not.toHaveProperty('service');
  });

  test.each<[string[], string]>([
    [['--service', '443'], '--service: "443" is not PORT:KIND, e.g. 8888:tls'],
    [['--service', '443:ftp'], '--service: "ftp" is not a service kind (tls, http, ssh, smb)'],
    [
      ['--service', '443:tls', '--no-identify'],
      '--service and --no-identify contradict each other; give one',
    ],
  ])('probe %j is a usage error naming the flag', async (flags, message) => {
    // Act
    const { code, stderr } = await runCli(['probe', '--target', '127.0.0.1:1', ...flags]);

    // Assert
    expect(code).toBe(2);
    expect(stderr).toContain(message);
  });

  test('check: an expired certificate is a warn with its cause, listed, and still GO', async () => {
    // Arrange
    const good = await started(tlsServer(certs.selfSigned));
    const expired = await started(tlsServer(certs.expired));
    const file = join(dir, 'warn.yaml');
    writeFileSync(
      file,
      [
        'name: loop-warn',
        'vantages: [{ name: here, roles: [target-worker] }]',
        'flows:',
        `  - { name: good, to: [127.0.0.1], ports: "${good.port}" }`,
        `  - { name: stale, to: [127.0.0.1], ports: "${expired.port}" }`,
        'probe: { timeoutMs: 500 }',
      ].join('\n'),
    );
    const flags = ['--service', `${good.port}:tls`, '--service', `${expired.port}:tls`];

    // Act
    const json = await runCli(['check', '--config', file, '--json', ...flags]);
    const text = await runCli(['check', '--config', file, ...flags]);

    // Assert
    expect(json.code).toBe(0);
    const out = JSON.parse(json.stdout);
    const flow = (name: string) =>
      out.findings.find((f: { requirements: string[] }) => f.requirements.includes(`custom:${name}`));
    expect(flow('good')).toMatchObject({
      verdict: 'pass',
      services: [{ port: good.port, service: { kind: 'tls', selfSigned: true } }],
    });
    expect(flow('stale')).toMatchObject({
      verdict: 'warn',
      cause: `${expired.port} open: the certificate expired on 2020-01-02`,
      services: [{ port: expired.port, service: { kind: 'tls', notAfter: '2020-01-02T00:00:00.000Z' } }],
    });
    // Probed by IP: the certificate's name was not checked, and the table says so.
    expect(flow('good').detail.answered[0]).toContain('host name not verified (probed by IP address)');
    expect(out.readiness).toMatchObject({ decision: 'GO', counts: { pass: 1, warn: 1, fail: 0 } });
    expect(text.code).toBe(0);
    // An expired certificate is not counted as "something other than the expected service".
    expect(text.stdout).toContain('WARN: 1 flow connects, but the answer on some port deserves a look');
    expect(text.stdout).not.toContain('something other than the expected service');
    expect(text.stdout).toContain(`${expired.port}/tcp: ${expired.port} open: the certificate expired`);
    expect(text.stdout).toContain('\n1 warning, 1 pass\n');
    expect(text.stdout).toContain(
      'GO: every required flow was verified live and passes (1 pass, 1 warn, 0 fail)',
    );
  });

  test('check --api refuses the local identification flags', async () => {
    // Arrange
    const file = join(dir, 'api.yaml');
    writeFileSync(
      file,
      'name: loop-api\nvantages: [{ name: here, roles: [target-worker] }]\nflows: [{ name: a, to: [127.0.0.1], ports: "1" }]\n',
    );

    // Act
    const { code, stderr } = await runCli([
      'check',
      '--config',
      file,
      '--api',
      'http://127.0.0.1:9',
      '--no-identify',
    ]);

    // Assert
    expect(code).toBe(2);
    expect(stderr).toContain('--service and --no-identify apply to local checks');
  });
});
