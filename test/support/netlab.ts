/**
 * A disposable network-namespace lab for tests and benchmarks: one namespace holding an address of
 * each family, a listener on some ports, iptables rules that DROP or REJECT others, and nothing on
 * the rest (closed). Traffic only ever flows between the root namespace and the lab namespace.
 *
 * ```ts
 * const lab = await createLab({ listenPorts: [8080], dropPorts: [8081], rejectUnreachablePorts: [8082] });
 * try {
 *   await probe([{ host: lab.ipv4, ports: [8080, 8081, 8082, 8083] }]);
 * } finally {
 *   await lab.destroy();
 * }
 * ```
 *
 * Needs root, iproute2, iptables/ip6tables and ethtool and sysctl; without them
 * {@link createLab} throws a {@link NetlabError} saying what to install, so a test fails instead of
 * silently skipping.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type { Socket } from 'node:net';
import * as path from 'node:path';
import { formatPortList, portsToRanges } from '../../lambdas/core/ports';

/** What the lab's namespace does on each port; a port in no list is closed (refused). */
export interface LabOptions {
  /** Ports with a listener (open). @default - none */
  readonly listenPorts?: readonly number[];
  /** Ports whose SYNs are silently dropped (filtered). @default - none */
  readonly dropPorts?: readonly number[];
  /**
   * Ports rejected with ICMP host unreachable (`icmp-host-unreachable`, and for IPv6
   * `icmp6-addr-unreachable`: both make `connect` fail with EHOSTUNREACH). @default - none
   */
  readonly rejectUnreachablePorts?: readonly number[];
  /** Whether to give the lab an IPv6 address too. @default true */
  readonly ipv6?: boolean;
  /**
   * More IPv4 addresses the lab answers as (the same port rules apply to each), from a /22 of 198.19.0.0/16 the
   * lab claims for itself (routed to it, and local in its namespace for the whole block), at most
   * {@link MAX_EXTRA_HOSTS}: a thousand hosts of a migration wave in one namespace. @default 0
   */
  readonly extraIpv4Hosts?: number;
}

/** Extra IPv4 hosts one lab may have: a /22 without its first and last address. */
export const MAX_EXTRA_HOSTS = 1022;

/** A running lab. */
export interface Lab {
  /** The network namespace's name, `pf-<pid>-<n>`. */
  readonly name: string;
  /** The lab's IPv4 address, inside 198.18.0.0/15. */
  readonly ipv4: string;
  /** The lab's IPv6 address, inside fd7a:7066:6c74::/64; undefined when created with `ipv6: false`. */
  readonly ipv6: string | undefined;
  /** The root namespace's end of the veth pair (the address probes come from). */
  readonly hostIpv4: string;
  /** The root namespace's IPv6 end of the veth pair. */
  readonly hostIpv6: string | undefined;
  /** The extra IPv4 addresses asked for with `extraIpv4Hosts`, in order. */
  readonly extraIpv4: readonly string[];
  /** Stops the listener and removes the namespace and the veth pair. Safe to call more than once. */
  destroy(): Promise<void>;
}

/** Raised when a lab cannot be built: missing privileges or tools, or a failing command. */
export class NetlabError extends Error {
  override readonly name = 'NetlabError';
}

const SLOT_DIR = '/run/preflight-netlab';
// 198.18.0.0/16 holds 16,384 /30 networks; one per lab.
const SLOT_COUNT = 16_384;
// 198.19.0.0/16 holds 64 /22 blocks of extra hosts; one per lab that asks for them.
const BLOCK_COUNT = 64;
const LISTENER = path.join(__dirname, 'listener.js');
const READY_TIMEOUT_MS = 15_000;

// Offloads and sysctls that make ICMP errors reach connect() at once, as on a real network:
// - On the lab side of the veth: GRO on, so the veth receives through NAPI, and threaded NAPI, so
//   the lab handles a SYN in a kernel thread instead of inside the prober's connect() call. Without
//   this, an ICMPv6 error comes back while connect() still holds the socket lock; Linux then keeps
//   it as a "soft" error and reports it only at the SYN retransmission, a second later (IPv4 does
//   not show this). On a real network the answer always arrives after connect() returns.
// - On the root side: TSO off, which makes the SYNs it sends eligible for the lab side's GRO path.
// - ICMP rate limits off in the lab, so every rejected SYN gets its ICMP error.
const LAB_SYSCTLS = [
  'net.ipv4.icmp_ratelimit=0',
  'net.ipv6.icmp.ratelimit=0',
  'net.ipv4.icmp_msgs_per_sec=100000',
  'net.ipv4.icmp_msgs_burst=10000',
];

