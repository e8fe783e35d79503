import { isIP } from 'node:net';
import { countPorts, formatPortList, parsePortList, PortListError } from '../../core/ports';
import { RESPONDER_MAX_PORTS, type ResponderConnection, startResponder } from '../../core/responder';
import { durationOption, formatDuration, InputError, parseCommandArgs, UsageError } from '../args';
import type { Io } from '../output';

export const respondHelp = `Usage: preflight respond --ports LIST [--bind ADDR] [--for DURATION] [--json]

Answers TCP connections on the given ports for a while, then exits by itself, so that a flow toward
a host whose migration software is not installed yet is probed "open" instead of "closed" (refused).
It logs the source address of every connection: the proof that the flow arrived. It reads and sends
nothing; each connection is held until the peer closes it (10 s at most).

Run it where a flow ends:
  - on a source server before the migration utility is installed (e.g. RiverMeadow's 5994, LiveData
    Migrator's 8081), then check from the other end;
  - on an instance launched in the target subnet with the target Security Groups (the AWS MGN
    replication port 1500 on the staging subnet), then run the agent or a check from the source side.

Options:
  --ports LIST      ports to answer on, e.g. 1500 or 6000-6010,7000-7010 (at most ${RESPONDER_MAX_PORTS})
  --bind ADDR       the local address to listen on (default 0.0.0.0: every IPv4 address; :: for IPv6)
  --for DURATION    how long to answer, e.g. 90s, 10m, 2h (default 10m, at most 24h)
  --json            one JSON object per line: {"event":"listening",…}, {"event":"connection",…},
                    {"event":"stopped","reason":"time"|"signal","connections"}
  -h, --help        show this help

Ctrl-C (SIGINT) or SIGTERM stops it at once. Ports below 1024 need root (or CAP_NET_BIND_SERVICE).
Remember to open the ports in the host's own firewall too (it is part of the path being proven).

Examples:
  sudo preflight respond --ports 1500 --for 30m
  preflight respond --ports 6000-6010,7000-7010 --bind 10.20.0.7 --json`;

const DEFAULT_FOR_MS = 10 * 60_000;
const MAX_FOR_MS = 24 * 3_600_000;

/**
 * `preflight respond`: listeners on the given ports until the duration ends, SIGINT/SIGTERM arrives or
 * `signal` aborts (tests). Exits 0 once stopped; 2 when a port cannot be listened on.
 */
export async function respondCommand(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const { values } = parseCommandArgs('respond', argv, {
    ports: { type: 'string' },
    bind: { type: 'string', default: '0.0.0.0' },
    for: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (values.ports === undefined) throw new UsageError('--ports is required, e.g. --ports 1500', 'respond');
  let ports;
  try {
    ports = parsePortList(values.ports);
  } catch (err) {
    if (err instanceof PortListError) throw new UsageError(`--ports: ${err.message}`, 'respond');
    throw err;
  }
  if (countPorts(ports) > RESPONDER_MAX_PORTS) {
    throw new UsageError(
      `--ports: ${JSON.stringify(values.ports)} is ${countPorts(ports)} ports; at most ${RESPONDER_MAX_PORTS}`,
      'respond',
    );
  }
  const bind = values.bind.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bind) === 0) {
    throw new UsageError(`--bind: ${JSON.stringify(values.bind)} is not an IP address`, 'respond');
  }
  const forMs = durationOption('respond', 'for', values.for, 1000, MAX_FOR_MS) ?? DEFAULT_FOR_MS;

  const line = (record: Record<string, unknown>, text: string) =>
    io.stdout.write(values.json ? `${JSON.stringify(record)}\n` : `${text}\n`);
  const onConnection = (c: ResponderConnection) =>
    line(
      {
        event: 'connection',
        at: c.at.toISOString(),
        from: c.from,
        fromPort: c.fromPort,
        to: c.to,
        port: c.port,
      },
      c.from === null
        ? `${c.at.toISOString()}  connection to port ${c.port} (reset by the peer before its address could be read: a port probe)`
        : `${c.at.toISOString()}  connection from ${c.from.includes(':') ? `[${c.from}]` : c.from}:${c.fromPort} to port ${c.port}`,
    );

  let responder;
  try {
    responder = await startResponder({ ports, bind, onConnection });
  } catch (err) {
    if (err instanceof Error && err.name === 'ResponderListenError') throw new InputError(err.message);
    throw err;
  }
  // The stop signals are taken before "listening" is printed: whoever reads that line may stop it at once.
  let finish: (why: 'time' | 'signal') => void = () => undefined;
  const stopped = new Promise<'time' | 'signal'>((done) => {
    finish = (why) => {
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      signal?.removeEventListener('abort', onSignal);
      done(why);
    };
  });
  const onSignal = () => finish('signal');
  const timer = setTimeout(() => finish('time'), forMs);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  signal?.addEventListener('abort', onSignal, { once: true });

  const until = new Date(Date.now() + forMs);
  line(
    { event: 'listening', bind, ports: formatPortList(ports), until: until.toISOString() },
    `answering on ${bind.includes(':') ? `[${bind}]` : bind} port${responder.ports.length === 1 ? '' : 's'} ${formatPortList(ports)} for ${formatDuration(forMs)} (until ${until.toISOString()}); Ctrl-C stops`,
  );
  const reason = await stopped;
  await responder.close();
  const connections = responder.connections();
  line(
    { event: 'stopped', reason, connections },
    `stopped (${reason === 'time' ? 'time is up' : 'signal'}): ${connections} connection${connections === 1 ? '' : 's'}`,
  );
  return 0;
}
