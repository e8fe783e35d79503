// How bin/preflight.js starts: which modules a command loads (read off the process itself), when the bundle
// in dist/ is rebuilt, and what happens when it cannot be built or loaded.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO } from '../support/cli';

const TRACE_PRELOAD = join(REPO, 'test', 'support', 'module-trace.js');

interface Manifest {
  inputs: string[];
  outputs: string[];
  modules: Record<string, string[]>;
}

function run(root: string, argv: string[], extraNodeArgs: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [...extraNodeArgs, join(root, 'bin', 'preflight.js'), ...argv], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Runs a command of the real CLI with the module trace preloaded and returns what it loaded: the source
 * modules inside each bundle file it read (from the build's manifest) and every other file, repo-relative.
 */
function modulesLoadedBy(argv: string[]): { code: number | null; loaded: Set<string> } {
  const trace = join(fs.mkdtempSync(join(os.tmpdir(), 'pf-trace-')), 'trace.txt');
  fs.writeFileSync(trace, '');
  // The first run rebuilds the bundle if a source changed; the traced run then loads a fresh one.
  expect(run(REPO, ['--version']).code).toBe(0);
  const r = run(REPO, argv, ['--require', TRACE_PRELOAD], { PREFLIGHT_MODULE_TRACE: trace });
  const manifest = JSON.parse(
    fs.readFileSync(join(REPO, 'dist', 'preflight.build.json'), 'utf8'),
  ) as Manifest;
  const loaded = new Set<string>();
  for (const line of fs.readFileSync(trace, 'utf8').split('\n')) {
    if (line === '' || line.startsWith('node:') || line.startsWith('data:')) continue;
    const path = (line.startsWith('file:') ? fileURLToPath(line) : line).replace(`${REPO}/`, '');
    loaded.add(path);
    for (const module of manifest.modules[path] ?? []) loaded.add(module);
  }
  return { code: r.code, loaded };
}

/** What `probe`, `plan` and `catalog` must never pay for. */
const HEAVY = [
  /^lambdas\/aws\//, // the store, the EC2 reader, dynalite and the AWS SDK adapters
  /^lambdas\/core\/store\.ts$/,
  /^lambdas\/cli\/api-client\.ts$/,
  /^lambdas\/core\/report\//,
  /^lambdas\/local\//, // the local server and its dashboard
  /^lambdas\/handlers\//,
  /node_modules\/(@aws-sdk|@smithy|dynalite)\//,
];

describe('what a command loads', () => {
  test.each([
    [['catalog', '--json'], 'lambdas/core/catalog/snapshot.ts'],
    [['plan', '--config', 'examples/wave-1.yaml'], 'lambdas/core/plan.ts'],
    [['probe', '--target', '127.0.0.1:1', '--json', '--timeout', '500'], 'lambdas/core/probe.ts'],
  ])(
    'preflight %j loads neither the store, the AWS SDK, the API client, the reports nor the dashboard',
    (argv, own) => {
      // Act
      const { code, loaded } = modulesLoadedBy(argv);

      // Assert: the trace saw the command's own module (so it sees the bundle's chunks), and nothing heavy.
      expect(code === 0 || code === 1).toBe(true);
      expect(loaded).toContain(own);
      expect([...loaded].filter((path) => HEAVY.some((re) => re.test(path)))).toEqual([]);
    },
  );

  test('probe --target loads no catalog, no environment schemas, no zod and no YAML parser', () => {
    // Act
    const { loaded } = modulesLoadedBy(['probe', '--target', '127.0.0.1:1', '--json', '--timeout', '500']);

    // Assert
    const paths = [...loaded];
    expect(
      paths.filter((p) => /node_modules\/(zod|yaml)\/|lambdas\/core\/(catalog|environment)/.test(p)),
    ).toEqual([]);
  });

  test("catalog reads the build's validated copy of the catalog: no zod, no schema, and the same output", () => {
    // Act
    const { code, loaded } = modulesLoadedBy(['catalog', '--json']);
    const fast = run(REPO, ['catalog', '--json']);
    // The same data folder named explicitly: no copy applies, the files are validated as they are.
    const validated = run(REPO, ['catalog', '--json'], [], {
      PREFLIGHT_CATALOG_DIR: join(REPO, 'lambdas', 'core', 'catalog', 'data'),
    });

    // Assert
    expect(code).toBe(0);
    expect(loaded).toContain('lambdas/core/catalog/snapshot.ts');
    expect(
      [...loaded].filter((p) => /node_modules\/zod\/|lambdas\/core\/catalog\/(schema|index)\.ts/.test(p)),
    ).toEqual([]);
    expect(fast.code).toBe(0);
    expect(validated.code).toBe(0);
    expect(fast.stdout).toBe(validated.stdout);
    expect(JSON.parse(fast.stdout).profiles.length).toBeGreaterThan(0);
  });

  test('the trace does see heavy modules where a command needs them: a file audit loads the auditor', () => {
    // Act
    const { loaded } = modulesLoadedBy([
      'audit',
      '--config',
      'examples/wave-1.yaml',
      '--inventory',
      'examples/aws-wave-1/describe-security-groups.json',
    ]);

    // Assert: the auditor is loaded, the EC2 SDK is not (the inventory comes from a file).
    expect(loaded).toContain('lambdas/core/audit/evaluate.ts');
    expect([...loaded].filter((p) => /node_modules\/@aws-sdk\//.test(p))).toEqual([]);
  });
});

describe('the bundle in dist/', () => {
  let root: string;

  /**
   * A copy of the checkout's bin/ (and, when asked, lambdas/) beside the real node_modules, or beside links to
   * each of its packages but one.
   */
  function sandbox(options: { copySources: boolean; withoutPackage?: string }): string {
    const dir = fs.mkdtempSync(join(os.tmpdir(), 'pf-bundle-'));
    fs.mkdirSync(join(dir, 'bin'));
    for (const file of ['preflight.js', 'build-cli.js']) {
      fs.copyFileSync(join(REPO, 'bin', file), join(dir, 'bin', file));
    }
    fs.copyFileSync(join(REPO, 'package.json'), join(dir, 'package.json'));
    if (options.withoutPackage === undefined) {
      fs.symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
    } else {
      fs.mkdirSync(join(dir, 'node_modules'));
      for (const name of fs.readdirSync(join(REPO, 'node_modules'))) {
        if (name !== options.withoutPackage) {
          fs.symlinkSync(join(REPO, 'node_modules', name), join(dir, 'node_modules', name));
        }
      }
    }
    if (options.copySources) fs.cpSync(join(REPO, 'lambdas'), join(dir, 'lambdas'), { recursive: true });
    else fs.symlinkSync(join(REPO, 'lambdas'), join(dir, 'lambdas'));
    return dir;
  }

  afterEach(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test('is built when missing, reused while fresh, and rebuilt when one of its sources changes', () => {
    // Arrange
    root = sandbox({ copySources: true });
    const entry = join(root, 'dist', 'preflight.mjs');

    // Act + Assert: built on the first call
    expect(run(root, ['--version'])).toMatchObject({ code: 0, stderr: '' });
    const built = fs.statSync(entry).mtimeMs;
    // reused on the next
    expect(run(root, ['catalog', '--json']).code).toBe(0);
    expect(fs.statSync(entry).mtimeMs).toBe(built);
    // rebuilt once a bundled source is newer
    const source = join(root, 'lambdas', 'core', 'ports.ts');
    const later = new Date(built + 5_000);
    fs.utimesSync(source, later, later);
    expect(run(root, ['--version']).code).toBe(0);
    expect(fs.statSync(entry).mtimeMs).toBeGreaterThan(built);
  });

  test('a bundle that does not load is reported with its path and exit 70, never replaced by the sources', () => {
    // Arrange: a broken entry that the manifest calls fresh; the sources and tsx are there, so a silent
    // fallback to them would run the command and print the catalog.
    root = sandbox({ copySources: false });
    fs.mkdirSync(join(root, 'dist'));
    fs.writeFileSync(join(root, 'dist', 'preflight.mjs'), 'export const main = ;\n');
    fs.writeFileSync(
      join(root, 'dist', 'preflight.build.json'),
      JSON.stringify({ inputs: ['package.json'], outputs: ['dist/preflight.mjs'], modules: {} }),
    );
    const past = new Date(Date.now() - 60_000);
    fs.utimesSync(join(root, 'package.json'), past, past);

    // Act
    const r = run(root, ['catalog', '--json']);

    // Assert
    expect(r.code).toBe(70);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`the CLI bundle ${join(root, 'dist', 'preflight.mjs')} does not load`);
    expect(r.stderr).toContain('SyntaxError');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test('a source that does not compile is reported as a build error, not run from a stale bundle or tsx', () => {
    // Arrange
    root = sandbox({ copySources: true });
    expect(run(root, ['--version']).code).toBe(0);
    const main = join(root, 'lambdas', 'cli', 'main.ts');
    fs.appendFileSync(main, '\nexport const broken = ;\n');
    const later = new Date(Date.now() + 5_000);
    fs.utimesSync(main, later, later);

    // Act
    const r = run(root, ['catalog', '--json']);

    // Assert
    expect(r.code).toBe(70);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('cannot build the CLI bundle');
    expect(r.stderr).toContain('main.ts');
  });

  test('without esbuild installed, the sources run through tsx, and it says so', () => {
    // Arrange: no bundle, and no esbuild for bin/ to build one with (tsx still finds its own).
    root = sandbox({ copySources: false, withoutPackage: 'esbuild' });

    // Act
    const r = run(root, ['catalog', '--json']);

    // Assert
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('esbuild is not installed; running the TypeScript sources with tsx');
    expect(JSON.parse(r.stdout).profiles.length).toBeGreaterThan(0);
    expect(fs.existsSync(join(root, 'dist', 'preflight.mjs'))).toBe(false);
  });
});
