// Issue 11 item 3 in a real browser: a page of another origin (a server of the test's own on 127.0.0.2) tries
// to start runs in `preflight serve` the ways a web page can without CORS (no-cors fetch, sendBeacon, with and
// without a body type). None may start a run; the same check through the API with JSON from the CLI does.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { type Service, startService } from '../support/service';

const CHROMIUM = '/usr/bin/chromium';
const ENV = 'cross-site';

let dataDir: string;
let service: Service;
let attacker: Server;
let attackerUrl: string;
let browser: Browser;

/** The attacker's page: every request a page may send to another origin without a CORS preflight. */
function attackPage(api: string): string {
  const body = JSON.stringify({
    environment: {
      name: ENV,
      vantages: [{ name: 'here', roles: ['target-worker'] }],
      flows: [{ name: 'lan', to: ['127.0.0.1'], ports: '9' }],
      probe: { timeoutMs: 200, retries: 0 },
    },
  });
  return `<!doctype html><title>attacker</title><script>
const api = ${JSON.stringify(api)};
const body = ${JSON.stringify(body)};
window.attack = Promise.allSettled([
  fetch(api + '/checks', { method: 'POST', mode: 'no-cors', body: new Blob([body]) }),
  fetch(api + '/checks', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body }),
  fetch(api + '/checks', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'application/json' }, body }),
  Promise.resolve(navigator.sendBeacon(api + '/checks', new Blob([body]))),
  Promise.resolve(navigator.sendBeacon(api + '/checks', body)),
]).then((all) => all.map((r) => r.status));
</script>`;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'preflight-cross-site-'));
  service = await startService(dataDir);
  const seen: string[] = [];
  attacker = createServer((req, res) => {
    seen.push(String(req.url));
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(attackPage(service.url));
  });
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.2', resolve));
  attackerUrl = `http://127.0.0.2:${(attacker.address() as AddressInfo).port}/`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await service?.stop();
  await new Promise((resolve) => attacker?.close(resolve));
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a page of another origin against the local API', () => {
  it('cannot start a run, whatever request it sends', async () => {
    // Arrange
    const page = await browser.newPage();
    // Act: load the page, let its requests go out, and give the service time to have started a run
    await page.goto(attackerUrl);
    await page.evaluate('window.attack');
    await new Promise((resolve) => setTimeout(resolve, 500));

    // Assert
    const runs = (await (await fetch(`${service.url}/checks?environment=${ENV}`)).json()) as {
      items: unknown[];
    };
    expect(runs.items).toEqual([]);
    await page.close();
  });
});
