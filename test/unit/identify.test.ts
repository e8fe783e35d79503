// Service identification: the parsers on bytes, and identifyService on real servers on loopback only.
import { serviceWarning } from '../../lambdas/core/finding/evidence';
import * as net from 'node:net';
import {
  httpWarning,
  identifyService,
  parseHttpHead,
  parseSmbNegotiateResponse,
  parseSshBanner,
  type ServiceIdentity,
  type ServiceKind,
  smbNegotiateRequest,
} from '../../lambdas/core/identify';
import {
  bannerServer,
  closeAtOnceServer,
  httpServer,
  makeCertificates,
  replyServer,
  silentServer,
  smbServer,
  type TestCertificates,
  type TestServer,
  tlsServer,
} from '../support/service-servers';

const bytes = (text: string) => Buffer.from(text, 'latin1');

/** An SMB2 NEGOTIATE response over direct TCP with `status` and `dialect`. */
function smbResponse(dialect: number, status = 0): Buffer {
  const message = Buffer.alloc(64 + 64);
  Buffer.from([0xfe, 0x53, 0x4d, 0x42]).copy(message, 0);
  message.writeUInt16LE(64, 4);
  message.writeUInt32LE(status, 8);
  message.writeUInt16LE(65, 64);
  message.writeUInt16LE(dialect, 64 + 4);
  const session = Buffer.alloc(4);
  session.writeUInt32BE(message.length, 0);
  return Buffer.concat([session, message]);
}

describe('parseSshBanner', () => {
  test('reads the identification line without its CR LF', () => {
    // Act
    const service = parseSshBanner(bytes('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\nrest'));

    // Assert
    expect(service).toEqual({ kind: 'ssh', banner: 'SSH-2.0-OpenSSH_9.2p1 Debian-2' });
  });

  test('waits for the end of the line', () => {
    expect(parseSshBanner(bytes('SSH-2.0-Open'))).toBeUndefined();
  });

  test('gives up on a first line that is not SSH, quoting it', () => {
    // Act
    const service = parseSshBanner(bytes('220 ftp.example FTP server ready\r\n'));

    // Assert
    expect(service).toEqual({
      kind: 'none',
      expected: 'ssh',
      reason: 'no SSH banner: answered "220 ftp.example FTP server ready"',
    });
  });

  test('gives up on binary data without waiting for a line end', () => {
    // Act
    const service = parseSshBanner(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05]));

    // Assert
    expect(service).toMatchObject({ kind: 'none', reason: 'no SSH banner: answered 0x1603010005' });
  });
});

describe('parseHttpHead and httpWarning', () => {
  test('reads the status and the Server header of a working service, with no warning', () => {
    // Act
    const service = parseHttpHead(
      bytes('HTTP/1.1 200 OK\r\nServer: nginx/1.25.3\r\nContent-Length: 2\r\n\r\nok'),
    );

    // Assert
    expect(service).toEqual({ kind: 'http', status: 200, server: 'nginx/1.25.3' });
  });

  test('waits for the end of the headers', () => {
    expect(parseHttpHead(bytes('HTTP/1.1 200 OK\r\nServer: ngi'))).toBeUndefined();
    expect(parseHttpHead(bytes('HT'))).toBeUndefined();
  });

  test.each<[string, number, Record<string, string>, string | undefined]>([
    [
      'a 502 is a gateway error',
      502,
      { server: 'haproxy' },
      'HTTP 502 Bad Gateway from "haproxy": a proxy or gateway answered, not the service behind it',
    ],
    [
      'a 504 without Server',
      504,
      {},
      'HTTP 504 Gateway Timeout: a proxy or gateway answered, not the service behind it',
    ],
    ['a 407 is a proxy', 407, {}, 'HTTP 407 Proxy Authentication Required: a proxy intercepts this port'],
    [
      'a 403 with Via is a proxy',
      403,
      { via: '1.1 gw' },
      'HTTP 403 from a proxy ("1.1 gw"), not the service',
    ],
    ['a 403 from Squid', 403, { server: 'squid/5.7' }, 'HTTP 403 from "squid/5.7", a proxy, not the service'],
    ['a 404 from the service itself (WinRM on /)', 404, { server: 'Microsoft-HTTPAPI/2.0' }, undefined],
    ['a 401 from the service', 401, {}, undefined],
    ['a 200 through a proxy (Via) is the service', 200, { via: '1.1 gw' }, undefined],
  ])('%s', (_name, status, headers, warning) => {
    // Act
    const actual = httpWarning(status, new Map(Object.entries(headers)));

    // Assert
    expect(actual).toBe(warning);
  });

  test('a reply that is not HTTP is none, quoted', () => {
    // Act
    const service = parseHttpHead(bytes('SSH-2.0-OpenSSH_9.2p1\r\n'));

    // Assert
    expect(service).toEqual({
      kind: 'none',
      expected: 'http',
      reason: 'not HTTP: answered "SSH-2.0-OpenSSH_9.2p1"',
    });
  });

  test('a TLS alert on an HTTP port says the port speaks HTTPS', () => {
    // Act
    const service = parseHttpHead(Buffer.from([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46]));

    // Assert
    expect(service).toMatchObject({
      kind: 'none',
      reason: 'answered with TLS: this port speaks HTTPS, not HTTP',
    });
  });
});

