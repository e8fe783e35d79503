import { request as httpRequest } from 'node:http';
import type { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { defaultCatalog } from '../../lambdas/core/catalog';
import type { Resolver } from '../../lambdas/core/safety';
import { type CheckRun, type FindingRecord, newCheckId, NotFoundError } from '../../lambdas/core/store';
import { handleRequest } from '../../lambdas/handlers/api/router';
import type { LocalServer } from '../../lambdas/local/server';
import { type QueueingStarter, startStoreServer, type StoreServer } from '../support/store-server';

/** Names resolve from this table only; the tests never touch DNS. */
const resolve: Resolver = async (name) => {
  const table: Record<string, string[]> = {
    'app01.corp.example': ['10.20.0.15'],
    'evil.example': ['10.20.0.16', '169.254.169.254'],
    'zero.example': ['0.0.0.0'],
  };
  const found = table[name];
  if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  return found;
};

function environment(name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    profiles: ['rivermeadow-os'],
    vantages: [
      {
        name: 'workers',
        roles: ['target-worker'],
        subnetIds: ['subnet-0123456789abcdef0'],
        securityGroupIds: ['sg-0123456789abcdef0'],
      },
    ],
    endpoints: { 'source-server': ['10.20.0.15', 'app01.corp.example'] },
    ...overrides,
  };
}

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

