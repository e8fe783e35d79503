'use strict';
// Bundles the preflight CLI into dist/ with esbuild: an ES module entry (dist/preflight.mjs) and one chunk
// per command (plus the chunks they share), so that a command reads and compiles only the code it runs:
// `preflight catalog` never reads the store, the API client, the reports or the dashboard. `npm ci` builds
// it (the `prepare` script), as do `npm run build`, `npm test` and `npm run bench`; bin/preflight.js
// rebuilds it when one of the files it was built from has changed since.
const {
  existsSync,
  mkdirSync,
  readdirSync,
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
  const outputs = result.outputFiles.map((file) => relative(ROOT, file.path));
  const snapshot = await catalogSnapshot(esbuild);
  if (snapshot) {
    writeAtomically(CATALOG_SNAPSHOT, JSON.stringify(snapshot));
    outputs.push(relative(ROOT, CATALOG_SNAPSHOT));
  }
  outputs.sort();
  for (const file of previous?.outputs ?? []) {
    if (!outputs.includes(file)) rmSync(join(ROOT, file), { force: true });
  }
  // Metafile paths are relative to absWorkingDir (the root); a plugin's virtual modules are `namespace:path`.
  // Bundled packages change only with the lock file.
  const sources = Object.keys(result.metafile.inputs).filter(
    (path) => !path.includes('node_modules/') && !/^[\w-]+:/.test(path),
  );
  const manifest = {
    // The catalog's data files too: an edit rebuilds the validated copy (without it, commands validate them).
    inputs: [
      ...sources,
      ...BUILD_INPUTS.filter((path) => existsSync(join(ROOT, path))),
      ...(existsSync(join(ROOT, CATALOG_DATA)) ? readdirSync(join(ROOT, CATALOG_DATA)) : [])
        .filter((name) => name.endsWith('.json'))
        .map((name) => join(CATALOG_DATA, name)),
    ].sort(),
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

const CATALOG_DATA = join('lambdas', 'core', 'catalog', 'data');
/** The build's validated copy of the built-in catalog (lambdas/core/catalog/snapshot.ts), beside the bundle. */
const CATALOG_SNAPSHOT = join(OUTDIR, 'preflight-catalog.json');

/**
 * Validates the built-in catalog's data files with the catalog module itself (bundled here for the purpose) and
 * returns the copy to write, or undefined when they do not validate: then every command validates them and says
 * what is wrong, as it would without a copy.
 */
async function catalogSnapshot(esbuild) {
  const entry = join(ROOT, 'lambdas', 'core', 'catalog', 'index.ts');
  if (!existsSync(entry) || !existsSync(join(ROOT, CATALOG_DATA))) return undefined;
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    write: false,
    logLevel: 'warning',
  });
  const Module = require('node:module');
  // Compiled as if it were the source file, so that the module finds its data folder beside it.
  const filename = entry.replace(/\.ts$/, '.js');
  const catalog = new Module(filename);
  catalog.filename = filename;
  catalog.paths = Module._nodeModulePaths(ROOT);
  catalog._compile(result.outputFiles[0].text, filename);
  const sources = catalog.exports.readCatalogSources([join(ROOT, CATALOG_DATA)]);
  try {
    return catalog.exports.makeSnapshot(sources, catalog.exports.validateCatalogFiles(sources));
  } catch (err) {
    process.stderr.write(
      `build-cli: the catalog does not validate, so no validated copy is written: ${err.message}\n`,
    );
    return undefined;
  }
}

/** The agent alone, with nothing external: dist/preflight-agent.js runs with plain node on a bare machine. */
const AGENT_OUTFILE = join(ROOT, 'dist', 'preflight-agent.js');
function buildAgent() {
  require('esbuild').buildSync({
    entryPoints: [join(ROOT, 'lambdas', 'agent', 'main.ts')],
    outfile: AGENT_OUTFILE,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    banner: { js: '#!/usr/bin/env node' },
    logLevel: 'warning',
  });
}

module.exports = { OUTFILE, MANIFEST, AGENT_OUTFILE, buildCli, buildAgent, isFresh };

if (require.main === module) {
  buildCli()
    .then(() => buildAgent())
    .catch((err) => {
      // esbuild has already printed each error with its file and line.
      process.stderr.write(`build-cli: ${err.message}\n`);
      process.exitCode = 1;
    });
}
