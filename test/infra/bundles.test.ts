import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  type BuiltBundle,
  buildBundle,
  FUNCTIONS,
  type FunctionName,
  PROJECT_ROOT,
  SAMPLE_LAMBDA_ENV,
} from '../../lib/bundling';
import { PreflightFunction } from '../../lib/function';
import { synthStack } from './support';

const names = Object.keys(FUNCTIONS) as FunctionName[];
const outDir = join(PROJECT_ROOT, '.bundles-test', String(process.pid));
const built = new Map<FunctionName, BuiltBundle>();

beforeAll(async () => {
  for (const name of names) built.set(name, await buildBundle(name, outDir));
}, 120_000);
afterAll(() => rmSync(join(PROJECT_ROOT, '.bundles-test'), { recursive: true, force: true }));

describe('the Lambda bundles', () => {
  it('are built from the entries the stack deploys, each of which exists', () => {
    // Act: which entries the synthesized stack's functions were built from.
    const { stack } = synthStack();
    const deployed = stack.node
      .findAll()
      .filter((c): c is PreflightFunction => c instanceof PreflightFunction)
      .map((f) => f.spec.entry);
    // Assert
    expect(new Set(deployed)).toEqual(new Set(Object.values(FUNCTIONS).map((f) => f.entry)));
    for (const f of Object.values(FUNCTIONS)) expect(existsSync(join(PROJECT_ROOT, f.entry))).toBe(true);
  });

  it.each(names)('%s: the bundle loads and exports the real handler', (name) => {
    // Arrange
    const bundle = built.get(name);
    const saved = { ...process.env };
    Object.assign(process.env, SAMPLE_LAMBDA_ENV);
    try {
      // Act
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(bundle?.file ?? '') as { handler?: unknown };
      // Assert
      expect(typeof mod.handler).toBe('function');
      expect(bundle?.inputs).toContain(FUNCTIONS[name].entry);
    } finally {
      process.env = saved;
    }
  });

  it('bundle the code each function runs: the engine in the prober, the router in the API, the steps in the run', () => {
    const has = (name: FunctionName, file: string) => expect(built.get(name)?.inputs).toContain(file);
    has('probe', 'lambdas/core/probe.ts');
    has('probe', 'lambdas/core/target-policy.ts');
    has('api', 'lambdas/handlers/api/router.ts');
    has('start', 'lambdas/core/plan.ts');
    has('audit', 'lambdas/core/audit/evaluate.ts');
    has('finish', 'lambdas/core/run/combine.ts');
  });

  it('keep zod, the AWS SDK and the Powertools Tracer out of the prober', () => {
    // Act
    const inputs = built.get('probe')?.inputs ?? [];
    // Assert
    expect(
      inputs.filter((i) =>
        /node_modules\/(zod|@aws-sdk|@smithy|aws-xray-sdk|@aws-lambda-powertools\/tracer)\//.test(i),
      ),
    ).toEqual([]);
  });

  it('ship the catalog beside the bundles that read it', () => {
    for (const name of names) {
      expect(existsSync(join(outDir, name, 'catalog', 'common.json'))).toBe(FUNCTIONS[name].catalog);
    }
  });
});
