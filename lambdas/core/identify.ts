/**
 * Service identification: what answers on a port that accepted a connection. A TLS handshake (protocol,
 * certificate subject, issuer, validity, self-signed, hostname match), an HTTP status and `Server` header, the
 * SSH banner, or the dialect of an SMB2 NEGOTIATE. It tells a working service from a port that is open but
 * answered by something else: a proxy's error page, an expired certificate, plain text on a TLS port, a
 * middlebox that accepts and closes at once.
 *
 * Pure Node (`node:tls`, `node:net`, `node:crypto`): this module is bundled into the prober Lambda with the
 * probe engine, so it stays small and imports no validation library.
 */
import type * as Crypto from 'node:crypto';
import * as net from 'node:net';
import type * as Tls from 'node:tls';
import { printable } from './printable';

// TLS and crypto load when a port is identified, not with the engine: a probe of ports with no known service
// (and every command that only imports the engine) does not pay for them at start-up.
/* eslint-disable @typescript-eslint/no-require-imports */
const tlsModule = (): typeof Tls => require('node:tls') as typeof Tls;
const cryptoModule = (): typeof Crypto => require('node:crypto') as typeof Crypto;
/* eslint-enable @typescript-eslint/no-require-imports */

/** The protocols an open port can be identified by. */
export type ServiceKind = 'tls' | 'http' | 'ssh' | 'smb';

export const SERVICE_KINDS: readonly ServiceKind[] = ['tls', 'http', 'ssh', 'smb'];

/**
 * Which well-known port is identified how: the ports the vendors' matrices document (HTTPS and the Docker TLS
 * API, HTTP APIs and WinRM over HTTP, SSH, SMB). A port not listed is only connected to.
 */
export const SERVICE_PORTS: Readonly<Record<number, ServiceKind>> = Object.freeze({
  22: 'ssh',
  443: 'tls',
  445: 'smb',
  2376: 'tls',
  5985: 'http',
  8080: 'http',
  8081: 'http',
  8443: 'tls',
  18080: 'http',
});

/** Whether a TLS certificate names the host probed; `not-checked` when the host was given as an IP address. */
export type HostnameMatch = 'match' | 'mismatch' | 'not-checked';

/** What answered on an open port. `none`: something other than the expected service; `skipped`: no time. */
export type ServiceIdentity =
  | {
      kind: 'tls';
      /** The negotiated protocol, such as `TLSv1.3`. */
      version: string;
      /** Distinguished names as `CN=app01, O=Example`. */
      subject: string;
      issuer: string;
      /** Validity as ISO 8601 instants. */
      notBefore: string;
      notAfter: string;
      /** Whether the certificate is signed by its own key (no CA vouches for it). */
      selfSigned: boolean;
      hostnameMatch: HostnameMatch;
      /** Why this answer deserves a look (expired, not yet valid, another host's certificate). */
      warning?: string;
    }
  | {
      kind: 'http';
      status: number;
      /** The `Server` header, when sent. */
      server?: string;
      /** Set when a proxy or gateway answered instead of the service (502, 503, 504, 407, a proxy's 4xx). */
      warning?: string;
    }
  | { kind: 'ssh'; banner: string }
  | {
      kind: 'smb';
      /** The dialect the server chose, such as `3.1.1`. */
      dialect: string;
    }
  | { kind: 'none'; expected: ServiceKind; reason: string }
  | { kind: 'skipped'; expected: ServiceKind; reason: string };

/** An identification tied to its port (a flow's destination host is known from the flow). */
export interface PortService {
  readonly port: number;
  readonly service: ServiceIdentity;
}

/** Options of {@link identifyService}. */
export interface IdentifyServiceOptions {
  /** The host as probed: a name is sent as TLS SNI and HTTP `Host`, and checked against the certificate. */
  readonly host: string;
  readonly port: number;
  /** Longest wait for the answer, in ms. */
  readonly timeoutMs: number;
  /** Aborting ends the identification at once with a `skipped` result. */
  readonly signal?: AbortSignal;
  /** The current time in epoch ms, to judge certificate validity. @default Date.now */
  readonly now?: () => number;
}

