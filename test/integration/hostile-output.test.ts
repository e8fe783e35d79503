// Issue 11 item 4: terminal escapes from the network never reach the user's terminal. Hostile servers on
// loopback answer with cursor moves, line erases, OSC window titles, an 8-bit CSI (U+009B) and NUL; the CLI
// runs with colours forced on, so its own colour codes must survive while every other control is gone.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bannerServer, replyServer, type TestServer } from '../support/service-servers';
import { runCli } from '../support/cli';

const HOSTILE = '\u001b[1A\u001b[2K\u001b]0;owned\u0007\u009b2J\u0000';
// Any control character but the CLI's own SGR colour codes and line breaks.
// eslint-disable-next-line no-control-regex
const FOREIGN_CONTROL = /(?!\u001b\[[0-9;]*m)[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
const stripSgr = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, ''); // eslint-disable-line no-control-regex

describe('remote strings printed by the CLI', () => {
  let ssh: TestServer;
  let http: TestServer;
  beforeAll(async () => {
    ssh = await bannerServer(`SSH-2.0-OpenSSH_9.2${HOSTILE} pass\r\n`);
    http = await replyServer(`HTTP/1.1 200 OK\r\nServer: nginx${HOSTILE}\r\nVia: 1.1 x${HOSTILE}\r\n\r\n`);
  });
  afterAll(async () => {
    await ssh.close();
    await http.close();
  });

  it('probe shows the SSH banner and the Server header without a control character, colours kept', async () => {
    // Act
    const { stdout } = await runCli(
      [
        'probe',
        '--target',
        `127.0.0.1:${ssh.port},${http.port}`,
        '--service',
        `${ssh.port}:ssh`,
        '--service',
        `${http.port}:http`,
      ],
      { tty: true, env: { FORCE_COLOR: '1' } },
    );

    // Assert
    expect(stdout).toMatch(/\u001b\[3\dm/); // eslint-disable-line no-control-regex
    expect(stdout).not.toMatch(FOREIGN_CONTROL);
    expect(stripSgr(stdout)).toContain('SSH-2.0-OpenSSH_9.2[1A[2K]0;owned');
    expect(stripSgr(stdout)).toContain('HTTP 200 from "nginx');
  });

  it('probe --json carries no raw control character either', async () => {
    // Act
    const { stdout } = await runCli([
      'probe',
      '--target',
      `127.0.0.1:${ssh.port}`,
      '--service',
      `${ssh.port}:ssh`,
      '--json',
    ]);
    // Assert
    expect(stdout).not.toMatch(FOREIGN_CONTROL);
    expect(stdout).not.toContain('\\u001b');
    // (U+009B arrives UTF-8 encoded, C2 9B; read byte by byte, C2 is the harmless "Â")
    expect(JSON.parse(stdout).results[0].service.banner).toMatch(
      /^SSH-2\.0-OpenSSH_9\.2\[1A\[2K\]0;owned.?2J pass$/,
    );
  });
});

describe('remote strings from the API printed by check --api', () => {
  let api: Server;
  let url: string;
  beforeAll(async () => {
    // A service answering with hostile text in a finding's cause and the run's reason.
    const run = {
      checkId: '01J0000000000000000000000H',
      environmentName: 'x',
      trigger: 'api',
      status: 'partial',
      reason: `shutdown${HOSTILE}`,
      createdAt: '2026-01-01T00:00:00.000Z',
      counts: { refused: 1 },
    };
    const finding = {
      checkId: run.checkId,
      environmentName: 'x',
      flowId: 'f-1',
      createdAt: run.createdAt,
      verdict: 'refused',
      cause: `\u001b[1A\u001b[2K\u001b[32mpass\u001b[39m${HOSTILE}`,
      direction: 'egress',
      source: 'vantage here',
      destination: `10.0.0.1${HOSTILE}`,
      protocol: 'tcp',
      ports: '22',
      requirements: ['custom:a'],
      optional: false,
    };
    api = createServer((req, res) => {
      req.resume();
      res.setHeader('content-type', 'application/json');
      if (req.method === 'POST') {
        res.statusCode = 202;
        res.end(JSON.stringify({ checkId: run.checkId, status: 'queued' }));
      } else res.end(JSON.stringify({ ...run, findings: [finding] }));
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => api.close(resolve));
  });

  it('prints the run and its findings without a foreign control character', async () => {
    // Act
    const { stdout } = await runCli(['check', '--api', url, '--config', 'examples/localhost.yaml'], {
      tty: true,
      env: { FORCE_COLOR: '1' },
    });

    // Assert
    expect(stdout).toContain('10.0.0.1');
    expect(stdout).not.toMatch(FOREIGN_CONTROL);
    // A colour code in a remote string is the server's, not ours: it is not passed on as a colour either
    expect(stdout).not.toContain('\u001b[1A');
    expect(stdout).not.toContain('\u001b[32mpass');
  });
});
