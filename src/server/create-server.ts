/**
 * The Kiln application factory: configuration in, running services out.
 * Tests and `kiln serve` both start Kiln through this.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Authenticator, openAuthenticator } from '../auth/authenticator.ts';
import { ActionCache } from '../cache/action-cache.ts';
import { WriterIndex } from '../cache/writer-index.ts';
import { ConfigError } from '../config/load-config.ts';
import type { KilnConfig } from '../config/schema.ts';
import { type RunningHttpServer, resolveHttpListen, startHttpServer } from '../http/http-server.ts';
import { metricsRoute } from '../http/metrics-route.ts';
import { probeRoutes } from '../http/probe-routes.ts';
import { WebAccess } from '../http/web-access.ts';
import { AuditLog } from '../observe/audit-log.ts';
import { registerByteStreamMetrics } from '../observe/bytestream-metrics.ts';
import { registerHealthMetrics } from '../observe/health-metrics.ts';
import { createObservability } from '../observe/observability.ts';
import { registerProcessFailureCounter } from '../observe/process-failure-metrics.ts';
import { StoreNodeMetrics } from '../observe/store-node-metrics.ts';
import { startTracing, type Tracing } from '../observe/tracing.ts';
import { registerWorkerCounters } from '../observe/worker-metrics.ts';
import { workerSpans } from '../observe/worker-spans.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import { createBotsCore } from '../services/bots-service.ts';
import { createStores, type Stores } from '../storage/create-blob-store.ts';
import { ReloadingServerTls } from '../tls/reloading-server-tls.ts';
import { registerUi, uiAccessRegistrar } from '../ui/register-ui.ts';
import type { UiDeps } from '../ui/ui-deps.ts';
import type { Logger } from '../util/logger.ts';
import type { ProcessFailureCounts } from '../util/process-failures.ts';
import { detectPlatform, parsePlatformProperties } from '../worker/platform-detect.ts';
import { type RunningWorker, startWorker } from '../worker/start-worker.ts';
import {
  type PreparedGrpcServer,
  prepareGrpcServer,
  type RunningGrpcServer,
} from './grpc-server.ts';
import { openScheduler } from './open-scheduler.ts';

/** A running Kiln. */
export interface KilnServer {
  /** gRPC `host:port`, with the real port when the configuration asked for port 0. */
  readonly grpcAddress: string;
  /** HTTP `host:port` (web UI and `/metrics`), or undefined when `server.httpListen` is off. */
  readonly httpAddress: string | undefined;
  /** Whether both servers speak TLS (`server.tls`): grpcs:// and https://. */
  readonly tls: boolean;
  readonly stores: Stores;
  /** The in-process worker, when one runs. */
  readonly worker: RunningWorker | undefined;
  /**
   * Begins a graceful shutdown: health checks and `/readyz` turn NOT_SERVING
   * first, then Execute answers UNAVAILABLE and no worker (local or remote)
   * gets new leases, while the storage services keep serving. Resolves once
   * no action runs and every result has gone out to its Execute and
   * WaitExecution streams (`drained`), at the deadline, or when `signal`
   * aborts; {@link close} then ends the rest.
   */
  drain(options: DrainOptions): Promise<DrainOutcome>;
  /** Stops serving and closes the stores. */
  close(): Promise<void>;
}

/** Options for {@link KilnServer.drain}. */
export interface DrainOptions {
  /** How long running actions may take to finish. */
  readonly timeoutMs: number;
  /** Ends the drain at once (a second SIGTERM). */
  readonly signal?: AbortSignal;
}

/** How a drain ended. */
export type DrainOutcome = 'drained' | 'deadline' | 'interrupted';

/** How often a drain looks whether actions still run. */
const DRAIN_CHECK_MS = 100;

/** Options for {@link createServer}. */
export interface CreateServerOptions {
  readonly config: KilnConfig;
  readonly log: Logger;
  /**
   * The process failure counts of the handlers the caller installed
   * (`kiln serve` does), exported as `kiln_process_failures_total`. Absent
   * when the process is not Kiln's own, as in tests.
   */
  readonly processFailures?: () => ProcessFailureCounts;
}

