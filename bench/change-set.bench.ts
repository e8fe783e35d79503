/**
 * The change set at scale: the audit benchmark's full workload (2,000 Security Groups × 50 rules, 5,000
 * flows in one subnet with a network ACL and route table), each flow audited with its remediation, then
 * every fix merged into one change set. Times the audit alone, the audit with the remediation, and the
 * merge, as medians; checks the merged set (unique NACL numbers per direction, none in use, no
 * placeholder) so a fast wrong answer cannot pass.
 */
import { performance } from 'node:perf_hooks';
import { createAuditor } from '../lambdas/core/audit/evaluate';
import { auditWithRemediation } from '../lambdas/core/audit/plan-audit';
import { auditChangeSet, type Remediation } from '../lambdas/core/audit/remediation';
import type { AuditResult } from '../lambdas/core/audit/types';
import type { ChangeSet } from '../lambdas/core/finding/change-set';
import { FULL_WORKLOAD, generateWorkload } from './audit.bench';

export interface ChangeSetBenchFigures {
  readonly flows: number;
  readonly fixes: number;
  readonly auditMs: number;
  readonly auditWithRemediationMs: number;
  readonly mergeMs: number;
  readonly operations: Record<string, number>;
  readonly questions: number;
  readonly aclNumbersUnique: boolean;
  readonly placeholders: number;
}

const round = (n: number) => Math.round(n * 10) / 10;
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function measureChangeSet(runs = 5): ChangeSetBenchFigures {
  const { inventory, flows } = generateWorkload(FULL_WORKLOAD);
  const auditMs: number[] = [];
  const withRemediationMs: number[] = [];
  const mergeMs: number[] = [];
  let audits: Array<{ result: AuditResult; remediation?: Remediation }> = [];
  let changeSet: ChangeSet | undefined;
  for (let run = 0; run < runs; run++) {
    let start = performance.now();
    const auditor = createAuditor(inventory);
    for (const { vantage, requirement } of flows) auditor.audit(vantage, requirement);
    auditMs.push(performance.now() - start);

    start = performance.now();
    const withFixes = createAuditor(inventory);
    audits = flows.map(({ vantage, requirement }, i) =>
      auditWithRemediation(withFixes, inventory, vantage, requirement, {
        label: `flow-${i}`,
        vantageCidrs: [],
      }),
    );
    withRemediationMs.push(performance.now() - start);

    start = performance.now();
    changeSet = auditChangeSet(audits);
    mergeMs.push(performance.now() - start);
  }
  const cs = changeSet as ChangeSet;
  const operations: Record<string, number> = {};
  for (const op of cs.operations) operations[op.action] = (operations[op.action] ?? 0) + 1;
  const existing = new Set(
    (inventory.networkAcls[0]?.Entries ?? []).map((e) => `${e.Egress}:${e.RuleNumber}`),
  );
  const numbers = cs.operations.flatMap((op) =>
    op.action === 'create-network-acl-entry' ? [`${op.entry.Egress}:${op.entry.RuleNumber}`] : [],
  );
  return {
    flows: flows.length,
    fixes: audits.filter((a) => a.result.status !== 'allowed').length,
    auditMs: round(median(auditMs)),
    auditWithRemediationMs: round(median(withRemediationMs)),
    mergeMs: round(median(mergeMs)),
    operations,
    questions: cs.questions.length,
    aclNumbersUnique: new Set(numbers).size === numbers.length && numbers.every((n) => !existing.has(n)),
    placeholders: cs.awsCli.filter((c) => /<[^>]*>/.test(c)).length,
  };
}

export async function benchChangeSet(): Promise<ChangeSetBenchFigures> {
  const f = measureChangeSet();
  if (process.env.BENCH_JSON === '1') process.stdout.write(`${JSON.stringify(f)}\n`);
  else
    process.stdout.write(
      `${f.flows} flows (${f.fixes} need a fix), medians of 5:\n` +
        `  audit alone                ${f.auditMs} ms\n` +
        `  audit with remediation     ${f.auditWithRemediationMs} ms (+${round(f.auditWithRemediationMs - f.auditMs)} ms for the fixes)\n` +
        `  merge into one change set  ${f.mergeMs} ms\n` +
        `  change set: ${Object.entries(f.operations)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ')}; ${f.questions} questions\n` +
        `  NACL numbers unique and free: ${f.aclNumbersUnique ? 'yes' : 'NO'}; placeholders: ${f.placeholders}\n`,
    );
  return f;
}
