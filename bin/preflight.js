#!/usr/bin/env node
// The `preflight` command. It runs the bundle in dist/ (built by `npm ci` through the `prepare` script),
// rebuilt here first when a file it was built from has changed. Only when esbuild is not installed (an
// install without dev dependencies) does it run the TypeScript sources through tsx instead. Anything else
// that goes wrong while building or loading the bundle is reported as it is, never papered over.
'use strict';
const { pathToFileURL } = require('node:url');
const { OUTFILE, buildCli, isFresh } = require('./build-cli');

/** True when `err` says that esbuild itself is not installed (not that something esbuild needs is missing). */
function esbuildMissing(err) {
  return err && err.code === 'MODULE_NOT_FOUND' && /'esbuild'/.test(String(err.message).split('\n')[0]);
}

function fail(what, err) {
  process.stderr.write(
    `preflight: ${what}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n` +
      'Rebuild it with "npm run build" (or "npm ci"); report the message above if that does not help.\n',
  );
  process.exit(70);
}

async function load() {
  let fresh;
  try {
    fresh = isFresh();
  } catch (err) {
    fail('cannot tell whether the CLI bundle in dist/ is up to date', err);
  }
  if (!fresh) {
    try {
      await buildCli();
    } catch (err) {
      if (!esbuildMissing(err)) fail(`cannot build the CLI bundle ${OUTFILE}`, err);
      process.stderr.write(
        'preflight: esbuild is not installed; running the TypeScript sources with tsx (slower)\n',
      );
      // tsx's loader registers its hooks for require() and import() alike (the commands are imported lazily).
      await import('tsx');
      return require('../lambdas/cli/main.ts');
    }
  }
  try {
    return await import(pathToFileURL(OUTFILE).href);
  } catch (err) {
    return fail(`the CLI bundle ${OUTFILE} does not load`, err);
  }
}

load()
  .then((cli) => cli.main(process.argv.slice(2)))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      // main() handles every expected failure itself; this is the last line of defence.
      process.stderr.write(`preflight: internal error: ${err && err.message ? err.message : String(err)}\n`);
      process.exitCode = 70;
    },
  );
