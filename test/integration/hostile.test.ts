// Issue 11: the local API under hostile input, over real HTTP on loopback with the embedded store. The starter
// records a queued run and probes nothing: what is tested is what the API accepts and refuses.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { defaultCatalog } from '../../lambdas/core/catalog';
import { parseEnvironmentText } from '../../lambdas/core/environment';
import type { Resolver } from '../../lambdas/core/safety';
import type { LocalServer } from '../../lambdas/local/server';
import { REPO } from '../support/cli';
import { startService } from '../support/service';
import { type QueueingStarter, startStoreServer, type StoreServer } from '../support/store-server';

const noDns: Resolver = async (name) => {
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
};

/** `count` distinct addresses in 10.0.0.0/8. */
const hosts = (count: number, third = 0) =>
  Array.from({ length: count }, (_, i) => `10.${third}.${i >> 8}.${i & 255}`);

let starter: QueueingStarter;
let server: LocalServer;

let running: StoreServer;

beforeAll(async () => {
  running = await startStoreServer({ allowedTargetCidrs: ['10.0.0.0/8', '127.0.0.0/8'], resolve: noDns });
  ({ starter, server } = running);
});
afterAll(() => running.close());

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${path}`, {
    method: path.startsWith('/environments/') ? 'PUT' : 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

const custom = (name: string, flows: Array<{ to: string[]; ports: string }>) => ({
  name,
  vantages: [{ name: 'here', roles: ['target-worker'] }],
  flows: flows.map((f, i) => ({ name: `f${i}`, ...f })),
});

describe('bounds on what one request may make the service probe (item 2)', () => {
  it('accepts a custom flow naming 1,024 ports and refuses one naming 1,025, naming the bound and the count', async () => {
    // Act
    const edge = await post('/environments/edge', custom('edge', [{ to: ['10.0.0.1'], ports: '1-1024' }]));
    const over = await post('/environments/over', custom('over', [{ to: ['10.0.0.1'], ports: '1-1025' }]));

    // Assert
    expect(edge.status).toBe(200);
    expect(over.status).toBe(400);
    expect(over.json.errors).toEqual([
      {
        path: 'flows[0].ports',
        message: expect.stringContaining('names 1025 ports, more than the 1024 a custom flow may name'),
      },
    ]);
  });

  it("refuses the issue's 4 KB scan of 250 hosts × 65,535 ports at once, and keeps answering", async () => {
    // Arrange
    const body = { environment: custom('scan', [{ to: hosts(250), ports: '1-65535' }]) };
    const before = starter.started.length;

    // Act
    const r = await post('/checks', body);
    const health = await fetch(`${server.url}/health`);

    // Assert
    expect(r.status).toBe(400);
    expect(r.json.errors[0]).toMatchObject({ path: 'environment.flows[0].ports' });
    expect(r.json.errors[0].message).toContain('names 65535 ports');
    expect(starter.started.length).toBe(before);
    expect(health.status).toBe(200);
  });

  it('accepts a run of exactly 200,000 host:port pairs and refuses 200,001, naming the bound and the count', async () => {
    // Arrange: 200 hosts × 1,000 ports, then one more pair on another host
    const edge = custom('pairs-edge', [{ to: hosts(200), ports: '2001-3000' }]);
    const over = custom('pairs-over', [
      { to: hosts(200), ports: '2001-3000' },
      { to: ['10.9.0.1'], ports: '22' },
    ]);
    const before = starter.started.length;

    // Act
    const accepted = await post('/checks', { environment: edge });
    const refused = await post('/checks', { environment: over });

    // Assert
    expect(accepted.status).toBe(202);
    expect(refused.status).toBe(422);
    expect(refused.json.errors).toEqual([
      {
        path: 'environment',
        message: expect.stringContaining('would probe 200001 host:port pairs; one run probes at most 200000'),
      },
    ]);
    expect(starter.started.length).toBe(before + 1);
  });

  it('accepts a 1,000-host PrimaryIO HDM wave', async () => {
    // Arrange: examples/hdm.yaml with 1,000 source servers
    const hdm = parseEnvironmentText(
      readFileSync(join(REPO, 'examples', 'hdm.yaml'), 'utf8'),
      defaultCatalog(),
    );
    const wave = {
      ...hdm,
      name: 'hdm-1000',
      endpoints: { ...hdm.endpoints, 'source-server': hosts(1000, 30) },
    };

    // Act
    const r = await post('/checks', { environment: wave });

    // Assert
    expect(r.status).toBe(202);
  });
});

/** A raw request to the server with exactly these headers (fetch would set Host and Origin itself). */
function rawRequest(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, method, path, headers, setHost: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('cross-site requests and DNS rebinding against the local API (item 3)', () => {
  const own = () => new URL(server.url).host;
  const check = JSON.stringify({ environment: custom('xsite', [{ to: ['10.0.0.1'], ports: '22' }]) });

  it('refuses a body sent without Content-Type (a beacon, a no-cors fetch of a Blob) with 415', async () => {
    // Arrange
    const before = starter.started.length;
    // Act
    const r = await rawRequest('POST', '/checks', { host: own() }, check);
    // Assert
    expect(r.status).toBe(415);
    expect(JSON.parse(r.body).detail).toContain('no Content-Type');
    expect(starter.started.length).toBe(before);
  });

  it("refuses a Host that is not the server's own name (DNS rebinding), on every path", async () => {
    // Act
    const api = await rawRequest('GET', '/environments', {
      host: `rebind.attacker.example:${new URL(server.url).port}`,
    });
    const page = await rawRequest('GET', '/ui/', { host: 'rebind.attacker.example' });
    const none = await rawRequest('GET', '/health', {});
    // Assert
    expect(api.status).toBe(421);
    expect(JSON.parse(api.body).detail).toContain('rebind.attacker.example');
    expect(page.status).toBe(421);
    expect(none.status).toBe(400);
  });

  it('accepts its own names: the address, localhost', async () => {
    // Act
    const byAddress = await rawRequest('GET', '/health', { host: own() });
    const byName = await rawRequest('GET', '/health', { host: `localhost:${new URL(server.url).port}` });
    // Assert
    expect(byAddress.status).toBe(200);
    expect(byName.status).toBe(200);
  });

  it('refuses a cross-origin Origin and accepts its own', async () => {
    // Arrange
    const before = starter.started.length;
    const json = { host: own(), 'content-type': 'application/json' };
    // Act
    const foreign = await rawRequest(
      'POST',
      '/checks',
      { ...json, origin: 'http://attacker.example' },
      check,
    );
    const opaque = await rawRequest('POST', '/checks', { ...json, origin: 'null' }, check);
    const same = await rawRequest('POST', '/checks', { ...json, origin: `http://${own()}` }, check);
    // Assert
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.body).type).toBe('urn:preflight:problem:cross-origin');
    expect(opaque.status).toBe(403);
    expect(same.status).toBe(202);
    expect(starter.started.length).toBe(before + 1);
  });
});

