/**
 * Kiln's HTTP server: the web UI and the Prometheus `/metrics` endpoint, on
 * their own port next to gRPC. It knows no routes itself; each feature
 * mounts its own with a {@link RouteRegistrar}.
 */
import type { AddressInfo } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { parseListenAddress } from '../server/grpc-server.ts';
import { type ReloadingServerTls, secureContextOptions } from '../tls/reloading-server-tls.ts';
import type { Logger } from '../util/logger.ts';

/** Mounts routes (or plugins) on the HTTP server before it starts listening. */
export type RouteRegistrar = (app: FastifyInstance) => Promise<void> | void;

/** Options for {@link startHttpServer}. */
export interface HttpServerOptions {
  /** `host:port`; port 0 picks a free port. */
  readonly listen: string;
  /** Called in order, each awaited, before the server listens. */
  readonly routes: readonly RouteRegistrar[];
  /** Fastify logs through a child of it; requests themselves are not logged. */
  readonly log: Logger;
  /** Serve HTTPS (refusing clients without a certificate when it has a client CA). */
  readonly tls?: ReloadingServerTls;
}

/** A running HTTP server. */
export interface RunningHttpServer {
  /** The bound `host:port`, with the real port when 0 was asked for. */
  readonly address: string;
  readonly port: number;
  /** `http://host:port/` (or `https://`), for people. */
  readonly url: string;
  /** Closes every connection, idle or not, and stops listening. */
  close(): Promise<void>;
}

/**
 * The HTTP address `server.httpListen` means: `auto` is the gRPC host with
 * the gRPC port + 1 (port 0, as in tests, stays 0), and `off` or empty means
 * no HTTP server (undefined).
 */
export function resolveHttpListen(server: {
  readonly listen: string;
  readonly httpListen: string;
}): string | undefined {
  const { httpListen } = server;
  if (httpListen === 'off' || httpListen === '') return undefined;
  if (httpListen !== 'auto') return httpListen;
  const { host, port } = parseListenAddress(server.listen);
  if (port === 65535) {
    throw new Error(
      `server.httpListen "auto" needs the port after ${port}; set server.httpListen explicitly`,
    );
  }
  return `${host}:${port === 0 ? 0 : port + 1}`;
}

/** Schema compilers for Fastify that refuse: Kiln's routes have no schemas. */
const noSchemas = () => (): never => {
  throw new Error('Kiln HTTP routes declare no schemas; validate in the handler');
};

/** Starts a Fastify server with the given routes on `options.listen`. */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const { host, port } = parseListenAddress(options.listen);
  const logger: FastifyBaseLogger = options.log.child({ component: 'http' });
  const { tls } = options;
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    // A UI page left open holds a keep-alive connection; shutdown must not wait for it.
    forceCloseConnections: true,
    // No route declares a schema: without these, Fastify loads Ajv and its
    // serializer compiler at start, 7% of the CPU before `kiln serve`
    // listens (0.52 against 0.56 s, medians of 5 alternating starts).
    schemaController: {
      compilersFactory: { buildValidator: noSchemas, buildSerializer: noSchemas },
    },
    ...(tls === undefined
      ? {}
      : {
          https: {
            ...secureContextOptions(tls.current),
            requestCert: tls.mutual,
            rejectUnauthorized: tls.mutual,
          },
        }),
    // Routes are the same over HTTP and HTTPS; only Fastify's types tell them apart.
  }) as FastifyInstance;
  // New connections get a rotated certificate; open ones keep theirs.
  const unsubscribe = tls?.onChange((material) =>
    (app.server as unknown as TlsServer).setSecureContext(secureContextOptions(material)),
  );
  app.addHook('onClose', async () => unsubscribe?.());
  try {
    for (const register of options.routes) await register(app);
    // Node wants IPv6 hosts without the brackets of the host:port notation.
    await app.listen({ host: host.replace(/^\[(.*)\]$/, '$1'), port });
  } catch (err) {
    await app.close();
    throw err;
  }
  const bound = (app.server.address() as AddressInfo).port;
  const address = `${host}:${bound}`;
  return {
    address,
    port: bound,
    url: `${tls === undefined ? 'http' : 'https'}://${address}/`,
    close: () => app.close(),
  };
}
