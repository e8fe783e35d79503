/**
 * Probe speed as a user sees it, against `nmap -sT -T4 -Pn -n` on network-namespace labs:
 * - one host, 1,000 ports: 333 listening, 333 dropped, 10 rejected with ICMP host unreachable, 324 closed;
 * - three hosts on the same 200 ports each: a mixed one (the same proportions), a mostly dropped one
 *   (10 listening, 10 closed, 180 dropped) and a silent one (all 200 dropped);
 * - `preflight catalog --json` against `node -e 0`: what the command costs beyond starting Node.
 * The engine in-process, the `preflight probe` command as a process (start-up included, like nmap's) and
 * nmap run from the root namespace, alternately, several times; the report compares median wall times and
 * every host:port's state (of both of ours against nmap's).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { expandPorts, formatPortList, parsePortList, portsToRanges } from '../lambdas/core/ports';
import { probe, type ProbeState } from '../lambdas/core/probe';
import { createLab, type Lab } from '../test/support/netlab';

/** nmap's port states, plus `missing` for a port its report does not mention. */
type NmapState =
  'open' | 'closed' | 'filtered' | 'unfiltered' | 'open|filtered' | 'closed|filtered' | 'missing';

/** What one lab host does with the scenario's ports; the ports in no list are closed. */
interface HostLayout {
  readonly role: string;
  readonly listening: readonly number[];
  readonly dropped: readonly number[];
  readonly rejected: readonly number[];
}

/** A benchmark scenario: the hosts (one lab each) and the ports probed on every one of them. */
interface Scenario {
  readonly name: string;
  readonly ports: readonly number[];
  readonly hosts: readonly HostLayout[];
}

/** One timed program of a scenario. */
interface Timed {
  wallMs: number[];
  medianMs: number;
  /** States counted over every host:port of the last run. */
  counts: Record<string, number>;
}

/** The numbers of one scenario, as {@link measureScenario} returns them. */
export interface ScenarioResult {
  name: string;
  hosts: {
    role: string;
    address: string;
    listening: number;
    dropped: number;
    rejected: number;
    closed: number;
  }[];
  ports: number;
  runs: number;
  engine: Timed & { attempts: number; maxInFlight: number };
  /** The `preflight probe --json` command as its own process, start-up included, like nmap. */
  cli: Timed & { command: string };
  nmap: Timed & { command: string };
  /** Median wall time of the engine in-process divided by nmap's. */
  ratioEngine: number;
  /** Median wall time of the `preflight probe` process divided by nmap's. */
  ratioCli: number;
  /** Host:ports compared per run (ours and the command's, each against nmap). */
  compared: number;
  statesAgree: boolean;
  /** The first disagreements (of any run), port by port. */
  disagreements: { address: string; port: number; ours: ProbeState; nmap: NmapState }[];
}

/** `preflight catalog --json` against `node -e 0`, alternately. */
export interface StartupResult {
  runs: number;
  node: { wallMs: number[]; medianMs: number };
  catalog: { wallMs: number[]; medianMs: number };
  /** Median of catalog minus median of node, in ms. */
  overMs: number;
}

const CLI = join(__dirname, '..', 'bin', 'preflight.js');

/** Our states in nmap's words: nmap reports an ICMP-unreachable answer as `filtered`. */
function asNmap(state: ProbeState): string {
  return state === 'unreachable' ? 'filtered' : state;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const m = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return Math.round(m * 10) / 10;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function count(states: Iterable<string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of states) out[s] = (out[s] ?? 0) + 1;
  return out;
}

/**
 * Reads nmap's XML report into a state per port. Ports nmap collapses into `<extraports>` are
 * listed by the `ports` attribute of its `<extrareasons>`; if a report has no such attribute and
 * a single `<extraports>`, every port not listed individually takes that state.
 */
export function parseNmapXml(xml: string, ports: readonly number[]): Map<number, NmapState> {
  const states = new Map<number, NmapState>();
  for (const m of xml.matchAll(/<port protocol="tcp" portid="(\d+)"><state state="([a-z|]+)"/g)) {
    states.set(Number(m[1]), m[2] as NmapState);
  }
  const extra = [...xml.matchAll(/<extraports state="([a-z|]+)" count="(\d+)">([\s\S]*?)<\/extraports>/g)];
  let unattributed: NmapState | undefined;
  for (const m of extra) {
    const state = m[1] as NmapState;
    const reasons = [...(m[3] ?? '').matchAll(/<extrareasons [^>]*?ports="([^"]+)"/g)];
    if (reasons.length === 0) unattributed = extra.length === 1 ? state : undefined;
    for (const r of reasons) for (const p of expandPorts(parsePortList(r[1]!))) states.set(p, state);
  }
  for (const p of ports) if (!states.has(p)) states.set(p, unattributed ?? 'missing');
  return states;
}

