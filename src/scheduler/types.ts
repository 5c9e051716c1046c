/**
 * The plain data that goes in and out of a {@link Scheduler}. Nothing here is
 * tied to gRPC or to one implementation: the Execution, Operations and Bots
 * services translate these to and from protobuf messages, and a PostgreSQL
 * scheduler can store them as rows.
 */
import type { EntryWriter } from '../cache/provenance.ts';
import type { Digest } from '../digest/digest.ts';
import type { DigestFunction } from '../digest/digest-function.ts';
import type {
  Action,
  ActionResult,
  Command,
  ExecuteResponse,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Status } from '../gen/google/rpc/status.js';
import type { PlatformProperty } from './platform.ts';

export type { PlatformProperty } from './platform.ts';

/**
 * The stage of an operation, named as in REAPI's `ExecutionStage.Value`
 * (`ExecutionStage_Value[stage]` gives the proto number). An operation is
 * `QUEUED` while its action waits for a worker, `EXECUTING` from the moment a
 * worker is handed the lease, and `COMPLETED` when it is done for any reason.
 * A lost action goes back from `EXECUTING` to `QUEUED`.
 */
export type ExecutionStage = 'QUEUED' | 'EXECUTING' | 'COMPLETED';

/** A validated Execute request, with the Action and Command the caller already fetched from the CAS. */
export interface SubmitRequest {
  readonly instanceName: string;
  /** The request's digest function; must be the action digest's. */
  readonly digestFunction: DigestFunction;
  readonly actionDigest: Digest;
  /** The decoded Action that `actionDigest` names. */
  readonly action: Action;
  /** The decoded Command that `action.commandDigest` names. */
  readonly command: Command;
  /** Run even when the action cache holds a result. */
  readonly skipCacheLookup: boolean;
  /** `ExecutionPolicy.priority`: lower runs sooner, 0 is the default; negative values are allowed. */
  readonly priority: number;
  /**
   * Who submitted it, as authenticated (`Identity.principal`); `''` or unset
   * is one shared principal. Fairness rotates between principals first, and
   * `SchedulerPolicy.principalLimits` bounds each one's queued and executing actions.
   */
  readonly principal?: string;
  /** The submitter's network address; recorded as the provenance of the cached result. */
  readonly clientAddress?: string;
  /** `RequestMetadata.tool_invocation_id` (one build); may be empty. Fairness rotates between these within a principal. */
  readonly toolInvocationId: string;
  /** `RequestMetadata.correlated_invocations_id`; may be empty. Kept for listing only. */
  readonly correlatedInvocationsId: string;
  /**
   * W3C `traceparent` of the submitter's span for the action, set by the
   * tracing decorator (src/observe) when on. Kept with a new queued action
   * and handed back in its leases, so that whichever process leases it
   * continues the submitter's trace; a join keeps the first one's.
   */
  readonly traceparent?: string;
}

/** A snapshot of one operation: what GetOperation, WaitExecution and the UI show. */
export interface OperationState {
  /** `operations/<id>`; unique per Execute call, even when the execution is shared. */
  readonly name: string;
  readonly instanceName: string;
  /** The action digest; its `fn` is the digest function. */
  readonly actionDigest: Digest;
  readonly stage: ExecutionStage;
  /** True exactly when `stage` is `COMPLETED`; then `response` is set. */
  readonly done: boolean;
  /**
   * The outcome, set once done. Every outcome is an ExecuteResponse, failures
   * included: `status` says what went wrong (CANCELLED after a cancellation,
   * FAILED_PRECONDITION when no worker can run the action, UNAVAILABLE when it
   * was lost too often, or the worker's own status).
   */
  readonly response: ExecuteResponse | undefined;
  /** The platform the action requires (normalized). */
  readonly platform: readonly PlatformProperty[];
  readonly priority: number;
  readonly toolInvocationId: string;
  readonly correlatedInvocationsId: string;
  /** The name of the worker executing (or that executed) the action, if any. */
  readonly worker: string | undefined;
  /** Clock time the Execute call created this operation. */
  readonly createdAtMs: number;
  /** Clock time it completed, if done. */
  readonly completedAtMs: number | undefined;
  /**
   * Set by `submit` alone, when the operation joined an identical execution
   * already in flight: the trace context it was queued with, when it has one
   * (so that a frontend other than the queueing one can point at its trace).
   */
  readonly joined?: { readonly traceparent: string | undefined };
}

