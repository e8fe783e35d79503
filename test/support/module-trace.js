'use strict';
// Preloaded with `node --require` to record every module file a process loads, one URL or path a line, in
// the file named by PREFLIGHT_MODULE_TRACE: ES modules through a loader hook (the CLI bundle's chunks, the
// packages they import), CommonJS modules from require's cache at exit (what `require` loaded).
const { appendFileSync } = require('node:fs');
const { register } = require('node:module');

const out = process.env.PREFLIGHT_MODULE_TRACE;
if (!out) throw new Error('module-trace.js: set PREFLIGHT_MODULE_TRACE to the file to write');

const hooks = `
import { appendFileSync } from 'node:fs';
let out;
export function initialize(data) { out = data.out; }
export async function load(url, context, next) {
  appendFileSync(out, url + '\\n');
  return next(url, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { out } });

process.on('exit', () => {
  appendFileSync(
    out,
    Object.keys(require.cache)
      .map((path) => `${path}\n`)
      .join(''),
  );
});
