/**
 * The local HTTP server of `npm start`: node:http in front of the same {@link handleRequest} that API Gateway
 * will call, plus the dashboard's static files at `/ui/` (`/` redirects there). The body-size cap is enforced
 * while the body streams in, so an oversized request is refused without being buffered.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, isIP } from 'node:net';
import { extname, join } from 'node:path';
import {
  type ApiDeps,
  type ApiRequest,
  type ApiResponse,
  DEFAULT_LIMITS,
  handleRequest,
} from '../handlers/api/router';
import { ProblemError } from '../handlers/api/problem';

/**
 * The folder holding the dashboard's files (HTML, CSS, plain JavaScript modules; no build step).
 * `PREFLIGHT_DASHBOARD_DIR` overrides it. From the sources it is `dashboard/` beside this file; the CLI bundle in
 * `dist/` finds the same folder from the package root, or a `dashboard/` folder shipped beside the bundle.
 */
export const DEFAULT_DASHBOARD_DIR =
  process.env.PREFLIGHT_DASHBOARD_DIR ??
  [join(__dirname, 'dashboard'), join(__dirname, '..', 'lambdas', 'local', 'dashboard')].find((dir) =>
    existsSync(join(dir, 'index.html')),
  ) ??
  join(__dirname, 'dashboard');

/** Where the dashboard's files are served; no API route starts with it. */
export const DASHBOARD_PREFIX = '/ui/';

/** The API's dependencies (the mode is always `local` here) plus where to listen. */
export interface LocalServerOptions extends Omit<ApiDeps, 'mode'> {
  /** 0 picks a free port. */
  readonly port: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** The dashboard's files. @default {@link DEFAULT_DASHBOARD_DIR} */
  readonly dashboardDir?: string;
}

export interface LocalServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Stops accepting connections and closes idle ones; resolves when every open request has finished. */
  close(): Promise<void>;
}

class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
}

/** Reads the body as UTF-8, refusing it as soon as it exceeds `max` bytes (by header or by count). */
function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return Promise.reject(new BodyTooLargeError());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > max) {
        done = true;
        chunks.length = 0;
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(size === 0 ? undefined : Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (err) => {
      if (done) return;
      done = true;
      reject(err);
    });
  });
}

function send(res: ServerResponse, response: ApiResponse, close = false): void {
  const headers: Record<string, string> = { ...response.headers };
  if (close) headers.connection = 'close';
  if (response.body !== '') headers['content-length'] = String(Buffer.byteLength(response.body));
  res.writeHead(response.status, headers);
  res.end(response.body);
}

// ---------------------------------------------------------------------------------------------------------------
// The dashboard's static files

/** The only files served, by extension; anything else in the folder stays private. All are text. */
const ASSET_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml; charset=utf-8',
};

/** The page loads only its own files and talks only to its own origin (the API); nothing inline, no frames. */
const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  readonly type: string;
  readonly body: string;
  readonly etag: string;
}

/**
 * Reads the dashboard's files once, at start-up: a flat folder, only the extensions of {@link ASSET_TYPES}.
 * A request is answered from this table by exact name and never touches the file system, so no path (`..`,
 * encoded or not) can reach another file.
 */
function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const type = ASSET_TYPES[extname(entry.name)];
    if (!entry.isFile() || type === undefined || !/^[\w-]+(?:\.[\w-]+)*$/.test(entry.name)) continue;
    const body = readFileSync(join(dir, entry.name), 'utf8');
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    assets.set(entry.name, { type, body, etag });
  }
  return assets;
}

const problemJson = (status: number, type: string, detail: string, headers: Record<string, string> = {}) => {
  const problem = new ProblemError(status, type, detail);
  return {
    status,
    headers: { 'content-type': 'application/problem+json', ...headers },
    body: JSON.stringify(problem.toBody()),
  } satisfies ApiResponse;
};

/**
 * Answers `/`, `/ui` and `/ui/…` from the dashboard's files; any other path is the API's (undefined).
 * GET and HEAD only. Files are revalidated on every use (`no-cache` with an ETag, so an upgrade shows at once
 * and an unchanged file costs a 304).
 */
