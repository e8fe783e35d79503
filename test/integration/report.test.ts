import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { reportSchema } from '../../lambdas/core/report';
import { type CheckRun, newCheckId, type ResultStore } from '../../lambdas/core/store';
import type { LocalServer } from '../../lambdas/local/server';
import { runCli } from '../support/cli';
import { startService } from '../support/service';
import { startStoreServer, type StoreServer } from '../support/store-server';
import { catalog, environment, waveFindings, waveRun } from '../unit/report/fixtures';
import { findAll, parseXml } from '../unit/report/xml';

// `GET /checks/{checkId}/report` over real HTTP against the local server and the embedded store, and
// `preflight report` against it; at the end, the whole path with `preflight serve` and a real check.

/** Stores a closed run of the example wave with its findings, under a fresh id. */
async function storeRun(
  store: ResultStore,
  options: Parameters<typeof waveFindings>[1],
  overrides: Partial<CheckRun> = {},
): Promise<CheckRun> {
  const run = waveRun({ checkId: newCheckId(), ...overrides });
  await store.createRun({ ...run, status: 'queued' });
  const findings = await waveFindings(run, options);
  await store.putFindings(run.checkId, findings);
  const { checkId: _id, environmentName: _env, trigger: _trigger, createdAt: _created, ...patch } = run;
  return store.updateRun(run.checkId, { ...patch, flowCount: findings.length });
}

let store: DynamoResultStore;
let server: LocalServer;
let noGo: CheckRun;
let go: CheckRun;
let incomplete: CheckRun;
let dir: string;

let running: StoreServer;

beforeAll(async () => {
  running = await startStoreServer({ catalog });
  ({ store, server } = running);
  await store.putEnvironment(environment);
  noGo = await storeRun(store, {
    audit: true,
    states: { '10.20.0.5:8888': 'closed', '10.20.0.16:5994': 'filtered' },
  });
  go = await storeRun(store, { audit: false, optionalOutside: true }, { environmentName: 'wave-2' });
  incomplete = await storeRun(store, { audit: false }, { environmentName: 'wave-2' });
  dir = mkdtempSync(join(tmpdir(), 'preflight-report-'));
});

afterAll(async () => {
  await running.close();
  rmSync(dir, { recursive: true, force: true });
});

