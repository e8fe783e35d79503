import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ApiDeps, handleRequest } from '../../lambdas/handlers/api/router';

/**
 * The API's router behind a bare local HTTP server, wired with `deps` as a Lambda handler wires it (no local
 * server's host and origin checks, no dashboard): for tests that put the deployed API's routes in front of an
 * agent or the executed state machine.
 */
export async function serveRouter(deps: ApiDeps): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const at = new URL(req.url ?? '/', 'http://127.0.0.1');
      void handleRequest(
        {
          method: req.method ?? 'GET',
          path: at.pathname,
          query: Object.fromEntries(at.searchParams),
          headers: req.headers as Record<string, string>,
          body: body === '' ? undefined : body,
        },
        deps,
        () => undefined,
      ).then((r) => {
        res.writeHead(r.status, r.headers);
        res.end(r.body);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
