/**
 * Starts a real Kiln gRPC server on a free 127.0.0.1 port for tests, over
 * memory stores unless a store is given; optionally with an in-memory
 * scheduler behind Execution, Operations and Bots.
 */
import type { Authenticator } from '../../src/auth/authenticator.ts';
import { ActionCache } from '../../src/cache/action-cache.ts';
import { type RunningHttpServer, startHttpServer } from '../../src/http/http-server.ts';
import { metricsRoute } from '../../src/http/metrics-route.ts';
import { createObservability, type Observability } from '../../src/observe/observability.ts';
import { InMemoryScheduler } from '../../src/scheduler/in-memory-scheduler.ts';
import type { SchedulerPolicy } from '../../src/scheduler/policy.ts';
import {
  type GrpcRemoteAssetOptions,
  type RunningGrpcServer,
  startGrpcServer,
} from '../../src/server/grpc-server.ts';
import type { BlobStore } from '../../src/storage/blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { connectClients, type KilnClients } from './grpc-clients.ts';

/** A running server with connected clients. */
export interface TestServer {
  readonly server: RunningGrpcServer;
  readonly clients: KilnClients;
  /** The raw (unverified) CAS backend, for inspecting what got stored. */
  readonly casBackend: BlobStore;
  /** The scheduler, when the server was started with one. */
  readonly scheduler: InMemoryScheduler | undefined;
  /** Metrics, builds and recent errors, when started with `observe`. */
  readonly observability: Observability | undefined;
  /** `http://host:port/` serving /metrics, when started with `observe`. */
  readonly httpUrl: string | undefined;
  stop(): Promise<void>;
}

/** Options for {@link startTestServer}. */
export interface TestServerOptions {
  readonly casBackend?: BlobStore;
  readonly actionCacheStore?: BlobStore;
  readonly uploadIdleTimeoutMs?: number;
  /** Serve Execution, Operations and Bots over an in-memory scheduler with this policy. */
  readonly scheduler?: Partial<SchedulerPolicy>;
  /** Serve the Remote Asset API (Fetch, Push) with these options. */
  readonly remoteAsset?: GrpcRemoteAssetOptions;
  /** Observe everything (as `createServer` does) and serve /metrics over HTTP. */
  readonly observe?: boolean;
  /** Who may call what; protected mode (loopback callers may do everything) by default. */
  readonly authenticator?: Authenticator;
  /** `host:port` to listen on; `127.0.0.1:0` by default. */
  readonly listen?: string;
}

/** Starts a server; stop() closes clients, server and scheduler. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const casBackend = options.casBackend ?? new MemoryBlobStore({ maxBytes: 512 * 1024 * 1024 });
  const cas = new VerifyingBlobStore({ backend: casBackend });
  const actionCacheStore =
    options.actionCacheStore ?? new MemoryBlobStore({ maxBytes: 64 * 1024 * 1024 });
  const actionCache = new ActionCache({ store: actionCacheStore, cas });
  const scheduler =
    options.scheduler === undefined
      ? undefined
      : new InMemoryScheduler({ actionCache, policy: options.scheduler });
  const observability = options.observe
    ? createObservability({ cas, actionCacheStore, scheduler, processMetrics: false })
    : undefined;
  const server = await startGrpcServer({
    listen: options.listen ?? '127.0.0.1:0',
    cas: observability?.cas ?? cas,
    actionCacheStore,
    actionCache,
    scheduler: observability?.scheduler ?? scheduler,
    workerTimeoutMs: options.scheduler?.workerTimeoutMs,
    rpcObserver: observability?.observer,
    onActionCacheLookup: observability?.observer.actionCacheLookup,
    log: silentLogger(),
    uploadIdleTimeoutMs: options.uploadIdleTimeoutMs,
    remoteAsset: options.remoteAsset,
    authenticator: options.authenticator,
  });
  let http: RunningHttpServer | undefined;
  if (observability !== undefined) {
    const routes = [metricsRoute(observability.metrics)];
    http = await startHttpServer({ listen: '127.0.0.1:0', routes, log: silentLogger() });
  }
  const clients = connectClients(server.address);
  return {
    server,
    clients,
    casBackend,
    scheduler,
    observability,
    httpUrl: http?.url,
    async stop() {
      clients.close();
      await scheduler?.close();
      await http?.close();
      await server.close();
    },
  };
}
