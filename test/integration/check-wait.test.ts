import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli';

// `preflight check --api URL --wait SECONDS` against a real HTTP server on loopback whose run never finishes (as
// a deployed run that is stuck): the command stops waiting, says where the run stands and exits 3.

const CHECK_ID = '01JDZ3V8Q4W5X6Y7Z8A9B0C1D2';
const STARTED_AT = new Date(Date.now() - 95_000).toISOString();

interface StuckService {
  readonly url: string;
  readonly requests: string[];
  close(): Promise<void>;
}

/** A service that accepts the check and then reports it `running` forever, with `findings` recorded. */
async function stuckService(findings: Array<{ verdict: string }> = []): Promise<StuckService> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'POST' && req.url === '/checks')
      return send(202, { checkId: CHECK_ID, status: 'queued' });
    if (req.method === 'GET' && req.url?.startsWith(`/checks/${CHECK_ID}?`)) {
      const limit = Number(new URL(req.url, 'http://x').searchParams.get('limit'));
      return send(200, {
        checkId: CHECK_ID,
        environmentName: 'stuck',
        trigger: 'api',
        status: 'running',
        createdAt: STARTED_AT,
        startedAt: STARTED_AT,
        counts: {},
        flowCount: 0,
        findings: findings.slice(0, limit),
      });
    }
    return send(404, { title: 'Not Found', status: 404, detail: `no route ${req.url}` });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let dir: string;
let file: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'preflight-wait-'));
  file = join(dir, 'stuck.yaml');
  writeFileSync(
    file,
    'name: stuck\nvantages: [{ name: here, roles: [target-worker] }]\nflows:\n  - { name: web, to: [127.0.0.1], ports: "443" }\n',
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('preflight check --api --wait', () => {
  it('stops waiting for a run that never finishes, says where it stands and exits 3', async () => {
    // Arrange
    const service = await stuckService();
    try {
      // Act
      const r = await runCli(['check', '--config', file, '--api', service.url, '--wait', '1']);

      // Assert
      expect(r.code).toBe(3);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(
        `preflight check: check ${CHECK_ID} of stuck is still running after waiting 1 s (--wait): running since ${STARTED_AT} (`,
      );
      expect(r.stderr).toContain('no findings recorded yet');
      expect(r.stderr).toContain(`preflight report ${CHECK_ID} --api ${service.url}`);
      expect(r.stderr).toContain(`GET ${service.url}/checks/${CHECK_ID}`);
      // It polled the run while waiting, then read where it stands.
      const polls = service.requests.filter((q) => q.startsWith(`GET /checks/${CHECK_ID}?limit=1`));
      expect(polls.length).toBeGreaterThan(1);
      expect(service.requests[0]).toBe('POST /checks');
    } finally {
      await service.close();
    }
  });

  it('gives the run as it stands and what was recorded with --json, still exiting 3 (also with --exit-zero)', async () => {
    // Arrange
    const service = await stuckService([{ verdict: 'pass' }, { verdict: 'timeout' }]);
    try {
      // Act
      const r = await runCli([
        'check',
        '--config',
        file,
        '--api',
        service.url,
        '--wait',
        '1',
        '--json',
        '--exit-zero',
      ]);

      // Assert
      expect(r.code).toBe(3);
      const out = JSON.parse(r.stdout) as Record<string, unknown>;
      expect(out).toMatchObject({
        checkId: CHECK_ID,
        status: 'running',
        go: false,
        stillOpen: { waitedSeconds: 1, findingsRecorded: 2 },
      });
      expect(r.stderr).toContain('2 findings recorded');
    } finally {
      await service.close();
    }
  });

  it('refuses a wait out of range or without --api, naming the option', async () => {
    // Act
    const zero = await runCli(['check', '--config', file, '--api', 'http://127.0.0.1:9', '--wait', '0']);
    const local = await runCli(['check', '--config', file, '--wait', '10']);

    // Assert
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('--wait: 0 is out of range (1-86400)');
    expect(local.code).toBe(2);
    expect(local.stderr).toContain('--wait applies to checks in the service (--api URL)');
  });
});
