/**
 * Starts check runs on the deployed state machine: the run is created `queued` in the store first (so the API can
 * answer with its id at once), then one execution named after the check id is started — the name makes a retried
 * start idempotent (Step Functions refuses a second execution of the same name). If the execution cannot be
 * started, the run is closed `failed` with the reason, never left queued.
 */
import { ExecutionAlreadyExists, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { CheckStarter } from '../core/service';
import type { Environment } from '../core/environment';
import type { ExecutionInput } from '../core/run/execution-input';
import { closeRun } from '../core/run/steps';
import { type CheckRun, queuedRun, type ResultStore, type Trigger } from '../core/store';

export type { ExecutionInput } from '../core/run/execution-input';

/** The {@link CheckStarter} of the deployed API. */
export class StepFunctionsStarter implements CheckStarter {
  constructor(
    private readonly sfn: SFNClient,
    private readonly store: ResultStore,
    private readonly stateMachineArn: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async start(input: { environment: Environment; trigger: Trigger }): Promise<CheckRun> {
    const run = await this.store.createRun(
      queuedRun(input.environment.name, input.trigger, this.now(), input.environment.profiles),
    );
    const execution: ExecutionInput = {
      checkId: run.checkId,
      environmentName: input.environment.name,
      environment: input.environment,
      trigger: input.trigger,
    };
    try {
      await this.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: run.checkId,
          input: JSON.stringify(execution),
        }),
      );
    } catch (err) {
      if (!(err instanceof ExecutionAlreadyExists)) {
        await closeRun({ store: this.store, now: this.now }, run.checkId, {
          status: 'failed',
          reason: `the check could not be started: ${(err as Error).message}`,
        }).catch(() => undefined);
        throw err;
      }
    }
    return run;
  }
}
