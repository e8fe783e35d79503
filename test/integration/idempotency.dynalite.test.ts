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

describe('keys that outlive their use (issue 11 item 8)', () => {
  it('releases a pending key whose owner died while creating the run, once its lease lapses', async () => {
    // Arrange: a first process claims the key and dies before its run exists (its creation never settles)
    const dead = new DynamoIdempotencyCache(db.client, {
      tableName: db.tableName,
      waitMs: 2000,
      leaseMs: 300,
    });
    void dead.getOrCreate('key-crashed', () => new Promise(() => undefined));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const restarted = new DynamoIdempotencyCache(db.client, {
      tableName: db.tableName,
      waitMs: 2000,
      leaseMs: 300,
    });

    // Act: the client's retry reaches the restarted service
    const retry = await restarted.getOrCreate('key-crashed', async () => ({
      checkId: 'run-after-crash',
      fingerprint: 'f9',
    }));

    // Assert
    expect(retry).toEqual({ entry: { checkId: 'run-after-crash', fingerprint: 'f9' }, created: true });
  });

  it('honours expiresAt when it reads a key: an expired one is claimed afresh (dynalite never expires items)', async () => {
    // Arrange: a key used a day ago (ttl 1 s, then waited past it)
    const shortLived = new DynamoIdempotencyCache(db.client, { tableName: db.tableName, ttlSeconds: 1 });
    await shortLived.getOrCreate('key-old', async () => ({ checkId: 'run-old', fingerprint: 'f10' }));
    await new Promise((resolve) => setTimeout(resolve, 2100));

    // Act
    const reused = await cache().getOrCreate('key-old', async () => ({
      checkId: 'run-new',
      fingerprint: 'f11',
    }));

    // Assert
    expect(reused).toEqual({ entry: { checkId: 'run-new', fingerprint: 'f11' }, created: true });
  });

  it('still makes a retry wait for a live owner within its lease', async () => {
    // Arrange
    let release!: () => void;
    const owner = cache().getOrCreate(
      'key-live',
      () =>
        new Promise((resolve) => {
          release = () => resolve({ checkId: 'run-live', fingerprint: 'f12' });
        }),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Act
    const retry = cache().getOrCreate('key-live', async () => ({ checkId: 'run-other', fingerprint: 'f12' }));
    setTimeout(() => release(), 200);
    // Assert
    await expect(retry).resolves.toEqual({
      entry: { checkId: 'run-live', fingerprint: 'f12' },
      created: false,
    });
    await expect(owner).resolves.toMatchObject({ created: true });
  });
});
