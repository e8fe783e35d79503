'use strict';
// Bundles the preflight CLI into dist/ with esbuild: an ES module entry (dist/preflight.mjs) and one chunk
// per command (plus the chunks they share), so that a command reads and compiles only the code it runs:
// `preflight catalog` never reads the store, the API client, the reports or the dashboard. `npm ci` builds
// it (the `prepare` script), as do `npm run build`, `npm test` and `npm run bench`; bin/preflight.js
// rebuilds it when one of the files it was built from has changed since.
const {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} = require('node:fs');
const { join, relative } = require('node:path');

const ROOT = join(__dirname, '..');
const OUTDIR = join(ROOT, 'dist');
/** The entry of the bundle; the command chunks sit beside it as dist/preflight-*.mjs. */
const OUTFILE = join(OUTDIR, 'preflight.mjs');
/**
 * What the last build read and wrote: `inputs` (paths relative to the root: every bundled source file, the
 * package files and this script), `outputs` (the files it wrote, removed by the next build) and `modules`
 * (each .mjs file's bundled modules).
 */
const MANIFEST = join(OUTDIR, 'preflight.build.json');

// In an ES module, `require`, `__dirname` and `__filename` do not exist; the sources use them (the catalog
// and the dashboard find their data files beside the bundle, the AWS SDK and dynalite are required lazily).
// Every chunk lives in dist/, so each gets the same values.
const BANNER = [
  "import { createRequire as __pfCreateRequire } from 'node:module';",
  "import { dirname as __pfDirname } from 'node:path';",
  "import { fileURLToPath as __pfFileURLToPath } from 'node:url';",
  'const require = __pfCreateRequire(import.meta.url);',
  'const __filename = __pfFileURLToPath(import.meta.url);',
  'const __dirname = __pfDirname(__filename);',
].join('\n');

/**
 * zod's namespace re-exports every translation of its error messages (about 260 KB, more than half of zod
 * in the bundle) and esbuild cannot drop them; the CLI speaks English, so its bundle keeps only `en`
 * (`z.locales` has just `en` there). This is a quarter of what `preflight catalog` had to compile.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer)
        ? { path: join(args.resolveDir, '..', 'locales', 'en.js'), namespace: 'zod-locales' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: ROOT,
    }));
  },
};

/** Files that change the bundle without being bundled themselves. */
const BUILD_INPUTS = ['package.json', 'package-lock.json', relative(ROOT, __filename)];

function readManifest() {
  try {
    return JSON.parse(readFileSync(MANIFEST, 'utf8'));
  } catch (err) {
    if (err.code === 'ENOENT') return undefined;
    throw new Error(`${MANIFEST} is not readable (${err.message}); remove dist/ and run "npm run build"`, {
      cause: err,
    });
  }
}

/**
 * True when the bundle exists and none of the files it was built from is newer: one read of the build's
 * manifest and one stat per recorded input (about a hundred files, under a millisecond), no walk of the tree.
 * A recorded input that no longer exists makes the bundle stale.
 */
function isFresh() {
  const manifest = readManifest();
  if (!manifest || !Array.isArray(manifest.inputs)) return false;
  let built;
  try {
    built = statSync(OUTFILE).mtimeMs;
  } catch (err) {
    if (err.code === 'ENOENT') return false;
    throw err;
  }
  for (const input of manifest.inputs) {
    let mtime;
    try {
      mtime = statSync(join(ROOT, input)).mtimeMs;
    } catch (err) {
      if (err.code === 'ENOENT') return false;
      throw err;
    }
    if (mtime > built) return false;
  }
  return true;
}

/** Writes a file under a temporary name and renames it: a concurrent reader sees the old or the new file. */
function writeAtomically(path, contents) {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
}

/**
 * Builds dist/preflight.mjs and its chunks: ESM for Node 20, split by command, minified, with source maps.
 * Safe to run while another process builds or runs the bundle (as parallel tests do): every file is
 * replaced by a rename, and the previous build's files are removed only when this build did not write them.
 */
async function buildCli() {
  const esbuild = require('esbuild');
  const previous = readManifest();
  // The manifest goes first and comes back last: an interrupted build leaves the bundle stale, never fresh.
  rmSync(MANIFEST, { force: true });
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: { preflight: join('lambdas', 'cli', 'main.ts') },
    outdir: OUTDIR,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'preflight-[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    minify: true,
    // The AWS SDK and dynalite (native code) load from node_modules, and only in the commands that use them.
    external: ['@aws-sdk/*', '@smithy/*', 'dynalite'],
    banner: { js: BANNER },
    plugins: [zodEnglishOnly],
    sourcemap: true,
    metafile: true,
    write: false,
    logLevel: 'warning',
  });
  mkdirSync(OUTDIR, { recursive: true });
  for (const file of result.outputFiles) writeAtomically(file.path, file.contents);
  const outputs = result.outputFiles.map((file) => relative(ROOT, file.path)).sort();
  for (const file of previous?.outputs ?? []) {
    if (!outputs.includes(file)) rmSync(join(ROOT, file), { force: true });
  }
  // Metafile paths are relative to absWorkingDir (the root); a plugin's virtual modules are `namespace:path`.
  // Bundled packages change only with the lock file.
  const sources = Object.keys(result.metafile.inputs).filter(
    (path) => !path.includes('node_modules/') && !/^[\w-]+:/.test(path),
  );
  const manifest = {
    inputs: [...sources, ...BUILD_INPUTS.filter((path) => existsSync(join(ROOT, path)))].sort(),
    outputs,
    // Which modules each file of the bundle holds: what a command loads can be told from the files it reads.
    modules: Object.fromEntries(
      Object.entries(result.metafile.outputs)
        .filter(([path]) => path.endsWith('.mjs'))
        .map(([path, output]) => [path, Object.keys(output.inputs).sort()]),
    ),
  };
  writeAtomically(MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

module.exports = { OUTFILE, MANIFEST, buildCli, isFresh };

if (require.main === module) {
  buildCli().catch((err) => {
    // esbuild has already printed each error with its file and line.
    process.stderr.write(`build-cli: ${err.message}\n`);
    process.exitCode = 1;
  });
}