// How an identification is worded (each fact once) lives in lambdas/core/finding/evidence.ts.

// ---------------------------------------------------------------------------------------------------------------
// Reading answers

const CLOSED_AT_ONCE =
  'accepted the connection and closed it without a word (a middlebox, or a load balancer with no backend?)';

/** Up to 60 characters of what a server said, quoted, or its first bytes in hex when it is binary. */
export function snippet(data: Buffer): string {
  const head = data.subarray(0, 60);
  const text = head.toString('latin1');
  // eslint-disable-next-line no-control-regex
  if (/^[\x09\x0a\x0d\x20-\x7e]*$/.test(text)) return JSON.stringify(text.replace(/\r?\n[\s\S]*$/, ''));
  return `0x${data.subarray(0, 8).toString('hex')}${data.length > 8 ? '…' : ''}`;
}

/** What a parser makes of the bytes so far: an identity, or `undefined` to wait for more. */
type Parse = (data: Buffer) => ServiceIdentity | undefined;

/**
 * Writes `request` (if any) and reads until `parse` returns an identity, the server closes, the time runs out
 * or `signal` aborts. Never rejects; destroys the socket before it resolves.
 */
function exchange(
  socket: net.Socket,
  kind: ServiceKind,
  options: IdentifyServiceOptions,
  request: Buffer | undefined,
  parse: Parse,
  silence: string,
  maxBytes = 16_384,
): Promise<ServiceIdentity> {
  return new Promise<ServiceIdentity>((resolve) => {
    let data = Buffer.alloc(0);
    let done = false;
    const finish = (service: ServiceIdentity) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.removeListener('data', onData);
      // A reset instead of a FIN: no TIME_WAIT left behind for every identified port.
      if (!socket.destroyed) socket.resetAndDestroy();
      resolve(service);
    };
    const ended = () =>
      finish({
        kind: 'none',
        expected: kind,
        reason:
          data.length === 0
            ? CLOSED_AT_ONCE
            : `closed the connection after answering ${snippet(data)}: not ${kind.toUpperCase()}`,
      });
    const onData = (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const service = parse(data);
      if (service) finish(service);
      else if (data.length >= maxBytes)
        finish({
          kind: 'none',
          expected: kind,
          reason: `answered ${snippet(data)}: not ${kind.toUpperCase()}`,
        });
    };
    const onAbort = () => finish(skipped(kind));
    const timer = setTimeout(
      () =>
        finish({
          kind: 'none',
          expected: kind,
          reason:
            data.length === 0
              ? `${silence} within ${options.timeoutMs} ms`
              : `answered ${snippet(data)}, not ${kind.toUpperCase()} (nothing more within ${options.timeoutMs} ms)`,
        }),
      options.timeoutMs,
    );
    if (options.signal?.aborted) {
      onAbort();
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('data', onData);
    socket.once('end', ended);
    socket.once('close', ended);
    socket.on('error', ended);
    if (request) socket.write(request);
  });
}

function skipped(kind: ServiceKind): ServiceIdentity {
  return { kind: 'skipped', expected: kind, reason: 'the time budget ran out (or the run was interrupted)' };
}

// ---------------------------------------------------------------------------------------------------------------
// SSH

/**
 * The SSH identification line (RFC 4253 4.2) from what a server sent first: `SSH-2.0-OpenSSH_9.2p1`, or `none`
 * when its first line is something else; undefined while the first line is incomplete.
 */