/** Builds the stores from configuration and starts every service and the local worker. */
export async function createServer(options: CreateServerOptions): Promise<KilnServer> {
  const { config, log } = options;
  const exec = config.execution;
  // Read first: a bad TLS file is a start-up error before anything else is opened.
  const tls = await openTls(config.server.tls, log);
  const authenticator = await openAuth(config, tls, log);
  // Every node of the store graph metered by kind and name (kiln_store_*).
  const storeNodes = new StoreNodeMetrics();
  const wrapNode = storeNodes.wrap.bind(storeNodes);
  // Disk stores read their index once the gRPC port is bound, not between the
  // steps below: a million blobs would delay listening by seconds.
  let listening = (): void => {};
  const bound = new Promise<void>((resolve) => {
    listening = resolve;
  });
  const stores = await createStores(config, { wrapNode, indexAfter: bound }).catch(
    (err: unknown) => {
      authenticator.close?.();
      tls?.close();
      throw err;
    },
  );
  let writers: WriterIndex;
  try {
    writers = openWriterIndex(config.server.dataDir, log);
  } catch (err) {
    await stores.close();
    authenticator.close?.();
    tls?.close();
    throw err;
  }
  const actionCache = new ActionCache({ store: stores.actionCache, cas: stores.cas, writers });
  let innerScheduler: Scheduler | undefined;
  let tracing: Tracing | undefined;
  try {
    innerScheduler = exec.enabled ? await openScheduler(exec, actionCache, log) : undefined;
    tracing = await openTracing(config.observability.tracing, log);
  } catch (err) {
    await innerScheduler?.close();
    await stores.close();
    writers.close();
    authenticator.close?.();
    tls?.close();
    throw err;
  }
  const observed = createObservability({
    cas: stores.cas,
    actionCacheStore: stores.actionCache,
    scheduler: innerScheduler,
    log,
    tracing,
  });
  const { cas, scheduler } = observed;
  if (options.processFailures !== undefined) {
    registerProcessFailureCounter(observed.metrics.registry, options.processFailures);
  }
  storeNodes.register(observed.metrics.registry);
  const audit = new AuditLog({ log, registry: observed.metrics.registry });
  let grpc: RunningGrpcServer | undefined;
  let http: RunningHttpServer | undefined;
  let worker: RunningWorker | undefined;
  let prepared: PreparedGrpcServer | undefined;
  try {
    prepared = await prepareGrpcServer({
      listen: config.server.listen,
      tls,
      cas,
      actionCacheStore: stores.actionCache,
      actionCache,
      scheduler,
      workerTimeoutMs: exec.workerTimeoutMs,
      log,
      // Not ready (health checks, /readyz) until every disk store has its index.
      ready: stores.whenIndexed(),
      rpcObserver: observed.observer,
      tracing,
      onActionCacheLookup: observed.observer.actionCacheLookup,
      authenticator,
      audit,
      remoteAsset: {
        config: config.remoteAsset,
        associations: stores.assets,
        tempDir: resolve(config.server.dataDir, config.remoteAsset.tempDir),
      },
    });
    const unbound = prepared;
    // The HTTP server first: once the gRPC port is bound, reconnecting workers
    // compete with every later step, and the port is what they wait for.
    const httpListen = resolveHttpListen(config.server);
    if (httpListen !== undefined) {
      const access = new WebAccess({
        auth: config.auth,
        authenticator,
        ui: config.ui,
        secure: tls !== undefined,
        log,
      });
      const deps: UiDeps = {
        scheduler,
        cas,
        actionCache,
        builds: observed.builds,
        recentErrors: observed.recentErrors,
        metrics: observed.metrics,
        access,
        log,
        audit,
      };
      http = await startHttpServer({
        listen: httpListen,
        // The access layer first: it guards /metrics and every page.
        routes: [
          uiAccessRegistrar(access),
          probeRoutes(() => (grpc ?? unbound).phase()),
          metricsRoute(observed.metrics),
          (app) => registerUi(app, deps),
        ],
        log,
        tls,
      });
    }
    grpc = await prepared.bind();
    prepared = undefined;
    listening();
    const served = grpc;
    registerByteStreamMetrics(observed.metrics.registry, () => served.byteStreamStats());
    registerHealthMetrics(observed.metrics.registry, () => served.healthStats());
    if (scheduler !== undefined && exec.localWorkers > 0) {
      worker = await startWorker({
        address: loopbackAddress(grpc.address, grpc.port),
        // The local workers call the scheduler and the CAS directly, not over gRPC.
        // Over the metered CAS, so that their traffic counts like a remote worker's.
        inProcess: {
          bots: createBotsCore({
            log,
            scheduler,
            workerTimeoutMs: exec.workerTimeoutMs,
            draining: () => served.phase() === 'draining',
          }),
          cas,
        },
        workDir: resolve(config.server.dataDir, exec.workDir),
        cacheBytes: exec.workerCacheSize,
        capacity: exec.localWorkers,
        prefetch: exec.localPrefetch,
        platform: [...detectPlatform(), ...parsePlatformProperties(exec.platform)],
        name: 'local',
        log,
        actionUsers: exec.actionUsers,
        sandbox: exec.sandbox,
        actionMemoryLimitBytes: exec.actionMemoryLimit,
        spans: tracing && workerSpans(tracing, 'local'),
      });
      const local = worker;
      registerWorkerCounters(observed.metrics.registry, () => local.counters());
    }
  } catch (err) {
    await worker?.stop();
    await http?.close();
    await grpc?.close();
    await prepared?.abandon();
    await scheduler?.close();
    await tracing?.shutdown();
    await stores.close();
    writers.close();
    authenticator.close?.();
    tls?.close();
    throw err;
  }
  log.info(
    {
      grpc: `${tls === undefined ? 'grpc' : 'grpcs'}://${grpc.address}`,
      http: http?.url ?? 'off',
      dataDir: config.server.dataDir,
      localWorkers: worker ? exec.localWorkers : 0,
    },
    'kiln started',
  );
  const running = grpc;
  return {
    grpcAddress: running.address,
    httpAddress: http?.address,
    tls: tls !== undefined,
    stores,
    worker,
    async drain({ timeoutMs, signal }) {
      running.drain();
      // The local worker finishes its actions and takes no more; its
      // promise needs no waiting: the scheduler's count below covers it.
      void worker?.drain();
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (signal?.aborted) return 'interrupted';
        const busy = scheduler === undefined ? 0 : (await scheduler.stats()).executing;
        if (busy === 0 && running.runningExecutionStreams() === 0) return 'drained';
        const left = deadline - Date.now();
        if (left <= 0) return 'deadline';
        await pause(Math.min(DRAIN_CHECK_MS, left), signal);
      }
    },
    async close() {
      // First, so that load balancers watching health stop routing here
      // while the worker and the scheduler stop.
      running.drain();
      await worker?.stop();
      await scheduler?.close();
      await running.close();
      // After the scheduler, which ends the spans of actions still open.
      await tracing?.shutdown();
      await stores.close();
      // Last: /readyz answers "shutting down" (and /healthz ok) for as long
      // as the shutdown takes, rather than refusing connections.
      await http?.close();
      writers.close();
      authenticator.close?.();
      tls?.close();
    },
  };
}

