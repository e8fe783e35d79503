import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { DEFAULT_DASHBOARD_DIR } from '../../lambdas/local/server';
import { REPO } from '../support/cli';
import { type Service, startService } from '../support/service';

// The dashboard in a real browser (Debian's headless Chromium driven by playwright-core) against `preflight
// serve` as `npm start` runs it: the CLI bundle, the embedded store on disk, real probes on loopback only, and
// the example AWS exports as the inventory, so that a failing flow comes with a remediation.

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(REPO, 'test-artifacts');
const ENV = 'dash-demo';

let dataDir: string;
let listener: Server;
let openPort: number;
let closedPort: number;
/** Listens during the first run only: its flow passes, then is refused. */
let flipping: Server;
let flipPort: number;
let service: Service;

/** A port that was free a moment ago: nothing listens there, so a connection is refused. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** A raw HTTP request: the path goes out exactly as written (fetch would normalise `..` away). */
function raw(
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { hostname, port } = new URL(service.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked field by field
async function json(path: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(`${service.url}${path}`, init);
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'preflight-dashboard-'));
  listener = createServer((s) => s.on('error', () => undefined).end());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  openPort = (listener.address() as { port: number }).port;
  closedPort = await freePort();
  flipping = createServer((s) => s.on('error', () => undefined).end());
  await new Promise<void>((resolve) => flipping.listen(0, '127.0.0.1', resolve));
  flipPort = (flipping.address() as { port: number }).port;
  service = await startService(dataDir, ['--inventory', join(REPO, 'examples', 'aws-wave-1')]);
});

afterAll(async () => {
  await service?.stop();
  await new Promise((resolve) => listener.close(resolve));
  if (flipping.listening) await new Promise((resolve) => flipping.close(resolve));
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the dashboard files', () => {
  it('are found from the sources, beside the local server', () => {
    expect(DEFAULT_DASHBOARD_DIR).toBe(join(REPO, 'lambdas', 'local', 'dashboard'));
    expect(existsSync(join(DEFAULT_DASHBOARD_DIR, 'index.html'))).toBe(true);
  });

  it('are served at /ui/ with their content types, revalidation and a strict policy; / redirects there', async () => {
    // Act
    const root = await raw('GET', '/');
    const page = await raw('GET', '/ui/');
    const script = await raw('GET', '/ui/app.js');
    const style = await raw('GET', '/ui/style.css');
    const head = await raw('HEAD', '/ui/style.css');
    const again = await raw('GET', '/ui/style.css', { 'if-none-match': String(style.headers.etag) });

    // Assert
    expect(root.status).toBe(302);
    expect(root.headers.location).toBe('/ui/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.body).toContain('<meta name="preflight-api" content="" />');
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.body).toContain("from './api.js'");
    expect(style.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(style.headers['x-content-type-options']).toBe('nosniff');
    expect(style.headers.etag).toMatch(/^"[\w-]+"$/);
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(style.body)));
    expect(head.body).toBe('');
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
  });

  it.each([
    '/ui/../package.json',
    '/ui/%2e%2e/package.json',
    '/ui/..%2fpackage.json',
    '/ui/%2e%2e%2fpackage.json',
    '/ui/%2E%2E%5Cpackage.json',
    '/ui/..%5c..%5cpackage.json',
    '/ui/%252e%252e%252fpackage.json',
    '/ui//etc/passwd',
    '/ui/../lambdas/local/server.ts',
    '/ui/.%2e/.%2e/package.json',
  ])('refuses %s with a 404 (no file outside the dashboard folder is reachable)', async (path) => {
    // Act
    const res = await raw('GET', path);
    // Assert
    expect(res.status).toBe(404);
    expect(res.body).not.toContain('"devDependencies"');
    expect(res.body).not.toContain('root:');
    expect(res.body).not.toContain('startLocalServer');
  });

  it('answers only GET and HEAD, and leaves the API at its paths', async () => {
    // Act
    const post = await raw('POST', '/ui/');
    const del = await raw('DELETE', '/');
    const missing = await raw('GET', '/ui/nothing.js');
    const health = await json('/health');
    const openapi = await raw('GET', '/openapi.json');
    const unknown = await raw('GET', '/environments/nope');

    // Assert
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect(del.status).toBe(405);
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toBe('application/problem+json');
    expect(health).toEqual({ status: 200, body: expect.objectContaining({ status: 'ok' }) });
    expect(openapi.status).toBe(200);
    expect(JSON.parse(openapi.body).paths).toHaveProperty(['/checks/{checkId}']);
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ type: 'urn:preflight:problem:not-found' });
  });
});

