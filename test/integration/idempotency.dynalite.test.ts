import { DynamoIdempotencyCache } from '../../lambdas/aws/dynamo-idempotency';
import { type RunningDynalite, startDynalite } from '../../lambdas/aws/dynalite';
import { ConflictError } from '../../lambdas/core/store';

// Idempotency keys in the real embedded store: what several API processes or Lambda containers share.

let db: RunningDynalite;

beforeAll(async () => {
  db = await startDynalite();
});
afterAll(async () => {
  await db?.close();
});

const cache = (waitMs = 2000) => new DynamoIdempotencyCache(db.client, { tableName: db.tableName, waitMs });

describe('idempotency keys in the results table', () => {
  it('returns the first entry to a retry, even from another process (another cache object)', async () => {
    // Arrange
    let creations = 0;
    const create = async () => ({ checkId: `run-${++creations}`, fingerprint: 'f1' });
    // Act
    const first = await cache().getOrCreate('key-a', create);
    const retry = await cache().getOrCreate('key-a', create);
    // Assert
    expect(first).toEqual({ entry: { checkId: 'run-1', fingerprint: 'f1' }, created: true });
    expect(retry).toEqual({ entry: { checkId: 'run-1', fingerprint: 'f1' }, created: false });
    expect(creations).toBe(1);
  });

  it('starts one run for concurrent retries: the others wait for its result', async () => {
    // Arrange
    let creations = 0;
    const create = async () => {
      creations++;
      await new Promise((resolve) => setTimeout(resolve, 100));
      return { checkId: 'run-concurrent', fingerprint: 'f2' };
    };
    // Act
    const results = await Promise.all([1, 2, 3, 4].map(() => cache().getOrCreate('key-b', create)));
    // Assert
    expect(creations).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    for (const r of results) expect(r.entry).toEqual({ checkId: 'run-concurrent', fingerprint: 'f2' });
  });

  it('frees the key when the creation fails, so a retry can succeed', async () => {
    // Act
    await expect(cache().getOrCreate('key-c', async () => Promise.reject(new Error('boom')))).rejects.toThrow(
      'boom',
    );
    const retry = await cache().getOrCreate('key-c', async () => ({ checkId: 'run-c', fingerprint: 'f3' }));
    // Assert
    expect(retry).toEqual({ entry: { checkId: 'run-c', fingerprint: 'f3' }, created: true });
  });

  it('answers a conflict when the first request is still being processed after the wait', async () => {
    // Arrange
    let release!: () => void;
    const slow = cache().getOrCreate(
      'key-d',
      () => new Promise((resolve) => (release = () => resolve({ checkId: 'run-d', fingerprint: 'f4' }))),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Act
    const waiting = cache(200).getOrCreate('key-d', async () => ({ checkId: 'never', fingerprint: 'x' }));
    // Assert
    await expect(waiting).rejects.toThrow(ConflictError);
    release();
    await expect(slow).resolves.toMatchObject({ created: true });
  });
});
