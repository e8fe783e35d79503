// Issue 11 item 5: `preflight serve` on a damaged, busy or unusable data folder, and on a port in use. A data
// folder with a run and its findings is made once; each test damages its own copy.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { startDynalite } from '../../lambdas/aws/dynalite';
import { type FindingRecord, queuedRun } from '../../lambdas/core/store';
import { runCliProcess } from '../support/cli';
import { startService } from '../support/service';

let root: string;
let pristine: string;
let checkId: string;

/** A copy of the pristine data folder, damaged by `damage` (given the LevelDB folder). */
function damagedCopy(name: string, damage: (storeDir: string) => void): string {
  const dir = join(root, name);
  cpSync(pristine, dir, { recursive: true });
  damage(join(dir, 'store'));
  return dir;
}

const tableFile = (storeDir: string) => {
  const file = readdirSync(storeDir).find((f) => f.endsWith('.ldb'));
  if (!file) throw new Error(`no table file in ${storeDir}`);
  return join(storeDir, file);
};

/** One clear line on stderr, no stack trace. */
function expectOneLine(stderr: string, ...parts: string[]) {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  for (const part of parts) expect(lines[0]).toContain(part);
  expect(stderr).not.toMatch(/\n\s+at /);
}

beforeAll(async () => {
  // Arrange: a run and 300 findings, written, closed and opened again (LevelDB then holds them in a table file)
  root = mkdtempSync(join(tmpdir(), 'preflight-damaged-'));
  pristine = join(root, 'pristine');
  const db = await startDynalite({ path: join(pristine, 'store') });
  const store = new DynamoResultStore(db.client, { tableName: db.tableName });
  const run = await store.createRun(queuedRun('env-a', 'api', new Date()));
  checkId = run.checkId;
  const findings: FindingRecord[] = Array.from({ length: 300 }, (_, i) => ({
    checkId,
    environmentName: 'env-a',
    createdAt: run.createdAt,
    flowId: `f-${String(i).padStart(16, '0')}`,
    verdict: 'pass',
    cause: 'connected '.repeat(20),
    direction: 'egress',
    source: 'vantage here',
    destination: '10.0.0.1',
    protocol: 'tcp',
    ports: String(i + 1),
    requirements: ['custom:x'],
    optional: false,
  }));
  await store.putFindings(checkId, findings);
  await db.close();
  await (await startDynalite({ path: join(pristine, 'store') })).close();
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('a damaged data folder', () => {
  it('answers the damaged run with a 5xx problem and keeps serving everything else', async () => {
    // Arrange: garble bytes through the items of the table file
    const dir = damagedCopy('garbled', (storeDir) => {
      const file = tableFile(storeDir);
      const bytes = readFileSync(file);
      // The items sort first in the file; the table's own definition, its index and footer come last and stay
      // intact (with them damaged the service refuses to start, as the next tests show).
      for (let i = 1000; i < bytes.length * 0.6; i += 500) bytes[i] = (bytes[i] ?? 0) ^ 0xff;
      writeFileSync(file, bytes);
    });
    const service = await startService(dir);
    try {
      // Act: every read that touches the run (which blocks are hit depends on how the data compressed)
      const reads = [
        `/checks/${checkId}`,
        `/checks/${checkId}?limit=100`,
        '/checks?environment=env-a',
        '/checks?environment=env-a&status=queued',
        `/environments/env-a/flows/f-${'0'.repeat(16)}/history`,
      ];
      const answers: Array<{ path: string; status: number; type?: string }> = [];
      for (const path of reads) {
        const r = await fetch(`${service.url}${path}`);
        const body = (await r.json()) as { type?: string };
        answers.push({ path, status: r.status, ...(r.status >= 500 ? { type: body.type } : {}) });
      }
      const health = await fetch(`${service.url}/health`);
      const profiles = await fetch(`${service.url}/profiles`);

      // Assert: the damage is answered as a 5xx problem for the requests that hit it, and only for them
      const failed = answers.filter((a) => a.status >= 500);
      expect(failed.length).toBeGreaterThan(0);
      // 503 when the store could not read the block; 500 when a garbled block still decoded into a record that
      // is not one (which parts survive depends on how the data compressed): a problem either way
      for (const a of failed) {
        expect([503, 500]).toContain(a.status);
        expect(a.type).toMatch(/^urn:preflight:problem:(store-unavailable|internal)$/);
      }
      expect(health.status).toBe(200);
      expect(profiles.status).toBe(200);
      expect(service.child.exitCode).toBeNull();
    } finally {
      await service.stop();
    }
  });

  it.each([
    ['a garbage CURRENT', (storeDir: string) => writeFileSync(join(storeDir, 'CURRENT'), 'not-a-manifest\n')],
    ['a missing table file', (storeDir: string) => unlinkSync(tableFile(storeDir))],
  ])('with %s: one line naming the folder and what to do, exit 2', (name, damage) => {
    // Arrange
    const dir = damagedCopy(name.replace(/\W+/g, '-'), damage);
    // Act
    const r = runCliProcess(['serve', '--port', '0', '--data', dir]);
    // Assert
    expect(r.code).toBe(2);
    expectOneLine(r.stderr, join(dir, 'store'), 'damaged', 'move it aside');
  });
});

describe('a folder or port already in use', () => {
  it('refuses a second start on the same data folder in one line, exit 2', async () => {
    // Arrange
    const dir = join(root, 'busy');
    const first = await startService(dir);
    try {
      // Act
      const second = runCliProcess(['serve', '--port', '0', '--data', dir]);
      // Assert
      expect(second.code).toBe(2);
      expectOneLine(second.stderr, join(dir, 'store'), 'in use by another preflight process');
      expect((await fetch(`${first.url}/health`)).status).toBe(200);
    } finally {
      await first.stop();
    }
  });

  it('refuses a port in use in one line naming it, exit 2, and does not hang', async () => {
    // Arrange
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      // Act (runCliProcess gives up after 60 s: a hang fails the test)
      const r = runCliProcess(['serve', '--port', String(port), '--data', join(root, 'port')]);
      // Assert
      expect(r.code).toBe(2);
      expectOneLine(r.stderr, `port ${port}`, 'already in use', '--port');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
