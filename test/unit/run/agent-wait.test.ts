import { AGENT_RESULTS_GRACE_SECONDS, agentTaskWait } from '../../../lambdas/core/agent/jobs';
import { defaultCatalog } from '../../../lambdas/core/catalog';
import { MAX_PROBE_BUDGET_SECONDS, parseEnvironment } from '../../../lambdas/core/environment';
import { plan } from '../../../lambdas/core/plan';
import { agentShardJobs, runBudgetMs } from '../../../lambdas/core/run/sharded';

// How long a run waits for an on-prem vantage's agent: the environment's probe budget (the issue: "waits for each
// one's agent up to the environment's probe budget"), the service's when the environment gives none, and in AWS
// the callback task's heartbeat and timeout derived from it.

const SERVICE_BUDGET_MS = 240_000;

function environment(budgetSeconds?: number) {
  return parseEnvironment(
    {
      name: 'dc-wave',
      vantages: [
        { name: 'dc1', placement: 'on-prem', roles: ['migration-appliance'], addresses: ['192.168.10.5'] },
        { name: 'workers', roles: ['target-worker'], subnetIds: ['subnet-0a1b2c3d4e5f60001'] },
      ],
      flows: [{ name: 'in', from: 'dc1', to: ['10.20.0.5'], ports: '443', placement: 'cloud' }],
      ...(budgetSeconds !== undefined ? { probe: { budgetSeconds } } : {}),
    },
    defaultCatalog(),
  );
}

describe("the wait for an on-prem vantage's agent", () => {
  it("is the environment's probe budget, not the service's", () => {
    // Arrange
    const env = environment(120);
    // Act
    const shards = agentShardJobs(plan(env, defaultCatalog()), env, SERVICE_BUDGET_MS);
    // Assert
    expect(runBudgetMs(env, SERVICE_BUDGET_MS)).toBe(120_000);
    expect(shards).toEqual([expect.objectContaining({ vantage: 'dc1', agent: true, budgetMs: 120_000 })]);
  });

  it("is the service's budget when the environment gives none", () => {
    const env = environment();
    expect(runBudgetMs(env, SERVICE_BUDGET_MS)).toBe(SERVICE_BUDGET_MS);
    expect(agentShardJobs(plan(env, defaultCatalog()), env, SERVICE_BUDGET_MS)[0]?.budgetMs).toBe(
      SERVICE_BUDGET_MS,
    );
  });

  it('never exceeds the largest budget an environment may ask for (the state machine timeout covers it)', () => {
    const env = environment();
    expect(runBudgetMs(env, 3_600_000)).toBe(MAX_PROBE_BUDGET_SECONDS * 1000);
    expect(() => environment(MAX_PROBE_BUDGET_SECONDS + 1)).toThrow(/budgetSeconds/);
  });

  it("gives the callback task the budget as HeartbeatSeconds and the results' grace beyond it as TimeoutSeconds", () => {
    expect(agentTaskWait(120_000)).toEqual({
      agentWaitSeconds: 120,
      agentTimeoutSeconds: 120 + AGENT_RESULTS_GRACE_SECONDS,
    });
    // Whole seconds, at least one, as Step Functions takes them.
    expect(agentTaskWait(5_400)).toEqual({ agentWaitSeconds: 6, agentTimeoutSeconds: 66 });
    expect(agentTaskWait(0).agentWaitSeconds).toBe(1);
  });
});