describe('deeply nested bodies (item 7)', () => {
  it('answers a body nesting 50,000 levels deep with a 400 naming the depth, and keeps serving', async () => {
    // Arrange
    const deep = `{"environment":${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
    // Act
    const r = await post('/checks', deep, { 'idempotency-key': 'deep-1' });
    const health = await fetch(`${server.url}/health`);
    // Assert
    expect(r.status).toBe(400);
    expect(r.json.detail).toBe('the body nests 50001 levels deep; a request nests at most 64');
    expect(health.status).toBe(200);
  });

  it('counts brackets inside strings as text', async () => {
    // Arrange: a string full of brackets is not nesting; the environment is then judged on its own merits
    const r = await post('/checks', { environmentName: `[{${'['.repeat(100)}` });
    // Assert
    expect(r.status).not.toBe(500);
    expect(r.json.detail).not.toContain('nests');
  });
});

describe('reports served by the API (item 10)', () => {
  it('carry nosniff, and an HTML report a policy that lets nothing run or load but its own stylesheet', async () => {
    // Arrange
    const started = await post('/checks', {
      environment: custom('report-csp', [{ to: ['10.0.0.1'], ports: '22' }]),
    });
    const { checkId } = started.json as { checkId: string };

    // Act
    const html = await fetch(`${server.url}/checks/${checkId}/report?format=html`);
    const csv = await fetch(`${server.url}/checks/${checkId}/report?format=csv`);
    const page = await html.text();

    // Assert
    expect(html.status).toBe(200);
    expect(html.headers.get('x-content-type-options')).toBe('nosniff');
    expect(csv.headers.get('x-content-type-options')).toBe('nosniff');
    const csp = html.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    const style = /<style>([\s\S]*?)<\/style>/.exec(page)?.[1] ?? '';
    const hash = createHash('sha256').update(style).digest('base64');
    expect(csp).toContain(`style-src 'sha256-${hash}'`);
  });
});

describe('serve on an address other than loopback (item 3)', () => {
  it('warns loudly, naming the address and what anyone reaching it can do', async () => {
    // Arrange
    const dir = mkdtempSync(join(tmpdir(), 'preflight-host-'));
    try {
      // Act
      const service = await startService(dir, ['--host', '0.0.0.0']);
      await service.stop();
      // Assert
      expect(service.output()).toMatch(/WARNING: --host 0\.0\.0\.0 is not loopback: anyone who can reach/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not warn on loopback', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'preflight-host-'));
    try {
      const service = await startService(dir);
      await service.stop();
      expect(service.output()).not.toContain('WARNING');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