/** Reads a report of several hosts: each `<host>` block by its address (a host missing from it: all `missing`). */
export function parseNmapHosts(
  xml: string,
  addresses: readonly string[],
  ports: readonly number[],
): Map<string, Map<number, NmapState>> {
  const byHost = new Map<string, Map<number, NmapState>>();
  for (const block of xml.split('<host ').slice(1)) {
    const address = /<address addr="([^"]+)"/.exec(block)?.[1];
    if (address !== undefined) byHost.set(address, parseNmapXml(block, ports));
  }
  for (const a of addresses) if (!byHost.has(a)) byHost.set(a, new Map(ports.map((p) => [p, 'missing'])));
  return byHost;
}

/** Runs a command to completion, timing it; exit codes in `okCodes` count as success. */
function runTimed(
  cmd: string,
  args: readonly string[],
  okCodes: readonly number[] = [0],
): Promise<{ out: string; wallMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) =>
      reject(
        new Error(
          `${cmd} could not start (${e.message})${cmd === 'nmap' ? '; install it with "apt-get install -y nmap"' : ''}`,
        ),
      ),
    );
    child.on('close', (code) => {
      const wallMs = performance.now() - started;
      if (code !== null && okCodes.includes(code)) resolve({ out, wallMs });
      else reject(new Error(`${cmd} failed (exit ${code}): ${err.trim()}`));
    });
  });
}

/** The 1,000-port host of issue 2's bench. */
function singleHostScenario(): Scenario {
  const ports = expandPorts([{ from: 20001, to: 21000 }]);
  return {
    name: 'one host, 1,000 ports',
    ports,
    hosts: [
      {
        role: 'mixed',
        listening: ports.slice(0, 333),
        dropped: ports.slice(333, 666),
        rejected: ports.slice(666, 676),
      },
    ],
  };
}

/** Three hosts on the same 200 ports: mixed, mostly dropped, silent. */
function threeHostScenario(): Scenario {
  const ports = expandPorts([{ from: 22001, to: 22200 }]);
  return {
    name: 'three hosts, 200 ports each',
    ports,
    hosts: [
      {
        role: 'mixed',
        listening: ports.slice(0, 66),
        dropped: ports.slice(66, 132),
        rejected: ports.slice(132, 136),
      },
      { role: 'mostly dropped', listening: ports.slice(0, 10), dropped: ports.slice(20), rejected: [] },
      { role: 'silent', listening: [], dropped: ports, rejected: [] },
    ],
  };
}

/**
 * Builds one lab per host, runs the engine (default options, in-process), the `preflight probe` command
 * and nmap `runs` times each, alternately, and returns the figures. The labs are removed afterwards.
 */
export async function measureScenario(scenario: Scenario, runs = 3): Promise<ScenarioResult> {
  const labs: Lab[] = [];
  try {
    for (const h of scenario.hosts) {
      labs.push(
        await createLab({
          listenPorts: h.listening,
          dropPorts: h.dropped,
          rejectUnreachablePorts: h.rejected,
          ipv6: false,
        }),
      );
    }
    const addresses = labs.map((lab) => lab.ipv4);
    const portList = formatPortList(portsToRanges(scenario.ports));
    // -n: no reverse DNS (only the labs may see traffic); -Pn: the labs do not answer pings.
    const nmapArgs = ['-sT', '-T4', '-Pn', '-n', '-p', portList, '-oX', '-', ...addresses];
    const cliArgs = [CLI, 'probe', ...addresses.flatMap((a) => ['--target', `${a}:${portList}`]), '--json'];
    const targets = addresses.map((host) => ({ host, ports: scenario.ports }));
    const wall = { engine: [] as number[], cli: [] as number[], nmap: [] as number[] };
    const counts = { engine: {}, cli: {}, nmap: {} } as Record<
      'engine' | 'cli' | 'nmap',
      Record<string, number>
    >;
    const disagreements: ScenarioResult['disagreements'] = [];
    let attempts = 0;
    let maxInFlight = 0;
    let compared = 0;

    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const run = await probe(targets);
      wall.engine.push(performance.now() - started);
      const cli = await runTimed(process.execPath, cliArgs, [0, 1]);
      wall.cli.push(cli.wallMs);
      const nmap = await runTimed('nmap', nmapArgs);
      wall.nmap.push(nmap.wallMs);

      const theirs = parseNmapHosts(nmap.out, addresses, scenario.ports);
      const cliResults = (
        JSON.parse(cli.out) as { results: { host: string; port: number; state: ProbeState }[] }
      ).results;
      const ours = [...run.results, ...cliResults];
      compared = ours.length;
      for (const r of ours) {
        const their = theirs.get(r.host)?.get(r.port) ?? 'missing';
        if (asNmap(r.state) !== their && disagreements.length < 10) {
          disagreements.push({ address: r.host, port: r.port, ours: r.state, nmap: their });
        }
      }
      counts.engine = count(run.results.map((r) => r.state));
      counts.cli = count(cliResults.map((r) => r.state));
      counts.nmap = count([...theirs.values()].flatMap((m) => [...m.values()]));
      attempts = run.stats.attempts;
      maxInFlight = run.stats.maxInFlight;
    }

    const timed = (key: 'engine' | 'cli' | 'nmap'): Timed => ({
      wallMs: wall[key].map((ms) => Math.round(ms)),
      medianMs: median(wall[key]),
      counts: counts[key],
    });
    const engine = timed('engine');
    const cli = timed('cli');
    const nmap = timed('nmap');
    return {
      name: scenario.name,
      hosts: scenario.hosts.map((h, i) => ({
        role: h.role,
        address: addresses[i]!,
        listening: h.listening.length,
        dropped: h.dropped.length,
        rejected: h.rejected.length,
        closed: scenario.ports.length - h.listening.length - h.dropped.length - h.rejected.length,
      })),
      ports: scenario.ports.length,
      runs,
      engine: { ...engine, attempts, maxInFlight },
      cli: { ...cli, command: `preflight ${cliArgs.slice(1).join(' ')}` },
      nmap: { ...nmap, command: `nmap ${nmapArgs.join(' ')}` },
      ratioEngine: round2(engine.medianMs / nmap.medianMs),
      ratioCli: round2(cli.medianMs / nmap.medianMs),
      compared,
      statesAgree: disagreements.length === 0,
      disagreements,
    };
  } finally {
    for (const lab of labs) await lab.destroy();
  }
}