interface LiveLab {
  readonly ns: string;
  readonly hostIf: string;
  readonly slotPath: string;
  /** The claimed block of extra hosts, if any. */
  blockPath?: string;
  listener: ChildProcess | undefined;
}

const live = new Set<LiveLab>();
let labCounter = 0;
let handlersInstalled = false;

function which(tool: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = path.join(dir, tool);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * Checks that a lab can be built here: root, and `ip`, `iptables-restore`, `ip6tables-restore` and
 * `ethtool`, `sysctl` and `tc` on the PATH.
 * @throws NetlabError naming what is missing and how to install it.
 */
export function assertLabPrerequisites(): void {
  const problems: string[] = [];
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    problems.push(`it must run as root (uid is ${process.getuid?.() ?? 'unknown'}); run the tests with sudo`);
  }
  const missing = ['ip', 'iptables-restore', 'ip6tables-restore', 'ethtool', 'sysctl', 'tc'].filter(
    (t) => !which(t),
  );
  if (missing.length > 0) {
    problems.push(
      `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing; install them with ` +
        '"apt-get install -y iproute2 iptables ethtool procps" (or run test/setup/system-packages.sh)',
    );
  }
  if (problems.length > 0) {
    throw new NetlabError(`the network-namespace lab cannot be built: ${problems.join('; ')}`);
  }
}

function run(cmd: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) =>
      reject(new NetlabError(`${cmd} ${args.join(' ')} could not start: ${e.message}`)),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new NetlabError(`${cmd} ${args.join(' ')} failed (exit ${code}): ${err.trim()}`));
    });
    // The command may exit without reading its input.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function hostIfName(slot: number): string {
  return `pf${slot}h`;
}

/** Removes what a dead process left in a slot; returns whether the slot is free again. */
function reclaimStaleSlot(slotPath: string, slot: number): boolean {
  let owner: { pid?: number; ns?: string } = {};
  try {
    owner = JSON.parse(fs.readFileSync(path.join(slotPath, 'owner.json'), 'utf8')) as typeof owner;
  } catch {
    // Owner not written yet: either being created right now or crashed in between; wait a minute.
    const stat = fs.statSync(slotPath, { throwIfNoEntry: false });
    if (stat === undefined) return true;
    if (Date.now() - stat.mtimeMs < 60_000) return false;
  }
  if (owner.pid !== undefined && isAlive(owner.pid)) return false;
  spawnSync('ip', ['link', 'del', hostIfName(slot)], { stdio: 'ignore' });
  if (owner.ns) spawnSync('ip', ['netns', 'del', owner.ns], { stdio: 'ignore' });
  fs.rmSync(slotPath, { recursive: true, force: true });
  return true;
}

/** Claims a free address slot, atomically across processes (mkdir), reclaiming dead owners' slots. */
function claimSlot(ns: string): { slot: number; slotPath: string } {
  fs.mkdirSync(SLOT_DIR, { recursive: true });
  // Labs of processes that were killed before they could clean up (SIGKILL, OOM, a crash).
  for (const entry of fs.readdirSync(SLOT_DIR)) {
    if (/^\d+$/.test(entry)) reclaimStaleSlot(path.join(SLOT_DIR, entry), Number(entry));
  }
  const start = (process.pid * 7 + labCounter * 131) % SLOT_COUNT;
  for (let i = 0; i < SLOT_COUNT; i++) {
    const slot = (start + i) % SLOT_COUNT;
    const slotPath = path.join(SLOT_DIR, String(slot));
    for (let tries = 0; tries < 2; tries++) {
      try {
        fs.mkdirSync(slotPath);
        fs.writeFileSync(path.join(slotPath, 'owner.json'), JSON.stringify({ pid: process.pid, ns }));
        return { slot, slotPath };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        if (!reclaimStaleSlot(slotPath, slot)) break;
      }
    }
  }
  throw new NetlabError(`no free lab slot in ${SLOT_DIR} (all ${SLOT_COUNT} taken)`);
}

