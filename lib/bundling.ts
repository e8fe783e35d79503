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
