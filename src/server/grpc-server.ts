/**
 * Builds the gRPC server with every REAPI storage service and binds it.
 * `createServer` in create-server.ts wires configuration into this.
 */
import { ServerCredentials } from '@grpc/grpc-js';
import { createRemoteAsset, type RemoteAsset } from '../asset/remote-asset.ts';
import { type Authenticator, createAuthenticator } from '../auth/authenticator.ts';
import { ActionCache } from '../cache/action-cache.ts';
import type { RemoteAssetConfig } from '../config/asset-schema.ts';
import { FetchService, PushService } from '../gen/build/bazel/remote/asset/v1/remote_asset.js';
import { ActionCacheService } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { HealthCheckResponse_ServingStatus, HealthService } from '../gen/grpc/health/v1/health.js';
import { ActionCacheAdminService } from '../gen/kiln/admin/v1/action_cache_admin.js';
import type { AuditLog } from '../observe/audit-log.ts';
import type { ByteStreamStats } from '../observe/bytestream-metrics.ts';
import type { HealthStats } from '../observe/health-metrics.ts';
import type { Tracing } from '../observe/tracing.ts';
import { byteStreamServiceDefinition } from '../rpc/bytestream-codec.ts';
import { capabilitiesServiceDefinition } from '../rpc/capabilities-codec.ts';
import { casServiceDefinition } from '../rpc/cas-codec.ts';
import { installFrameHeadroom } from '../rpc/grpc-frame-headroom.ts';
import { CheckedDecodingServer } from '../rpc/request-boundary.ts';
import type { RpcObserver } from '../rpc/rpc.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import { createActionCacheAdminService } from '../services/action-cache-admin-service.ts';
import {
  type ActionCacheLookup,
  createActionCacheService,
} from '../services/action-cache-service.ts';
import { createByteStreamService } from '../services/bytestream-service.ts';
import { createCapabilitiesService } from '../services/capabilities-service.ts';
import { createCasService } from '../services/cas-service.ts';
import { ExecutionStreams } from '../services/execution-service.ts';
import {
  createHealthService,
  HealthStatus,
  type HealthStatusOptions,
  type ServingPhase,
} from '../services/health-service.ts';
import {
  FLOW_CONTROL_WINDOW_BYTES,
  MAX_RECEIVE_MESSAGE_BYTES,
  MAX_SEND_MESSAGE_BYTES,
} from '../services/limits.ts';
import { DEFAULT_MAX_READ_STREAMS, ReadStreams } from '../services/read-streams.ts';
import { UploadRegistry } from '../services/upload-registry.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { grpcServerCredentials } from '../tls/grpc-server-credentials.ts';
import type { ReloadingServerTls } from '../tls/reloading-server-tls.ts';
import type { Logger } from '../util/logger.ts';
import { callInterceptors } from './call-interceptors.ts';
import { addExecutionServices } from './execution-services.ts';
import { setConnectionWindow, setInitialStreamWindow } from './http2-tuning.ts';

/** Options for {@link startGrpcServer}. */
export interface GrpcServerOptions {
  /** `host:port`; port 0 picks a free port. */
  readonly listen: string;
  /** Serve TLS (mutual TLS when it has a client CA) with these files; plaintext without. */
  readonly tls?: ReloadingServerTls;
  /** The CAS (content-verifying). */
  readonly cas: BlobStore;
  /** Storage for encoded ActionResults. */
  readonly actionCacheStore: BlobStore;
  readonly log: Logger;
  /**
   * Discard resumable uploads no stream has fed for this long (counted as
   * abandoned); `DEFAULT_UPLOAD_IDLE_TIMEOUT_MS` (60 s) by default.
   */
  readonly uploadIdleTimeoutMs?: number;
  /**
   * Most ByteStream.Read streams at once, over all connections; beyond it a
   * Read fails with RESOURCE_EXHAUSTED. `DEFAULT_MAX_READ_STREAMS` by default.
   */
  readonly maxReadStreams?: number;
  /**
   * Most concurrent calls per HTTP/2 connection, advertised to clients
   * (which queue calls beyond it); {@link DEFAULT_MAX_CONCURRENT_STREAMS} by default.
   */
  readonly maxConcurrentStreams?: number;
  /** The action cache over `actionCacheStore`; built here when absent. */
  readonly actionCache?: ActionCache;
  /** When set, the server also serves Execution, Operations and Bots over this scheduler. */
  readonly scheduler?: Scheduler;
  /** The scheduler's `workerTimeoutMs`, told to bots as their sessions' expire_time; 60 s by default. */
  readonly workerTimeoutMs?: number;
  /** When set (and enabled), the server also serves the Remote Asset API (Fetch, Push). */
  readonly remoteAsset?: GrpcRemoteAssetOptions;
  /** Told the outcome of every call to every service (metrics, recent errors). */
  readonly rpcObserver?: RpcObserver;
  /** When set, every call gets a span (tracing-interceptor.ts); no per-call cost without it. */
  readonly tracing?: Tracing;
  /** Told every GetActionResult hit and miss (metrics, build tracking). */
  readonly onActionCacheLookup?: (lookup: ActionCacheLookup) => void;
  /**
   * Who may call what (src/auth); protected mode (loopback callers only,
   * with every permission) by default.
   */
  readonly authenticator?: Authenticator;
  /** The audit log of refused calls and administrative actions; none when absent. */
  readonly audit?: AuditLog;
  /** Bounds on health Watch streams; the defaults of health-service.ts when absent. */
  readonly health?: HealthStatusOptions;
  /**
   * Health checks answer NOT_SERVING until this settles (a server whose disk
   * stores are still loading their index is not ready), and for good if it
   * rejects; SERVING as soon as the port is bound when absent.
   */
  readonly ready?: Promise<void>;
}

