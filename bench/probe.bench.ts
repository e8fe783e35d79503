/**
 * Probe engine versus `nmap -sT -T4` on the same 1,000 ports of a network-namespace lab:
 * 333 listening, 333 dropped, 10 rejected with ICMP host unreachable, 324 closed.
 * The engine in-process, the `preflight probe` command as a process, and nmap all run from the root
 * namespace against the lab's address, alternately, several times; the report compares median wall
 * times and every port's state (of both of ours against nmap's).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { expandPorts, formatPortList, parsePortList, portsToRanges } from '../lambdas/core/ports';
import { probe, type ProbeState } from '../lambdas/core/probe';
import { createLab } from '../test/support/netlab';

/** nmap's port states, plus `missing` for a port its report does not mention. */
type NmapState =
  'open' | 'closed' | 'filtered' | 'unfiltered' | 'open|filtered' | 'closed|filtered' | 'missing';

/** The numbers of one benchmark, as {@link measureProbeBench} returns them. */
export interface ProbeBenchResult {
  address: string;
  ports: number;
  layout: { listening: number; dropped: number; rejected: number; closed: number };
  runs: number;
  ours: {
    wallMs: number[];
    medianMs: number;
    counts: Partial<Record<ProbeState, number>>;
    attempts: number;
    maxInFlight: number;
  };
  /** The `preflight probe --json` command as its own process, start-up included, like nmap. */
  cli: { wallMs: number[]; medianMs: number; counts: Partial<Record<ProbeState, number>> };
  nmap: { wallMs: number[]; medianMs: number; counts: Partial<Record<NmapState, number>>; command: string };
  /** Median wall time of ours (the engine in-process) divided by nmap's. */
  ratio: number;
  /** Median wall time of the `preflight probe` process divided by nmap's. */
  ratioCli: number;
  statesAgree: boolean;
  /** The first disagreements (of any run), port by port. */
  disagreements: { port: number; ours: ProbeState; nmap: NmapState }[];
}

const FIRST_PORT = 20001;
const LAST_PORT = 21000;

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

function count<T extends string>(states: Iterable<T>): Partial<Record<T, number>> {
  const out: Partial<Record<T, number>> = {};
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

const CLI = join(__dirname, '..', 'bin', 'preflight.js');

/**
 * Builds the lab, runs our engine (default options, in-process) and nmap `runs` times each,
 * alternately, and returns the figures. The lab is removed afterwards.
 */
export async function measureProbeBench(options: { runs?: number } = {}): Promise<ProbeBenchResult> {
  const runs = options.runs ?? 3;
  const ports = expandPorts([{ from: FIRST_PORT, to: LAST_PORT }]);
  const listening = ports.slice(0, 333);
  const dropped = ports.slice(333, 666);
  const rejected = ports.slice(666, 676);
  const lab = await createLab({
    listenPorts: listening,
    dropPorts: dropped,
    rejectUnreachablePorts: rejected,
    ipv6: false,
  });
  try {
    const address = lab.ipv4;
    // -n: no reverse DNS (only the lab may see traffic); -Pn: the lab does not answer pings.
    const nmapArgs = [
      '-sT',
      '-T4',
      '-Pn',
      '-n',
      '-p',
      formatPortList(portsToRanges(ports)),
      '-oX',
      '-',
      address,
    ];
    const cliArgs = [CLI, 'probe', '--target', `${address}:${FIRST_PORT}-${LAST_PORT}`, '--json'];
    const ourWall: number[] = [];
    const cliWall: number[] = [];
    let cliCounts: ProbeBenchResult['cli']['counts'] = {};
    const nmapWall: number[] = [];
    const disagreements: ProbeBenchResult['disagreements'] = [];
    let ourCounts: ProbeBenchResult['ours']['counts'] = {};
    let nmapCounts: ProbeBenchResult['nmap']['counts'] = {};
    let attempts = 0;
    let maxInFlight = 0;

    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const run = await probe([{ host: address, ports }]);
      ourWall.push(performance.now() - started);
      const cli = await runTimed(process.execPath, cliArgs, [0, 1]);
      cliWall.push(cli.wallMs);
      const nmap = await runTimed('nmap', nmapArgs);
      nmapWall.push(nmap.wallMs);

      const theirs = parseNmapXml(nmap.out, ports);
      const cliResults = (JSON.parse(cli.out) as { results: { port: number; state: ProbeState }[] }).results;
      for (const r of [...run.results, ...cliResults]) {
        const their = theirs.get(r.port) ?? 'missing';
        if (asNmap(r.state) !== their && disagreements.length < 10) {
          disagreements.push({ port: r.port, ours: r.state, nmap: their });
        }
      }
      cliCounts = count(cliResults.map((r) => r.state));
      ourCounts = count(run.results.map((r) => r.state));
      nmapCounts = count(theirs.values());
      attempts = run.stats.attempts;
      maxInFlight = run.stats.maxInFlight;
    }

    const ours = { wallMs: ourWall.map((ms) => Math.round(ms * 10) / 10), medianMs: median(ourWall) };
    const theirs = { wallMs: nmapWall.map((ms) => Math.round(ms * 10) / 10), medianMs: median(nmapWall) };
    const cli = { wallMs: cliWall.map((ms) => Math.round(ms * 10) / 10), medianMs: median(cliWall) };
    return {
      address,
      ports: ports.length,
      layout: { listening: 333, dropped: 333, rejected: 10, closed: ports.length - 676 },
      runs,
      ours: { ...ours, counts: ourCounts, attempts, maxInFlight },
      cli: { ...cli, counts: cliCounts },
      nmap: { ...theirs, counts: nmapCounts, command: `nmap ${nmapArgs.join(' ')}` },
      ratio: Math.round((ours.medianMs / theirs.medianMs) * 100) / 100,
      ratioCli: Math.round((cli.medianMs / theirs.medianMs) * 100) / 100,
      statesAgree: disagreements.length === 0,
      disagreements,
    };
  } finally {
    await lab.destroy();
  }
}

