/**
 * Executes the check-run state machine synthesized from lib/ — the definition CloudFormation would deploy — with
 * aws-local-stepfunctions (an ASL interpreter in Node), each Lambda task bound to the real bundled handler
 * (lib/bundling.ts `buildBundle`, loaded in this process), dynalite as DynamoDB and a small local EventBridge.
 *
 * What it emulates, because the interpreter does not:
 * - **Step Functions' 256 KB limit**: every state's input and output (Map iterations included) and every task's
 *   payload and result are measured; one over 262,144 bytes fails the execution with `States.DataLimitExceeded`,
 *   as Step Functions does (no `Catch` sees it). The largest is recorded.
 * - **The Distributed Map**: the interpreter runs its `ItemProcessor` in this process with `MaxConcurrency` (it
 *   ignores `ProcessorConfig`), each iteration's input being the `ItemSelector` output, as a child execution's is.
 *   The items come from the state (`ItemsPath`); no `ItemReader` is used, so none is emulated.
 * - **Lambda**: the payload and the result cross as JSON; a result over 6 MB fails as Lambda's response limit
 *   does; a handler's error reaches the state machine as Lambda reports it (`Error` = the error's type, `Cause` =
 *   JSON with `errorType` and `errorMessage`); a handler that runs past the function's timeout fails with
 *   `Sandbox.Timedout`. Retry intervals are set to 0 (the retries themselves happen).
 * - **The execution-status rule** (FAILED / TIMED_OUT / ABORTED → the fail step, lib/run-closer.ts):
 *   {@link Harness.deliverStatusChange} invokes the bundled fail handler with the "Step Functions Execution Status
 *   Change" event EventBridge would deliver for the execution.
 *
 * - **Callback tasks** (`lambda:invoke.waitForTaskToken`, which the interpreter does not know): the task invokes
 *   the function named by `Parameters.FunctionName` with `Parameters.Payload`, its `$$.Task.Token` replaced by a
 *   token of its own, then waits until that token is completed through a small local Step Functions endpoint
 *   (`AWS_ENDPOINT_URL_SFN`, {@link Harness.sfnEndpoint}: `SendTaskSuccess` → the task's output is the given
 *   JSON, `SendTaskFailure` → it fails with the given error, `SendTaskHeartbeat` → its `HeartbeatSeconds` starts
 *   again); with no heartbeat in `HeartbeatSeconds` it fails `States.HeartbeatTimeout`, past `TimeoutSeconds`
 *   `States.Timeout`, as Step Functions does. An unknown token (or one whose task ended) is answered
 *   `TaskDoesNotExist`. `HeartbeatSecondsPath` and `TimeoutSecondsPath` are read from the state's input, as Step
 *   Functions reads them (the interpreter would read them from the task's Parameters instead, and would put its own
 *   60 s default timeout on the task: the harness hands it the state with the paths moved into its Parameters and a
 *   timeout it never reaches, and keeps both clocks itself). Each task's heartbeats are counted
 *   ({@link ExecutionOutcome.heartbeats}).
 *
 * The interpreter declares Node 22+ for one function, `Promise.withResolvers`; on Node 20 this harness (and only
 * it) installs a polyfill of that function.
 */
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { type RunningDynalite, startDynalite } from '../../lambdas/aws/dynalite';
import { buildBundle, type FunctionName, FUNCTIONS, PROJECT_ROOT } from '../../lib/bundling';
import { type DeployVantage, parseDeployConfig } from '../../lib/config';
import { PreflightStack } from '../../lib/preflight-stack';
import { testApp } from '../infra/support';

// The one function aws-local-stepfunctions needs beyond Node 20.
if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>() {
      let resolve!: (value: T | PromiseLike<T>) => void;
      let reject!: (reason?: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}
// Loaded after the polyfill.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const asl = require('aws-local-stepfunctions') as typeof import('aws-local-stepfunctions', {
  with: { 'resolution-mode': 'require' },
});