describe('SMB2 NEGOTIATE', () => {
  test('the request is one direct-TCP message: SMB2 header, five dialects, an aligned preauth context', () => {
    // Arrange
    const salt = Buffer.alloc(32, 7);

    // Act
    const request = smbNegotiateRequest(salt);

    // Assert
    expect(request[0]).toBe(0x00);
    expect(request.readUInt32BE(0) & 0xffffff).toBe(request.length - 4);
    const smb = request.subarray(4);
    expect(smb.subarray(0, 4)).toEqual(Buffer.from([0xfe, 0x53, 0x4d, 0x42]));
    expect(smb.readUInt16LE(12)).toBe(0); // NEGOTIATE
    expect(smb.readUInt16LE(64)).toBe(36); // StructureSize
    const count = smb.readUInt16LE(66);
    const dialects = Array.from({ length: count }, (_, i) => smb.readUInt16LE(100 + i * 2));
    expect(dialects).toEqual([0x0202, 0x0210, 0x0300, 0x0302, 0x0311]);
    const contextOffset = smb.readUInt32LE(64 + 28);
    expect(contextOffset % 8).toBe(0);
    expect(smb.readUInt16LE(64 + 32)).toBe(1); // one negotiate context
    expect(smb.readUInt16LE(contextOffset)).toBe(1); // SMB2_PREAUTH_INTEGRITY_CAPABILITIES
    expect(smb.readUInt16LE(contextOffset + 12)).toBe(1); // SHA-512
    expect(smb.subarray(contextOffset + 14)).toEqual(salt);
  });

  test.each<[string, number]>([
    ['3.1.1', 0x0311],
    ['3.0.2', 0x0302],
    ['2.1', 0x0210],
    ['0x0abc', 0x0abc],
  ])('reads dialect %s from a response', (dialect, code) => {
    expect(parseSmbNegotiateResponse(smbResponse(code))).toEqual({ kind: 'smb', dialect });
  });

  test('a failed NEGOTIATE names its status; SMB1 and other protocols are none; a short reply waits', () => {
    // Arrange
    const smb1 = Buffer.from([0x00, 0x00, 0x00, 0x40, 0xff, 0x53, 0x4d, 0x42]);

    // Act and assert
    expect(parseSmbNegotiateResponse(smbResponse(0x0311, 0xc000000d))).toMatchObject({
      kind: 'none',
      reason: 'the SMB2 NEGOTIATE was refused: STATUS_INVALID_PARAMETER, 0xc000000d',
    });
    expect(parseSmbNegotiateResponse(smbResponse(0x0311, 0xc00000bb))).toMatchObject({
      kind: 'none',
      reason:
        'the SMB2 NEGOTIATE was refused: STATUS_NOT_SUPPORTED (no dialect in common, or SMB2 disabled), 0xc00000bb',
    });
    expect(parseSmbNegotiateResponse(smbResponse(0x0311, 0xc0001234))).toMatchObject({
      reason: 'the SMB2 NEGOTIATE was refused: status 0xc0001234',
    });
    expect(parseSmbNegotiateResponse(smb1)).toMatchObject({
      kind: 'none',
      reason: 'answered in SMB1 only, which speaks no SMB2 dialect',
    });
    expect(parseSmbNegotiateResponse(bytes('HTTP/1.1 400 Bad Request\r\n'))).toMatchObject({
      kind: 'none',
      reason: 'not SMB: answered "HTTP/1.1 400 Bad Request"',
    });
    expect(parseSmbNegotiateResponse(smbResponse(0x0311).subarray(0, 40))).toBeUndefined();
  });
});

