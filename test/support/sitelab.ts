/**
 * A two-site network lab for the on-premises side: a "dc" namespace (the data centre) and a "vpc" namespace
 * joined through a "router" namespace whose iptables FORWARD chain plays the firewall between them (DROP →
 * filtered, REJECT icmp-host-unreachable → unreachable). The test process reaches the vpc namespace over a
 * separate management link (never through the router), to drive `preflight serve` running there.
 *
 * ```
 *  dc (.2 agent, .3 server) ── router (FORWARD rules) ── vpc (.18)  ── mgmt ── root (.33 ↔ .34)
 *       198.19.K.0/28                                 198.19.K.16/28          198.19.K.32/30
 * ```
 *
 * Addresses come from 198.19.K.0/26, K chosen per process; everything is removed by `destroy()` and when
 * the process exits. Needs root, iproute2 and iptables (see netlab.ts's prerequisites).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { assertLabPrerequisites, NetlabError } from './netlab';

export interface SiteLab {
  readonly dc: string;
  readonly router: string;
  readonly vpc: string;
  /** The agent's address in dc (its traffic's source). */
  readonly dcAgent: string;
  /** A server's address in dc (the target of egress and outside flows). */
  readonly dcServer: string;
  /** The vpc host's address (the target of ingress flows, where `preflight serve` listens). */
  readonly vpcHost: string;
  /** The vpc host's address on the management link (the test process reaches serve there). */
  readonly vpcMgmt: string;
  /** Runs a command inside a namespace as a process of its own group (so that it can be killed whole). */
  spawnIn(ns: string, argv: readonly string[]): ChildProcess;
  /** Runs a command inside a namespace and waits for it. */
  exec(ns: string, argv: readonly string[], input?: string): Promise<string>;
  destroy(): Promise<void>;
}

export interface SiteLabOptions {
  /** Router FORWARD: ports dropped (filtered) in both directions. */
  readonly dropPorts: readonly number[];
  /** Router FORWARD: ports rejected with icmp-host-unreachable (unreachable) in both directions. */
  readonly unreachablePorts: readonly number[];
  /** dc INPUT: ports of dcServer dropped by the server's own firewall (an on-prem filtered port). */
  readonly dcServerDropPorts?: readonly number[];
}

function run(cmd: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new NetlabError(`${cmd} could not start: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new NetlabError(`${cmd} ${args.join(' ')} failed (exit ${code}): ${err.trim()}`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

const labs = new Set<{ names: string[]; hostIf: string; children: Set<ChildProcess> }>();
let installed = false;

function cleanupSync(lab: { names: string[]; hostIf: string; children: Set<ChildProcess> }) {
  for (const child of lab.children) {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  spawnSync('ip', ['link', 'del', lab.hostIf], { stdio: 'ignore' });
  for (const ns of lab.names) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  labs.delete(lab);
}

/** Builds the lab; throws NetlabError saying what is missing or which step failed (and removes what was built). */
export async function createSiteLab(options: SiteLabOptions): Promise<SiteLab> {
  assertLabPrerequisites();
  if (!installed) {
    installed = true;
    process.once('exit', () => [...labs].forEach(cleanupSync));
  }
  const k = 20 + (process.pid % 200);
  const net = `198.19.${k}`;
  const tag = `${process.pid % 100000}`;
  const dc = `pfs-${tag}-dc`;
  const router = `pfs-${tag}-rt`;
  const vpc = `pfs-${tag}-vpc`;
  const hostIf = `pfs${tag}m`;
  const lab = { names: [dc, router, vpc], hostIf, children: new Set<ChildProcess>() };
  labs.add(lab);
  const ip = (...args: string[]) => run('ip', args);
  try {
    for (const ns of lab.names) {
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      await ip('netns', 'add', ns);
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    spawnSync('ip', ['link', 'del', hostIf], { stdio: 'ignore' });
    // dc ↔ router
    await ip('-n', dc, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'rd', 'netns', router);
    await ip('-n', dc, 'addr', 'add', `${net}.2/28`, 'dev', 'd0');
    await ip('-n', dc, 'addr', 'add', `${net}.3/28`, 'dev', 'd0');
    await ip('-n', router, 'addr', 'add', `${net}.1/28`, 'dev', 'rd');
    // router ↔ vpc
    await ip('-n', vpc, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'rv', 'netns', router);
    await ip('-n', vpc, 'addr', 'add', `${net}.18/28`, 'dev', 'v0');
    await ip('-n', router, 'addr', 'add', `${net}.17/28`, 'dev', 'rv');
    // root ↔ vpc management link
    await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'vm', 'netns', vpc);
    await ip('addr', 'add', `${net}.33/30`, 'dev', hostIf);
    await ip('-n', vpc, 'addr', 'add', `${net}.34/30`, 'dev', 'vm');
    for (const [ns, dev] of [
      [dc, 'd0'],
      [router, 'rd'],
      [router, 'rv'],
      [vpc, 'v0'],
      [vpc, 'vm'],
    ] as const)
      await ip('-n', ns, 'link', 'set', dev, 'up');
    await ip('link', 'set', hostIf, 'up');
    await ip('-n', dc, 'route', 'add', 'default', 'via', `${net}.1`);
    await ip('-n', vpc, 'route', 'add', `${net}.0/28`, 'via', `${net}.17`);
    await run('ip', [
      'netns',
      'exec',
      router,
      'sysctl',
      '-q',
      '-w',
      'net.ipv4.ip_forward=1',
      'net.ipv4.icmp_ratelimit=0',
    ]);
    const rules = [
      '*filter',
      ':INPUT ACCEPT [0:0]',
      ':FORWARD ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ...options.dropPorts.map((p) => `-A FORWARD -p tcp --dport ${p} -j DROP`),
      ...options.unreachablePorts.map(
        (p) => `-A FORWARD -p tcp --dport ${p} -j REJECT --reject-with icmp-host-unreachable`,
      ),
      'COMMIT',
      '',
    ].join('\n');
    await run('ip', ['netns', 'exec', router, 'iptables-restore'], rules);
    const dcRules = [
      '*filter',
      ':INPUT ACCEPT [0:0]',
      ':FORWARD ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ...(options.dcServerDropPorts ?? []).map((p) => `-A INPUT -d ${net}.3/32 -p tcp --dport ${p} -j DROP`),
      'COMMIT',
      '',
    ].join('\n');
    await run('ip', ['netns', 'exec', dc, 'iptables-restore'], dcRules);
  } catch (err) {
    cleanupSync(lab);
    throw err;
  }
  return {
    dc,
    router,
    vpc,
    dcAgent: `${net}.2`,
    dcServer: `${net}.3`,
    vpcHost: `${net}.18`,
    vpcMgmt: `${net}.34`,
    spawnIn(ns, argv) {
      const child = spawn('ip', ['netns', 'exec', ns, ...argv], {
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      lab.children.add(child);
      child.once('exit', () => lab.children.delete(child));
      return child;
    },
    exec: (ns, argv, input) => run('ip', ['netns', 'exec', ns, ...argv], input),
    destroy: async () => {
      cleanupSync(lab);
    },
  };
}
