#!/usr/bin/env node
// The `preflight` command. The CLI is written in TypeScript; tsx's CommonJS hook compiles it on load
// (cached under the OS temp folder), so `npx preflight` works straight after `npm ci` with no build step.
'use strict';
require('tsx/cjs/api').register();
const { main } = require('../lambdas/cli/main.ts');
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    // main() handles every expected failure itself; this is the last line of defence.
    process.stderr.write(`preflight: internal error: ${err && err.message ? err.message : String(err)}\n`);
    process.exitCode = 70;
  },
);
