/**
 * Completes the state machine's callback tasks of on-prem vantages: when an agent posts its last page of results
 * the job's task gets `SendTaskSuccess` (its output is only the job's reference: the results are in the store),
 * and each heartbeat is passed on as `SendTaskHeartbeat`, so the task's `HeartbeatSeconds` measures the agent's
 * own heartbeats (an agent taking the job counts as one). A job its agent cannot run fails its task at once
 * (`SendTaskFailure`, error {@link AGENT_JOB_FAILED}, the agent's reason as the cause), which the store step turns
 * into the vantage's reason. A job without a task token (created locally) is left alone. A release sends nothing:
 * another agent may take the job while the task still waits, and a job nobody takes ends with the task's timeout.
 */
import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { AGENT_JOB_FAILED, type AgentJob } from '../core/agent/jobs';

/** Step Functions' limit on a task failure's cause, in characters. */
const CAUSE_LIMIT = 32_768;

/** What the callback task's output holds: where the agent's results are. */
export interface AgentTaskOutput {
  readonly vantage: string;
  readonly jobId: string;
  readonly status: AgentJob['status'];
  readonly pages: number;
}

/** The `onComplete`, `onHeartbeat` and `onFail` of the API's agent routes in AWS. */
export class StepFunctionsCallbacks {
  constructor(private readonly sfn: SFNClient) {}

  readonly onComplete = async (job: AgentJob): Promise<void> => {
    if (!job.taskToken) return;
    const output: AgentTaskOutput = {
      vantage: job.vantage,
      jobId: job.jobId,
      status: job.status,
      pages: job.pages ?? 0,
    };
    await this.sfn.send(
      new SendTaskSuccessCommand({ taskToken: job.taskToken, output: JSON.stringify(output) }),
    );
  };

  readonly onHeartbeat = async (job: AgentJob): Promise<void> => {
    if (!job.taskToken) return;
    await this.sfn.send(new SendTaskHeartbeatCommand({ taskToken: job.taskToken }));
  };

  readonly onFail = async (job: AgentJob): Promise<void> => {
    if (!job.taskToken) return;
    await this.sfn.send(
      new SendTaskFailureCommand({
        taskToken: job.taskToken,
        error: AGENT_JOB_FAILED,
        cause: (job.error ?? 'no reason given').slice(0, CAUSE_LIMIT),
      }),
    );
  };
}