/** Runs {@link measureProbeBench} and prints a small table (`BENCH_JSON=1` prints JSON instead). */
export async function benchProbe(): Promise<void> {
  const r = await measureProbeBench();
  if (process.env.BENCH_JSON === '1') {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return;
  }
  const cols = ['open', 'closed', 'filtered', 'unreachable'] as const;
  const cell = (counts: Record<string, number | undefined>, s: string): string =>
    String(counts[s] ?? 0).padStart(12);
  const row = (
    name: string,
    median: number,
    walls: number[],
    counts: Record<string, number | undefined>,
  ): string =>
    `${name.padEnd(16)}${median.toFixed(1).padStart(10)}  ${walls
      .map((w) => w.toFixed(0))
      .join(', ')
      .padEnd(20)}` + `${cols.map((s) => cell(counts, s)).join('')}\n`;
  const { layout } = r;
  process.stdout.write(
    `${r.ports} ports on ${r.address} (${layout.listening} listening, ${layout.dropped} dropped, ` +
      `${layout.rejected} rejected icmp-host-unreachable, ${layout.closed} closed), ${r.runs} runs each\n` +
      `${''.padEnd(16)}${'median ms'.padStart(10)}  ${'runs (ms)'.padEnd(20)}${cols.map((c) => c.padStart(12)).join('')}\n` +
      row('engine (in-proc)', r.ours.medianMs, r.ours.wallMs, r.ours.counts) +
      row('preflight probe', r.cli.medianMs, r.cli.wallMs, r.cli.counts) +
      row('nmap -sT -T4', r.nmap.medianMs, r.nmap.wallMs, r.nmap.counts) +
      `ratio engine/nmap: ${r.ratio.toFixed(2)}  (attempts ${r.ours.attempts}, max sockets in flight ${r.ours.maxInFlight})\n` +
      `ratio preflight probe process/nmap process: ${r.ratioCli.toFixed(2)}  (goal: at most 0.5)\n` +
      `states agree: ${r.statesAgree ? 'yes' : 'no'}` +
      (r.statesAgree
        ? '\n'
        : ` (first disagreements: ${r.disagreements.map((d) => `${d.port} ours=${d.ours} nmap=${d.nmap}`).join('; ')})\n`),
  );
}