async function get(path: string) {
  const res = await fetch(`${server.url}${path}`);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('GET /checks/{checkId}/report', () => {
  it('serves each format with its content type and the go/no-go in a header', async () => {
    // Act
    const replies = Object.fromEntries(
      await Promise.all(
        (['md', 'html', 'junit', 'csv', 'json'] as const).map(
          async (format) => [format, await get(`/checks/${noGo.checkId}/report?format=${format}`)] as const,
        ),
      ),
    );
    const byDefault = await get(`/checks/${noGo.checkId}/report`);

    // Assert
    expect(
      Object.fromEntries(
        Object.entries(replies).map(([f, r]) => [f, [r.status, r.headers.get('content-type')]]),
      ),
    ).toEqual({
      md: [200, 'text/markdown; charset=utf-8'],
      html: [200, 'text/html; charset=utf-8'],
      junit: [200, 'application/xml; charset=utf-8'],
      csv: [200, 'text/csv; charset=utf-8; header=present'],
      json: [200, 'application/json'],
    });
    expect(replies.json!.headers.get('x-preflight-readiness')).toBe('NO-GO');
    expect(replies.csv!.headers.get('content-disposition')).toBe(
      `inline; filename="preflight-wave-1-${noGo.checkId}.csv"`,
    );
    expect(byDefault.text).toBe(replies.md!.text);
    expect(byDefault.text).toMatch(/^# Readiness report: wave-1\n\n\*\*NO-GO: 2 required flows fail;/);

    const report = reportSchema.parse(JSON.parse(replies.json!.text));
    expect(report).toMatchObject({ checkId: noGo.checkId, readiness: { decision: 'NO-GO' } });
    // The stored environment names its profiles: a requirement shared with rivermeadow-vm is not counted there.
    expect(report.profiles.map((p) => p.id)).toEqual(['rivermeadow-os', 'custom']);

    const junit = parseXml(replies.junit!.text);
    expect(findAll(junit, 'testcase')).toHaveLength(report.flows.length + 1);
    expect(
      findAll(junit, 'failure')
        .map((f) => f.attributes.type)
        .sort(),
    ).toEqual(['NO-GO', 'blocked-aws', 'refused']);
    expect(replies.html!.text).not.toMatch(/<script/i);
    expect(replies.html!.text).toContain('@media print');
    expect(replies.csv!.text.split('\r\n').filter(Boolean)).toHaveLength(report.flows.length + 1);
  });

  it('reads every page of a large run', async () => {
    // Arrange: 230 findings, more than two pages of the store.
    const run = waveRun({ checkId: newCheckId(), environmentName: 'big-wave', status: 'running' });
    await store.createRun(run);
    const [template] = await waveFindings(run, { audit: false });
    const findings = Array.from({ length: 230 }, (_, i) => ({
      ...template!,
      flowId: `f-${i.toString(16).padStart(16, '0')}`,
    }));
    await store.putFindings(run.checkId, findings);

    // Act
    const junit = parseXml((await get(`/checks/${run.checkId}/report?format=junit`)).text);

    // Assert: the run is still running, so NO-GO, with every flow a testcase.
    const [flows, readiness] = findAll(junit, 'testsuite');
    expect(findAll(flows!, 'testcase')).toHaveLength(230);
    expect(findAll(readiness!, 'failure')[0]!.attributes.message).toMatch(
      /^INCOMPLETE: nothing required fails, but the run is still running/,
    );
  });

  it('answers a bad format with 400 naming query.format, and an unknown or malformed run clearly', async () => {
    // Act
    const badFormat = await get(`/checks/${noGo.checkId}/report?format=pdf`);
    const extra = await get(`/checks/${noGo.checkId}/report?format=md&colour=red`);
    const unknown = await get(`/checks/${newCheckId()}/report`);
    const malformed = await get('/checks/not-a-run/report?format=md');

    // Assert
    expect(badFormat.status).toBe(400);
    expect(badFormat.headers.get('content-type')).toBe('application/problem+json');
    expect(JSON.parse(badFormat.text).errors).toEqual([
      { path: 'query.format', message: '"pdf" is not one of "md", "html", "junit", "csv", "json"' },
    ]);
    expect(JSON.parse(extra.text).errors).toEqual([
      expect.objectContaining({ path: expect.stringMatching(/^query\.colour/) }),
    ]);
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text)).toMatchObject({
      status: 404,
      detail: expect.stringMatching(/^no check run [0-9A-Z]{26}$/),
      errors: [{ path: 'path.checkId', message: expect.stringContaining('no such run') }],
    });
    expect(malformed.status).toBe(400);
    expect(JSON.parse(malformed.text).errors[0].path).toBe('path.checkId');
  });

  it('is documented in the OpenAPI document with its formats and the Report schema', async () => {
    // Act
    const doc = JSON.parse((await get('/openapi.json')).text);
    // Assert
    const op = doc.paths['/checks/{checkId}/report'].get;
    expect(op.parameters.find((p: { name: string }) => p.name === 'format').schema).toMatchObject({
      enum: ['md', 'html', 'junit', 'csv', 'json'],
      default: 'md',
    });
    expect(Object.keys(op.responses['200'].content).sort()).toEqual([
      'application/json',
      'application/xml',
      'text/csv',
      'text/html',
      'text/markdown',
    ]);
    expect(doc.components.schemas.Report.properties.readiness).toBeDefined();
  });
});

