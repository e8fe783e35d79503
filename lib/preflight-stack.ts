import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { ResultsTable } from './store';

/**
 * The preflight service's stack: one construct per concern under `lib/`. So far the results store; the
 * prober, auditor, orchestration, API, schedule and notification constructs follow (DESIGN.md).
 */
export class PreflightStack extends Stack {
  /** The results table (runs, findings, environments, idempotency keys). */
  readonly results: ResultsTable;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    this.results = new ResultsTable(this, 'Results');
  }
}