describe('the HTTP API on the local server and embedded dynalite', () => {
  let store: DynamoResultStore;
  let starter: QueueingStarter;
  let server: LocalServer;

  async function call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Reply> {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${server.url}${path}`, init);
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  let running: StoreServer;

  beforeAll(async () => {
    running = await startStoreServer({ allowedTargetCidrs: ['10.0.0.0/8', '127.0.0.0/8'], resolve });
    ({ store, starter, server } = running);
  });

  afterAll(() => running.close());

  it('listens on loopback and answers /health', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await call('GET', '/health');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: 'ok', mode: 'local' });
  });

  it('lists the profiles and shows one with its requirements', async () => {
    // Act
    const list = await call('GET', '/profiles');
    const one = await call('GET', '/profiles/rivermeadow-os');
    const none = await call('GET', '/profiles/no-such-tool');

    // Assert
    expect(list.status).toBe(200);
    expect(list.json.items.map((p: { id: string }) => p.id)).toContain('rivermeadow-os');
    expect(one.status).toBe(200);
    expect(one.json.requirements.length).toBeGreaterThan(0);
    expect(one.json.requirements[0].ports).toMatch(/^\d/);
    expect(none.status).toBe(404);
    expect(none.headers.get('content-type')).toBe('application/problem+json');
  });

  it('creates, reads, replaces, pages and deletes environments', async () => {
    // Arrange
    const names = Array.from({ length: 7 }, (_, i) => `crud-${i}`);

    // Act
    for (const n of names) expect((await call('PUT', `/environments/${n}`, environment(n))).status).toBe(200);
    const got = await call('GET', '/environments/crud-3');
    const replaced = await call('PUT', '/environments/crud-3', {
      ...environment('crud-3'),
      description: 'v2',
      flows: [{ name: 'db', to: ['10.20.0.40'], ports: '5023, 1433,5022' }],
    });
    const reread = await call('GET', '/environments/crud-3');
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await call(
        'GET',
        `/environments?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(page.status).toBe(200);
      expect(page.json.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.json.items.map((e: { name: string }) => e.name));
      cursor = page.json.nextCursor;
      pages++;
    } while (cursor !== undefined);
    const deleted = await call('DELETE', '/environments/crud-6');
    const gone = await call('GET', '/environments/crud-6');
    const deletedAgain = await call('DELETE', '/environments/crud-6');

    // Assert
    expect(got.json.environment.endpoints['source-server']).toEqual(['10.20.0.15', 'app01.corp.example']);
    expect(replaced.status).toBe(200);
    expect(replaced.json.environment.description).toBe('v2');
    // An environment with flows of its own stores and reads back, its ports in canonical text.
    expect(reread.json.environment.flows).toEqual([
      { name: 'db', to: ['10.20.0.40'], ports: '1433,5022-5023', protocol: 'tcp', placement: 'on-prem' },
    ]);
    expect(replaced.json.createdAt).toBe(got.json.createdAt);
    expect(seen.filter((n) => n.startsWith('crud-'))).toEqual(names);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(deleted.status).toBe(204);
    expect(gone.status).toBe(404);
    expect(deletedAgain.status).toBe(404);
  });

  it('starts a check by name and inline: 202, a Location, and the run can be read back', async () => {
    // Arrange
    await call('PUT', '/environments/checked', environment('checked'));

    // Act
    const byName = await call('POST', '/checks', { environmentName: 'checked' });
    const inline = await call('POST', '/checks', { environment: environment('inline-env') });
    const run = await call('GET', byName.headers.get('location')!);

    // Assert
    for (const r of [byName, inline]) {
      expect(r.status).toBe(202);
      expect(r.json).toEqual({ checkId: expect.any(String), status: 'queued' });
      expect(r.headers.get('location')).toBe(`/checks/${r.json.checkId}`);
    }
    expect(run.status).toBe(200);
    expect(run.json).toMatchObject({
      checkId: byName.json.checkId,
      environmentName: 'checked',
      trigger: 'api',
      status: 'queued',
      findings: [],
    });
    expect((await store.getRun(inline.json.checkId)).environmentName).toBe('inline-env');
  });

  it("pages a run's findings and a flow's history", async () => {
    // Arrange
    const started = await call('POST', '/checks', { environmentName: 'checked' });
    const run = await store.getRun(started.json.checkId);
    const findings: FindingRecord[] = Array.from({ length: 12 }, (_, i) => ({
      checkId: run.checkId,
      environmentName: run.environmentName,
      flowId: `f-${i.toString(16).padStart(8, '0')}`,
      createdAt: run.createdAt,
      verdict: 'pass',
      cause: 'every port accepted a connection',
      direction: 'egress',
      source: 'vantage workers',
      destination: '10.20.0.15 (source-server)',
      protocol: 'tcp',
      ports: '443',
      requirements: ['x'],
      optional: false,
    }));
    await store.putFindings(run.checkId, findings);

    // Act
    const first = await call('GET', `/checks/${run.checkId}?limit=5`);
    const second = await call(
      'GET',
      `/checks/${run.checkId}?limit=5&cursor=${encodeURIComponent(first.json.nextCursor)}`,
    );
    const history = await call('GET', '/environments/checked/flows/f-00000000/history');

    // Assert
    expect(first.json.findings).toHaveLength(5);
    expect(second.json.findings).toHaveLength(5);
    expect(second.json.findings[0].flowId).toBe('f-00000005');
    expect(history.status).toBe(200);
    expect(history.json.items.map((f: FindingRecord) => f.checkId)).toEqual([run.checkId]);
  });

  it('pages GET /checks?environment across many runs, newest first, and filters by status', async () => {
    // Arrange
    await call('PUT', '/environments/many', environment('many'));
    const created: string[] = [];
    for (let i = 0; i < 23; i++) {
      const r = await call('POST', '/checks', { environmentName: 'many' });
      expect(r.status).toBe(202);
      created.push(r.json.checkId);
    }

    // Act
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const q = `/checks?environment=many&limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = await call('GET', q);
      expect(page.status).toBe(200);
      seen.push(...page.json.items.map((r: CheckRun) => r.checkId));
      cursor = page.json.nextCursor;
    } while (cursor !== undefined);
    const failed = await call('GET', '/checks?environment=many&status=failed');
    const future = await call('GET', '/checks?environment=many&since=2100-01-01T00:00:00Z');

    // Assert
    expect(seen).toEqual([...created].reverse());
    expect(failed.json).toEqual({ items: [] });
    expect(future.json).toEqual({ items: [] });
  });

  it('returns the same run for a retried POST with the same Idempotency-Key', async () => {
    // Arrange
    const headers = { 'idempotency-key': 'retry-7f3c' };
    const before = starter.started.length;

    // Act
    const [a, b] = await Promise.all([
      call('POST', '/checks', { environmentName: 'checked' }, headers),
      call('POST', '/checks', { environmentName: 'checked' }, headers),
    ]);
    const c = await call('POST', '/checks', { environmentName: 'checked' }, headers);
    const other = await call('POST', '/checks', { environmentName: 'many' }, headers);

    // Assert
    expect([a.status, b.status, c.status]).toEqual([202, 202, 202]);
    expect(b.json.checkId).toBe(a.json.checkId);
    expect(c.json.checkId).toBe(a.json.checkId);
    expect(starter.started.length - before).toBe(1);
    expect(other.status).toBe(409);
  });

  it('serves an OpenAPI document with every path', async () => {
    const r = await call('GET', '/openapi.json');
    expect(r.status).toBe(200);
    expect(r.json.openapi).toBe('3.1.0');
    expect(Object.keys(r.json.paths)).toEqual(
      expect.arrayContaining([
        '/health',
        '/profiles',
        '/profiles/{profileId}',
        '/environments',
        '/environments/{name}',
        '/environments/{name}/flows/{flowId}/history',
        '/checks',
        '/checks/{checkId}',
      ]),
    );
    expect(r.json.components.schemas.Environment.properties.vantages).toBeDefined();
  });

  it('answers unknown routes with 404 and wrong methods with 405 and Allow', async () => {
    const unknown = await call('GET', '/nope');
    const wrong = await call('PATCH', '/environments/checked');
    expect(unknown.status).toBe(404);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, PUT, DELETE');
    expect(wrong.headers.get('content-type')).toBe('application/problem+json');
  });

  describe('bad input: a 4xx problem+json naming the field, and nothing stored', () => {
    const big = 'x'.repeat(300 * 1024);
    const cases: Array<{
      name: string;
      method: string;
      path: string;
      body?: unknown;
      headers?: Record<string, string>;
      status: number;
      field?: string;
      message?: RegExp;
    }> = [
      {
        name: 'malformed JSON',
        method: 'PUT',
        path: '/environments/bad-env',
        body: '{"name": ',
        status: 400,
      },
      { name: 'malformed JSON to POST', method: 'POST', path: '/checks', body: '{oops}', status: 400 },
      { name: 'no body', method: 'PUT', path: '/environments/bad-env', status: 400 },
      {
        name: 'not JSON content type',
        method: 'POST',
        path: '/checks',
        body: '{"environmentName":"checked"}',
        headers: { 'content-type': 'text/plain' },
        status: 415,
      },
      { name: 'a JSON array', method: 'PUT', path: '/environments/bad-env', body: [], status: 400 },
      {
        name: 'wrong type',
        method: 'PUT',
        path: '/environments/bad-env',
        body: environment('bad-env', { profiles: 'rivermeadow-os' }),
        status: 400,
        field: 'profiles',
      },
      {
        name: 'unknown field',
        method: 'PUT',
        path: '/environments/bad-env',
        body: environment('bad-env', { colour: 'blue' }),
        status: 400,
        field: 'colour',
        message: /unknown field/,
      },
      {
        name: 'a bad nested field',
        method: 'PUT',
        path: '/environments/bad-env',
        body: environment('bad-env', {
          vantages: [{ name: 'workers', roles: ['target-worker'], securityGroupIds: ['sg-nope'] }],
        }),
        status: 400,
        field: 'vantages[0].securityGroupIds[0]',
      },
      {
        name: 'an unknown profile',
        method: 'PUT',
        path: '/environments/bad-env',
        body: environment('bad-env', { profiles: ['nmap'] }),
        status: 400,
        field: 'profiles[0]',
      },
      {
        name: 'a name that differs from the path',
        method: 'PUT',
        path: '/environments/bad-env',
        body: environment('other-env'),
        status: 400,
        field: 'name',
      },
      {
        name: 'a bad name in the path',
        method: 'PUT',
        path: '/environments/Bad_Env',
        body: environment('bad-env'),
        status: 400,
        field: 'path.name',
      },
      { name: 'oversized body', method: 'PUT', path: '/environments/bad-env', body: big, status: 413 },
      {
        name: 'hostile target 169.254.169.254',
        method: 'PUT',
        path: '/environments/bad-env',
        body: environment('bad-env', { endpoints: { 'source-server': ['10.20.0.15', '169.254.169.254'] } }),
        status: 422,
        field: 'endpoints.source-server[1]',
        message: /link-local\/instance metadata: refused/,
      },
      {
        name: 'hostile target 0.0.0.0',
        method: 'PUT',
        path: '/environments/bad-env',
        body: environment('bad-env', { endpoints: { 'source-server': ['0.0.0.0'] } }),
        status: 422,
        field: 'endpoints.source-server[0]',
      },
      {
        name: 'a host name resolving to a forbidden address',
        method: 'PUT',
        path: '/environments/bad-env',
        body: environment('bad-env', { endpoints: { 'source-server': ['evil.example'] } }),
        status: 422,
        field: 'endpoints.source-server[0]',
        message: /resolves to 169\.254\.169\.254/,
      },
      {
        name: 'a target outside the allowed CIDRs',
        method: 'PUT',
        path: '/environments/bad-env',
        body: environment('bad-env', {
          flows: [{ name: 'out', to: ['192.168.7.7'], ports: '5432' }],
        }),
        status: 422,
        field: 'flows[0].to[0]',
      },
      {
        name: 'an inline hostile environment',
        method: 'POST',
        path: '/checks',
        body: { environment: environment('bad-env', { endpoints: { 'source-server': ['zero.example'] } }) },
        status: 422,
        field: 'environment.endpoints.source-server[0]',
      },
      {
        name: 'an inline environment with a wrong type',
        method: 'POST',
        path: '/checks',
        body: { environment: environment('bad-env', { includeOptional: 'yes' }) },
        status: 400,
        field: 'environment.includeOptional',
      },
      {
        name: 'both environmentName and environment',
        method: 'POST',
        path: '/checks',
        body: { environmentName: 'bad-env', environment: environment('bad-env') },
        status: 400,
      },
      {
        name: 'an unknown field in POST /checks',
        method: 'POST',
        path: '/checks',
        body: { environmentName: 'checked', force: true },
        status: 400,
        field: 'force',
      },
      {
        name: 'a check of an environment that does not exist',
        method: 'POST',
        path: '/checks',
        body: { environmentName: 'bad-env' },
        status: 404,
        field: 'environmentName',
      },
      { name: 'a check that does not exist', method: 'GET', path: `/checks/${newCheckId()}`, status: 404 },
      {
        name: 'a bad check id',
        method: 'GET',
        path: '/checks/not-an-id',
        status: 400,
        field: 'path.checkId',
      },
      {
        name: 'a page too large',
        method: 'GET',
        path: '/checks?environment=many&limit=1000',
        status: 400,
        field: 'query.limit',
      },
      {
        name: 'a page size of text',
        method: 'GET',
        path: '/environments?limit=ten',
        status: 400,
        field: 'query.limit',
      },
      {
        name: 'an altered cursor',
        method: 'GET',
        path: '/environments?cursor=AAAA',
        status: 400,
        field: 'query.cursor',
      },
      {
        name: 'an unknown query parameter',
        method: 'GET',
        path: '/environments?sort=name',
        status: 400,
        field: 'query.sort',
      },
      {
        name: 'a bad time',
        method: 'GET',
        path: '/checks?environment=many&since=yesterday',
        status: 400,
        field: 'query.since',
      },
      {
        name: 'a bad status',
        method: 'GET',
        path: '/checks?environment=many&status=done',
        status: 400,
        field: 'query.status',
      },
      { name: 'no environment', method: 'GET', path: '/checks', status: 400, field: 'query.environment' },
      {
        name: 'a bad flow id',
        method: 'GET',
        path: '/environments/checked/flows/x/history',
        status: 400,
        field: 'path.flowId',
      },
      { name: 'a bad percent-encoding', method: 'GET', path: '/environments/%E0%A4%A', status: 400 },
    ];

    it.each(cases)('$name → $status', async (c) => {
      // Arrange
      const environmentsBefore = (await store.listEnvironments({ limit: 100 })).items.length;
      const callsBefore = starter.started.length;

      // Act
      const r = await call(c.method, c.path, c.body, c.headers);

      // Assert
      expect(r.status).toBe(c.status);
      expect(r.headers.get('content-type')).toBe('application/problem+json');
      expect(r.json).toMatchObject({ status: c.status, type: expect.any(String), title: expect.any(String) });
      expect(typeof r.json.detail).toBe('string');
      if (c.field !== undefined) {
        const named = (r.json.errors ?? []).filter((e: { path: string }) => e.path === c.field);
        expect(named).not.toHaveLength(0);
        if (c.message) expect(named[0].message).toMatch(c.message);
      }
      await expect(store.getEnvironment('bad-env')).rejects.toBeInstanceOf(NotFoundError);
      expect((await store.listEnvironments({ limit: 100 })).items).toHaveLength(environmentsBefore);
      expect((await store.listRuns('bad-env')).items).toEqual([]);
      expect(starter.started.length).toBe(callsBefore);
    });

    it('refuses a run whose plan has more flows than the limit, naming the limit', async () => {
      // Arrange
      const deps = {
        store,
        catalog: defaultCatalog(),
        starter,
        mode: 'aws' as const,
        allowedTargetCidrs: ['10.0.0.0/8'],
        limits: { maxFlowsPerRun: 1 },
        resolve,
      };
      const callsBefore = starter.started.length;

      // Act
      const r = await handleRequest(
        {
          method: 'POST',
          path: '/checks',
          query: {},
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ environment: environment('bad-env') }),
        },
        deps,
      );

      // Assert
      expect(r.status).toBe(422);
      expect(JSON.parse(r.body).errors[0]).toMatchObject({
        path: 'environment',
        message: expect.stringMatching(/one run checks at most 1/),
      });
      expect(starter.started.length).toBe(callsBefore);
    });

    it('refuses an oversized chunked body while it streams in', async () => {
      // Arrange
      const url = new URL('/checks', server.url);

      // Act
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(
          url,
          { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          },
        );
        req.on('error', reject);
        const chunk = 'x'.repeat(64 * 1024);
        let sent = 0;
        const pump = () => {
          while (sent < 8) {
            sent++;
            if (!req.write(chunk)) return void req.once('drain', pump);
          }
          req.end();
        };
        pump();
      });

      // Assert
      expect(status).toBe(413);
      expect(JSON.parse(body)).toMatchObject({ status: 413 });
      expect(starter.started.length).toBeGreaterThan(0);
    });
  });
});