/** Step Functions' limit on a state's input or output, and on a task's payload and result. */
export const STATE_LIMIT_BYTES = 262_144;
/** Lambda's limit on a synchronous invocation's response. */
export const LAMBDA_RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024;

const ACCOUNT = '111122223333';
const REGION = 'eu-west-1';
const EVENT_BUS = 'preflight-local';

export interface HarnessOptions {
  /** The deployed probers (the deployment config's vantages). */
  readonly vantages: readonly DeployVantage[];
  readonly allowedTargetCidrs: readonly string[];
  /** @default 240 */
  readonly probeBudgetSeconds?: number;
  /** @default 40 */
  readonly maxConcurrentShards?: number;
  /**
   * Where the bundles are built: inside the project, so that the runtime-provided SDK resolves, and where git,
   * ESLint and Prettier look away. Removed by `close()`.
   * @default bench/out/sfn-<pid>
   */
  readonly bundleDir?: string;
}

/**
 * Runs before a task's handler, keyed by the state's name: it may throw (the function fails, as Lambda reports
 * it) or return a value, which then stands for the handler's result (an impostor function); `undefined` lets the
 * real handler run.
 */
export type Fault = (payload: unknown) => unknown;

export interface ExecutionOutcome {
  readonly status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
  /** The largest state input/output or task payload/result, in bytes, and where it was. */
  readonly maxStatePayloadBytes: number;
  readonly largestAt: string;
  /** Task invocations by state name. */
  readonly invocations: Readonly<Record<string, number>>;
  /** `SendTaskHeartbeat` calls that reached a waiting callback task, by state name. */
  readonly heartbeats: Readonly<Record<string, number>>;
  /** How each callback task ended (`SendTaskSuccess`, or the error it failed with) and how long it waited. */
  readonly callbacks: ReadonlyArray<{
    readonly state: string;
    readonly ended: string;
    readonly waitedMs: number;
  }>;
  readonly wallMs: number;
}

export interface Harness {
  readonly store: DynamoResultStore;
  readonly dynalite: RunningDynalite;
  /** The "Preflight Check State Changed" events the finish step sent. */
  readonly events: unknown[];
  /** The state names of the synthesized definition (Map iterations included). */
  readonly stateNames: readonly string[];
  /** Runs one execution to its end. */
  execute(input: unknown, options?: { faults?: Readonly<Record<string, Fault>> }): Promise<ExecutionOutcome>;
  /**
   * What the execution-status rule does for an execution that ended FAILED, TIMED_OUT or ABORTED: invokes the fail
   * step with the execution's status event (its name: the run's id when the input names one, as the API names it).
   */
  deliverStatusChange(input: unknown, outcome: ExecutionOutcome): Promise<unknown>;
  /** The local Step Functions endpoint that completes callback tasks (also set as `AWS_ENDPOINT_URL_SFN`). */
  readonly sfnEndpoint: string;
  close(): Promise<void>;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type LambdaHandler = (event: unknown, context: unknown) => Promise<unknown>;

/** An error as Lambda reports a function's failure to Step Functions. */
class LambdaFunctionError extends Error {
  constructor(errorType: string, errorMessage: string) {
    super(JSON.stringify({ errorType, errorMessage }));
    this.name = errorType;
  }
}

/**
 * A callback task's failure as Step Functions reports it to the state's Catch: `SendTaskFailure`'s error and cause
 * as given (no Lambda envelope), or `States.HeartbeatTimeout` / `States.Timeout`.
 */
class TaskFailure extends Error {
  constructor(error: string, cause: string) {
    super(cause);
    this.name = error;
  }
}

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value) ?? 'null');