/** Filters and paging for {@link OperationScheduler.listOperations}; every filter is optional. */
export interface ListOperationsQuery {
  readonly stage?: ExecutionStage;
  readonly done?: boolean;
  readonly instanceName?: string;
  readonly toolInvocationId?: string;
  readonly correlatedInvocationsId?: string;
  /** At most this many per page; 0 or unset means the implementation's default. */
  readonly pageSize?: number;
  /** `nextPageToken` of the previous page; empty or unset for the first. */
  readonly pageToken?: string;
  /** Newest first (the web UI) instead of oldest first (the Operations API). */
  readonly newestFirst?: boolean;
}

/** One page of operations, oldest first unless the query asked for newest first. */
export interface OperationPage {
  readonly operations: readonly OperationState[];
  /** Pass as `pageToken` for the next page; empty on the last page. */
  readonly nextPageToken: string;
}

/** Options for {@link OperationScheduler.watchOperation}. */
export interface WatchOptions {
  /** Ends the iteration early (the client went away). */
  readonly signal?: AbortSignal;
  /**
   * When set, a stage update (QUEUED, EXECUTING) waits up to this many
   * milliseconds of the scheduler's clock for a newer one, which replaces
   * it: an operation that completes within that time yields only its
   * result. The first state, and the completed one, are never delayed
   * longer.
   */
  readonly coalesceMs?: number;
}

/** What a worker tells the scheduler about itself when it connects or changes. */
export interface WorkerRegistration {
  /** Stable identity (a bot session name); registering again with the same id refreshes it. */
  readonly id: string;
  /** Human-readable name; it goes into `ExecutedActionMetadata.worker`. */
  readonly name: string;
  /** Every (name, value) pair it offers; several values for one name are allowed. */
  readonly platform: readonly PlatformProperty[];
  /** How many actions it runs at once; at least 1. */
  readonly capacity: number;
  /** The principal it authenticated as; recorded as the provenance of its results. */
  readonly principal?: string;
}

/** A connected worker, as listed for the UI and metrics. */
export interface WorkerState {
  readonly id: string;
  readonly name: string;
  readonly platform: readonly PlatformProperty[];
  readonly capacity: number;
  /** Leases it holds, cancelled ones it has not acknowledged yet included. */
  readonly leaseIds: readonly string[];
  readonly registeredAtMs: number;
  /** Last time it called the scheduler. */
  readonly lastSeenMs: number;
  /** Leases it completed while they were live (cancelled and lost ones not counted). */
  readonly actionsDone: number;
}

/**
 * A lease's state. `PENDING` when handed out, `ACCEPTED` and `RUNNING` as the
 * worker reports progress, `CANCELLED` when the worker must stop (every
 * waiter cancelled, or the scheduler gave up on the lease); a cancelled lease
 * stays with the worker, and counts against its capacity, until the worker
 * acknowledges it with {@link WorkerScheduler.completeLease}.
 */
export type LeaseState = 'PENDING' | 'ACCEPTED' | 'RUNNING' | 'CANCELLED';

/** One action handed to one worker. */
export interface Lease {
  readonly id: string;
  readonly workerId: string;
  readonly state: LeaseState;
  readonly instanceName: string;
  /** The action digest; its `fn` is the digest function for every input. */
  readonly actionDigest: Digest;
  readonly action: Action;
  readonly command: Command;
  /** The execution timeout the worker must enforce (the action's, or the default). */
  readonly timeoutMs: number;
  /** When the scheduler stops waiting: lease start + timeout + lease grace. */
  readonly deadlineMs: number;
  /** 1 for the first attempt, 2 after one loss, … */
  readonly attempt: number;
  readonly priority: number;
  readonly toolInvocationId: string;
  readonly correlatedInvocationsId: string;
  /**
   * W3C `traceparent`. From a scheduler: the one its first submitter gave
   * ({@link SubmitRequest.traceparent}); the tracing decorator (src/observe)
   * replaces it with its lease span's, which the worker's spans continue.
   */
  readonly traceparent?: string;
}