describe('identifyService against local servers', () => {
  let certs: TestCertificates;
  let servers: TestServer[] = [];

  beforeAll(() => {
    certs = makeCertificates();
  });

  afterEach(async () => {
    await Promise.all(servers.map((s) => s.close()));
    servers = [];
  });

  async function started(server: Promise<TestServer>): Promise<TestServer> {
    const s = await server;
    servers.push(s);
    return s;
  }

  /** Connects to `server`, identifies it as `kind` with `host` as the name probed; returns the socket too. */
  async function identifyAt(
    server: TestServer,
    kind: ServiceKind,
    options: { host?: string; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<{ service: ServiceIdentity; socket: net.Socket }> {
    const socket = net.connect({ host: server.host, port: server.port });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const service = await identifyService(socket, kind, {
      host: options.host ?? server.host,
      port: server.port,
      timeoutMs: options.timeoutMs ?? 3000,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { service, socket };
  }

  test('a self-signed certificate: version, subject, issuer, expiry, self-signed, hostname match', async () => {
    // Arrange
    const server = await started(tlsServer(certs.selfSigned));

    // Act
    const { service, socket } = await identifyAt(server, 'tls', { host: 'localhost' });

    // Assert
    expect(service).toMatchObject({
      kind: 'tls',
      version: 'TLSv1.3',
      subject: 'CN=localhost',
      issuer: 'CN=localhost',
      selfSigned: true,
      hostnameMatch: 'match',
    });
    expect(service).not.toHaveProperty('warning');
    const notAfter = Date.parse((service as { notAfter: string }).notAfter);
    expect(notAfter - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect(socket.destroyed).toBe(true);
  });

  test('a host given as an IP address is not checked against the certificate', async () => {
    // Arrange
    const server = await started(tlsServer(certs.selfSigned));

    // Act
    const { service } = await identifyAt(server, 'tls');

    // Assert
    expect(service).toMatchObject({ kind: 'tls', hostnameMatch: 'not-checked' });
    expect(serviceWarning(service)).toBeUndefined();
  });

  test("another host's certificate is a mismatch with a warning", async () => {
    // Arrange
    const server = await started(tlsServer(certs.selfSigned));

    // Act
    const { service } = await identifyAt(server, 'tls', { host: 'app01.corp.example' });

    // Assert
    expect(service).toMatchObject({ kind: 'tls', hostnameMatch: 'mismatch' });
    expect(serviceWarning(service)).toContain('not app01.corp.example');
  });

  test('an expired certificate is identified with a warning naming its notAfter', async () => {
    // Arrange
    const server = await started(tlsServer(certs.expired, '::1'));

    // Act
    const { service } = await identifyAt(server, 'tls');

    // Assert
    expect(service).toMatchObject({
      kind: 'tls',
      subject: 'CN=expired.test',
      selfSigned: true,
      notBefore: '2020-01-01T00:00:00.000Z',
      notAfter: '2020-01-02T00:00:00.000Z',
      warning: 'the certificate expired on 2020-01-02',
    });
  });

  test('plain text on a TLS port is not TLS', async () => {
    // Arrange
    const server = await started(replyServer('HTTP/1.1 400 Bad Request\r\n\r\n'));

    // Act
    const { service } = await identifyAt(server, 'tls');

    // Assert
    expect(service).toMatchObject({ kind: 'none', expected: 'tls' });
    expect(serviceWarning(service)).toMatch(/^not TLS: the server answered something else \(ERR_SSL_/);
  });

  test.each<ServiceKind>(['tls', 'http', 'ssh', 'smb'])(
    'a server that accepts and closes at once is none for %s',
    async (kind) => {
      // Arrange
      const server = await started(closeAtOnceServer());

      // Act
      const { service } = await identifyAt(server, kind);

      // Assert
      expect(service).toEqual({
        kind: 'none',
        expected: kind,
        reason:
          'accepted the connection and closed it without a word (a middlebox, or a load balancer with no backend?)',
      });
    },
  );

  test('a silent server runs out the identification timeout', async () => {
    // Arrange
    const server = await started(silentServer());
    const began = Date.now();

    // Act
    const { service } = await identifyAt(server, 'ssh', { timeoutMs: 200 });

    // Assert
    expect(service).toEqual({ kind: 'none', expected: 'ssh', reason: 'no SSH banner within 200 ms' });
    expect(Date.now() - began).toBeLessThan(2000);
  });

  test('HTTP: status and Server header of a working server, over IPv6', async () => {
    // Arrange
    const server = await started(httpServer(200, { server: 'preflight-test/1.0' }, '::1'));

    // Act
    const { service } = await identifyAt(server, 'http');

    // Assert
    expect(service).toEqual({ kind: 'http', status: 200, server: 'preflight-test/1.0' });
  });

  test("HTTP: a proxy's 502 is identified with a warning", async () => {
    // Arrange
    const server = await started(httpServer(502, { server: 'squid/5.7', via: '1.1 proxy (squid/5.7)' }));

    // Act
    const { service } = await identifyAt(server, 'http');

    // Assert
    expect(service).toMatchObject({ kind: 'http', status: 502, server: 'squid/5.7' });
    expect(serviceWarning(service)).toContain('HTTP 502 Bad Gateway');
  });

  test('SSH: the banner line', async () => {
    // Arrange
    const server = await started(bannerServer('SSH-2.0-OpenSSH_9.2p1\r\n'));

    // Act
    const { service } = await identifyAt(server, 'ssh');

    // Assert
    expect(service).toEqual({ kind: 'ssh', banner: 'SSH-2.0-OpenSSH_9.2p1' });
  });

  test('SMB: the dialect chosen by a NEGOTIATE responder', async () => {
    // Arrange
    const server = await started(smbServer(0x0311));

    // Act
    const { service } = await identifyAt(server, 'smb');

    // Assert
    expect(service).toEqual({ kind: 'smb', dialect: '3.1.1' });
  });

  test('an abort ends the identification at once as skipped', async () => {
    // Arrange
    const server = await started(silentServer());
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const began = Date.now();

    // Act
    const { service, socket } = await identifyAt(server, 'tls', {
      timeoutMs: 10_000,
      signal: controller.signal,
    });

    // Assert
    expect(service).toMatchObject({ kind: 'skipped', expected: 'tls' });
    expect(Date.now() - began).toBeLessThan(1000);
    expect(socket.destroyed).toBe(true);
  });
});