export function parseSshBanner(data: Buffer): ServiceIdentity | undefined {
  const newline = data.indexOf(0x0a);
  if (newline < 0) {
    // A server that is not SSH may never end a line; give up once it cannot be a banner (255 bytes at most).
    if (data.length >= 4 && !data.subarray(0, 4).equals(Buffer.from('SSH-')))
      return { kind: 'none', expected: 'ssh', reason: `no SSH banner: answered ${snippet(data)}` };
    if (data.length > 255)
      return { kind: 'none', expected: 'ssh', reason: `no SSH banner: answered ${snippet(data)}` };
    return undefined;
  }
  const line = data.subarray(0, newline).toString('latin1').replace(/\r$/, '');
  if (!line.startsWith('SSH-'))
    return { kind: 'none', expected: 'ssh', reason: `no SSH banner: answered ${snippet(data)}` };
  return { kind: 'ssh', banner: printable(line) };
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP

/** `Server` header values of web proxies and secure web gateways: their 4xx is theirs, not the service's. */
export const PROXY_SERVERS: readonly RegExp[] = [/squid/i, /zscaler/i, /bluecoat|proxysg/i, /forcepoint/i];

/** Gateway errors: a proxy or load balancer answered because the service behind it did not. */
const GATEWAY_STATUSES: Readonly<Record<number, string>> = {
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/**
 * Why an HTTP answer comes from a proxy or gateway rather than the service, or undefined. 502, 503 and 504
 * always; 407 (proxy authentication); any other 4xx/5xx that carries `Via` or `X-Squid-Error`, or whose
 * `Server` is a known proxy.
 */
export function httpWarning(status: number, headers: ReadonlyMap<string, string>): string | undefined {
  const server = headers.get('server');
  const from = server !== undefined ? ` from ${JSON.stringify(server)}` : '';
  const gateway = GATEWAY_STATUSES[status];
  const via = headers.get('via');
  const through = via !== undefined ? ` through ${JSON.stringify(via)} (its Via header)` : '';
  if (gateway !== undefined)
    return `HTTP ${status} ${gateway}${from}${through}: a proxy or gateway answered, not the service behind it`;
  if (status === 407) return `HTTP 407 Proxy Authentication Required${from}: a proxy intercepts this port`;
  if (status >= 400) {
    const proxy = via ?? headers.get('x-squid-error');
    if (proxy !== undefined)
      return `HTTP ${status}${from} from a proxy (${JSON.stringify(proxy)}), not the service`;
    if (server !== undefined && PROXY_SERVERS.some((re) => re.test(server)))
      return `HTTP ${status}${from}, a proxy, not the service`;
  }
  return undefined;
}

/** The status line and headers of an HTTP answer; `none` when it is not HTTP; undefined while incomplete. */
export function parseHttpHead(data: Buffer): ServiceIdentity | undefined {
  const notHttp = (): ServiceIdentity => {
    const tlsRecord = data.length >= 2 && (data[0] === 0x15 || data[0] === 0x16) && data[1] === 0x03;
    return {
      kind: 'none',
      expected: 'http',
      reason: tlsRecord
        ? 'answered with TLS: this port speaks HTTPS, not HTTP'
        : `not HTTP: answered ${snippet(data)}`,
    };
  };
  const prefix = data.subarray(0, 5).toString('latin1');
  if (!'HTTP/'.startsWith(prefix)) return notHttp();
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine = '', ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
  const match = /^HTTP\/\d(?:\.\d)? (\d{3})(?: |$)/.exec(statusLine);
  if (!match) return notHttp();
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0)
      headers.set(line.slice(0, colon).trim().toLowerCase(), printable(line.slice(colon + 1)).trim());
  }
  const status = Number(match[1]);
  const server = headers.get('server');
  const warning = httpWarning(status, headers);
  return {
    kind: 'http',
    status,
    ...(server !== undefined ? { server } : {}),
    ...(warning !== undefined ? { warning } : {}),
  };
}

function hostHeader(host: string, port: number): string {
  const name = net.isIP(host) === 6 ? `[${host}]` : host;
  return port === 80 ? name : `${name}:${port}`;
}

