import { getEventListeners } from 'node:events';
import { type AgentJob, type AgentJobStore, awaitAgentJob } from '../../../lambdas/core/agent/jobs';

// The local runner waits for each on-prem vantage's agent with the run's own AbortSignal, which lives as long as
// the run: a wait that polls the store must not leave one abort listener on that signal per poll (Node warns
// "MaxListenersExceededWarning: Possible EventTarget memory leak detected. 11 abort listeners added to
// [AbortSignal]" at the eleventh, as the agents bench printed).

function storeDoneAfter(polls: number): AgentJobStore & { gets: number } {
  const job = { vantage: 'dc1', jobId: '01M8F0000000000000000000AB', status: 'pending' } as AgentJob;
  const store = {
    gets: 0,
    async get() {
      store.gets++;
      return store.gets > polls ? { ...job, status: 'done' as const, pages: 0 } : job;
    },
    async results() {
      return [];
    },
    async expire() {
      return job;
    },
  };
  return store as unknown as AgentJobStore & { gets: number };
}

describe('awaitAgentJob', () => {
  it('leaves no abort listener on the run signal, however many times it polls', async () => {
    // Arrange
    const run = new AbortController();
    const store = storeDoneAfter(15);

    // Act
    const results = await awaitAgentJob(store, { vantage: 'dc1', jobId: 'x' }, Date.now() + 60_000, {
      signal: run.signal,
      pollMs: 1,
    });

    // Assert
    expect(results).toEqual({ results: [] });
    expect(store.gets).toBe(16);
    expect(getEventListeners(run.signal, 'abort')).toHaveLength(0);
  });

  it('still stops waiting at once when the run is aborted', async () => {
    // Arrange
    const run = new AbortController();
    const store = storeDoneAfter(Number.POSITIVE_INFINITY);
    setTimeout(() => run.abort(), 50);
    const started = Date.now();

    // Act
    const results = await awaitAgentJob(store, { vantage: 'dc1', jobId: 'x' }, Date.now() + 60_000, {
      signal: run.signal,
      pollMs: 10_000,
    });

    // Assert
    expect(results).toEqual({ timedOut: true });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(getEventListeners(run.signal, 'abort')).toHaveLength(0);
  });
});
