import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { followCheck } from '../../lambdas/cli/commands/check-api';
import type { ReadinessDecision } from '../../lambdas/core/finding/readiness';
import { ruleOf, type VerdictClass, verdictSchema } from '../../lambdas/core/finding/verdicts';
import { type CheckRun, type FindingRecord, queuedRun, type RunStatus } from '../../lambdas/core/store';
import type { LocalServer } from '../../lambdas/local/server';
import { runCli } from '../support/cli';
import { startStoreServer, type StoreServer } from '../support/store-server';
import { catalog } from '../unit/report/fixtures';
import { findAll, parseXml } from '../unit/report/xml';

// One table-driven test: for every verdict of the vocabulary, the API (GET /verdicts, the run, the runs list),
// the report in every format and `check --api` (its wait-and-print half, over real HTTP against the local server
// and the embedded store) agree on its class and on its effect on GO. Partial runs and runs without findings are
// never GO. Then a real local `check` over loopback, whose verdicts must be classified as the API says.

const EXPECTED_DECISION: Record<VerdictClass, ReadinessDecision> = {
  pass: 'GO',
  warn: 'GO',
  fail: 'NO-GO',
  'not-verified': 'INCOMPLETE',
};

let store: DynamoResultStore;
let server: LocalServer;

let running: StoreServer;

beforeAll(async () => {
  running = await startStoreServer({ catalog });
  ({ store, server } = running);
});

afterAll(() => running.close());

function finding(run: CheckRun, verdict: string, port: number): FindingRecord {
  return {
    checkId: run.checkId,
    environmentName: run.environmentName,
    flowId: `f-${port.toString(16)}`,
    createdAt: run.createdAt,
    verdict,
    cause: `the cause of ${verdict}`,
    direction: 'egress',
    source: 'vantage workers',
    destination: '10.20.0.15 (source-server)',
    protocol: 'tcp',
    ports: String(port),
    requirements: [`custom:${verdict}`],
    optional: false,
    detail: { why: 'probed live from vantage workers and audited', sourceVantage: 'workers' },
  };
}

/** Stores a closed run with the given required findings. */
async function storeRun(
  environmentName: string,
  status: RunStatus,
  verdicts: readonly string[],
): Promise<CheckRun> {
  const created = await store.createRun(queuedRun(environmentName, 'api'));
  const findings = verdicts.map((v, i) => finding(created, v, 1000 + i));
  await store.putFindings(created.checkId, findings);
  const counts: Record<string, number> = {};
  for (const f of findings) counts[f.verdict] = (counts[f.verdict] ?? 0) + 1;
  return store.updateRun(created.checkId, {
    status,
    ...(status !== 'succeeded' ? { reason: 'the probe of vantage workers failed' } : {}),
    counts,
    requiredCounts: counts,
    flowCount: findings.length,
    startedAt: created.createdAt,
    finishedAt: new Date().toISOString(),
  });
}

async function get(path: string) {
  const res = await fetch(`${server.url}${path}`);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function parseCsvHeaderAndFirstRow(text: string): Record<string, string> {
  // The flows here have plain cells (no quotes or commas), so a split is enough.
  const [header = '', first = ''] = text.split('\r\n');
  const keys = header.split(',');
  const values = first.split(',');
  return Object.fromEntries(keys.map((k, i) => [k, values[i] ?? '']));
}

/** Every answer a surface gives for one run: the decision, and the class of its only flow when it has one. */
async function surfaces(run: CheckRun) {
  const api = JSON.parse((await get(`/checks/${run.checkId}`)).text);
  const list = JSON.parse((await get(`/checks?environment=${run.environmentName}`)).text);
  const listed = list.items.find((r: CheckRun) => r.checkId === run.checkId);
  const json = await get(`/checks/${run.checkId}/report?format=json`);
  const report = JSON.parse(json.text);
  const md = (await get(`/checks/${run.checkId}/report?format=md`)).text;
  const html = (await get(`/checks/${run.checkId}/report?format=html`)).text;
  const junit = parseXml((await get(`/checks/${run.checkId}/report?format=junit`)).text);
  const csv = (await get(`/checks/${run.checkId}/report?format=csv`)).text;
  const readinessSuite = findAll(junit, 'testsuite')[1]!;
  const junitFailure = findAll(readinessSuite, 'failure')[0];

  // `check --api`: the same wait-and-print path the command takes once the service accepted the check.
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString('utf8')));
  const io = { stdout: out, stderr: new PassThrough(), env: {}, cwd: process.cwd() };
  const exit = await followCheck(server.url, run, io, true);
  const accepted = await followCheck(server.url, run, io, true, { acceptIncomplete: true });
  const checkApi = JSON.parse(text.slice(0, text.indexOf('\n}\n') + 2));

  return {
    decisions: {
      api: api.readiness.decision,
      runsList: listed.readiness.decision,
      reportJson: report.readiness.decision,
      header: json.headers.get('x-preflight-readiness'),
      markdown: /^# .*\n\n\*\*(GO|NO-GO|INCOMPLETE):/.exec(md)?.[1],
      html: /<p class="decision [a-z-]+">(GO|NO-GO|INCOMPLETE):/.exec(html)?.[1],
      junit: junitFailure === undefined ? 'GO' : junitFailure.attributes.type,
      checkApi: checkApi.readiness.decision,
    },
    exit,
    accepted,
    classes: {
      reportJson: report.flows[0]?.class,
      csv: csv.split('\r\n').length > 1 ? parseCsvHeaderAndFirstRow(csv).class : undefined,
    },
  };
}