/** What the Remote Asset services need besides the CAS and the logger. */
export interface GrpcRemoteAssetOptions {
  /** The `remoteAsset` configuration section. */
  readonly config: RemoteAssetConfig;
  /** The association store (`storage.assets`). */
  readonly associations: BlobStore;
  /** Absolute directory for downloads in progress. */
  readonly tempDir: string;
}

/**
 * Concurrent calls per connection by default. Bazel runs at most 100 calls
 * on a connection and opens more connections beyond that, so this never
 * slows it; it bounds what one connection can hold open.
 */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 1000;

/** A running gRPC server. */
export interface RunningGrpcServer {
  /** The bound `host:port`, with the real port when 0 was asked for. */
  readonly address: string;
  readonly port: number;
  /** The full path (`/pkg.Service/Method`) of every method served. */
  readonly methodPaths: readonly string[];
  /** The ByteStream service's uploads and Read streams, for metrics. */
  byteStreamStats(): ByteStreamStats;
  /** The health status and Watch streams, for metrics. */
  healthStats(): HealthStats;
  /** Where the server is in its life: what `/readyz` and health checks tell. */
  phase(): ServingPhase;
  /**
   * Turns the health status NOT_SERVING and tells every health Watch stream,
   * so that load balancers stop routing here; calls are still served until
   * {@link close}. Idempotent; `close` does it too.
   */
  drain(): void;
  /** Execute and WaitExecution streams following a running action (what a drain waits for). */
  runningExecutionStreams(): number;
  /** Drains, stops accepting calls, waits briefly for running ones, then closes. */
  close(): Promise<void>;
}

/** Splits `host:port` (IPv6 hosts in brackets). */
export function parseListenAddress(listen: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(listen);
  const port = match ? Number(match[2]) : Number.NaN;
  if (!match || port > 65535) {
    throw new Error(`listen address "${listen}" must look like HOST:PORT, e.g. 127.0.0.1:8980`);
  }
  return { host: match[1] as string, port };
}

/** A gRPC server with every service registered, not yet bound (see {@link prepareGrpcServer}). */
export interface PreparedGrpcServer {
  /** Where the server is in its life; `starting` until bound and ready. */
  phase(): ServingPhase;
  /** Binds the port and starts serving. Call once. */
  bind(): Promise<RunningGrpcServer>;
  /** Releases what preparing opened, for a server that will not be bound. */
  abandon(): Promise<void>;
}

/** Starts the gRPC server. */
export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  return (await prepareGrpcServer(options)).bind();
}

/**
 * Builds the gRPC server and registers its services without binding the
 * port, so that a caller can finish the rest of its start-up first: once
 * bound, a fleet of reconnecting workers competes with every later step.
 */
