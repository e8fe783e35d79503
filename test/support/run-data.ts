/** An in-memory {@link RunData} for handler tests that do not need the table (the real one is tested on dynalite). */
import type { AuditStepOutput } from '../../lambdas/core/run/steps';
import {
  type RunData,
  RunDataMissingError,
  type ShardJob,
  type ShardOutcome,
  type StoredPlan,
} from '../../lambdas/core/run/run-data';

const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

export class MemoryRunData implements RunData {
  private readonly plans = new Map<string, { plan: StoredPlan; shards: ShardJob[] }>();
  private readonly outcomes = new Map<string, Map<number, ShardOutcome>>();
  readonly audits = new Map<string, AuditStepOutput>();

  async putPlan(checkId: string, plan: StoredPlan, shards: readonly ShardJob[]): Promise<void> {
    this.plans.set(checkId, copy({ plan, shards: [...shards] }));
  }
  async getPlan(checkId: string): Promise<StoredPlan> {
    const found = this.plans.get(checkId);
    if (!found) throw new RunDataMissingError(`run ${checkId} has no stored plan`);
    return copy(found.plan);
  }
  async getShard(checkId: string, shard: number): Promise<ShardJob> {
    const found = this.plans.get(checkId)?.shards[shard - 1];
    if (!found) throw new RunDataMissingError(`run ${checkId} has no shard ${shard}`);
    return copy(found);
  }
  async putShardOutcome(checkId: string, outcome: ShardOutcome): Promise<void> {
    const map = this.outcomes.get(checkId) ?? new Map<number, ShardOutcome>();
    map.set(outcome.shard, copy(outcome));
    this.outcomes.set(checkId, map);
  }
  async listShardOutcomes(checkId: string): Promise<ShardOutcome[]> {
    return [...(this.outcomes.get(checkId)?.values() ?? [])].sort((a, b) => a.shard - b.shard).map(copy);
  }
  async putAudit(checkId: string, audit: AuditStepOutput): Promise<void> {
    this.audits.set(checkId, copy(audit));
  }
  async getAudit(checkId: string): Promise<AuditStepOutput | undefined> {
    const found = this.audits.get(checkId);
    return found ? copy(found) : undefined;
  }
}