/** Resolves the definition's CloudFormation tokens to plain strings; Lambda ARNs end in the function's logical id. */
function resolveTokens(value: unknown, tableId: string, tableName: string): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (Array.isArray(v['Fn::Join'])) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => resolveTokens(p, tableId, tableName)).join(sep);
  }
  if (Array.isArray(v['Fn::GetAtt'])) {
    const [id, attr] = v['Fn::GetAtt'] as [string, string];
    if (attr === 'Arn') return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${id}`;
  }
  if (typeof v.Ref === 'string') {
    const pseudo: Record<string, string> = {
      'AWS::Partition': 'aws',
      'AWS::Region': REGION,
      'AWS::AccountId': ACCOUNT,
      'AWS::URLSuffix': 'amazonaws.com',
    };
    if (pseudo[v.Ref] !== undefined) return pseudo[v.Ref]!;
    if (v.Ref === tableId) return tableName;
  }
  throw new Error(`the harness cannot resolve ${JSON.stringify(value)}`);
}

/** Where the harness moves a callback task's `HeartbeatSecondsPath` and `TimeoutSecondsPath` in its Parameters. */
const PATH_PARAMETERS = { heartbeat: 'harnessHeartbeatSeconds', timeout: 'harnessTimeoutSeconds' } as const;
/** Longer than any test (and within a 32-bit timer): the interpreter's own clock on a callback task, which the harness keeps. */
const NEVER_SECONDS = 2_000_000;

/**
 * The callback tasks of a definition, Map iterations included: name → their heartbeat and timeout (seconds, or a
 * path into the state's input). Each such state is rewritten in place for the interpreter: the paths become
 * Parameters (resolved from the same input) and its own timeout one it never reaches.
 */
function callbackStates(definition: {
  States: Record<string, Record<string, unknown>>;
}): Map<string, { heartbeatSeconds: number | 'path'; timeoutSeconds: number | 'path' }> {
  const out = new Map<string, { heartbeatSeconds: number | 'path'; timeoutSeconds: number | 'path' }>();
  for (const [name, state] of Object.entries(definition.States)) {
    if (state.Type === 'Task' && String(state.Resource).endsWith('.waitForTaskToken')) {
      const parameters = { ...(state.Parameters as Record<string, unknown>) };
      const clock = (seconds: unknown, path: unknown, key: string): number | 'path' => {
        if (typeof path === 'string') {
          parameters[`${key}.$`] = path;
          return 'path';
        }
        return seconds === undefined ? NEVER_SECONDS : Number(seconds);
      };
      out.set(name, {
        heartbeatSeconds: clock(
          state.HeartbeatSeconds,
          state.HeartbeatSecondsPath,
          PATH_PARAMETERS.heartbeat,
        ),
        timeoutSeconds: clock(state.TimeoutSeconds, state.TimeoutSecondsPath, PATH_PARAMETERS.timeout),
      });
      delete state.HeartbeatSeconds;
      delete state.HeartbeatSecondsPath;
      delete state.TimeoutSecondsPath;
      state.TimeoutSeconds = NEVER_SECONDS;
      state.Parameters = parameters;
    }
    const inner = (state.ItemProcessor ?? state.Iterator) as typeof definition | undefined;
    if (inner) for (const [n, c] of callbackStates(inner)) out.set(n, c);
  }
  return out;
}

/** A callback task's clock in ms: its fixed seconds, or the value its path gave (a positive integer, as in ASL). */
function clockMs(seconds: number | 'path', parameters: Record<string, unknown>, key: string): number {
  if (seconds !== 'path') return seconds * 1000;
  const value = parameters[key];
  if (!Number.isInteger(value) || (value as number) < 1)
    throw new Error(
      `States.Runtime: ${key.replace('harness', '')}Path gave ${JSON.stringify(value)}, not a positive integer`,
    );
  return (value as number) * 1000;
}

/** A waiting callback task, by its token. */
interface WaitingTask {
  heartbeat(): void;
  succeed(output: unknown): void;
  fail(error: string, cause: string): void;
}

/** A local Step Functions endpoint (JSON 1.0): SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat. */
async function startStepFunctions(
  waiting: Map<string, WaitingTask>,
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
      const input = JSON.parse(body || '{}') as {
        taskToken?: string;
        output?: string;
        error?: string;
        cause?: string;
      };
      const task = waiting.get(input.taskToken ?? '');
      const answer = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify(json));
      };
      if (!['SendTaskSuccess', 'SendTaskFailure', 'SendTaskHeartbeat'].includes(target))
        return answer(400, { __type: 'UnknownOperationException', message: target });
      if (!task) return answer(400, { __type: 'TaskDoesNotExist', message: 'no such task token' });
      if (target === 'SendTaskSuccess') task.succeed(JSON.parse(input.output ?? 'null'));
      else if (target === 'SendTaskFailure') task.fail(input.error ?? '', input.cause ?? '');
      else task.heartbeat();
      return answer(200, {});
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Every Task state of a definition, Map iterations included: name → resource. */
function taskStates(definition: { States: Record<string, Record<string, unknown>> }): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, state] of Object.entries(definition.States)) {
    // A callback task invokes the function its Parameters name.
    if (state.Type === 'Task' && String(state.Resource).endsWith(':lambda:invoke.waitForTaskToken'))
      out.set(name, String((state.Parameters as { FunctionName: unknown }).FunctionName));
    else if (state.Type === 'Task') out.set(name, String(state.Resource));
    const inner = (state.ItemProcessor ?? state.Iterator) as typeof definition | undefined;
    if (inner) for (const [n, r] of taskStates(inner)) out.set(n, r);
  }
  return out;
}

function allStateNames(definition: { States: Record<string, Record<string, unknown>> }): string[] {
  return Object.entries(definition.States).flatMap(([name, state]) => {
    const inner = (state.ItemProcessor ?? state.Iterator) as typeof definition | undefined;
    return [name, ...(inner ? allStateNames(inner) : [])];
  });
}

/** Synthesizes the stack, builds the bundles, starts the local services and loads every handler. */
export async function createHarness(options: HarnessOptions): Promise<Harness> {
  const config = parseDeployConfig({
    account: ACCOUNT,
    region: REGION,
    vpc: { vpcId: 'vpc-0a1b2c3d4e5f60718', availabilityZones: [`${REGION}a`, `${REGION}b`] },
    vantages: options.vantages,
    allowedTargetCidrs: options.allowedTargetCidrs,
    retentionDays: 1,
    ...(options.probeBudgetSeconds !== undefined ? { probeBudgetSeconds: options.probeBudgetSeconds } : {}),
    ...(options.maxConcurrentShards !== undefined
      ? { maxConcurrentShards: options.maxConcurrentShards }
      : {}),
  });
  const template = Template.fromStack(new PreflightStack(testApp(), 'Preflight', { config })).toJSON() as {
    Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  };
  const resources = Object.entries(template.Resources);
  const tableId = resources.find(
    ([, r]) => r.Type === 'AWS::DynamoDB::GlobalTable' || r.Type === 'AWS::DynamoDB::Table',
  )?.[0];
  const busId = resources.find(([, r]) => r.Type === 'AWS::Events::EventBus')?.[0];
  const machine = resources.find(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine')?.[1];
  if (!tableId || !machine) throw new Error('the synthesized stack has no table or no state machine');

  const dynalite = await startDynalite({ tableName: 'preflight-harness' });
  const events: unknown[] = [];
  const eventServer = await startEventBridge(events);
  const waiting = new Map<string, WaitingTask>();
  const sfnServer = await startStepFunctions(waiting);

  const definition = JSON.parse(
    resolveTokens(machine.Properties?.DefinitionString, tableId, dynalite.tableName),
  ) as { States: Record<string, Record<string, unknown>>; StartAt: string; TimeoutSeconds?: number };

  // The functions the tasks invoke: logical id → which bundle, its timeout, its environment.
  const tasks = taskStates(definition);
  const invoked = new Set([...tasks.values()].map((arn) => arn.split(':function:')[1]));
  const functions = new Map<string, { name: FunctionName; timeoutMs: number }>();
  const env: Record<string, string> = {};
  for (const [id, r] of resources) {
    if (r.Type !== 'AWS::Lambda::Function' || !invoked.has(id)) continue;
    const name = /^preflight (\w+):/.exec(String(r.Properties?.Description))?.[1] as FunctionName | undefined;
    if (!name || !(name in FUNCTIONS)) continue;
    functions.set(id, { name, timeoutMs: Number(r.Properties?.Timeout ?? 3) * 1000 });
    const vars = ((r.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(vars)) {
      env[k] =
        typeof v === 'object' && v !== null && (v as { Ref?: string }).Ref === busId
          ? EVENT_BUS
          : resolveTokens(v, tableId, dynalite.tableName);
    }
  }
  Object.assign(process.env, env, {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: eventServer.url,
    AWS_ENDPOINT_URL_SFN: sfnServer.url,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
    POWERTOOLS_DEV: 'false',
  });

  const dir = options.bundleDir ?? join(PROJECT_ROOT, 'bench', 'out', `sfn-${process.pid}`);
  const handlers = new Map<FunctionName, LambdaHandler>();
  for (const name of new Set([...functions.values()].map((f) => f.name))) {
    const bundle = await buildBundle(name, dir);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    handlers.set(name, (require(bundle.file) as { handler: LambdaHandler }).handler);
  }
  const stateNames = allStateNames(definition);
  // (rewrites the callback states for the interpreter: see callbackStates)
  const callbacks = callbackStates(definition);
  let tokens = 0;
  const store = new DynamoResultStore(dynalite.client, { tableName: dynalite.tableName });

  const harness: Harness = {
    store,
    dynalite,
    events,
    stateNames,
    sfnEndpoint: sfnServer.url,
    async execute(input, runOptions = {}) {
      let max = { bytes: 0, at: '' };
      let overLimit: string | undefined;
      const measure = (at: string, value: unknown) => {
        const n = bytes(value);
        if (n > max.bytes) max = { bytes: n, at };
        if (n > STATE_LIMIT_BYTES && overLimit === undefined)
          overLimit = `${at} is ${n} bytes, over the state limit of ${STATE_LIMIT_BYTES}`;
      };
      const invocations: Record<string, number> = {};
      const heartbeats: Record<string, number> = {};
      const callbackEnds: Array<{ state: string; ended: string; waitedMs: number }> = [];
      let abortExecution = () => undefined as void;
      const local: Record<string, (payload: Json) => Promise<Json>> = {};
      for (const [state, resource] of tasks) {
        const fn = functions.get(resource.split(':function:')[1] ?? '');
        if (!fn)
          throw new Error(`task ${state} invokes ${resource}, which is not one of the stack's functions`);
        const handler = handlers.get(fn.name)!;
        const callback = callbacks.get(state);
        if (callback) {
          local[state] = async (parameters) => {
            const token = `harness-token-${++tokens}`;
            const { Payload } = parameters as { Payload: Record<string, Json> };
            invocations[state] = (invocations[state] ?? 0) + 1;
            const given = parameters as Record<string, unknown>;
            const heartbeatMs = clockMs(callback.heartbeatSeconds, given, PATH_PARAMETERS.heartbeat);
            const timeoutMs = clockMs(callback.timeoutSeconds, given, PATH_PARAMETERS.timeout);
            const since = Date.now();
            const done = new Promise<Json>((resolve, reject) => {
              let beat: NodeJS.Timeout;
              const end = (ended: string) => {
                clearTimeout(beat);
                clearTimeout(total);
                waiting.delete(token);
                callbackEnds.push({ state, ended, waitedMs: Date.now() - since });
              };
              const failWith = (error: string, cause: string) => {
                end(error);
                reject(new TaskFailure(error, cause));
              };
              const total = setTimeout(
                () => failWith('States.Timeout', `no answer within ${timeoutMs / 1000} s`),
                timeoutMs,
              );
              const heartbeat = () => {
                clearTimeout(beat);
                beat = setTimeout(
                  () => failWith('States.HeartbeatTimeout', `no heartbeat within ${heartbeatMs / 1000} s`),
                  heartbeatMs,
                );
              };
              heartbeat();
              waiting.set(token, {
                heartbeat: () => {
                  heartbeats[state] = (heartbeats[state] ?? 0) + 1;
                  heartbeat();
                },
                succeed: (output) => {
                  end('SendTaskSuccess');
                  resolve(output as Json);
                },
                fail: failWith,
              });
            });
            done.catch(() => undefined);
            try {
              await handler(
                JSON.parse(JSON.stringify({ ...Payload, taskToken: token })),
                lambdaContext(fn.name, fn.timeoutMs),
              );
            } catch (err) {
              const e = err as { name?: string; message?: string };
              waiting.get(token)?.fail('Harness.Cleanup', 'the function failed');
              throw new LambdaFunctionError(e.name ?? 'Error', e.message ?? String(err));
            }
            return done;
          };
          continue;
        }
        local[state] = async (payload) => {
          // The execution ended at the limit: the interpreter may still be unwinding, but no function runs again.
          if (overLimit !== undefined) throw new Error(`States.DataLimitExceeded: ${overLimit}`);
          invocations[state] = (invocations[state] ?? 0) + 1;
          measure(`the payload of ${state}`, payload);
          const event = JSON.parse(JSON.stringify(payload)) as unknown;
          let timer: NodeJS.Timeout | undefined;
          let result: unknown;
          try {
            const impostor = await runOptions.faults?.[state]?.(event);
            result = await Promise.race([
              impostor !== undefined ? impostor : handler(event, lambdaContext(fn.name, fn.timeoutMs)),
              new Promise((_, reject) => {
                timer = setTimeout(
                  () =>
                    reject(
                      new LambdaFunctionError(
                        'Sandbox.Timedout',
                        `Task timed out after ${(fn.timeoutMs / 1000).toFixed(2)} seconds`,
                      ),
                    ),
                  fn.timeoutMs,
                );
              }),
            ]);
          } catch (err) {
            if (err instanceof LambdaFunctionError) throw err;
            const e = err as { name?: string; message?: string };
            throw new LambdaFunctionError(e.name ?? 'Error', e.message ?? String(err));
          } finally {
            clearTimeout(timer);
          }
          const text = JSON.stringify(result) ?? 'null';
          if (Buffer.byteLength(text) > LAMBDA_RESPONSE_LIMIT_BYTES)
            throw new LambdaFunctionError(
              'Lambda.ResponseSizeTooLarge',
              `the response of ${state} is over 6 MB`,
            );
          measure(`the result of ${state}`, result);
          // Over the limit: the execution ends here; nothing downstream runs (see the first line).
          if (overLimit !== undefined) {
            abortExecution();
            throw new Error(`States.DataLimitExceeded: ${overLimit}`);
          }
          return JSON.parse(text) as Json;
        };
      }
      const machineRun = new asl.StateMachine(definition as never, {
        validationOptions: { checkArn: false, checkPaths: true },
      });
      const started = Date.now();
      const execution = machineRun.run(input as Json, {
        overrides: {
          taskResourceLocalHandlers: local,
          retryIntervalOverrides: Object.fromEntries([...tasks.keys()].map((s) => [s, 0])),
        },
        context: {
          Execution: { Input: input as Json, StartTime: new Date(started).toISOString(), Name: 'harness' },
          // Replaced by each callback task's own token before its function runs.
          Task: { Token: 'harness' },
        },
      });
      abortExecution = () => execution.abort();
      const watching = (async () => {
        for await (const ev of execution.eventLogs) {
          const e = ev as { type: string; state?: { name: string; input?: unknown; output?: unknown } };
          if (e.type === 'StateEntered' && e.state) measure(`the input of ${e.state.name}`, e.state.input);
          if (e.type === 'StateExited' && e.state) measure(`the output of ${e.state.name}`, e.state.output);
          if (overLimit !== undefined) {
            execution.abort();
            return;
          }
        }
      })();
      let outcome: Omit<
        ExecutionOutcome,
        'maxStatePayloadBytes' | 'largestAt' | 'invocations' | 'heartbeats' | 'callbacks' | 'wallMs'
      >;
      try {
        const output = await execution.result;
        outcome = { status: 'SUCCEEDED', output };
      } catch (err) {
        const e = err as { name?: string; message?: string; cause?: { name?: string; message?: string } };
        if (overLimit !== undefined)
          outcome = { status: 'FAILED', error: 'States.DataLimitExceeded', cause: overLimit };
        else if (err instanceof asl.ExecutionTimeoutError)
          outcome = { status: 'TIMED_OUT', error: 'States.Timeout' };
        else if (err instanceof asl.ExecutionAbortedError) outcome = { status: 'ABORTED' };
        else
          outcome = {
            status: 'FAILED',
            error: e.cause?.name ?? e.name ?? 'Error',
            cause: e.cause?.message ?? e.message ?? String(err),
          };
      }
      await watching.catch(() => undefined);
      if (outcome.status === 'SUCCEEDED' && overLimit !== undefined)
        outcome = { status: 'FAILED', error: 'States.DataLimitExceeded', cause: overLimit };
      return {
        ...outcome,
        maxStatePayloadBytes: max.bytes,
        largestAt: max.at,
        invocations,
        heartbeats,
        callbacks: callbackEnds,
        wallMs: Date.now() - started,
      };
    },
    async deliverStatusChange(input, outcome) {
      const fail = handlers.get('fail')!;
      const name = (input as { checkId?: string }).checkId ?? 'harness-execution';
      const stopDate = Date.now();
      return fail(
        {
          version: '0',
          source: 'aws.states',
          'detail-type': 'Step Functions Execution Status Change',
          account: ACCOUNT,
          region: REGION,
          detail: {
            executionArn: `arn:aws:states:${REGION}:${ACCOUNT}:execution:preflight:${name}`,
            name,
            status: outcome.status,
            startDate: stopDate - outcome.wallMs,
            stopDate,
            input: JSON.stringify(input),
            ...(outcome.error ? { error: outcome.error } : {}),
            ...(outcome.cause ? { cause: outcome.cause } : {}),
          },
        },
        lambdaContext('fail', 60_000),
      );
    },
    async close() {
      await new Promise<void>((resolve) => eventServer.server.close(() => resolve()));
      await new Promise<void>((resolve) => sfnServer.server.close(() => resolve()));
      await dynalite.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

function lambdaContext(name: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  return {
    functionName: `preflight-${name}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:preflight-${name}`,
    memoryLimitInMB: '512',
    awsRequestId: `harness-${Math.random().toString(16).slice(2)}`,
    logGroupName: `/aws/lambda/preflight-${name}`,
    logStreamName: 'harness',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** A local EventBridge that accepts PutEvents (JSON 1.1) and keeps the entries. */
async function startEventBridge(events: unknown[]): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      if (!target.endsWith('.PutEvents')) {
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ __type: 'UnknownOperationException', message: target }));
        return;
      }
      const entries = (JSON.parse(body) as { Entries?: unknown[] }).Entries ?? [];
      events.push(...entries);
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(
        JSON.stringify({
          FailedEntryCount: 0,
          Entries: entries.map((_, i) => ({ EventId: `e-${events.length + i}` })),
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
