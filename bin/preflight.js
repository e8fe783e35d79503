#!/usr/bin/env node
// The `preflight` command. It runs the bundle in dist/ (built by `npm ci` through the `prepare`
// script, and rebuilt here when a source is newer); if the bundle cannot be built (a read-only
// install, no esbuild), it compiles the TypeScript sources on the fly with tsx instead.
'use strict';
const { OUTFILE, buildCli, isFresh } = require('./build-cli');

function load() {
  try {
    if (!isFresh()) buildCli();
    return require(OUTFILE);
  } catch {
    require('tsx/cjs/api').register();
    return require('../lambdas/cli/main.ts');
  }
}

load()
  .main(process.argv.slice(2))
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
