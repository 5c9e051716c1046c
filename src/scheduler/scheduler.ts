/**
 * The scheduler contract. The gRPC Execution and Operations services are thin
 * adapters over {@link OperationScheduler}, the Remote Worker API Bots service
 * over {@link WorkerScheduler}. Every method is async and takes and returns
 * plain data, so a PostgreSQL implementation can sit behind the same
 * interface as the in-memory one. Errors are KilnErrors with gRPC codes.
 */
import type {
  HeartbeatResult,
  LeaseCompletion,
  LeaseProgress,
  ListOperationsQuery,
  OperationPage,
  OperationState,
  RegisteredWorker,
  SchedulerStats,
  SubmitRequest,
  TakeOptions,
  TakeResult,
  WatchOptions,
  WorkerRegistration,
  WorkerState,
} from './types.ts';

/** The client side: Execute, WaitExecution and the google.longrunning Operations API. */
export interface OperationScheduler {
  /**
   * Starts an Execute call and returns its new operation (its own name, even
   * when it joins an identical execution already queued or running).
   * Answers from the action cache unless `skipCacheLookup` or
   * `action.doNotCache`; the operation is then already done with
   * `cachedResult: true`. Throws INVALID_ARGUMENT for a timeout above the
   * maximum or a digest function that disagrees with the action digest.
   * Scheduling failures (no worker can run the action) do not throw: the
   * operation completes with a FAILED_PRECONDITION status. Throws
   * RESOURCE_EXHAUSTED when the action would be queued beyond its
   * principal's `maxQueued` (cache hits and joins are never refused).
   */
  submit(request: SubmitRequest): Promise<OperationState>;

  /** The current state of an operation; NOT_FOUND when unknown, deleted or expired. */
  getOperation(name: string): Promise<OperationState>;

  /** Operations matching the query, oldest first, one page at a time. INVALID_ARGUMENT for a bad page token. */
  listOperations(query: ListOperationsQuery): Promise<OperationPage>;

  /**
   * Follows an operation: yields its current state at once, then again at
   * every stage change (QUEUED, EXECUTING, back to QUEUED after a lost
   * lease, COMPLETED), and ends after the done state. Throws NOT_FOUND from
   * the first iteration step for an unknown name, and later if the operation
   * is deleted while watched. Breaking out of the loop or aborting
   * `options.signal` unsubscribes.
   */
  watchOperation(name: string, options?: WatchOptions): AsyncIterable<OperationState>;

  /**
   * Cancels an operation: it completes at once with status CANCELLED. The
   * shared execution continues while other operations wait for it; when the
   * last one is cancelled the execution is cancelled too (dequeued, or its
   * worker told at its next heartbeat). Cancelling a done operation changes
   * nothing. Returns the resulting state.
   */
  cancelOperation(name: string): Promise<OperationState>;

  /**
   * Forgets an operation, as google.longrunning's DeleteOperation says: the
   * client is no longer interested, but nothing is cancelled. A running
   * operation is detached from its execution, which still runs to completion
   * (and fills the action cache) for anyone else. Watchers end with
   * NOT_FOUND. NOT_FOUND when unknown.
   */
  deleteOperation(name: string): Promise<void>;
}

/**
 * The worker side, shaped after the Remote Worker API: a worker registers,
 * then repeatedly takes work (optionally long-polling), reports progress and
 * completion, and heartbeats. Any call from a worker counts as a heartbeat.
 * Calls for a worker the scheduler has declared gone throw NOT_FOUND: the
 * worker must abandon its leases and register again.
 */
export interface WorkerScheduler {
  /** Connects a worker, or refreshes its name, platform and capacity. */
  registerWorker(registration: WorkerRegistration): Promise<WorkerState>;

  /**
   * Disconnects a worker on purpose (graceful shutdown). Leases it still
   * holds are lost and retried elsewhere, as if it had timed out. Unknown ids
   * are ignored.
   */
  unregisterWorker(workerId: string): Promise<void>;

  /** A sign of life; returns the leases the worker must stop. */
  heartbeat(workerId: string): Promise<HeartbeatResult>;

  /**
   * Leases queued actions the worker can run: the best priority first, fair
   * between principals and then between each principal's invocations,
   * skipping principals at their `maxExecuting`, never more than the
   * worker's free capacity. With
   * `options.waitMs` and nothing to take, waits (without polling) until work
   * arrives, the deadline passes, the signal aborts, or one of the worker's
   * leases is cancelled; then returns what it got, possibly nothing. Leases
   * start in state PENDING; their operations become EXECUTING at once.
   */
  takeWork(workerId: string, options?: TakeOptions): Promise<TakeResult>;

  /**
   * Records progress on a lease. NOT_FOUND when the worker does not hold it
   * (lost, or already completed). Returns pending cancellations like a
   * heartbeat, including this lease's if it was cancelled.
   */
  updateLease(workerId: string, leaseId: string, progress: LeaseProgress): Promise<HeartbeatResult>;

  /**
   * Reports the outcome of a lease and releases it. For a live lease every
   * waiting operation completes with `ExecuteResponse{result, cachedResult:
   * false, status, message}`, after the result went to the action cache when
   * it is cacheable (exit code 0, status OK, not `do_not_cache`). For a
   * cancelled lease it only acknowledges the cancellation and discards the
   * result. NOT_FOUND when the worker does not hold the lease;
   * INVALID_ARGUMENT for an OK status without a result.
   */
  completeLease(workerId: string, leaseId: string, completion: LeaseCompletion): Promise<void>;

  /** Connected workers, in registration order. */
  listWorkers(): Promise<readonly WorkerState[]>;

  /**
   * A registered worker and the live leases it holds; undefined when it is
   * not registered (never was, or was dropped). Not a sign of life. A
   * frontend that did not create the worker's session (another process did,
   * or replies went through another process) continues the session from it.
   */
  findWorker(workerId: string): Promise<RegisteredWorker | undefined>;
}

/** The whole scheduler: both sides, plus counters and shutdown. */
export interface Scheduler extends OperationScheduler, WorkerScheduler {
  /** Queue depth, executions, operations and workers, for metrics and the UI. */
  stats(): Promise<SchedulerStats>;

  /**
   * Stops all timers, ends every watcher and long-poll; later calls throw
   * UNAVAILABLE. Running operations are not completed: a durable
   * implementation resumes them after a restart.
   */
  close(): Promise<void>;
}