/** `preflight catalog --json` and `node -e 0`, alternately, `runs` times each after one warm-up of each. */
export async function measureStartup(runs = 11): Promise<StartupResult> {
  const node = ['-e', '0'];
  const catalog = [CLI, 'catalog', '--json'];
  await runTimed(process.execPath, node);
  await runTimed(process.execPath, catalog);
  const nodeWall: number[] = [];
  const catalogWall: number[] = [];
  for (let i = 0; i < runs; i++) {
    nodeWall.push((await runTimed(process.execPath, node)).wallMs);
    catalogWall.push((await runTimed(process.execPath, catalog)).wallMs);
  }
  const n = { wallMs: nodeWall.map((ms) => Math.round(ms)), medianMs: median(nodeWall) };
  const c = { wallMs: catalogWall.map((ms) => Math.round(ms)), medianMs: median(catalogWall) };
  return { runs, node: n, catalog: c, overMs: Math.round((c.medianMs - n.medianMs) * 10) / 10 };
}

function report(r: ScenarioResult, goal: number): string {
  const cols = ['open', 'closed', 'filtered', 'unreachable'] as const;
  const row = (name: string, t: Timed): string =>
    `${name.padEnd(18)}${t.medianMs.toFixed(0).padStart(9)}  ${t.wallMs.join(', ').padEnd(20)}` +
    `${cols.map((s) => String(t.counts[s] ?? 0).padStart(12)).join('')}\n`;
  const hosts = r.hosts
    .map(
      (h) =>
        `  ${h.role} ${h.address}: ${h.listening} listening, ${h.dropped} dropped, ` +
        `${h.rejected} rejected icmp-host-unreachable, ${h.closed} closed\n`,
    )
    .join('');
  return (
    `${r.name}, ${r.runs} runs each\n${hosts}` +
    `${''.padEnd(18)}${'median ms'.padStart(9)}  ${'runs (ms)'.padEnd(20)}${cols.map((c) => c.padStart(12)).join('')}\n` +
    row('engine (in-proc)', r.engine) +
    row('preflight probe', r.cli) +
    row('nmap -sT -T4', r.nmap) +
    `ratio engine/nmap: ${r.ratioEngine.toFixed(2)}  (attempts ${r.engine.attempts}, max sockets in flight ${r.engine.maxInFlight})\n` +
    `ratio preflight probe process/nmap process: ${r.ratioCli.toFixed(2)}  (goal: at most ${goal})\n` +
    `states agree with nmap on all ${r.compared} host:ports (engine + command) of every run: ${r.statesAgree ? 'yes' : 'no'}` +
    (r.statesAgree
      ? '\n'
      : ` (first disagreements: ${r.disagreements.map((d) => `${d.address}:${d.port} ours=${d.ours} nmap=${d.nmap}`).join('; ')})\n`)
  );
}

/** Runs every measurement and prints a report (`BENCH_JSON=1` prints JSON instead). */
export async function benchProbe(): Promise<void> {
  // Builds the CLI bundle now if a source changed, so that no timed run pays for it.
  await runTimed(process.execPath, [CLI, '--version']);
  const single = await measureScenario(singleHostScenario());
  const three = await measureScenario(threeHostScenario());
  const startup = await measureStartup();
  if (process.env.BENCH_JSON === '1') {
    process.stdout.write(`${JSON.stringify({ single, three, startup }, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    `${report(single, 0.35)}\n${report(three, 0.5)}\n` +
      `start-up, ${startup.runs} runs each, alternately (median ms; runs)\n` +
      `  node -e 0                 ${startup.node.medianMs.toFixed(0).padStart(5)}  ${startup.node.wallMs.join(', ')}\n` +
      `  preflight catalog --json  ${startup.catalog.medianMs.toFixed(0).padStart(5)}  ${startup.catalog.wallMs.join(', ')}\n` +
      `  catalog beyond node: ${startup.overMs.toFixed(0)} ms  (goal: at most 60)\n`,
  );
}
