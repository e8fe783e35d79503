/**
 * The local HTTP server of `npm start`: node:http in front of the same {@link handleRequest} that API Gateway
 * will call. The body-size cap is enforced while the body streams in, so an oversized request is refused without
 * being buffered.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type ApiDeps,
  type ApiRequest,
  type ApiResponse,
  DEFAULT_LIMITS,
  handleRequest,
} from '../handlers/api/router';
import { ProblemError } from '../handlers/api/problem';

/** The API's dependencies (the mode is always `local` here) plus where to listen. */
export interface LocalServerOptions extends Omit<ApiDeps, 'mode'> {
  /** 0 picks a free port. */
  readonly port: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
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
  const { port: _port, host: _host, ...rest } = options;
  const deps: ApiDeps = { ...rest, mode: 'local' };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
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