describe('every surface reads the one verdict table and the one readiness function', () => {
  it('serves the verdict table at GET /verdicts, every verdict of the vocabulary exactly once', async () => {
    // Act
    const reply = JSON.parse((await get('/verdicts')).text);
    // Assert
    expect(reply.verdicts.map((r: { verdict: string }) => r.verdict).sort()).toEqual(
      [...verdictSchema.options].sort(),
    );
    for (const row of reply.verdicts) {
      expect(row).toEqual(ruleOf(row.verdict));
      // Only pass and warn let a run be GO.
      expect(row.blocksGo).toBe(row.class === 'fail' || row.class === 'not-verified');
    }
  });

  it.each(verdictSchema.options.map((v) => [v, ruleOf(v).class] as const))(
    'a succeeded run whose one required flow is %s (%s): every surface agrees',
    async (verdict, cls) => {
      // Arrange
      const run = await storeRun(`agree-${verdict}`, 'succeeded', [verdict]);
      const expected = EXPECTED_DECISION[cls];

      // Act
      const seen = await surfaces(run);

      // Assert
      expect(seen.decisions).toEqual({
        api: expected,
        runsList: expected,
        reportJson: expected,
        header: expected,
        markdown: expected,
        html: expected,
        junit: expected,
        checkApi: expected,
      });
      expect(seen.classes).toEqual({ reportJson: cls, csv: cls });
      expect(seen.exit).toBe(expected === 'GO' ? 0 : 1);
      expect(seen.accepted).toBe(expected === 'NO-GO' ? 1 : 0);
    },
  );

  it.each([
    ['partial', ['pass']],
    ['failed', []],
    ['succeeded', []],
  ] as const)('a %s run with findings %j is never GO on any surface', async (status, verdicts) => {
    // Arrange
    const run = await storeRun(`never-go-${status}-${verdicts.length}`, status, verdicts);

    // Act
    const seen = await surfaces(run);

    // Assert
    expect(new Set(Object.values(seen.decisions))).toEqual(new Set(['INCOMPLETE']));
    expect(seen.exit).toBe(1);
  });
});

describe('a local check classifies its verdicts as the API does', () => {
  let dir: string;
  let listener: Server;
  let openPort: number;
  let closedPort: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'preflight-agree-'));
    listener = createServer((s) => s.on('error', () => undefined).end());
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    openPort = (listener.address() as { port: number }).port;
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => listener.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives pass, refused, not-audited and not-checkable, each with the class and GO effect of GET /verdicts', async () => {
    // Arrange: one open port, one closed port, a CIDR flow (audit only) and a flow outside the VPC.
    const file = join(dir, 'agree.yaml');
    writeFileSync(
      file,
      [
        'name: agree-local',
        'profiles: [rivermeadow-os]',
        'vantages: [{ name: here, roles: [target-worker] }]',
        'endpoints:',
        "  migration-appliance: ['127.0.0.0/30']",
        "  source-server-linux: ['127.0.0.2']",
        'flows:',
        `  - { name: up, to: [127.0.0.1], ports: "${openPort}" }`,
        `  - { name: down, to: [127.0.0.1], ports: "${closedPort}" }`,
        'probe: { timeoutMs: 500 }',
      ].join('\n'),
    );
    const table = JSON.parse((await get('/verdicts')).text).verdicts as Array<{
      verdict: string;
      class: VerdictClass;
      blocksGo: boolean;
    }>;

    // Act
    const local = await runCli(['check', '--config', file, '--json']);
    const out = JSON.parse(local.stdout);

    // Assert: the local verdicts are the service's vocabulary, read through the same table.
    const verdicts = new Set<string>(out.findings.map((f: { verdict: string }) => f.verdict));
    expect(verdicts).toEqual(new Set(['pass', 'refused', 'not-audited', 'not-checkable']));
    const byVerdict = new Map(table.map((r) => [r.verdict, r]));
    const failing = out.readiness.failing.map((f: { verdict: string }) => f.verdict);
    const notVerified = out.readiness.notVerified.map((f: { verdict: string }) => f.verdict);
    for (const f of out.findings as Array<{ verdict: string; optional: boolean }>) {
      const row = byVerdict.get(f.verdict)!;
      if (f.optional || !row.blocksGo) continue;
      expect(row.class === 'fail' ? failing : notVerified).toContain(f.verdict);
    }
    expect(out.readiness.decision).toBe('NO-GO');
    expect(local.code).toBe(1);
  });
});
