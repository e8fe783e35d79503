'use strict';
// Bundles the preflight CLI into dist/preflight.js with esbuild: one file that starts in a fraction
// of the time it takes to compile the TypeScript sources on every run. `npm ci` builds it (the
// `prepare` script); bin/preflight.js rebuilds it when a source file is newer.
const { readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
const OUTFILE = join(ROOT, 'dist', 'preflight.js');

/** The newest modification time (ms) of the CLI's sources: lambdas/**, package.json and this build script. */
function newestSourceMtime() {
  let newest = Math.max(statSync(join(ROOT, 'package.json')).mtimeMs, statSync(__filename).mtimeMs);
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|json)$/.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  walk(join(ROOT, 'lambdas'));
  return newest;
}

/** True when dist/preflight.js exists and no source is newer. */
function isFresh() {
  try {
    return statSync(OUTFILE).mtimeMs >= newestSourceMtime();
  } catch {
    return false;
  }
}

/** Builds dist/preflight.js: CommonJS for Node 20, minified (it loads faster), with a source map. */
function buildCli() {
  require('esbuild').buildSync({
    entryPoints: [join(ROOT, 'lambdas', 'cli', 'main.ts')],
    outfile: OUTFILE,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    // The AWS SDK and dynalite (native code) load from node_modules, and only in the commands that use them.
    external: ['@aws-sdk/*', '@smithy/*', 'dynalite'],
    sourcemap: true,
    logLevel: 'warning',
  });
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

module.exports = { OUTFILE, AGENT_OUTFILE, buildCli, buildAgent, isFresh };

if (require.main === module) {
  buildCli();
  buildAgent();
}