describe('the change set of a stored run', () => {
  it('is computed from the findings in the store, in the JSON report and once in the Markdown of preflight report', async () => {
    // Act
    const json = await get(`/checks/${noGo.checkId}/report?format=json`);
    const md = await runCli(['report', noGo.checkId, '--api', server.url]);

    // Assert: the findings were written to and read from the embedded store, page by page.
    const { changeSet } = JSON.parse(json.text);
    expect(changeSet.awsCli).toEqual([
      expect.stringMatching(
        /^aws ec2 authorize-security-group-egress --group-id sg-0123456789abcdef0 .*10\.20\.0\.16\/32/,
      ),
      'aws ec2 create-network-acl-entry --network-acl-id acl-0a1b2c3d4e5f60718 --rule-number 140 --protocol 6 --rule-action allow --egress --cidr-block 10.20.0.40/32 --port-range From=5022,To=5023',
      'aws ec2 replace-route --route-table-id rtb-0a1b2c3d4e5f60718 --destination-cidr-block 10.20.0.32/28 --transit-gateway-id tgw-0a1b2c3d4e5f60718',
    ]);
    expect(md.stdout.match(/^## Change set$/gm)).toHaveLength(1);
    expect(md.stdout).toContain(changeSet.awsCli[1]);
  });
});

describe('preflight report', () => {
  it('prints Markdown by default and exits 0 even when NO-GO; --fail-on-no-go makes that 1', async () => {
    // Act
    const md = await runCli(['report', noGo.checkId, '--api', server.url]);
    const gated = await runCli(['report', noGo.checkId, '--api', server.url, '--fail-on-no-go']);
    const passing = await runCli(['report', go.checkId, '--api', server.url, '--fail-on-no-go']);
    const notVerified = await runCli(['report', incomplete.checkId, '--api', server.url, '--fail-on-no-go']);
    const accepted = await runCli([
      'report',
      incomplete.checkId,
      '--api',
      server.url,
      '--fail-on-no-go',
      '--accept-incomplete',
    ]);

    // Assert
    expect(md.code).toBe(0);
    expect(md.stdout).toBe((await get(`/checks/${noGo.checkId}/report?format=md`)).text);
    expect(gated.code).toBe(1);
    expect(passing.code).toBe(0);
    expect(passing.stdout).toMatch(/^# Readiness report: wave-2\n\n\*\*GO: /);
    expect(notVerified.code).toBe(1);
    expect(notVerified.stdout).toMatch(/^# Readiness report: wave-2\n\n\*\*INCOMPLETE: /);
    expect(accepted.code).toBe(0);
  });

  it('writes JUnit to --output, says the go/no-go on stderr, and renders what the API renders', async () => {
    // Arrange
    const file = join(dir, 'preflight.xml');

    // Act
    const r = await runCli([
      'report',
      noGo.checkId,
      '--format',
      'junit',
      '--output',
      file,
      '--api',
      server.url,
    ]);

    // Assert
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^NO-GO: 2 required flows fail.*\nreport written to .*preflight\.xml \(junit\)\n$/,
    );
    const written = readFileSync(file, 'utf8');
    expect(written).toBe((await get(`/checks/${noGo.checkId}/report?format=junit`)).text);
    expect(findAll(parseXml(written), 'failure')).toHaveLength(3);
  });

  it('explains an unknown run, a bad run id and a bad format, exit 2', async () => {
    // Arrange
    const missing = newCheckId();

    // Act
    const unknown = await runCli(['report', missing, '--api', server.url]);
    const badId = await runCli(['report', 'latest', '--api', server.url]);
    const badFormat = await runCli(['report', noGo.checkId, '--format', 'pdf', '--api', server.url]);
    const none = await runCli(['report', '--api', server.url]);

    // Assert
    expect(unknown).toEqual({
      code: 2,
      stdout: '',
      stderr: `preflight report: no check run ${missing} in the service at ${server.url}: list the runs with \`preflight history --environment NAME\`\n`,
    });
    expect(badId.code).toBe(2);
    expect(badId.stderr).toMatch(/^preflight report: RUN_ID: "latest" is not a check id/);
    expect(badFormat.code).toBe(2);
    expect(badFormat.stderr).toMatch(
      /^preflight report: --format: "pdf" is not a report format \(md, html, junit, csv, json\)\n/,
    );
    expect(none.stderr).toMatch(/^preflight report: RUN_ID is required/);
  });

  it('has a --help that names the formats and the gate', async () => {
    // Act
    const r = await runCli(['report', '--help']);
    // Assert
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: preflight report RUN_ID \[--format md\|html\|junit\|csv\|json\]/);
    expect(r.stdout).toContain('--fail-on-no-go');
  });
});

/** A loopback port nothing listens on: bound once to prove it is free, then released. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('preflight report against preflight serve, after a real check', () => {
  let listener: Server;

  beforeAll(async () => {
    listener = createServer((s) => s.on('error', () => undefined).end());
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => listener.close(resolve));
  });

  it('reports the stored run: the refused flow fails the JUnit gate, the open one passes', async () => {
    // Arrange
    const openPort = (listener.address() as { port: number }).port;
    const refusedPort = await closedPort();
    const file = join(dir, 'loop.yaml');
    writeFileSync(
      file,
      'name: report-loop\nvantages: [{ name: here, roles: [target-worker] }]\nflows:\n' +
        `  - { name: web, to: [127.0.0.1], ports: "${openPort}" }\n` +
        `  - { name: down, to: [127.0.0.1], ports: "${refusedPort}" }\n`,
    );
    const service = await startService(join(dir, 'data'));
    try {
      const check = await runCli(['check', '--config', file, '--api', service.url, '--json']);
      const checkId: string = JSON.parse(check.stdout).checkId;

      // Act
      const junit = await runCli([
        'report',
        checkId,
        '--format',
        'junit',
        '--api',
        service.url,
        '--fail-on-no-go',
      ]);
      const html = await runCli(['report', checkId, '--format', 'html', '--api', service.url]);

      // Assert
      expect(junit.code).toBe(1);
      const root = parseXml(junit.stdout);
      const [flows] = findAll(root, 'testsuite');
      expect(findAll(flows!, 'testcase')).toHaveLength(2);
      expect(findAll(flows!, 'failure').map((f) => f.attributes.type)).toEqual(['refused']);
      expect(findAll(root, 'failure')).toHaveLength(2);
      expect(html.code).toBe(0);
      expect(html.stdout).toContain('<p class="decision no-go">NO-GO: 1 required flow fails');
      expect(html.stdout).not.toMatch(/<script/i);
    } finally {
      await service.stop();
    }
  });
});