// ---------------------------------------------------------------------------------------------------------------
// SMB

/** Dialect revisions of MS-SMB2 2.2.4 by their code. */
const SMB_DIALECTS: Readonly<Record<number, string>> = {
  0x0202: '2.0.2',
  0x0210: '2.1',
  0x0300: '3.0',
  0x0302: '3.0.2',
  0x0311: '3.1.1',
  0x02ff: '2.x (wildcard)',
};
const SMB2_MAGIC = Buffer.from([0xfe, 0x53, 0x4d, 0x42]);
const SMB1_MAGIC = Buffer.from([0xff, 0x53, 0x4d, 0x42]);

/**
 * An SMB2 NEGOTIATE request (MS-SMB2 2.2.3) over direct TCP (a 4-byte session header), offering dialects 2.0.2
 * to 3.1.1 with the pre-authentication integrity context that 3.1.1 requires.
 */
export function smbNegotiateRequest(salt: Buffer = cryptoModule().randomBytes(32)): Buffer {
  const dialects = [0x0202, 0x0210, 0x0300, 0x0302, 0x0311];
  const header = Buffer.alloc(64);
  SMB2_MAGIC.copy(header, 0);
  header.writeUInt16LE(64, 4); // StructureSize
  header.writeUInt16LE(0, 12); // Command: NEGOTIATE
  header.writeUInt16LE(1, 14); // CreditRequest
  const fixed = Buffer.alloc(36);
  const dialectBytes = Buffer.alloc(dialects.length * 2);
  dialects.forEach((d, i) => dialectBytes.writeUInt16LE(d, i * 2));
  // Negotiate contexts start 8-byte aligned, counted from the SMB2 header.
  const afterDialects = 64 + 36 + dialectBytes.length;
  const padding = Buffer.alloc((8 - (afterDialects % 8)) % 8);
  fixed.writeUInt16LE(36, 0); // StructureSize
  fixed.writeUInt16LE(dialects.length, 2);
  fixed.writeUInt16LE(1, 4); // SecurityMode: signing enabled
  cryptoModule().randomBytes(16).copy(fixed, 12); // ClientGuid
  fixed.writeUInt32LE(afterDialects + padding.length, 28); // NegotiateContextOffset
  fixed.writeUInt16LE(1, 32); // NegotiateContextCount
  // SMB2_PREAUTH_INTEGRITY_CAPABILITIES: one hash algorithm (SHA-512) and a 32-byte salt.
  const context = Buffer.alloc(8 + 6 + salt.length);
  context.writeUInt16LE(0x0001, 0);
  context.writeUInt16LE(6 + salt.length, 2);
  context.writeUInt16LE(1, 8);
  context.writeUInt16LE(salt.length, 10);
  context.writeUInt16LE(0x0001, 12);
  salt.copy(context, 14);
  const message = Buffer.concat([header, fixed, dialectBytes, padding, context]);
  const session = Buffer.alloc(4);
  session.writeUInt32BE(message.length, 0); // type 0x00 (session message) and a 24-bit length
  return Buffer.concat([session, message]);
}

/** NTSTATUS codes an SMB2 NEGOTIATE is refused with, by name (MS-ERREF 2.3.1). */
const NT_STATUS: Readonly<Record<number, string>> = {
  0xc0000001: 'STATUS_UNSUCCESSFUL',
  0xc0000002: 'STATUS_NOT_IMPLEMENTED',
  0xc000000d: 'STATUS_INVALID_PARAMETER',
  0xc0000022: 'STATUS_ACCESS_DENIED',
  0xc000006d: 'STATUS_LOGON_FAILURE',
  0xc000009a: 'STATUS_INSUFFICIENT_RESOURCES',
  0xc00000bb: 'STATUS_NOT_SUPPORTED (no dialect in common, or SMB2 disabled)',
  0xc00000cc: 'STATUS_BAD_NETWORK_NAME',
  0xc0000203: 'STATUS_USER_SESSION_DELETED',
  0xc0000205: 'STATUS_INSUFF_SERVER_RESOURCES',
};

