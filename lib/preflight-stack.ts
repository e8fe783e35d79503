import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/**
 * The preflight service's stack. It is deliberately empty for now: the store, prober, auditor,
 * orchestration, API, schedule and notification constructs are added one per file under `lib/`
 * as the service is built (see DESIGN.md, "Architecture").
 */
export class PreflightStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
  }
}