export async function prepareGrpcServer(options: GrpcServerOptions): Promise<PreparedGrpcServer> {
  const { log, cas } = options;
  // A malformed address fails before anything is built.
  parseListenAddress(options.listen);
  const uploads = new UploadRegistry({ idleTimeoutMs: options.uploadIdleTimeoutMs });
  const readStreams = new ReadStreams(options.maxReadStreams ?? DEFAULT_MAX_READ_STREAMS);
  const actionCache =
    options.actionCache ?? new ActionCache({ store: options.actionCacheStore, cas });

  const authenticator = options.authenticator ?? createAuthenticator(undefined);
  const health = new HealthStatus(options.health);
  const executionStreams = new ExecutionStreams();
  const draining = (): boolean => health.phase === 'draining';
  const server = new CheckedDecodingServer({
    'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_SEND_MESSAGE_BYTES,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 10_000,
    'grpc.max_concurrent_streams': options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS,
    // Kiln serves no channelz service; its bookkeeping (per-call counters and
    // timestamps, a reference per call) was a few percent of a remote build's CPU.
    'grpc.enable_channelz': 0,
    // One edge interceptor (authentication, request boundary, observer), and
    // tracing only when it is on: see call-interceptors.ts.
    interceptors: callInterceptors({
      authenticator,
      audit: options.audit,
      rpcObserver: options.rpcObserver,
      tracing: options.tracing,
    }),
  });
  server.addService(
    capabilitiesServiceDefinition,
    createCapabilitiesService({
      log,
      executionEnabled: options.scheduler !== undefined,
    }),
  );
  if (options.scheduler !== undefined)
    addExecutionServices(server, {
      log,
      cas,
      scheduler: options.scheduler,
      workerTimeoutMs: options.workerTimeoutMs,
      draining,
      streams: executionStreams,
    });
  server.addService(casServiceDefinition, createCasService({ log, cas }));
  server.addService(
    byteStreamServiceDefinition,
    createByteStreamService({ log, cas, uploads, readStreams }),
  );
  server.addService(
    ActionCacheService,
    createActionCacheService({
      log,
      actionCache,
      cas,
      onLookup: options.onActionCacheLookup,
    }),
  );
  server.addService(
    ActionCacheAdminService,
    createActionCacheAdminService({ log, actionCache, audit: options.audit }),
  );
  let remoteAsset: RemoteAsset | undefined;
  if (options.remoteAsset?.config.enabled) {
    remoteAsset = await createRemoteAsset({
      ...options.remoteAsset,
      cas,
      log,
      allowLoopbackOrigins: authenticator.mode === 'protected',
    });
    server.addService(FetchService, remoteAsset.fetch);
    server.addService(PushService, remoteAsset.push);
  }

  server.addService(HealthService, createHealthService({ log, health }));
  // Every service registered: "" and each of their names answer SERVING once bound.
  const serviceNames = server.methodPaths.map((path) => path.slice(1, path.lastIndexOf('/')));

  if (!installFrameHeadroom()) {
    log.warn('could not hook grpc-js response framing; ByteStream.Read will copy every chunk');
  }
  const tunedStreams = setInitialStreamWindow(server, FLOW_CONTROL_WINDOW_BYTES);
  return {
    phase: () => health.phase,
    abandon: async () => {
      await uploads.close();
      await remoteAsset?.close();
    },
    bind: () =>
      bindPrepared({
        options,
        server,
        health,
        serviceNames,
        tunedStreams,
        remoteAsset,
        uploads,
        readStreams,
        executionStreams,
      }),
  };
}

/** What {@link prepareGrpcServer} built, for {@link bindPrepared}. */
interface PreparedParts {
  readonly options: GrpcServerOptions;
  readonly server: CheckedDecodingServer;
  readonly health: HealthStatus;
  readonly serviceNames: string[];
  readonly tunedStreams: boolean;
  readonly remoteAsset: RemoteAsset | undefined;
  readonly uploads: UploadRegistry;
  readonly readStreams: ReadStreams;
  readonly executionStreams: ExecutionStreams;
}

/** Binds a prepared server's port and returns it running. */
async function bindPrepared(parts: PreparedParts): Promise<RunningGrpcServer> {
  const { options, server, health, serviceNames, tunedStreams, remoteAsset } = parts;
  const { uploads, readStreams, executionStreams } = parts;
  const { log } = options;
  const { host } = parseListenAddress(options.listen);
  const port = await new Promise<number>((resolve, reject) => {
    const creds =
      options.tls === undefined
        ? ServerCredentials.createInsecure()
        : grpcServerCredentials(options.tls);
    server.bindAsync(options.listen, creds, (err, boundPort) =>
      err ? reject(err) : resolve(boundPort),
    );
  }).catch(async (err: unknown) => {
    await remoteAsset?.close();
    throw err;
  });
  const tunedConnections = setConnectionWindow(server, FLOW_CONTROL_WINDOW_BYTES);
  if (!tunedStreams || !tunedConnections) {
    log.warn('could not raise HTTP/2 flow-control windows; throughput will be lower');
  }
  const address = `${host}:${port}`;
  if (options.ready === undefined) health.serve(serviceNames);
  else {
    options.ready.then(
      () => health.serve(serviceNames),
      (err: unknown) =>
        log.error({ err }, 'not ready, and will not be: health checks stay NOT_SERVING'),
    );
  }
  return {
    address,
    port,
    methodPaths: server.methodPaths,
    byteStreamStats: () => ({
      pendingUploads: uploads.size,
      abandonedUploads: uploads.abandoned,
      readStreams: readStreams.open,
      refusedReadStreams: readStreams.refused,
    }),
    healthStats: () => ({
      serving: health.statusOf('') === HealthCheckResponse_ServingStatus.SERVING,
      watchStreams: health.watches,
      refusedWatchStreams: health.refusedWatches,
    }),
    phase: () => health.phase,
    drain: () => health.drain(),
    runningExecutionStreams: () => executionStreams.running,
    async close() {
      health.drain();
      // Watch streams never end by themselves: ended here, the shutdown need not wait for them.
      health.endWatches();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await uploads.close();
      await remoteAsset?.close();
    },
  };
}
