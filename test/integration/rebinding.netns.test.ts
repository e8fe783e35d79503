// Issue 11 item 1: DNS rebinding against `preflight serve`. The test builds its own network namespace whose
// resolv.conf points at a DNS server of its own (test/support/rebind-lab.js) that answers the same name with
// one address to the API's check and another afterwards; the service, the DNS server, the listeners and the
// client all run inside that namespace (ip netns exec), so no traffic leaves it.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../support/cli';
import { assertLabPrerequisites } from '../support/netlab';

const NAME = 'rebind.preflight.test';
const PORT = 9411;
let counter = 0;

interface Rebinder {
  readonly ns: string;
  /** Every event the DNS server and the listeners reported, in order. */
  readonly events: Array<{ query?: string; answer?: string; connect?: string }>;
  /** Runs `node -e script` inside the namespace; resolves with its stdout. */
  inside(script: string, ...args: string[]): Promise<string>;
  readonly serviceUrl: string;
  destroy(): void;
}

function startIn(ns: string, args: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { detached: true });
}

function waitFor(child: ChildProcess, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${out}`)), 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}): ${out}`)));
  });
}

/** A namespace with the rebinding DNS server answering `answers` in turn, and `serve --allow 127.0.0.1/32`. */
async function rebinder(answers: string[]): Promise<Rebinder> {
  assertLabPrerequisites();
  const ns = `pf-rb-${process.pid}-${counter++}`;
  const etc = join('/etc/netns', ns);
  const data = fs.mkdtempSync(join(tmpdir(), 'preflight-rebind-'));
  const children: ChildProcess[] = [];
  const destroy = () => {
    for (const c of children) {
      try {
        if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    spawnSync('ip', ['netns', 'del', ns]);
    fs.rmSync(etc, { recursive: true, force: true });
    fs.rmSync(data, { recursive: true, force: true });
  };
  try {
    spawnSync('ip', ['netns', 'add', ns], { stdio: 'inherit' });
    spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { stdio: 'inherit' });
    fs.mkdirSync(etc, { recursive: true });
    fs.writeFileSync(join(etc, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
    const events: Rebinder['events'] = [];
    const lab = startIn(ns, [
      join(REPO, 'test', 'support', 'rebind-lab.js'),
      JSON.stringify({ name: NAME, answers, listen: [`127.0.0.1:${PORT}`, `127.0.0.2:${PORT}`] }),
    ]);
    children.push(lab);
    let buffered = '';
    lab.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        events.push(JSON.parse(buffered.slice(0, nl)) as Rebinder['events'][number]);
        buffered = buffered.slice(nl + 1);
      }
    });
    await waitFor(lab, /"ready":true/, 'the rebinding DNS server');
    const service = startIn(ns, [
      join(REPO, 'bin', 'preflight.js'),
      'serve',
      '--port',
      '0',
      '--data',
      data,
      '--allow',
      '127.0.0.1/32',
    ]);
    children.push(service);
    const [, serviceUrl] = await waitFor(service, /preflight service on (http:\/\/\S+)/, 'the service');
    // Asynchronous, so that the lab's events keep arriving while the client runs.
    const inside = (script: string, ...args: string[]) =>
      new Promise<string>((resolve, reject) => {
        const client = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args]);
        let out = '';
        let err = '';
        client.stdout.on('data', (d: Buffer) => (out += d.toString()));
        client.stderr.on('data', (d: Buffer) => (err += d.toString()));
        client.once('exit', (code) =>
          code === 0 ? resolve(out) : reject(new Error(`the client failed (${code}): ${err}`)),
        );
      });
    return { ns, events, inside, serviceUrl: serviceUrl as string, destroy };
  } catch (err) {
    destroy();
    throw err;
  }
}

// The client: POST /checks with an inline environment, then GET the run until it is closed.
const CLIENT = `
const [url, body] = process.argv.slice(1);
(async () => {
  const started = await fetch(url + '/checks', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const run = await started.json();
  if (started.status !== 202) { console.log(JSON.stringify({ status: started.status, run })); return; }
  for (;;) {
    const r = await (await fetch(url + '/checks/' + run.checkId)).json();
    if (['succeeded', 'partial', 'failed'].includes(r.status)) { console.log(JSON.stringify(r)); return; }
    await new Promise((done) => setTimeout(done, 100));
  }
})().catch((err) => { console.error(err); process.exit(1); });
`;

const environment = {
  name: 'rebound',
  vantages: [{ name: 'here', roles: ['target-worker'] }],
  flows: [{ name: 'rebound', to: [NAME], ports: String(PORT), placement: 'on-prem' }],
  probe: { timeoutMs: 1000, retries: 0 },
};

interface RunBody {
  status: string;
  reason?: string;
  findings: Array<{ verdict: string; destination: string }>;
}

describe('DNS rebinding against an API-started run (issue 11 item 1)', () => {
  it('never connects to the address a name rebinds to after the API checked it', async () => {
    // Arrange: 127.0.0.1 (allowed) to the API's check, 127.0.0.2 (outside --allow) from then on
    const lab = await rebinder(['127.0.0.1', '127.0.0.2']);
    try {
      // Act
      const run = JSON.parse(
        await lab.inside(CLIENT, lab.serviceUrl, JSON.stringify({ environment })),
      ) as RunBody;

      // Assert: the API accepted it (first answer), the probe vetted the second answer and refused it
      expect(lab.events.filter((e) => e.query === 'A').map((e) => e.answer)).toEqual([
        '127.0.0.1',
        '127.0.0.2',
      ]);
      expect(lab.events.filter((e) => e.connect !== undefined)).toEqual([]);
      expect(run.findings).toHaveLength(1);
      expect(run.findings[0]?.verdict).not.toBe('pass');
      expect(run.status).toBe('partial');
      expect(run.reason).toContain(
        `${NAME} resolves to 127.0.0.2, which is outside the allowed target CIDRs (127.0.0.1/32)`,
      );
    } finally {
      lab.destroy();
    }
  });

  it('connects to the address it checked, never resolving the name again', async () => {
    // Arrange: allowed to the API and to the probe's check, rebound for any later lookup
    const lab = await rebinder(['127.0.0.1', '127.0.0.1', '127.0.0.2']);
    try {
      // Act
      const run = JSON.parse(
        await lab.inside(CLIENT, lab.serviceUrl, JSON.stringify({ environment })),
      ) as RunBody;

      // Assert: two lookups (API, probe step), and the connection went to the checked address
      expect(lab.events.filter((e) => e.query === 'A')).toHaveLength(2);
      expect(lab.events.filter((e) => e.connect !== undefined)).toEqual([{ connect: `127.0.0.1:${PORT}` }]);
      expect(run.findings[0]?.verdict).toBe('pass');
      expect(run.status).toBe('succeeded');
    } finally {
      lab.destroy();
    }
  });
});