describe('the dashboard in Chromium', () => {
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    // A script error or a refused resource (the page's content security policy) fails the test.
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/\/report\?format=/.test(msg.text())) problems.push(msg.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('shows the environment, runs a check, shows the failing flow with its cause and fix, and its history', async () => {
    // Arrange: a stored environment whose vantage is the example export's (its Security Group allows none of
    // the ports), one flow to a listener, one to a closed port, and one whose listener stops after a first run
    // made through the API.
    const environment = {
      // Markup in the data must show as text, never become elements.
      description: 'Loopback flows <b>for</b> the dashboard <img src=x> test',
      vantages: [
        {
          name: 'here',
          roles: ['target-worker'],
          subnetIds: ['subnet-0123456789abcdef0'],
          securityGroupIds: ['sg-0123456789abcdef0'],
        },
      ],
      flows: [
        { name: 'web', to: ['127.0.0.1'], ports: String(openPort) },
        { name: 'db', to: ['127.0.0.1'], ports: String(closedPort) },
        { name: 'app', to: ['127.0.0.1'], ports: String(flipPort) },
      ],
      probe: { timeoutMs: 1000 },
    };
    const put = await json(`/environments/${ENV}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(environment),
    });
    expect(put.status).toBe(200);
    const first = await json('/checks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ environmentName: ENV }),
    });
    expect(first.status).toBe(202);
    for (let i = 0; i < 100; i++) {
      const run = await json(`/checks/${first.body.checkId}?limit=1`);
      if (!['queued', 'running'].includes(run.body.status)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => flipping.close(resolve));

    // Act + Assert: the home page lists the environment.
    await page.goto(`${service.url}/`);
    expect(new URL(page.url()).pathname).toBe('/ui/');
    await page.getByRole('heading', { name: 'Environments', level: 1 }).waitFor();
    const card = page.locator('.card', { hasText: ENV });
    await card.waitFor();
    await expect(card.textContent()).resolves.toContain(
      'Loopback flows <b>for</b> the dashboard <img src=x> test',
    );
    expect(await page.locator('main b, main img').count()).toBe(0);
    await card.locator('.latest [data-status="succeeded"]').waitFor();

    // The environment: one run so far; run a check now, with the keyboard.
    await card.getByRole('link', { name: ENV }).click();
    await page.getByRole('heading', { name: `Environment ${ENV}` }).waitFor();
    const rows = page.locator('.runs tbody tr');
    await rows.first().waitFor();
    expect(await rows.count()).toBe(1);
    expect(await rows.first().getAttribute('data-check-id')).toBe(first.body.checkId);
    const button = page.getByRole('button', { name: 'Run check now' });
    await button.focus();
    await page.keyboard.press('Enter');

    // The new run appears and finishes; the latest run is the new one.
    await page.locator('.runs tbody tr').nth(1).waitFor();
    const newest = page.locator('.runs tbody tr').first();
    const newId = await newest.getAttribute('data-check-id');
    expect(newId).not.toBe(first.body.checkId);
    await page.locator(`.runs tbody tr[data-check-id="${newId}"][data-status="succeeded"]`).waitFor();
    const latest = page.locator(`.latest-run .run[data-check-id="${newId}"][data-status="succeeded"]`);
    await latest.waitFor();
    await expect(page.locator('.action-note').textContent()).resolves.toBe(`Check ${newId} succeeded.`);
    await expect(button.isEnabled()).resolves.toBe(true);
    // Worst first, each count with its symbol.
    expect((await latest.locator('.run-meta').innerText()).replace(/\s+/g, ' ')).toContain(
      '3 flow(s): R 2 refused ✓ 1 pass',
    );
    // Readiness at the top of the run, as the service computed it: NO-GO, the failing flows with their next step.
    const banner = latest.locator('.readiness-banner');
    await expect(banner.getAttribute('data-readiness')).resolves.toBe('NO-GO');
    const bannerText = (await banner.innerText()).replace(/\s+/g, ' ');
    expect(bannerText).toContain('NO-GO: 2 required flows fail');
    expect(bannerText).toContain('Required flows that fail (2)');
    expect(bannerText).toContain(`vantage here → 127.0.0.1 tcp/${closedPort} (refused)`);
    // In the runs list too; the status badge is the run's state in a neutral tone, not a success colour.
    await expect(
      page.locator(`.runs tbody tr[data-check-id="${newId}"] [data-readiness]`).textContent(),
    ).resolves.toContain('NO-GO');
    await expect(
      page.locator(`.runs tbody tr[data-check-id="${newId}"] .badge.status`).getAttribute('class'),
    ).resolves.toBe('badge status tone-neutral');

    // The run's change set, from its report: every fix merged, the AWS CLI commands in order, ready to copy.
    const changeSet = latest.locator('.change-set details');
    await changeSet.waitFor();
    await changeSet.locator('summary').click();
    const changeSetText = (await changeSet.innerText()).replace(/\s+/g, ' ');
    expect(changeSetText).toMatch(/Change set: \d+ change\(s\) in AWS/);
    expect(changeSetText).toContain('AWS CLI, in this order');
    expect(changeSetText).toContain(
      'aws ec2 authorize-security-group-egress --group-id sg-0123456789abcdef0',
    );
    expect(changeSetText).toContain('CloudFormation');
    await expect(
      changeSet.getByRole('button', { name: 'Copy AWS CLI, in this order' }).isVisible(),
    ).resolves.toBe(true);

    // The matrix: one row (vantage here → 127.0.0.1), one column per port, the symbol in each cell.
    const cells = latest.locator('table.matrix button.cell');
    expect(await cells.count()).toBe(3);
    await expect(latest.locator('table.matrix th[scope="row"]').allTextContents()).resolves.toEqual([
      'vantage here → 127.0.0.1',
    ]);
    const failing = latest.locator(`table.matrix button.cell[aria-label$="tcp ${closedPort}: refused"]`);
    await expect(failing.textContent()).resolves.toBe('R');
    await expect(failing.getAttribute('aria-label')).resolves.toBe(
      `vantage here → 127.0.0.1, tcp ${closedPort}: refused`,
    );
    await expect(latest.locator('table.matrix button.cell[data-verdict="pass"]').textContent()).resolves.toBe(
      '✓',
    );

    // Open the failing flow from the matrix: its cause and its remediation are visible.
    await failing.click();
    const finding = latest.locator('details.finding[open]');
    await finding.waitFor();
    const text = (await finding.innerText()).replace(/\s+/g, ' ');
    expect(text).toContain(`vantage here → 127.0.0.1 tcp ${closedPort}`);
    expect(text).toContain(
      `${closedPort} closed (ECONNREFUSED): refused: the host was reached but nothing listens there`,
    );
    expect(text).toContain('Remediation');
    expect(text).toContain('aws ec2 authorize-security-group-egress --group-id sg-0123456789abcdef0');
    expect(text).toContain('On-premises firewall request');
    await expect(finding.locator('pre').first().isVisible()).resolves.toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-run.png'), fullPage: true });

    // The failing flow's history: refused in both runs.
    await finding.getByRole('link', { name: 'History of this flow' }).click();
    await page.getByRole('heading', { name: 'Verdict over time' }).waitFor();
    await expect(page.locator('svg.chart').getAttribute('aria-label')).resolves.toBe(
      'Verdict of this flow over 2 run(s): now refused; verdicts seen: refused',
    );
    await page.goBack();

    // The flow whose listener stopped is listed as changed; its history charts pass, then refused.
    const changed = page.locator('.latest-run .changes li');
    await changed.first().waitFor();
    expect(await changed.count()).toBe(1);
    expect((await changed.innerText()).replace(/\s+/g, ' ')).toBe(
      `vantage here → 127.0.0.1 tcp ${flipPort}: ✓ pass → R refused`,
    );
    await changed.getByRole('link').click();
    await page.getByRole('heading', { name: 'Verdict over time' }).waitFor();
    const chart = page.locator('svg.chart');
    await expect(chart.isVisible()).resolves.toBe(true);
    const points = chart.locator('a.point');
    expect(await points.count()).toBe(2);
    expect(await points.evaluateAll((els) => els.map((e) => e.getAttribute('data-verdict')))).toEqual([
      'pass',
      'refused',
    ]);
    await expect(chart.locator('.lane-label').allTextContents()).resolves.toEqual(['✓  pass', 'R  refused']);
    await expect(chart.getAttribute('aria-label')).resolves.toBe(
      'Verdict of this flow over 2 run(s): now refused; verdicts seen: pass, refused',
    );
    const historyRows = page.locator('table.history tbody tr');
    expect(await historyRows.count()).toBe(2);
    await expect(historyRows.first().innerText()).resolves.toContain(newId as string);
    await expect(historyRows.nth(1).innerText()).resolves.toContain('every port accepted a connection');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-history.png'), fullPage: true });

    // A point opens its run.
    await points.first().click();
    await page.getByRole('heading', { name: `Check ${first.body.checkId}` }).waitFor();

    // The verdict table is the API's (GET /verdicts), not a copy: every verdict shows the API's symbol, label
    // and next step. A verdict the table does not know (a newer service) shows neutral, as its own text.
    // (Source text, so that the test's compiler leaves the browser's dynamic import alone.)
    const table = (await json('/verdicts')).body.verdicts as Array<Record<string, unknown>>;
    const shown = await page.evaluate(
      `import('/ui/verdicts.js').then((m) => ${JSON.stringify(table.map((r) => r.verdict))}.map(m.verdictInfo))`,
    );
    expect(shown).toEqual(table.map((r) => expect.objectContaining(r)));
    const unknown = await page.evaluate("import('/ui/verdicts.js').then((m) => m.verdictInfo('brand-new'))");
    expect(unknown).toMatchObject({
      tone: 'neutral',
      symbol: '?',
      label: 'brand-new',
      class: 'not-verified',
    });
    // What answered on a port: the service's own words (detail.answered), never re-worded in the browser.
    const answered = await page.evaluate(
      `import('/ui/verdicts.js').then((m) => [
        m.answeredText({ detail: { answered: ['443: TLS TLSv1.3, subject CN=app: the certificate expired on 2020-01-01'] } }),
        m.answeredText({ services: [{ port: 9, service: { kind: 'gopher' } }] }),
      ])`,
    );
    expect(answered).toEqual([
      '443: TLS TLSv1.3, subject CN=app: the certificate expired on 2020-01-01',
      '9: gopher',
    ]);

    expect(problems).toEqual([]);
  });
});