/** Options for {@link WorkerScheduler.takeWork}. */
export interface TakeOptions {
  /** At most this many leases (further capped by the worker's free capacity); default: free capacity. */
  readonly maxLeases?: number;
  /**
   * Long-poll: when nothing is available now, wait up to this long for work
   * (or for a cancellation of a lease the worker holds). 0 or unset returns at once.
   */
  readonly waitMs?: number;
  /** Ends the wait early (the worker's RPC went away); the result is then empty. */
  readonly signal?: AbortSignal;
}

/** New work and pending cancellations for a worker. */
export interface TakeResult {
  readonly leases: readonly Lease[];
  /** Leases the worker holds that it must stop; see {@link HeartbeatResult}. */
  readonly cancelledLeaseIds: readonly string[];
}

/**
 * A registered worker as {@link WorkerScheduler.findWorker} returns it: what
 * a frontend needs to continue the worker's bot session.
 */
export interface RegisteredWorker {
  readonly id: string;
  /** Its name: the bot id of its session. */
  readonly name: string;
  /** The principal it registered as; '' when none. */
  readonly principal: string;
  /** The leases whose actions it must still run (cancelled ones left out), with their actions. */
  readonly leases: readonly Lease[];
}

/** The scheduler's answer to a heartbeat. */
export interface HeartbeatResult {
  /**
   * Leases the worker must stop and then acknowledge with `completeLease`
   * (any status; the result is discarded). Repeated on every heartbeat until
   * acknowledged.
   */
  readonly cancelledLeaseIds: readonly string[];
}

/** Progress a worker reports on a lease. */
export interface LeaseProgress {
  /** `ACCEPTED` once it took the lease on, `RUNNING` once the command started. */
  readonly state: 'ACCEPTED' | 'RUNNING';
}

/** The outcome a worker reports for a lease. */
export interface LeaseCompletion {
  /**
   * What the action produced; required with an OK status. With
   * DEADLINE_EXCEEDED it holds the partial outputs. The worker fills its
   * stage timestamps; the scheduler adds `worker` (when empty) and
   * `queuedTimestamp`.
   */
  readonly result?: ActionResult;
  /** OK, DEADLINE_EXCEEDED after the timeout, or the error that stopped the action. */
  readonly status: Status;
  /** A human-readable note for `ExecuteResponse.message`. */
  readonly message?: string;
}

/** Queue depth for one platform. */
export interface PlatformQueueStats {
  readonly platform: readonly PlatformProperty[];
  /** Actions waiting for a worker. */
  readonly queued: number;
  /** Actions a worker holds a live lease for. */
  readonly executing: number;
}

/** Queue depth for one principal. */
export interface PrincipalQueueStats {
  readonly principal: string;
  /** Its actions waiting for a worker. */
  readonly queued: number;
  /** Its actions a worker holds a live lease for. */
  readonly executing: number;
}

/** Counters for metrics and the UI. */
export interface SchedulerStats {
  /** Actions waiting for a worker (deduplicated executions, not operations). */
  readonly queued: number;
  /** Queued and executing actions per required platform, busiest first. */
  readonly queuedByPlatform: readonly PlatformQueueStats[];
  /** Actions a worker holds a live lease for. */
  readonly executing: number;
  /**
   * Queued and executing actions per principal (the first submitter's, for
   * shared actions), busiest first; principals with neither are left out.
   */
  readonly byPrincipal: readonly PrincipalQueueStats[];
  /** Operations not yet done (several may share one execution). */
  readonly activeOperations: number;
  /** Done operations still retained for late readers. */
  readonly completedOperations: number;
  readonly workers: number;
  /** Sum of connected workers' capacities. */
  readonly workerCapacity: number;
}

/** The part of the action cache the scheduler uses; `ActionCache` (src/cache) satisfies it. */
export interface ActionResultCache {
  /** The cached result, or undefined on a miss. */
  get(instanceName: string, actionDigest: Digest): Promise<ActionResult | undefined>;
  /** Stores a result, with who produced it. */
  put(
    instanceName: string,
    actionDigest: Digest,
    result: ActionResult,
    writer?: EntryWriter,
  ): Promise<void>;
}