/** `STATUS_NOT_SUPPORTED (…) 0xc00000bb`, or the code alone when it has no known name. */
export function ntStatusName(status: number): string {
  const code = `0x${status.toString(16).padStart(8, '0')}`;
  const name = NT_STATUS[status];
  return name !== undefined ? `${name}, ${code}` : `status ${code}`;
}

/** The dialect of an SMB2 NEGOTIATE response; `none` when it is not one; undefined while incomplete. */
export function parseSmbNegotiateResponse(data: Buffer): ServiceIdentity | undefined {
  const none = (reason: string): ServiceIdentity => ({ kind: 'none', expected: 'smb', reason });
  if (data.length >= 1 && data[0] !== 0x00) return none(`not SMB: answered ${snippet(data)}`);
  if (data.length >= 8) {
    const magic = data.subarray(4, 8);
    if (magic.equals(SMB1_MAGIC)) return none('answered in SMB1 only, which speaks no SMB2 dialect');
    if (!magic.equals(SMB2_MAGIC)) return none(`not SMB: answered ${snippet(data)}`);
  }
  if (data.length < 4 + 64 + 6) return undefined;
  const status = data.readUInt32LE(4 + 8);
  if (status !== 0) return none(`the SMB2 NEGOTIATE was refused: ${ntStatusName(status)}`);
  const command = data.readUInt16LE(4 + 12);
  if (command !== 0) return none(`answered SMB2 command ${command} instead of NEGOTIATE`);
  const code = data.readUInt16LE(4 + 64 + 4);
  return { kind: 'smb', dialect: SMB_DIALECTS[code] ?? `0x${code.toString(16).padStart(4, '0')}` };
}

// ---------------------------------------------------------------------------------------------------------------
// TLS

type PeerCertificate = ReturnType<Tls.TLSSocket['getPeerCertificate']>;

/** A distinguished name as `CN=app01, O=Example` (repeated attributes joined with `+`). */
export function formatName(
  name: Readonly<Record<string, string | string[] | undefined>> | undefined,
): string {
  if (!name) return '';
  // A certificate's names are the server's words: no control character gets through.
  return printable(
    Object.entries(name)
      .filter((e): e is [string, string | string[]] => e[1] !== undefined)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
      .join(', '),
  );
}

function isoOf(text: string): string {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toISOString();
}

/** The TLS identity of a certificate seen from `host` at `now` (epoch ms); `version` is the protocol. */
export function tlsIdentity(
  cert: PeerCertificate,
  version: string,
  host: string,
  now: number,
): ServiceIdentity {
  const x509 = new (cryptoModule().X509Certificate)(cert.raw);
  const selfSigned = x509.checkIssued(x509) && x509.verify(x509.publicKey);
  const subject = formatName(cert.subject as Record<string, string | string[]> | undefined);
  const issuer = formatName(cert.issuer as Record<string, string | string[]> | undefined);
  const notBefore = isoOf(cert.valid_from);
  const notAfter = isoOf(cert.valid_to);
  const hostnameMatch: HostnameMatch =
    net.isIP(host) !== 0
      ? 'not-checked'
      : tlsModule().checkServerIdentity(host, cert) === undefined
        ? 'match'
        : 'mismatch';
  const warnings: string[] = [];
  if (Date.parse(notAfter) < now) warnings.push(`the certificate expired on ${notAfter.slice(0, 10)}`);
  if (Date.parse(notBefore) > now)
    warnings.push(`the certificate is not valid before ${notBefore.slice(0, 10)}`);
  if (hostnameMatch === 'mismatch') {
    const names = cert.subjectaltname ? printable(cert.subjectaltname) : subject;
    warnings.push(
      `the certificate is for ${names}, not ${host} (another host's, or an intercepting proxy's)`,
    );
  }
  return {
    kind: 'tls',
    version,
    subject,
    issuer,
    notBefore,
    notAfter,
    selfSigned,
    hostnameMatch,
    ...(warnings.length > 0 ? { warning: warnings.join('; ') } : {}),
  };
}

