/**
 * The life of tasks in the in-memory scheduler: queueing, in-flight dedup,
 * leasing to workers, loss and retry, the unschedulable countdown,
 * cancellation and completion of the operations that wait for them.
 */
import { status as Code } from '@grpc/grpc-js';
import type { ExecuteResponse } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Logger } from '../util/logger.ts';
import type { QueuePlacement } from './action-queue.ts';
import type { Clock } from './clock.ts';
import type { IdGenerator } from './ids.ts';
import { LeasePolls } from './lease-polls.ts';
import type { OperationRecord, OperationStore } from './operation-store.ts';
import { describeUnschedulableOffers, meets, type Requirement, requirementOf } from './platform.ts';
import { PlatformQueues } from './platform-queues.ts';
import type { SchedulerPolicy } from './policy.ts';
import { PrincipalQuotas } from './principal-limits.ts';
import { failureResponse, formatSeconds } from './responses.ts';
import { type LeaseRecord, leaseSnapshot, type Task } from './task.ts';
import type { Lease } from './types.ts';
import type { VisitCounter } from './visit-counter.ts';
import { freeCapacity, type WorkerRecord, WorkerRegistry } from './worker-registry.ts';

/** A task as submitted, before the dispatcher fills in its bookkeeping. */
export type NewTask = Omit<
  Task,
  | 'state'
  | 'operations'
  | 'lease'
  | 'attempts'
  | 'losses'
  | 'unschedulable'
  | 'queuedAtMs'
  | 'requirement'
>;

/** Options for {@link Dispatcher}. */
export interface DispatcherOptions {
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly log: Logger;
  readonly policy: SchedulerPolicy;
  /** The operations the dispatcher moves between stages and completes. */
  readonly operations: OperationStore;
  /** Fraction of a long-poll that may be cut off; see `LeasePollsOptions.jitter`. */
  readonly pollJitter?: number;
  /** Counts the records the dispatch indexes visit (for tests). */
  readonly visits?: VisitCounter;
}

/**
 * Owns the queue, the unfinished tasks, the workers and their long-polls.
 * Every method is synchronous: state changes never interleave.
 *
 * Nothing here is proportional to the fleet or the queue per event: queued
 * tasks, waiting polls and connected workers are each indexed by platform,
 * and matching looks at distinct platforms, never at every worker or task.
 * Only a change that can make some platform unschedulable (its last
 * capable worker leaving) walks the tasks of that platform.
 */
export class Dispatcher {
  /** Connected workers; their expiry comes back here as a loss of their leases. */
  readonly workers: WorkerRegistry;
  readonly #clock: Clock;
  readonly #ids: IdGenerator;
  readonly #log: Logger;
  readonly #policy: SchedulerPolicy;
  readonly #ops: OperationStore;
  readonly #polls: LeasePolls;
  readonly #queue: PlatformQueues<Task>;
  readonly #visits: VisitCounter;
  /** Tasks with an unschedulable countdown running, by requirement key. */
  readonly #countdowns = new Map<string, { requirement: Requirement; tasks: Set<Task> }>();
  /** Unfinished tasks. */
  readonly #tasks = new Set<Task>();
  /** Unfinished tasks that identical submissions may join, by dedup key. */
  readonly #inFlight = new Map<string, Task>();
  readonly #taskOf = new Map<OperationRecord, Task>();
  readonly #quotas: PrincipalQuotas;

