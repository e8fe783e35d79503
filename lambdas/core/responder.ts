import { createServer, type Server, type Socket } from 'node:net';
import { expandPorts, type PortRange } from './ports';

/**
 * The responder behind `preflight respond`: TCP listeners that accept on given ports for a while, so that a
 * probe toward a host whose migration software is not installed yet meets a listener (`open`) instead of
 * nothing (`closed`). It reads nothing and sends nothing; it holds each connection until the peer closes it
 * or `holdMs` passes, and reports every connection's source.
 */

/** One accepted connection: who came, to which local port, when. */
export interface ResponderConnection {
  readonly at: Date;
  /**
   * The peer's address and port; `null` when the peer reset the connection before it could be read (a port
   * probe such as preflight's own does that as soon as it is connected).
   */
  readonly from: string | null;
  readonly fromPort: number | null;
  readonly to: string;
  readonly port: number;
}

export interface ResponderOptions {
  readonly ports: readonly PortRange[];
  /** The local address to listen on (`0.0.0.0`, `::`, or one interface's address). */
  readonly bind: string;
  /** Called for every accepted connection. */
  readonly onConnection?: (connection: ResponderConnection) => void;
  /** How long an accepted connection is held open at most (ms). @default 10000 */
  readonly holdMs?: number;
}

/** Raised when a port cannot be listened on: names the address, the port and the system's reason. */
export class ResponderListenError extends Error {
  override readonly name = 'ResponderListenError';
  constructor(
    readonly bind: string,
    readonly port: number,
    readonly code: string,
  ) {
    super(
      `cannot listen on ${bind.includes(':') ? `[${bind}]` : bind} port ${port}: ${listenReason(code)} (${code})`,
    );
  }
}

function listenReason(code: string): string {
  switch (code) {
    case 'EADDRINUSE':
      return 'something already listens there (then the flow is answered already: probe it)';
    case 'EACCES':
      return 'ports below 1024 need root or CAP_NET_BIND_SERVICE';
    case 'EADDRNOTAVAIL':
      return '--bind is not an address of this machine';
    default:
      return 'the system refused';
  }
}

/** The most ports one responder listens on (one socket each). */
export const RESPONDER_MAX_PORTS = 1024;

export interface Responder {
  /** The ports actually listening, in order. */
  readonly ports: readonly number[];
  /** Connections accepted so far. */
  readonly connections: () => number;
  /** Stops listening and drops held connections. */
  readonly close: () => Promise<void>;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Listens on every port of `options.ports` at `options.bind`. Either every port listens, or none does and it
 * rejects with a {@link ResponderListenError} naming the first port that failed.
 */
export async function startResponder(options: ResponderOptions): Promise<Responder> {
  const ports = expandPorts(options.ports);
  const holdMs = options.holdMs ?? 10_000;
  const servers: Server[] = [];
  const held = new Set<Socket>();
  let count = 0;

  const accept = (socket: Socket, listening: number) => {
    count += 1;
    // Read first: once the peer's reset is processed the addresses are gone.
    const from = socket.remoteAddress;
    const fromPort = socket.remotePort;
    const local = socket.localAddress;
    const port = socket.localPort;
    // A scanner's reset must not end the responder.
    socket.on('error', () => undefined);
    held.add(socket);
    socket.once('close', () => held.delete(socket));
    socket.setTimeout(holdMs, () => socket.destroy());
    // The peer's data is not read for meaning; draining it keeps the socket from stalling the peer.
    socket.resume();
    socket.once('end', () => socket.end());
    options.onConnection?.({
      at: new Date(),
      from: from === undefined ? null : from.replace(/^::ffff:/, ''),
      fromPort: fromPort ?? null,
      to: (local ?? options.bind).replace(/^::ffff:/, ''),
      port: port ?? listening,
    });
  };

  try {
    for (const port of ports) {
      const server = createServer((socket) => accept(socket, port));
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) =>
          reject(new ResponderListenError(options.bind, port, err.code ?? 'ERROR')),
        );
        server.listen({ port, host: options.bind, exclusive: true }, () => resolve());
      });
      servers.push(server);
    }
  } catch (err) {
    await Promise.all(servers.map(closeServer));
    throw err;
  }

  return {
    ports,
    connections: () => count,
    close: async () => {
      for (const socket of held) socket.destroy();
      await Promise.all(servers.map(closeServer));
    },
  };
}
