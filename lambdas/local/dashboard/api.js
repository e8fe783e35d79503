/* global document, fetch, location -- a browser module */
// The JSON API, seen from the browser. The base URL comes from <meta name="preflight-api">: empty means the
// origin that served the page (the local server), so the same files can be hosted in front of a deployed API.

const meta = document.querySelector('meta[name="preflight-api"]');
const BASE = (meta?.getAttribute('content') ?? '').trim().replace(/\/+$/, '');

/** An API answer that is not a success, with the problem+json detail when there is one. */
export class ApiError extends Error {
  constructor(status, problem, path) {
    const fields = (problem?.errors ?? []).map((e) => `${e.path}: ${e.message}`);
    const detail = problem?.detail ?? `HTTP ${status}`;
    super(fields.length > 0 ? `${detail} (${fields.join('; ')})` : detail);
    this.name = 'ApiError';
    this.status = status;
    this.path = path;
  }
}

/** The absolute URL of an API path (`/checks/…`). */
export function apiUrl(path) {
  return `${BASE}${path}`;
}

async function request(method, path, body) {
  const init = { method, headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(apiUrl(path), init);
  } catch (err) {
    throw new ApiError(
      0,
      { detail: `cannot reach the preflight API at ${BASE || location.origin} (${err.message})` },
      path,
    );
  }
  const text = await res.text();
  let data;
  try {
    data = text === '' ? undefined : JSON.parse(text);
  } catch {
    data = undefined;
  }
  if (!res.ok) throw new ApiError(res.status, data, path);
  return data;
}

const enc = encodeURIComponent;

/** Every item of a paged listing, following `nextCursor` for at most `maxPages` pages. */
async function all(path, maxPages = 20) {
  const items = [];
  let cursor;
  for (let page = 0; page < maxPages; page++) {
    const sep = path.includes('?') ? '&' : '?';
    const data = await request('GET', `${path}${sep}limit=100${cursor ? `&cursor=${enc(cursor)}` : ''}`);
    items.push(...data.items);
    cursor = data.nextCursor;
    if (!cursor) break;
  }
  return items;
}

export const api = {
  environments: () => all('/environments'),
  environment: (name) => request('GET', `/environments/${enc(name)}`),
  /** An environment's latest runs, newest first. */
  runs: (name, limit = 20) => request('GET', `/checks?environment=${enc(name)}&limit=${limit}`),
  /** A run with every one of its findings (the API pages them). */
  async run(checkId) {
    const first = await request('GET', `/checks/${enc(checkId)}?limit=100`);
    const findings = [...first.findings];
    let cursor = first.nextCursor;
    for (let page = 0; cursor && page < 30; page++) {
      const next = await request('GET', `/checks/${enc(checkId)}?limit=100&cursor=${enc(cursor)}`);
      findings.push(...next.findings);
      cursor = next.nextCursor;
    }
    return { ...first, findings };
  },
  /** The run without its findings beyond the first one: enough to follow its status. */
  runStatus: (checkId) => request('GET', `/checks/${enc(checkId)}?limit=1`),
  flowHistory: (name, flowId) => all(`/environments/${enc(name)}/flows/${enc(flowId)}/history`, 5),
  startCheck: (environmentName) => request('POST', '/checks', { environmentName }),
  /** The verdict table every surface reads (class, GO effect, label, symbol, next step). */
  verdicts: () => request('GET', '/verdicts'),
  /** The run's JSON report: its readiness and its change set (every fix of the run, merged). */
  report: (checkId) => request('GET', `/checks/${enc(checkId)}/report?format=json`),
  reportUrl: (checkId, format) => apiUrl(`/checks/${enc(checkId)}/report?format=${enc(format)}`),
};
