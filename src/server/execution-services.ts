/**
 * Registers the remote execution services (Execution, Operations, Bots) on a
 * gRPC server, all over one scheduler.
 */
import type { Server } from '@grpc/grpc-js';
import { ExecutionService } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { BotsService } from '../gen/google/devtools/remoteworkers/v1test2/bots.js';
import { OperationsService } from '../gen/google/longrunning/operations.js';
import type { Scheduler } from '../scheduler/scheduler.ts';
import { createBotsService } from '../services/bots-service.ts';
import { createExecutionService, type ExecutionStreams } from '../services/execution-service.ts';
import { createOperationsService } from '../services/operations-service.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { Logger } from '../util/logger.ts';

/** What the execution services need. */
export interface ExecutionServicesOptions {
  readonly log: Logger;
  readonly cas: BlobStore;
  readonly scheduler: Scheduler;
  /** How long a silent bot keeps its session (for expire_time). */
  readonly workerTimeoutMs?: number;
  /** True once the server drains: no new Execute calls, and bots take no new leases. */
  readonly draining?: () => boolean;
  /** Counts the Execute and WaitExecution streams of running actions. */
  readonly streams?: ExecutionStreams;
}

/** Adds Execution, Operations and Bots to `server`. */
export function addExecutionServices(server: Server, options: ExecutionServicesOptions): void {
  const { log, cas, scheduler, workerTimeoutMs, draining, streams } = options;
  server.addService(
    ExecutionService,
    createExecutionService({ log, cas, scheduler, draining, streams }),
  );
  server.addService(OperationsService, createOperationsService({ log, scheduler }));
  server.addService(BotsService, createBotsService({ log, scheduler, workerTimeoutMs, draining }));
}
