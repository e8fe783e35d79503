import { createHash, createHmac } from 'node:crypto';
import { InputError } from './args';

/** A reply of the preflight API. */
export interface ApiReply {
  readonly status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, read field by field by the commands
  readonly body: any;
}

/** Raised when the API cannot be reached or answers with an error; the message names the URL and the problem. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** SHA-256 for the SigV4 signer, from node:crypto (HMAC when given a secret). */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: SourceData): string | Uint8Array =>
  typeof data === 'string'
    ? data
    : data instanceof ArrayBuffer
      ? new Uint8Array(data)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

class Sha256 {
  private readonly hash;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

/** The region of an API Gateway URL (`…execute-api.eu-west-1.amazonaws.com`), else AWS_REGION. */
function regionOf(url: URL, env: NodeJS.ProcessEnv): string {
  const m = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url.hostname);
  const region = m?.[1] ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) throw new InputError(`--api ${url.origin}: cannot tell the AWS region: set AWS_REGION`);
  return region;
}

/** Signs a request to a deployed (IAM-authorized) API with SigV4 from the standard AWS credential chain. */
export async function signedHeaders(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<Record<string, string>> {
  // Loaded only for a deployed API: local use never touches the AWS SDK.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { SignatureV4 } = require('@smithy/signature-v4') as typeof import('@smithy/signature-v4');
  const { defaultProvider } =
    require('@aws-sdk/credential-provider-node') as typeof import('@aws-sdk/credential-provider-node');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const signer = new SignatureV4({
    service: 'execute-api',
    region: regionOf(url, env),
    credentials: defaultProvider(),
    sha256: Sha256,
  });
  const query: Record<string, string> = {};
  url.searchParams.forEach((v, k) => (query[k] = v));
  const signed = await signer.sign({
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: url.pathname,
    query,
    headers: { ...headers, host: url.host },
    ...(body !== undefined ? { body } : {}),
  });
  return signed.headers as Record<string, string>;
}

/**
 * Calls the API: JSON in and out; requests to anything but loopback are signed with SigV4.
 * @throws ApiError when the API cannot be reached or does not answer JSON.
 */
export async function callApi(
  base: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  options: {
    body?: unknown;
    headers?: Record<string, string>;
    env: NodeJS.ProcessEnv;
    /** Cancels the request (a held poll, a stopping agent). */
    signal?: AbortSignal;
    /** `false`: never sign, even beyond loopback (a local `preflight serve` reached over a network). @default true */
    sign?: boolean;
  },
): Promise<ApiReply> {
  let url: URL;
  try {
    // The base may carry a stage path (https://…/prod): the route is appended to it.
    url = new URL(`${base.replace(/\/+$/, '')}${path}`);
  } catch {
    throw new InputError(`--api: ${JSON.stringify(base)} is not a URL (e.g. http://127.0.0.1:8787)`);
  }
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  let headers: Record<string, string> = {
    accept: 'application/json',
    ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    ...options.headers,
  };
  if (!LOOPBACK.has(url.hostname) && options.sign !== false)
    headers = await signedHeaders(url, method, headers, body, options.env);
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    if (options.signal?.aborted) throw err;
    const inner = (err as { cause?: { code?: string; message?: string } }).cause;
    const cause = inner?.code ?? inner?.message ?? (err as Error).message;
    throw new ApiError(
      `cannot reach the preflight API at ${url.origin} (${cause}); is \`preflight serve\` running?`,
    );
  }
  const text = await res.text();
  try {
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
  } catch {
    throw new ApiError(
      `${method} ${url.pathname}: the API answered ${res.status} with something that is not JSON`,
    );
  }
}

/** The one-line message of an API problem+json reply, with the fields it names. */
export function problemMessage(reply: ApiReply): string {
  const b = reply.body ?? {};
  const fields = Array.isArray(b.errors)
    ? b.errors.map((e: { path?: string; message?: string }) => `${e.path}: ${e.message}`).join('; ')
    : '';
  return `${reply.status} ${b.title ?? ''}${b.detail ? `: ${b.detail}` : ''}${fields ? ` (${fields})` : ''}`.trim();
}