function dashboardResponse(
  method: string,
  path: string,
  headers: IncomingMessage['headers'],
  assets: ReadonlyMap<string, Asset>,
  dir: string,
): ApiResponse | undefined {
  if (path !== '/' && path !== '/ui' && !path.startsWith(DASHBOARD_PREFIX)) return undefined;
  if (method !== 'GET' && method !== 'HEAD') {
    return problemJson(405, 'method-not-allowed', `${method} is not allowed here (allowed: GET, HEAD)`, {
      allow: 'GET, HEAD',
    });
  }
  if (path === '/' || path === '/ui') {
    return { status: 302, headers: { location: DASHBOARD_PREFIX, 'cache-control': 'no-cache' }, body: '' };
  }
  // The name is matched as it came, still percent-encoded: the files' names need no encoding.
  const name = path.slice(DASHBOARD_PREFIX.length) || 'index.html';
  const asset = assets.get(name);
  if (!asset) {
    const detail = assets.has('index.html')
      ? `no dashboard file ${JSON.stringify(name)}`
      : `the dashboard's files are not installed (looked in ${dir}; set PREFLIGHT_DASHBOARD_DIR)`;
    return problemJson(404, 'not-found', detail);
  }
  const common: Record<string, string> = {
    etag: asset.etag,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
  if (asset.type.startsWith('text/html')) {
    common['content-security-policy'] = DASHBOARD_CSP;
    common['x-frame-options'] = 'DENY';
  }
  const ifNoneMatch = headers['if-none-match'];
  if (ifNoneMatch !== undefined && ifNoneMatch.split(/\s*,\s*/).includes(asset.etag)) {
    return { status: 304, headers: common, body: '' };
  }
  // For HEAD, node:http sends the headers (with the length) and drops the body.
  return { status: 200, headers: { ...common, 'content-type': asset.type }, body: asset.body };
}

// ---------------------------------------------------------------------------------------------------------------
// Who may talk to it: the server's own name, the server's own origin

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1']);

/** Whether `host` (an address or a name, no brackets) is the loopback interface. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_NAMES.has(host.toLowerCase()) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The host part of a `Host` header or URL authority (`[::1]:8787` → `::1`), lower case. */
function hostOf(authority: string): string {
  const m = /^\[([^\]]+)\](?::\d*)?$/.exec(authority) ?? /^([^:]*)(?::\d*)?$/.exec(authority);
  return (m?.[1] ?? authority).toLowerCase();
}

/**
 * Why a request may not be answered, or undefined. A web page must not reach this API: DNS rebinding (a name of
 * the attacker's resolving to this machine) shows in a `Host` that is not the server's own name or an address,
 * and a cross-site request in an `Origin` other than the server's own (the dashboard's requests carry its own).
 */
function refusedCaller(headers: IncomingMessage['headers'], listenHost: string): ApiResponse | undefined {
  const hostHeader = headers.host;
  if (hostHeader === undefined || hostHeader === '') {
    return problemJson(400, 'bad-host', 'the request has no Host header');
  }
  const host = hostOf(hostHeader);
  // An address cannot be rebound; a name must be the loopback's or the one the server was told to listen on.
  const own = isIP(host) !== 0 || host === 'localhost' || host === hostOf(listenHost);
  if (!own) {
    return problemJson(
      421,
      'bad-host',
      `Host ${JSON.stringify(hostHeader)} is not this server's name: use http://127.0.0.1 or the address it listens on (a web page on another site cannot reach this API)`,
    );
  }
  const origin = headers.origin;
  if (origin !== undefined) {
    let same: boolean;
    try {
      const url = new URL(origin);
      same = url.protocol === 'http:' && url.host.toLowerCase() === hostHeader.toLowerCase();
    } catch {
      same = false;
    }
    if (!same) {
      return problemJson(
        403,
        'cross-origin',
        `requests from ${JSON.stringify(origin)} are refused: only this server's own pages (${JSON.stringify(`http://${hostHeader}`)}) may call it`,
      );
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// The server

/** The request's query as a record; a repeated parameter keeps its first value. */
function queryOf(url: URL): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of url.searchParams) if (!(k in out)) out[k] = v;
  return out;
}

/**
 * Starts the API on `host:port` (loopback by default).
 * @returns its URL and `close()`.
 */
export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const host = options.host ?? '127.0.0.1';
  const maxBody = options.limits?.maxBodyBytes ?? DEFAULT_LIMITS.maxBodyBytes;
  const { port: _port, host: _host, dashboardDir: _dir, ...rest } = options;
  const deps: ApiDeps = { ...rest, mode: 'local' };
  const dashboardDir = options.dashboardDir ?? DEFAULT_DASHBOARD_DIR;
  const assets = loadAssets(dashboardDir);

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const refused = refusedCaller(req.headers, host);
      if (refused) {
        req.resume();
        send(res, refused, true);
        return;
      }
      const page = dashboardResponse(req.method ?? 'GET', url.pathname, req.headers, assets, dashboardDir);
      if (page) {
        // A GET or HEAD has no body to read; whatever a client sends anyway is drained, not buffered.
        req.resume();
        send(res, page);
        return;
      }
      let body: string | undefined;
      try {
        body = await readBody(req, maxBody);
      } catch (err) {
        const problem =
          err instanceof BodyTooLargeError
            ? new ProblemError(413, 'body-too-large', `the body is larger than ${maxBody} bytes`)
            : new ProblemError(400, 'bad-body', 'the body could not be read');
        // Drop the rest of the upload without buffering it, and close the connection once answered.
        req.resume();
        send(
          res,
          {
            status: problem.status,
            headers: { 'content-type': 'application/problem+json' },
            body: JSON.stringify(problem.toBody()),
          },
          true,
        );
        return;
      }
      const request: ApiRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: queryOf(url),
        headers: Object.fromEntries(
          Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]),
        ),
        body,
      };
      send(res, await handleRequest(request, deps));
    })().catch((err: unknown) => {
      console.error('preflight server: cannot answer a request', err);
      if (!res.headersSent) send(res, { status: 500, headers: {}, body: '' }, true);
      else res.destroy();
    });
  });
  // Bounded waits for slow clients: a stalled upload does not hold a socket forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  let closing: Promise<void> | undefined;
  return {
    url,
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