  constructor(options: DispatcherOptions) {
    this.#clock = options.clock;
    this.#ids = options.ids;
    this.#log = options.log;
    this.#policy = options.policy;
    this.#ops = options.operations;
    this.#quotas = new PrincipalQuotas(this.#policy.principalLimits);
    this.#visits = options.visits ?? { visits: 0 };
    this.#queue = new PlatformQueues(this.#visits);
    this.#polls = new LeasePolls({
      clock: this.#clock,
      jitter: options.pollJitter,
      visits: this.#visits,
    });
    this.workers = new WorkerRegistry({
      clock: this.#clock,
      timeoutMs: this.#policy.workerTimeoutMs,
      visits: this.#visits,
      onExpired: (worker) =>
        this.workerGone(worker, `no heartbeat for ${formatSeconds(this.#policy.workerTimeoutMs)}`),
    });
  }

  /** The unfinished task identical submissions would join. */
  inFlight(dedupKey: string): Task | undefined {
    return this.#inFlight.get(dedupKey);
  }

  /**
   * Throws RESOURCE_EXHAUSTED when `principal` may not queue another task
   * (its `maxQueued`). Call before {@link start}; joining needs no check.
   */
  checkQuota(principal: string): void {
    this.#quotas.checkQueued(principal, this.#queue.countOf(principal));
  }

  /** Creates a task for its first operation and queues it. */
  start(fields: NewTask, op: OperationRecord): void {
    const task: Task = {
      ...fields,
      queuedAtMs: this.#clock.now(),
      requirement: requirementOf(fields.platform),
      state: 'QUEUED',
      operations: new Set(),
      lease: undefined,
      attempts: 0,
      losses: 0,
      unschedulable: undefined,
    };
    this.#tasks.add(task);
    if (task.dedupKey !== undefined) this.#inFlight.set(task.dedupKey, task);
    this.#attach(op, task);
    this.#enqueue(task, false);
  }

  /** Adds an operation to an unfinished task; a more urgent one pulls a queued task forward. */
  join(op: OperationRecord, task: Task): void {
    this.#attach(op, task);
    if (task.state === 'QUEUED' && op.priority < task.priority) {
      this.#queue.remove(task);
      task.priority = op.priority;
      this.#queue.push(task, placementOf(task), task.requirement);
    }
  }

  /** Detaches an operation; false when it waited for nothing (already done). */
  detach(op: OperationRecord): boolean {
    const task = this.#taskOf.get(op);
    if (task === undefined) return false;
    task.operations.delete(op);
    this.#taskOf.delete(op);
    return true;
  }

  /**
   * Cancels an operation: it completes with CANCELLED, and when it was the
   * last one waiting, its task is dropped from the queue or its worker told to stop.
   */
  cancel(op: OperationRecord): void {
    const task = this.#taskOf.get(op);
    if (task === undefined || !this.detach(op)) return;
    this.#ops.complete(op, failureResponse(Code.CANCELLED, 'the operation was cancelled'));
    if (task.operations.size > 0 || task.state === 'COMPLETING') return;
    const lease = task.lease;
    let unheld = false;
    if (lease !== undefined) {
      lease.deadline?.cancel();
      lease.deadline = undefined;
      lease.state = 'CANCELLED';
      unheld = this.#endLease(task);
    }
    this.finish(
      task,
      failureResponse(Code.CANCELLED, 'every waiting operation was cancelled'),
      undefined,
    );
    if (lease !== undefined) this.#polls.wake(lease.worker);
    if (unheld) this.serve();
  }

  /**
   * A worker connected or changed: stop the countdowns it ends (looking at
   * each platform with countdowns once), and offer it work if it is polling.
   */
  workerRegistered(worker: WorkerRecord): void {
    for (const [key, { requirement, tasks }] of this.#countdowns) {
      this.#visits.visits++;
      if (!meets(worker.offered, requirement)) continue;
      this.#countdowns.delete(key);
      for (const task of tasks) {
        task.unschedulable?.cancel();
        task.unschedulable = undefined;
      }
    }
    this.#polls.refresh(worker);
    this.serve();
  }

  /** Leases up to `maxLeases` (and free capacity) queued tasks `worker` can run. */
  assign(worker: WorkerRecord, maxLeases: number | undefined): Lease[] {
    const wanted = Math.min(maxLeases ?? Number.POSITIVE_INFINITY, freeCapacity(worker));
    const leases: Lease[] = [];
    while (leases.length < wanted) {
      const task = this.#queue.take(worker.offered);
      if (task === undefined) break;
      leases.push(leaseSnapshot(this.#lease(task, worker)));
    }
    return leases;
  }

  /** Waits for {@link serve} to give `worker` work; see `LeasePolls.wait`. */
  poll(
    worker: WorkerRecord,
    maxLeases: number | undefined,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<Lease[]> {
    return this.#polls.wait(worker, maxLeases, waitMs, signal);
  }

  /** Offers queued work to long-polling workers. */
  serve(): void {
    if (this.#queue.size > 0) {
      this.#polls.serve(
        (worker, max) => this.assign(worker, max),
        (offered) => this.#queue.hasWorkFor(offered),
      );
    }
  }

  /**
   * Releases a lease the worker completed. Returns its task when the lease
   * was live (the task is then COMPLETING and must be {@link finish}ed), or
   * undefined when it was cancelled or lost and the result is to be ignored.
   */
  release(lease: LeaseRecord): Task | undefined {
    lease.worker.leases.delete(lease.id);
    lease.deadline?.cancel();
    this.#polls.refresh(lease.worker);
    const { task } = lease;
    const live = lease.state !== 'CANCELLED' && task.lease === lease;
    if (live) {
      this.#endLease(task);
      task.state = 'COMPLETING';
      lease.worker.actionsDone++;
    }
    this.serve();
    return live ? task : undefined;
  }

  /**
   * A worker left or went silent: its leases are lost, and actions only it
   * could run wait for another. Only when it was the last worker offering
   * its platform are queued tasks looked at, and then only those of the
   * platforms no remaining worker satisfies.
   */
  workerGone(worker: WorkerRecord, reason: string): void {
    const lastOfItsPlatform = this.workers.remove(worker);
    this.#polls.wake(worker);
    const leases = [...worker.leases.values()];
    worker.leases.clear();
    for (const lease of leases) {
      lease.deadline?.cancel();
      if (lease.state !== 'CANCELLED') this.#lose(lease, reason);
    }
    if (!lastOfItsPlatform) return;
    for (const requirement of [...this.#queue.requirements()]) {
      this.#visits.visits++;
      if (!meets(worker.offered, requirement) || this.workers.canRun(requirement)) continue;
      for (const task of [...this.#queue.queuedFor(requirement)]) this.#checkSchedulable(task);
    }
  }

  /** Completes every operation waiting for `task` with `response` and forgets the task. */
  finish(task: Task, response: ExecuteResponse, worker: string | undefined): void {
    task.state = 'FINISHED';
    this.#stopCountdown(task);
    this.#queue.remove(task);
    this.#tasks.delete(task);
    if (task.dedupKey !== undefined && this.#inFlight.get(task.dedupKey) === task) {
      this.#inFlight.delete(task.dedupKey);
    }
    for (const op of task.operations) {
      this.#taskOf.delete(op);
      this.#ops.complete(op, response, worker ?? op.worker);
    }
    task.operations.clear();
  }

  /** Queued tasks in take order (ignoring fairness rotation). */
  queued(): IterableIterator<Task> {
    return this.#queue.items();
  }

  /** Tasks a worker holds a live lease for. */
  *executing(): IterableIterator<Task> {
    for (const task of this.#tasks) if (task.state === 'EXECUTING') yield task;
  }

  /** Queued and executing tasks per principal; principals with neither are left out. */
  byPrincipal(): Map<string, { queued: number; executing: number }> {
    const out = new Map<string, { queued: number; executing: number }>();
    for (const [principal, queued] of this.#queue.counts()) {
      out.set(principal, { queued, executing: 0 });
    }
    for (const [principal, executing] of this.#quotas.executing()) {
      const entry = out.get(principal);
      if (entry === undefined) out.set(principal, { queued: 0, executing });
      else entry.executing = executing;
    }
    return out;
  }

  /** Ends every poll and stops every timer. */
  close(): void {
    this.#polls.close();
    this.workers.close();
    for (const task of this.#tasks) this.#stopCountdown(task);
    for (const worker of this.workers.values()) {
      for (const lease of worker.leases.values()) lease.deadline?.cancel();
    }
  }

  #attach(op: OperationRecord, task: Task): void {
    task.operations.add(op);
    this.#taskOf.set(op, task);
  }

  /** Queues (or re-queues) a task, then gives it to a polling worker if one can run it. */
  #enqueue(task: Task, front: boolean): void {
    task.state = 'QUEUED';
    this.#queue.push(task, placementOf(task), task.requirement, { front });
    for (const op of task.operations) this.#ops.setStage(op, 'QUEUED', undefined);
    if (this.#checkSchedulable(task)) this.serve();
  }

  /**
   * Starts or stops the unschedulable countdown of a queued task. Returns
   * false when the task failed at once (`unschedulableTimeoutMs` 0).
   */
  #checkSchedulable(task: Task): boolean {
    if (this.workers.canRun(task.requirement)) {
      this.#stopCountdown(task);
      return true;
    }
    if (this.#policy.unschedulableTimeoutMs === 0) {
      this.#failUnschedulable(task);
      return false;
    }
    if (task.unschedulable !== undefined) return true;
    task.unschedulable = this.#clock.setTimer(this.#policy.unschedulableTimeoutMs, () => {
      this.#stopCountdown(task);
      if (task.state === 'QUEUED' && !this.workers.canRun(task.requirement))
        this.#failUnschedulable(task);
    });
    const { key } = task.requirement;
    let entry = this.#countdowns.get(key);
    if (entry === undefined) {
      entry = { requirement: task.requirement, tasks: new Set() };
      this.#countdowns.set(key, entry);
    }
    entry.tasks.add(task);
    return true;
  }

  /** Calls off a task's unschedulable countdown, if any. */
  #stopCountdown(task: Task): void {
    if (task.unschedulable === undefined) return;
    task.unschedulable.cancel();
    task.unschedulable = undefined;
    const entry = this.#countdowns.get(task.requirement.key);
    if (entry === undefined) return;
    entry.tasks.delete(task);
    if (entry.tasks.size === 0) this.#countdowns.delete(task.requirement.key);
  }

  #failUnschedulable(task: Task): void {
    const message = describeUnschedulableOffers(task.platform, this.workers.offers());
    this.finish(task, failureResponse(Code.FAILED_PRECONDITION, message), undefined);
  }

  #lease(task: Task, worker: WorkerRecord): LeaseRecord {
    task.attempts++;
    const deadlineMs = this.#clock.now() + task.timeoutMs + this.#policy.leaseGraceMs;
    const lease: LeaseRecord = {
      id: this.#ids.next(),
      task,
      worker,
      state: 'PENDING',
      attempt: task.attempts,
      deadlineMs,
      deadline: undefined,
    };
    lease.deadline = this.#clock.setTimer(deadlineMs - this.#clock.now(), () =>
      this.#leaseOverdue(lease),
    );
    worker.leases.set(lease.id, lease);
    task.lease = lease;
    task.state = 'EXECUTING';
    if (this.#quotas.leaseStarted(task.principal)) this.#queue.hold(task.principal);
    this.#stopCountdown(task);
    for (const op of task.operations) this.#ops.setStage(op, 'EXECUTING', worker.name);
    return lease;
  }

  /** The worker kept a lease past timeout + grace: give up on it and tell the worker to stop. */
  #leaseOverdue(lease: LeaseRecord): void {
    lease.deadline = undefined;
    if (lease.state === 'CANCELLED') return;
    lease.state = 'CANCELLED';
    const { timeoutMs } = lease.task;
    this.#lose(
      lease,
      `the lease passed its ${formatSeconds(timeoutMs)} timeout plus ${formatSeconds(this.#policy.leaseGraceMs)} grace`,
    );
    this.#polls.wake(lease.worker);
  }

  /** A lease ended without a result: retry the task first in line, or fail it after too many losses. */
  #lose(lease: LeaseRecord, reason: string): void {
    const { task } = lease;
    if (task.lease !== lease) return;
    const unheld = this.#endLease(task);
    task.losses++;
    this.#log.warn(
      {
        actionDigest: task.actionDigest.key,
        invocation: task.toolInvocationId,
        worker: lease.worker.name,
        losses: task.losses,
        reason,
      },
      'lease lost',
    );
    if (task.losses > this.#policy.maxRetries) {
      const message = `action lost ${task.losses} times; last worker: ${lease.worker.name} (${reason})`;
      this.finish(task, failureResponse(Code.UNAVAILABLE, message), lease.worker.name);
      if (unheld) this.serve();
      return;
    }
    // Re-queueing serves, unless the task failed at once for want of a worker.
    this.#enqueue(task, true);
    if (unheld && task.state === 'FINISHED') this.serve();
  }

  /**
   * Detaches a task's live lease and counts it off its principal. Returns
   * true when that took the principal below its `maxExecuting`, so its
   * queued tasks are offered again (the caller then {@link serve}s).
   */
  #endLease(task: Task): boolean {
    task.lease = undefined;
    return this.#quotas.leaseEnded(task.principal) && this.#queue.release(task.principal);
  }
}

function placementOf(task: Task): QueuePlacement {
  return {
    priority: task.priority,
    principal: task.principal,
    invocationId: task.toolInvocationId,
  };
}
