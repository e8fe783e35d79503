/**
 * Real local servers for service identification tests, on loopback only: TLS with a self-signed and with an
 * expired certificate (made with the `openssl` CLI at test time), HTTP (a working one and a proxy's 502), an
 * SSH-like banner, a server that accepts and closes at once, a silent one, plain text where TLS is expected,
 * and a minimal SMB2 NEGOTIATE responder. Each listens on an ephemeral port.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';

export type Loopback = '127.0.0.1' | '::1';

/** A server listening on loopback; `close` ends it and every connection it holds. */
export interface TestServer {
  readonly host: Loopback;
  readonly port: number;
  close(): Promise<void>;
}

/** A certificate and its key, in PEM. */
export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

export interface TestCertificates {
  /** CN=localhost with subjectAltName DNS:localhost, IP:127.0.0.1, IP:::1; valid for 30 days from now. */
  readonly selfSigned: KeyPair;
  /** CN=expired.test, valid from 2020-01-01 to 2020-01-02 (UTC). */
  readonly expired: KeyPair;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Makes the test certificates with the `openssl` CLI in a temporary directory (removed afterwards). OpenSSL
 * 3.0's `req -x509` only sets future dates, so the expired one is self-signed by `openssl ca -selfsign` with an
 * explicit start and end date.
 */
export function makeCertificates(): TestCertificates {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'preflight-certs-'));
  try {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    openssl(
      [
        'req',
        '-x509',
        ...ec,
        '-keyout',
        'self.key',
        '-out',
        'self.pem',
        '-days',
        '30',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
      ],
      dir,
    );
    openssl(
      ['req', '-new', ...ec, '-keyout', 'old.key', '-out', 'old.csr', '-subj', '/CN=expired.test'],
      dir,
    );
    fs.mkdirSync(path.join(dir, 'db'));
    fs.writeFileSync(path.join(dir, 'db', 'index.txt'), '');
    fs.writeFileSync(path.join(dir, 'db', 'serial'), '01\n');
    fs.writeFileSync(
      path.join(dir, 'ca.cnf'),
      [
        '[ca]',
        'default_ca = test',
        '[test]',
        'database = db/index.txt',
        'new_certs_dir = db',
        'serial = db/serial',
        'default_md = sha256',
        'policy = anything',
        'unique_subject = no',
        '[anything]',
        'commonName = supplied',
        '',
      ].join('\n'),
    );
    openssl(
      [
        'ca',
        '-batch',
        '-config',
        'ca.cnf',
        '-selfsign',
        '-keyfile',
        'old.key',
        '-in',
        'old.csr',
        '-out',
        'old.pem',
        '-startdate',
        '20200101000000Z',
        '-enddate',
        '20200102000000Z',
        '-notext',
      ],
      dir,
    );
    const read = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8');
    return {
      selfSigned: { cert: read('self.pem'), key: read('self.key') },
      expired: { cert: read('old.pem'), key: read('old.key') },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Listens with `server` on an ephemeral loopback port; tracks connections so `close` does not wait on them. */
async function listen(server: net.Server, host: Loopback): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return {
    host,
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A TLS server presenting `pair`. */
export function tlsServer(pair: KeyPair, host: Loopback = '127.0.0.1'): Promise<TestServer> {
  const server = tls.createServer({ cert: pair.cert, key: pair.key }, (socket) => {
    socket.on('error', () => undefined);
    socket.end();
  });
  server.on('tlsClientError', () => undefined);
  return listen(server, host);
}

/** An HTTP server answering every request with `status` and `headers`. */
export function httpServer(
  status: number,
  headers: Record<string, string>,
  host: Loopback = '127.0.0.1',
): Promise<TestServer> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(status, headers);
    res.end(`status ${status}\n`);
  });
  return listen(server, host);
}

/** Writes `text` to every connection as soon as it is accepted, and keeps the connection open. */
export function bannerServer(text: string, host: Loopback = '127.0.0.1'): Promise<TestServer> {
  return listen(
    net.createServer((socket) => socket.write(text)),
    host,
  );
}

/** Accepts a connection and closes it at once, like a middlebox with no backend. */
export function closeAtOnceServer(host: Loopback = '127.0.0.1'): Promise<TestServer> {
  return listen(
    net.createServer((socket) => socket.end()),
    host,
  );
}

/** Accepts connections and never says a word. */
export function silentServer(host: Loopback = '127.0.0.1'): Promise<TestServer> {
  return listen(
    net.createServer(() => undefined),
    host,
  );
}

/** Answers whatever it receives first with `reply` and closes (plain text where TLS is expected). */
export function replyServer(reply: string, host: Loopback = '127.0.0.1'): Promise<TestServer> {
  return listen(
    net.createServer((socket) => socket.once('data', () => socket.end(reply))),
    host,
  );
}

/**
 * A minimal SMB2 server: reads one direct-TCP message and, when it is an SMB2 NEGOTIATE, answers with an SMB2
 * NEGOTIATE response header (status 0) choosing `dialect` (e.g. 0x0311), then closes.
 */
export function smbServer(dialect: number, host: Loopback = '127.0.0.1'): Promise<TestServer> {
  return listen(
    net.createServer((socket) => {
      let data = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        data = Buffer.concat([data, chunk]);
        if (data.length < 4) return;
        const length = data.readUInt32BE(0) & 0xffffff;
        if (data.length < 4 + length) return;
        const isNegotiate =
          data.subarray(4, 8).equals(Buffer.from([0xfe, 0x53, 0x4d, 0x42])) &&
          data.readUInt16LE(4 + 12) === 0;
        if (!isNegotiate) {
          socket.destroy();
          return;
        }
        const header = Buffer.alloc(64);
        Buffer.from([0xfe, 0x53, 0x4d, 0x42]).copy(header, 0);
        header.writeUInt16LE(64, 4); // StructureSize
        header.writeUInt16LE(0, 12); // Command: NEGOTIATE
        header.writeUInt16LE(1, 14); // CreditResponse
        header.writeUInt32LE(1, 16); // Flags: SMB2_FLAGS_SERVER_TO_REDIR
        const body = Buffer.alloc(64);
        body.writeUInt16LE(65, 0); // StructureSize
        body.writeUInt16LE(1, 2); // SecurityMode: signing enabled
        body.writeUInt16LE(dialect, 4);
        const message = Buffer.concat([header, body]);
        const session = Buffer.alloc(4);
        session.writeUInt32BE(message.length, 0);
        socket.end(Buffer.concat([session, message]));
      });
    }),
    host,
  );
}
