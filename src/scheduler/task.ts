/**
 * The in-memory scheduler's unit of execution. A task is one run of one
 * action; several operations (identical Execute calls) may share it, and it
 * may be leased several times if workers lose it.
 */
import type { Digest } from '../digest/digest.ts';
import type { Action, Command } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { TimerHandle } from './clock.ts';
import type { OperationRecord } from './operation-store.ts';
import type { PlatformProperty, Requirement } from './platform.ts';
import type { Lease, LeaseState } from './types.ts';
import type { WorkerRecord } from './worker-registry.ts';

/**
 * `QUEUED` waiting for a worker, `EXECUTING` under a live lease, `COMPLETING`
 * while the result is written to the action cache, `FINISHED` once its
 * operations were completed (or it was cancelled).
 */
export type TaskState = 'QUEUED' | 'EXECUTING' | 'COMPLETING' | 'FINISHED';

/** One execution of one action. */
export interface Task {
  readonly id: string;
  /** The in-flight dedup key; undefined for `do_not_cache` actions, which never share. */
  readonly dedupKey: string | undefined;
  readonly instanceName: string;
  readonly actionDigest: Digest;
  readonly action: Action;
  readonly command: Command;
  readonly platform: readonly PlatformProperty[];
  /** `platform` prepared for matching; it picks the task's platform queue. */
  readonly requirement: Requirement;
  readonly timeoutMs: number;
  /** The best priority of the operations that joined it while it was queued. */
  priority: number;
  /**
   * The principal it is queued and counted under (fairness and quotas): the
   * first submitter's, as is its invocation. Operations that join it later
   * ride along without counting against their own principal.
   */
  readonly principal: string;
  /** The first submitter's network address, for the provenance of the cached result. */
  readonly clientAddress?: string;
  /** The invocation it is queued under for fairness: the first submitter's. */
  readonly toolInvocationId: string;
  readonly correlatedInvocationsId: string;
  /** The first submitter's trace context (W3C `traceparent`), for its leases. */
  readonly traceparent?: string;
  /** When it was first queued; goes into `ExecutedActionMetadata.queued_timestamp`. */
  readonly queuedAtMs: number;
  state: TaskState;
  /** Operations waiting for it; may be empty when every waiter deleted its operation. */
  readonly operations: Set<OperationRecord>;
  lease: LeaseRecord | undefined;
  /** Leases handed out so far. */
  attempts: number;
  /** Leases lost so far. */
  losses: number;
  /** Pending failure for want of a worker that can run it. */
  unschedulable: TimerHandle | undefined;
}

/** One lease of a task to a worker. */
export interface LeaseRecord {
  readonly id: string;
  readonly task: Task;
  readonly worker: WorkerRecord;
  state: LeaseState;
  readonly attempt: number;
  readonly deadlineMs: number;
  /** Fires at `deadlineMs` to declare the lease lost; cleared when it ends. */
  deadline: TimerHandle | undefined;
}

/** The key under which identical in-flight actions are merged. */
export function dedupKey(instanceName: string, actionDigest: Digest): string {
  // Digest keys embed the digest function, so SHA-256 and BLAKE3 runs never merge.
  return `${instanceName}\u0000${actionDigest.key}`;
}

/** The plain copy of a lease handed to the worker side. */
export function leaseSnapshot(lease: LeaseRecord): Lease {
  const { task } = lease;
  const snapshot: Lease = {
    id: lease.id,
    workerId: lease.worker.id,
    state: lease.state,
    instanceName: task.instanceName,
    actionDigest: task.actionDigest,
    action: task.action,
    command: task.command,
    timeoutMs: task.timeoutMs,
    deadlineMs: lease.deadlineMs,
    attempt: lease.attempt,
    priority: task.priority,
    toolInvocationId: task.toolInvocationId,
    correlatedInvocationsId: task.correlatedInvocationsId,
  };
  return task.traceparent === undefined ? snapshot : { ...snapshot, traceparent: task.traceparent };
}