function identifyTls(socket: net.Socket, options: IdentifyServiceOptions): Promise<ServiceIdentity> {
  return new Promise<ServiceIdentity>((resolve) => {
    const name = net.isIP(options.host) === 0 ? options.host : undefined;
    let done = false;
    // Certificates are read, not trusted: an untrusted or expired one is reported, not refused.
    const secure = tlsModule().connect({
      socket,
      rejectUnauthorized: false,
      minVersion: 'TLSv1',
      ...(name !== undefined ? { servername: name } : {}),
    });
    const finish = (service: ServiceIdentity) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      secure.destroy();
      if (!socket.destroyed) socket.resetAndDestroy();
      resolve(service);
    };
    const none = (reason: string) => finish({ kind: 'none', expected: 'tls', reason });
    const onAbort = () => finish(skipped('tls'));
    const timer = setTimeout(
      () =>
        none(
          socket.bytesRead === 0
            ? `no TLS handshake within ${options.timeoutMs} ms: the server sent nothing (not TLS?)`
            : `the TLS handshake did not finish within ${options.timeoutMs} ms`,
        ),
      options.timeoutMs,
    );
    if (options.signal?.aborted) {
      onAbort();
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    secure.once('secureConnect', () => {
      const cert = secure.getPeerCertificate();
      if (!cert || !cert.raw) {
        none('the TLS handshake finished without a certificate');
        return;
      }
      try {
        finish(
          tlsIdentity(cert, secure.getProtocol() ?? 'unknown', options.host, (options.now ?? Date.now)()),
        );
      } catch (error) {
        none(`the certificate could not be read: ${(error as Error).message}`);
      }
    });
    secure.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? 'UNKNOWN';
      if (socket.bytesRead === 0) none(CLOSED_AT_ONCE);
      else if (code.startsWith('ERR_SSL_TLSV1_ALERT') || code.startsWith('ERR_SSL_SSLV3_ALERT'))
        none(`the server ended the TLS handshake with an alert (${code})`);
      else if (code.startsWith('ERR_SSL')) none(`not TLS: the server answered something else (${code})`);
      else none(`the connection failed during the TLS handshake (${code})`);
    });
    secure.once('close', () => none(CLOSED_AT_ONCE));
  });
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Identifies what answers on a connected socket, as `kind` expects: a TLS handshake, `GET /` over HTTP/1.1,
 * the SSH banner, or an SMB2 NEGOTIATE. Never rejects: what does not answer as expected is `none` with the
 * reason, and an abort is `skipped`. The socket is always destroyed (with a reset) before the result.
 */
export function identifyService(
  socket: net.Socket,
  kind: ServiceKind,
  options: IdentifyServiceOptions,
): Promise<ServiceIdentity> {
  switch (kind) {
    case 'tls':
      return identifyTls(socket, options);
    case 'http': {
      const request = Buffer.from(
        `GET / HTTP/1.1\r\nHost: ${hostHeader(options.host, options.port)}\r\nUser-Agent: preflight\r\n` +
          'Accept: */*\r\nConnection: close\r\n\r\n',
        'latin1',
      );
      return exchange(socket, 'http', options, request, parseHttpHead, 'no HTTP answer');
    }
    case 'ssh':
      return exchange(socket, 'ssh', options, undefined, parseSshBanner, 'no SSH banner', 1024);
    case 'smb':
      return exchange(
        socket,
        'smb',
        options,
        smbNegotiateRequest(),
        parseSmbNegotiateResponse,
        'no answer to an SMB2 NEGOTIATE',
      );
  }
}
