import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli';
import { type Service, startService } from '../support/service';

// `preflight serve` as a user runs it: its own process, the real embedded store on disk, real HTTP and
// real probes, on loopback only.

async function stop(service: Service): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => service.child.once('exit', resolve));
  service.child.kill('SIGTERM');
  return exited;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked field by field
async function json(url: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.json() };
}

let dataDir: string;
let listener: Server;
let openPort: number;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'preflight-serve-'));
  listener = createServer((s) => s.on('error', () => undefined).end());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  openPort = (listener.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((resolve) => listener.close(resolve));
  rmSync(dataDir, { recursive: true, force: true });
});

describe('preflight serve', () => {
  it('runs a check posted to its API, stops gracefully on SIGTERM and keeps the run across a restart', async () => {
    // Arrange
    const service = await startService(dataDir);
    const environment = {
      name: 'loop',
      vantages: [{ name: 'here', roles: ['target-worker'] }],
      flows: [{ name: 'web', to: ['127.0.0.1'], ports: String(openPort) }],
    };

    // Act
    const health = await json(`${service.url}/health`);
    const created = await json(`${service.url}/checks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ environment }),
    });
    let run = created.body;
    for (let i = 0; i < 200 && !['succeeded', 'failed', 'partial'].includes(run.status); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      run = (await json(`${service.url}/checks/${created.body.checkId}`)).body;
    }
    const code = await stop(service);
    const again = await startService(dataDir);
    const reread = await json(`${again.url}/checks/${created.body.checkId}`);
    const code2 = await stop(again);

    // Assert
    expect(health).toEqual({ status: 200, body: expect.objectContaining({ status: 'ok' }) });
    expect(created.status).toBe(202);
    expect(run).toMatchObject({ status: 'succeeded', environmentName: 'loop', counts: { pass: 1 } });
    expect(run.findings).toEqual([expect.objectContaining({ verdict: 'pass', ports: String(openPort) })]);
    expect(code).toBe(0);
    expect(service.output()).toContain('stopped');
    expect(reread.body).toMatchObject({ checkId: created.body.checkId, status: 'succeeded' });
    expect(code2).toBe(0);
  });
});

describe('preflight check --api and preflight history against the service', () => {
  it('runs the check in the service, waits, prints its verdicts, then lists it in the history', async () => {
    // Arrange
    const service = await startService(dataDir);
    const file = join(dataDir, 'api-env.yaml');
    writeFileSync(
      file,
      `name: via-api\nvantages: [{ name: here, roles: [target-worker] }]\nflows:\n  - { name: web, to: [127.0.0.1], ports: "${openPort}" }\n`,
    );
    try {
      // Act
      const check = await runCli(['check', '--config', file, '--api', service.url, '--json']);
      const history = await runCli(['history', '--environment', 'via-api', '--api', service.url, '--json']);
      const text = await runCli(['history', '--environment', 'via-api', '--api', service.url]);
      const flowId = JSON.parse(check.stdout).findings[0].flowId;
      const flow = await runCli([
        'history',
        '--environment',
        'via-api',
        '--flow',
        flowId,
        '--api',
        service.url,
        '--json',
      ]);

      // Assert
      expect(check.code).toBe(0);
      const run = JSON.parse(check.stdout);
      expect(run).toMatchObject({ status: 'succeeded', go: true, environmentName: 'via-api' });
      expect(history.code).toBe(0);
      expect(JSON.parse(history.stdout).items.map((r: { checkId: string }) => r.checkId)).toEqual([
        run.checkId,
      ]);
      expect(text.stdout).toMatch(
        new RegExp(
          `^CHECK +CREATED +TRIGGER +STATUS +READINESS +VERDICTS\\n${run.checkId} .* api +succeeded +GO +1 pass\\n`,
        ),
      );
      expect(JSON.parse(flow.stdout).items).toEqual([
        expect.objectContaining({ checkId: run.checkId, verdict: 'pass' }),
      ]);
    } finally {
      await stop(service);
    }
  });

  it('says clearly when the service is not running', async () => {
    // Arrange: a port that was just free, so nothing answers there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
    // Act
    const { code, stderr } = await runCli([
      'history',
      '--environment',
      'x',
      '--api',
      `http://127.0.0.1:${port}`,
    ]);
    // Assert
    expect(code).toBe(2);
    expect(stderr).toContain(
      `preflight history: cannot reach the preflight API at http://127.0.0.1:${port} (ECONNREFUSED); is \`preflight serve\` running?`,
    );
  });
});