/** Claims a free /22 of 198.19.0.0/16 for extra hosts, as {@link claimSlot} does (mkdir, dead owners reclaimed). */
function claimBlock(ns: string): { block: number; blockPath: string } {
  for (let i = 0; i < BLOCK_COUNT; i++) {
    const block = (process.pid + labCounter + i) % BLOCK_COUNT;
    const blockPath = path.join(SLOT_DIR, `hosts-${block}`);
    for (let tries = 0; tries < 2; tries++) {
      try {
        fs.mkdirSync(blockPath);
        fs.writeFileSync(path.join(blockPath, 'owner.json'), JSON.stringify({ pid: process.pid, ns }));
        return { block, blockPath };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        let owner: { pid?: number } = {};
        try {
          owner = JSON.parse(fs.readFileSync(path.join(blockPath, 'owner.json'), 'utf8')) as typeof owner;
        } catch {
          // being created right now
        }
        if (owner.pid === undefined || isAlive(owner.pid)) break;
        // Its namespace went with its slot; the root route goes with the veth.
        fs.rmSync(blockPath, { recursive: true, force: true });
      }
    }
  }
  throw new NetlabError(`no free block of extra hosts in ${SLOT_DIR} (all ${BLOCK_COUNT} taken)`);
}

function cleanupSync(lab: LiveLab): void {
  if (lab.listener?.pid !== undefined) {
    try {
      process.kill(-lab.listener.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  spawnSync('ip', ['link', 'del', lab.hostIf], { stdio: 'ignore' });
  spawnSync('ip', ['netns', 'del', lab.ns], { stdio: 'ignore' });
  fs.rmSync(lab.slotPath, { recursive: true, force: true });
  if (lab.blockPath) fs.rmSync(lab.blockPath, { recursive: true, force: true });
  live.delete(lab);
}

function cleanupAllSync(): void {
  for (const lab of [...live]) cleanupSync(lab);
}

function onSignal(signal: NodeJS.Signals): void {
  cleanupAllSync();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.kill(process.pid, signal);
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupAllSync);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function startListener(ns: string, ports: readonly number[]): Promise<ChildProcess> {
  const spec = formatPortList(portsToRanges(ports));
  // detached: the listener gets its own process group, which destroy() kills as a whole, because
  // `ip netns exec` may fork and the pid we get is not necessarily the listener's.
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, LISTENER, spec], {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(`not ready after ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    function fail(why: string): void {
      clearTimeout(timer);
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      reject(new NetlabError(`the lab listener in ${ns} failed: ${why}${err ? `: ${err.trim()}` : ''}`));
    }
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) {
        clearTimeout(timer);
        // A forgotten lab must not keep the process alive; the exit handler removes it then.
        child.unref();
        for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as Socket | null)?.unref();
        resolve(child);
      }
    });
    child.once('error', (e) => fail(e.message));
    child.once('exit', (code, signal) => fail(`exited (${signal ?? code}) before it was ready`));
  });
}

function iptablesRules(
  dropRanges: string[],
  rejectRanges: string[],
  reject: 'icmp-host-unreachable' | 'icmp6-addr-unreachable',
): string {
  const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]'];
  for (const r of dropRanges) lines.push(`-A INPUT -p tcp --dport ${r} -j DROP`);
  for (const r of rejectRanges) lines.push(`-A INPUT -p tcp --dport ${r} -j REJECT --reject-with ${reject}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

function checkPorts(name: string, ports: readonly number[]): void {
  for (const p of ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) {
      throw new NetlabError(`${name} holds ${JSON.stringify(p)}, which is not a port (1-65535)`);
    }
  }
}

/**
 * Creates a lab: namespace `pf-<pid>-<n>`, a veth pair with a /30 from 198.18.0.0/16 and a /112
 * from fd7a:7066:6c74::/64 (unique per lab, also across processes), iptables rules in the lab's
 * INPUT chain and one listener process. The lab is also removed when the process exits.
 * @throws NetlabError when not root, a tool is missing or a step fails (what was built is removed).
 */
export async function createLab(options: LabOptions = {}): Promise<Lab> {
  assertLabPrerequisites();
  const listenPorts = [...(options.listenPorts ?? [])];
  const dropPorts = [...(options.dropPorts ?? [])];
  const rejectPorts = [...(options.rejectUnreachablePorts ?? [])];
  checkPorts('listenPorts', listenPorts);
  checkPorts('dropPorts', dropPorts);
  checkPorts('rejectUnreachablePorts', rejectPorts);
  const withV6 = options.ipv6 ?? true;
  const extraHosts = options.extraIpv4Hosts ?? 0;
  if (!Number.isInteger(extraHosts) || extraHosts < 0 || extraHosts > MAX_EXTRA_HOSTS)
    throw new NetlabError(`extraIpv4Hosts is ${extraHosts}: give 0 to ${MAX_EXTRA_HOSTS}`);

  const ns = `pf-${process.pid}-${labCounter++}`;
  const { slot, slotPath } = claimSlot(ns);
  const hostIf = hostIfName(slot);
  const labIf = `pf${slot}n`;
  const lab: LiveLab = { ns, hostIf, slotPath, listener: undefined };
  installExitHandlers();
  live.add(lab);

  const offset = slot * 4;
  const v4 = (n: number): string => `198.18.${offset >> 8}.${(offset & 255) + n}`;
  const v6 = (n: number): string => `fd7a:7066:6c74::${(slot + 1).toString(16)}:${n}`;
  const ipv4 = v4(2);
  const hostIpv4 = v4(1);
  const ipv6 = withV6 ? v6(2) : undefined;
  const hostIpv6 = withV6 ? v6(1) : undefined;
  const extraIpv4: string[] = [];

  try {
    // Leftovers of a crashed run that used this slot (its owner file already removed).
    spawnSync('ip', ['link', 'del', hostIf], { stdio: 'ignore' });
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', labIf, 'netns', ns]);
    await run('ip', ['addr', 'add', `${hostIpv4}/30`, 'dev', hostIf]);
    await run('ip', ['-n', ns, 'addr', 'add', `${ipv4}/30`, 'dev', labIf]);
    if (withV6) {
      await run('ip', ['-6', 'addr', 'add', `${hostIpv6}/112`, 'dev', hostIf, 'nodad']);
      await run('ip', ['-n', ns, '-6', 'addr', 'add', `${ipv6}/112`, 'dev', labIf, 'nodad']);
    }
    await run('ip', ['link', 'set', hostIf, 'up']);
    await run('ip', ['-n', ns, 'link', 'set', labIf, 'up']);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await run('ethtool', ['-K', hostIf, 'tso', 'off']);
    // A queue in front of the veth, as a NIC has: without one (veth's default is noqueue) a burst of more SYNs
    // than the lab side's 256-slot ring holds is dropped on the spot (`ip -s link`: TX dropped), and a prober
    // sees loss the network does not have. With a qdisc the kernel holds them until the ring has room.
    await run('tc', ['qdisc', 'replace', 'dev', hostIf, 'root', 'pfifo', 'limit', '1000']);
    await run('ip', ['netns', 'exec', ns, 'ethtool', '-K', labIf, 'gro', 'on']);
    await run('ip', ['netns', 'exec', ns, 'sh', '-c', `echo 1 > /sys/class/net/${labIf}/threaded`]);
    await run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', ...LAB_SYSCTLS]);

    const drop = portsToRanges(dropPorts).map((r) => (r.from === r.to ? `${r.from}` : `${r.from}:${r.to}`));
    const rej = portsToRanges(rejectPorts).map((r) => (r.from === r.to ? `${r.from}` : `${r.from}:${r.to}`));
    await run(
      'ip',
      ['netns', 'exec', ns, 'iptables-restore'],
      iptablesRules(drop, rej, 'icmp-host-unreachable'),
    );
    if (withV6) {
      await run(
        'ip',
        ['netns', 'exec', ns, 'ip6tables-restore'],
        iptablesRules(drop, rej, 'icmp6-addr-unreachable'),
      );
    }
    if (extraHosts > 0) {
      const { block, blockPath } = claimBlock(ns);
      lab.blockPath = blockPath;
      const cidr = `198.19.${block * 4}.0/22`;
      for (let n = 1; n <= extraHosts; n++) extraIpv4.push(`198.19.${block * 4 + (n >> 8)}.${n & 255}`);
      // Routed to the lab, and local there for the whole block (AnyIP): no address to add one by one.
      await run('ip', ['route', 'add', cidr, 'via', ipv4, 'dev', hostIf]);
      await run('ip', ['-n', ns, 'route', 'add', 'local', cidr, 'dev', 'lo']);
    }
    if (listenPorts.length > 0) lab.listener = await startListener(ns, listenPorts);
  } catch (e) {
    cleanupSync(lab);
    throw e;
  }

  let destroying: Promise<void> | undefined;
  const destroy = (): Promise<void> => {
    destroying ??= (async () => {
      const child = lab.listener;
      if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.ref(); // unref'd once ready; waiting for its exit must keep the process alive
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await exited;
      }
      lab.listener = undefined;
      // Deleting the root end removes the pair at once; namespace teardown is asynchronous.
      spawnSync('ip', ['link', 'del', hostIf], { stdio: 'ignore' });
      await run('ip', ['netns', 'del', ns]).catch(() => undefined);
      fs.rmSync(slotPath, { recursive: true, force: true });
      if (lab.blockPath) fs.rmSync(lab.blockPath, { recursive: true, force: true });
      live.delete(lab);
    })();
    return destroying;
  };

  return { name: ns, ipv4, ipv6, hostIpv4, hostIpv6, extraIpv4, destroy };
}
