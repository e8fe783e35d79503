/**
 * The Lambda functions of the service and how each is bundled: one list, read by the CDK constructs (through
 * `PreflightFunction`), by the test that builds every bundle, and by the bundle benchmark, so the three cannot
 * disagree about what is deployed.
 */
import { join } from 'node:path';

/** The repository's root (this file is in `lib/`). */
export const PROJECT_ROOT = join(__dirname, '..');

/** The folder of the catalog's data files, shipped beside the bundles that read the catalog. */
export const CATALOG_DATA_DIR = join(PROJECT_ROOT, 'lambdas', 'core', 'catalog', 'data');

export interface FunctionSpec {
  /** The handler file, relative to the repository root; it exports `handler`. */
  readonly entry: string;
  /** Whether the catalog's data files are copied beside the bundle (as `catalog/`, where the catalog looks). */
  readonly catalog: boolean;
}

/** Every function the stack deploys, by role. */
export const FUNCTIONS = {
  api: { entry: 'lambdas/handlers/api/handler.ts', catalog: true },
  start: { entry: 'lambdas/handlers/run/start.ts', catalog: true },
  probe: { entry: 'lambdas/handlers/run/probe.ts', catalog: false },
  shard: { entry: 'lambdas/handlers/run/shard.ts', catalog: false },
  audit: { entry: 'lambdas/handlers/run/audit.ts', catalog: true },
  finish: { entry: 'lambdas/handlers/run/finish.ts', catalog: true },
  fail: { entry: 'lambdas/handlers/run/fail.ts', catalog: false },
} as const satisfies Record<string, FunctionSpec>;

export type FunctionName = keyof typeof FUNCTIONS;

/** The Node.js target of every bundle (the functions run on the Node.js 22 runtime). */
export const NODE_TARGET = 'node22';

/**
 * The esbuild settings of every bundle. The AWS SDK v3 (`@aws-sdk/*`) is left out: the Node.js 22 runtime
 * provides it, and bundling it would make the auditor's bundle (the EC2 client alone is about 1.5 MB minified)
 * exceed the 1.5 MB goal. See `npm run bench -- bundles` for the sizes.
 */
export const BUNDLE_SETTINGS = {
  minify: true,
  sourceMap: true,
  target: NODE_TARGET,
  bundleAwsSDK: false,
} as const;

/** The module patterns the runtime provides, left out of every bundle. */
export const RUNTIME_PROVIDED = ['@aws-sdk/*'] as const;

/**
 * The variables the CDK app sets on the functions, with sample values: what a bundle needs to load outside
 * Lambda (the bundle test and the bundle benchmark load each one, which runs its cold-start code).
 */
export const SAMPLE_LAMBDA_ENV: Readonly<Record<string, string>> = {
  AWS_REGION: 'eu-west-1',
  TABLE_NAME: 'preflight-results',
  RETENTION_DAYS: '90',
  STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:111122223333:stateMachine:preflight',
  SCHEDULE_GROUP: 'preflight-environments',
  SCHEDULER_ROLE_ARN: 'arn:aws:iam::111122223333:role/preflight-scheduler',
  EVENT_BUS_NAME: 'preflight',
  ALLOWED_TARGET_CIDRS: '["10.0.0.0/8"]',
  VANTAGES:
    '{"workers":{"subnetIds":["subnet-0123456789abcdef0"],"securityGroupIds":["sg-0123456789abcdef0"]}}',
  PROBE_BUDGET_MS: '240000',
};

/** One bundle as {@link buildBundle} wrote it. */
export interface BuiltBundle {
  readonly name: FunctionName;
  /** The bundle's `index.js`. */
  readonly file: string;
  readonly bytes: number;
  /** The source files esbuild put in the bundle, relative to the project root. */
  readonly inputs: readonly string[];
}

/**
 * Builds one function's bundle the way the CDK app's NodejsFunction does (same entry, settings, runtime-provided
 * modules and catalog copy), into `outDir/<name>/`. For the test that every bundle builds and the bundle benchmark;
 * `outDir` should be inside the project so that the runtime-provided modules resolve from `node_modules`.
 */
export async function buildBundle(name: FunctionName, outDir: string): Promise<BuiltBundle> {
  // Loaded here only: synthesis goes through NodejsFunction, which runs esbuild itself.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esbuild = require('esbuild') as typeof import('esbuild');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs');
  const spec: FunctionSpec = FUNCTIONS[name];
  const dir = join(outDir, name);
  fs.rmSync(dir, { recursive: true, force: true });
  const result = await esbuild.build({
    entryPoints: [join(PROJECT_ROOT, spec.entry)],
    outfile: join(dir, 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: BUNDLE_SETTINGS.target,
    minify: BUNDLE_SETTINGS.minify,
    sourcemap: BUNDLE_SETTINGS.sourceMap,
    external: [...RUNTIME_PROVIDED],
    absWorkingDir: PROJECT_ROOT,
    metafile: true,
    logLevel: 'silent',
  });
  if (spec.catalog) fs.cpSync(CATALOG_DATA_DIR, join(dir, 'catalog'), { recursive: true });
  const file = join(dir, 'index.js');
  return { name, file, bytes: fs.statSync(file).size, inputs: Object.keys(result.metafile.inputs).sort() };
}
