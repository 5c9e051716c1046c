/**
 * A local HTTP origin for Remote Asset tests: a node:http server on
 * 127.0.0.1 (or another loopback address) with a port of its own, serving fixed routes and recording every
 * request it receives.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a route answers: a body (200), or a handler for anything else. */
export type Route = Buffer | string | ((req: IncomingMessage, res: ServerResponse) => void);

/** A request the origin received. */
export interface SeenRequest {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
}

/** A running origin. */
export interface HttpOrigin {
  /** `http://127.0.0.1:PORT` (the host it listens on). */
  readonly base: string;
  readonly port: number;
  /** Every request so far, in order. */
  readonly requests: SeenRequest[];
  /** Requests to `path` so far. */
  hits(path: string): number;
  /** Adds or replaces a route. */
  route(path: string, answer: Route): void;
  /** Stops listening and drops open connections. Safe to call twice. */
  stop(): Promise<void>;
}

/** Starts an origin on `host` serving `routes`; unknown paths are 404. */
export async function startHttpOrigin(
  routes: Record<string, Route> = {},
  host = '127.0.0.1',
): Promise<HttpOrigin> {
  const table = new Map(Object.entries(routes));
  const requests: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    requests.push({ path, headers: req.headers });
    const answer = table.get(path);
    if (answer === undefined) {
      res.writeHead(404).end('not found');
    } else if (typeof answer === 'function') {
      answer(req, res);
    } else {
      const body = Buffer.from(answer);
      res.writeHead(200, { 'content-length': body.byteLength }).end(body);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  let stopped: Promise<void> | undefined;
  return {
    base: `http://${hostInUrl}:${port}`,
    port,
    requests,
    hits: (path) => requests.filter((r) => r.path === path).length,
    route: (path, answer) => void table.set(path, answer),
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}