/** Waits `ms`, or until `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((done) => {
    const end = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', end);
      done();
    };
    const timer = setTimeout(end, ms);
    signal?.addEventListener('abort', end, { once: true });
  });
}

/** Tracing as `observability.tracing` asks; undefined (the SDK not loaded) without an endpoint. */
async function openTracing(
  config: KilnConfig['observability']['tracing'],
  log: Logger,
): Promise<Tracing | undefined> {
  if (config.endpoint === undefined) return undefined;
  const tracing = await startTracing({ ...config, endpoint: config.endpoint, log });
  log.info({ endpoint: config.endpoint, sampleRatio: config.sampleRatio }, 'tracing on');
  return tracing;
}

/** The TLS files of `server.tls`, read and watched; undefined when TLS is off. */
async function openTls(
  files: KilnConfig['server']['tls'],
  log: Logger,
): Promise<ReloadingServerTls | undefined> {
  const { cert, key, clientCa } = files;
  if (cert === undefined || key === undefined) return undefined;
  try {
    return await ReloadingServerTls.open({ files: { cert, key, clientCa }, log });
  } catch (err) {
    throw new ConfigError('server.tls', [(err as Error).message]);
  }
}

/** The authenticator of `auth`, its files read; closes `tls` when they do not load. */
async function openAuth(
  config: KilnConfig,
  tls: ReloadingServerTls | undefined,
  log: Logger,
): Promise<Authenticator> {
  try {
    return await openAuthenticator(config.auth, { log, mutualTls: tls?.mutual ?? false });
  } catch (err) {
    tls?.close();
    throw new ConfigError('auth', [(err as Error).message]);
  }
}

/**
 * The index of who wrote which action cache entry, with its journal in the
 * data directory, so that a purge after a restart still finds old entries.
 */
function openWriterIndex(dataDir: string, log: Logger): WriterIndex {
  try {
    mkdirSync(dataDir, { recursive: true });
    return WriterIndex.open({ path: resolve(dataDir, 'action-cache-writers.jsonl'), log });
  } catch (err) {
    throw new ConfigError('server.dataDir', [
      `cannot open the action cache writer journal in ${dataDir}: ${(err as Error).message}`,
    ]);
  }
}

/** The address a worker in this process dials: the listen host, or loopback for wildcard hosts. */
function loopbackAddress(address: string, port: number): string {
  const host = address.slice(0, address.lastIndexOf(':'));
  return host === '0.0.0.0' || host === '[::]' ? `127.0.0.1:${port}` : address;
}
