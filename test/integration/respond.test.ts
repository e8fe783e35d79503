import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { probe } from '../../lambdas/core/probe';
import { REPO, runCli } from '../support/cli';

// `preflight respond` as a real process on loopback: a closed port becomes open while it runs, each
// connection's source is logged, it stops by itself and on SIGTERM/SIGINT, and bad input names the field.

/** A port below the ephemeral range that nothing listens on (bound once to prove it, then released). */
async function freePort(): Promise<number> {
  for (let port = 21_000 + (process.pid % 9_000); ; port++) {
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) {
      await new Promise((resolve) => server.close(resolve));
      return port;
    }
  }
}

interface Responding {
  readonly child: ChildProcess;
  readonly lines: () => Record<string, unknown>[];
  readonly exited: Promise<number | null>;
  readonly waitFor: (
    event: string,
    match?: (line: Record<string, unknown>) => boolean,
  ) => Promise<Record<string, unknown>>;
}

function respond(args: string[]): Responding {
  const child = spawn(process.execPath, [join(REPO, 'bin', 'preflight.js'), 'respond', '--json', ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters: Array<() => void> = [];
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
    for (const w of waiters.splice(0)) w();
  });
  const lines = () =>
    out
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitFor = async (event: string, match: (line: Record<string, unknown>) => boolean = () => true) => {
    for (;;) {
      const found = lines().find((l) => l.event === event && match(l));
      if (found) return found;
      await new Promise<void>((resolve, reject) => {
        waiters.push(resolve);
        void exited.then(() => reject(new Error(`respond exited before ${event}: ${out}`)));
      });
    }
  };
  return { child, lines, exited, waitFor };
}

/** Connects as a person with telnet would (and stays connected until the responder lets go). */
async function telnet(host: string, port: number): Promise<number> {
  const socket = connect({ host, port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const localPort = socket.localPort as number;
  socket.on('error', () => undefined).end('hello\n');
  await new Promise((resolve) => socket.once('close', resolve));
  return localPort;
}

const probeOne = async (port: number) =>
  (await probe([{ host: '127.0.0.1', ports: [port] }], { timeoutMs: 1000, identify: false })).results[0];

describe('preflight respond', () => {
  it('turns a refused port into an open one while it runs, logs the source, and stops by itself', async () => {
    // Arrange
    const port = await freePort();
    expect((await probeOne(port))?.state).toBe('closed');
    const r = respond(['--ports', String(port), '--bind', '127.0.0.1', '--for', '3s']);
    const listening = await r.waitFor('listening');
    // Act
    const during = await probeOne(port);
    const telnetPort = await telnet('127.0.0.1', port);
    const connection = await r.waitFor('connection', (l) => l.fromPort === telnetPort);
    const code = await r.exited;
    const after = await probeOne(port);
    // Assert
    expect(listening).toMatchObject({ bind: '127.0.0.1', ports: String(port) });
    expect(during?.state).toBe('open');
    expect(connection).toMatchObject({ from: '127.0.0.1', fromPort: telnetPort, to: '127.0.0.1', port });
    expect(code).toBe(0);
    expect(r.lines().filter((l) => l.event === 'connection')).toHaveLength(2);
    expect(r.lines().at(-1)).toEqual({ event: 'stopped', reason: 'time', connections: 2 });
    expect(after?.state).toBe('closed');
  }, 30_000);

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'stops at once and cleanly on %s',
    async (sig) => {
      // Arrange
      const first = await freePort();
      const r = respond(['--ports', `${first}-${first + 2}`, '--bind', '127.0.0.1', '--for', '10m']);
      await r.waitFor('listening');
      expect((await probeOne(first + 2))?.state).toBe('open');
      // Act
      r.child.kill(sig);
      const code = await r.exited;
      // Assert
      expect(code).toBe(0);
      expect(r.lines().at(-1)).toMatchObject({ event: 'stopped', reason: 'signal' });
      expect((await probeOne(first + 1))?.state).toBe('closed');
    },
    30_000,
  );

  it('listens on IPv6 when bound to ::1', async () => {
    // Arrange
    const port = await freePort();
    const r = respond(['--ports', String(port), '--bind', '[::1]', '--for', '2s']);
    await r.waitFor('listening');
    // Act
    const result = (await probe([{ host: '::1', ports: [port] }], { timeoutMs: 1000, identify: false }))
      .results[0];
    const telnetPort = await telnet('::1', port);
    const connection = await r.waitFor('connection', (l) => l.fromPort === telnetPort);
    // Assert
    expect(result?.state).toBe('open');
    expect(connection).toMatchObject({ from: '::1', port });
    expect(await r.exited).toBe(0);
  }, 30_000);

  describe('bad input names the field and the value (exit 2, nothing listens)', () => {
    let busy: Server;
    let busyPort: number;
    beforeAll(async () => {
      busy = createServer();
      await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
      busyPort = (busy.address() as { port: number }).port;
    });
    afterAll(() => new Promise((resolve) => busy.close(resolve)));

    it.each([
      [[], /--ports is required/],
      [['--ports', '0'], /--ports: "0" is not a port list \(port 0 is outside 1-65535\)/],
      [['--ports', '1-2000'], /--ports: "1-2000" is 2000 ports; at most 1024/],
      [['--ports', '1500', '--for', '2d'], /--for: "2d" is not a duration/],
      [['--ports', '1500', '--for', '25h'], /--for: "25h" is out of range \(1 s-24 h\)/],
      [['--ports', '1500', '--bind', 'eth0'], /--bind: "eth0" is not an IP address/],
    ])('%j', async (args, message) => {
      // Act
      const { code, stderr, stdout } = await runCli(['respond', ...args]);
      // Assert
      expect(code).toBe(2);
      expect(stderr).toMatch(message);
      expect(stderr).not.toMatch(/\n\s+at /);
      expect(stdout).toBe('');
    });

    it('a port already in use is named, and the other ports are released', async () => {
      // Arrange
      const other = await freePort();
      // Act
      const { code, stderr } = await runCli([
        'respond',
        '--ports',
        `${other},${busyPort}`,
        '--bind',
        '127.0.0.1',
        '--for',
        '5s',
      ]);
      // Assert
      expect(code).toBe(2);
      expect(stderr).toContain(
        `cannot listen on 127.0.0.1 port ${busyPort}: something already listens there`,
      );
      expect((await probeOne(other))?.state).toBe('closed');
    });
  });
});
