import type { Server } from 'node:http';
import { PassThrough } from 'node:stream';
import { type RunningDynalite, startDynalite } from '../../lambdas/aws/dynalite';
import { DynamoAgentJobStore } from '../../lambdas/aws/dynamo-agent-jobs';
import { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { agentCommand } from '../../lambdas/cli/commands/agent';
import { awaitAgentJob } from '../../lambdas/core/agent/jobs';
import { defaultCatalog } from '../../lambdas/core/catalog';
import type { CheckStarter } from '../../lambdas/core/service';
import type { ApiDeps } from '../../lambdas/handlers/api/router';
import { serveRouter } from '../support/router-server';

// `preflight agent` given a job it cannot run: every target is outside the allowed target CIDRs the job carries (its
// own check before connecting, against a name that now resolves elsewhere, say). It probes nothing, tells the API
// (POST …/fail) instead of posting a page of refusals, and the run waiting for the job gets the reason at once.
// The agent runs in this process against the API's router over local HTTP with the job store on dynalite; nothing
// is contacted (refused targets are never handed to the engine).

let db: RunningDynalite;
let jobs: DynamoAgentJobStore;
let server: Server;
let url: string;

beforeAll(async () => {
  db = await startDynalite();
  jobs = new DynamoAgentJobStore(db.client, { tableName: db.tableName });
  const deps: ApiDeps = {
    store: new DynamoResultStore(db.client, { tableName: db.tableName }),
    catalog: defaultCatalog(),
    starter: {} as CheckStarter,
    mode: 'aws',
    allowedTargetCidrs: ['203.0.113.0/24'],
    agents: { jobs },
  };
  ({ server, url } = await serveRouter(deps));
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await db.close();
});

it('reports a job whose every target its policy refuses as one it cannot run; the waiting run has the reason at once', async () => {
  // Arrange
  const job = await jobs.create(
    {
      checkId: '01M8F0000000000000000000AA',
      vantage: 'dc9',
      environmentName: 'wave',
      targets: [{ host: '10.20.0.5', ports: [22, 443] }],
      probe: { timeoutMs: 500, concurrency: 4, retries: 0 },
      policy: { mode: 'aws', allowedTargetCidrs: ['203.0.113.0/24'] },
      deadline: new Date(Date.now() + 60_000).toISOString(),
    },
    new Date(),
  );
  const stderr = new PassThrough();
  let said = '';
  stderr.on('data', (d: Buffer) => (said += d.toString()));
  const waiting = awaitAgentJob(jobs, job, Date.now() + 30_000, { pollMs: 50 });
  const started = Date.now();

  // Act
  const code = await agentCommand(['--api', url, '--vantage', 'dc9', '--once'], {
    stdout: new PassThrough(),
    stderr,
    env: {},
    cwd: process.cwd(),
  });
  const waited = await waiting;

  // Assert
  expect(code).toBe(0);
  expect(said).toMatch(/refused to probe 10\.20\.0\.5/);
  expect(said).toMatch(/cannot run here .*: the run was told/);
  const closed = await jobs.get('dc9', job.jobId);
  expect(closed.status).toBe('failed');
  expect(closed.error).toMatch(/^every target is outside what this agent may probe: 10\.20\.0\.5 /);
  expect(waited).toEqual({ failed: closed.error });
  expect(Date.now() - started).toBeLessThan(20_000);
  // No page of results was posted.
  expect(closed.pages).toBe(0);
});
