/**
 * A Scheduler decorator that reports what metrics and build tracking need:
 * Execute's cache lookups and submissions, and each execution a worker
 * completes with how long it queued. Being a decorator, it works the same
 * over any scheduler implementation.
 */
import { actionKey, DelegatingScheduler } from '../scheduler/delegating-scheduler.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type {
  Lease,
  LeaseCompletion,
  OperationState,
  SubmitRequest,
  TakeOptions,
  TakeResult,
} from '../scheduler/types.ts';

/** A lease a worker completed, with the scheduler-side times the worker does not report. */
export interface CompletedExecution {
  readonly lease: Lease;
  readonly completion: LeaseCompletion;
  /** When the action was queued (ms since the epoch); undefined when not seen. */
  readonly queuedAtMs: number | undefined;
  /** When the worker took the lease. */
  readonly leasedAtMs: number;
  /** When the worker reported the completion. */
  readonly completedAtMs: number;
}

/** Receives the scheduler events. Must be cheap and must not throw. */
export interface ExecutionObserver {
  /** An Execute looked the action up in the cache (unless skipped or `do_not_cache`). */
  executeLookup(request: SubmitRequest, hit: boolean): void;
  /** An Execute queued a new execution or joined one in flight. */
  executeSubmitted(request: SubmitRequest): void;
  /** A worker reported the outcome of a lease. */
  executionCompleted(execution: CompletedExecution): void;
}

/** Options for {@link ObservedScheduler}. */
export interface ObservedSchedulerOptions {
  readonly scheduler: Scheduler;
  readonly observer: ExecutionObserver;
  /** Clock in ms since the epoch; default `Date.now`. Use the scheduler's clock. */
  readonly now?: () => number;
  /**
   * Most queued actions and live leases remembered. Leases that are lost
   * instead of completed are never reported; they are forgotten a minute
   * after their deadline, and this bounds what they leave behind meanwhile.
   * Default 10000.
   */
  readonly maxTracked?: number;
}

/**
 * How long past its deadline a lease is still remembered: the scheduler
 * gives up on it at the deadline, and a completion that beat the
 * scheduler's timer by a moment is still reported.
 */
const LEASE_DEADLINE_SLACK_MS = 60_000;
/** Leases past their deadline are looked for at most this often. */
const PRUNE_EVERY_MS = 1000;

interface QueuedAction {
  readonly atMs: number;
  /** The operation whose submission queued it. */
  readonly operation: string;
}

interface TrackedLease {
  readonly lease: Lease;
  readonly queuedAtMs: number | undefined;
  readonly leasedAtMs: number;
}

/** Forwards every call to `scheduler`, reporting to `observer` on the way. */
export class ObservedScheduler extends DelegatingScheduler {
  readonly #observer: ExecutionObserver;
  readonly #now: () => number;
  readonly #maxTracked: number;
  /** Action (instance and digest) → when it was queued and by which operation, until it runs. */
  readonly #queued = new Map<string, QueuedAction>();
  readonly #leases = new Map<string, TrackedLease>();
  #lastPruneMs = Number.NEGATIVE_INFINITY;

  constructor(options: ObservedSchedulerOptions) {
    super(options.scheduler);
    this.#observer = options.observer;
    this.#now = options.now ?? Date.now;
    this.#maxTracked = options.maxTracked ?? 10_000;
  }

  override async submit(request: SubmitRequest): Promise<OperationState> {
    const state = await this.inner.submit(request);
    if (!request.skipCacheLookup && !request.action.doNotCache) {
      const hit = state.done && state.response?.cachedResult === true;
      this.#observer.executeLookup(request, hit);
    }
    if (!state.done) {
      const key = actionKey(request.instanceName, request.actionDigest.key);
      const earlier = this.#queued.get(key);
      // An earlier entry whose operation is over belongs to an execution that
      // ended without a completion (cancelled, unschedulable, lost): this
      // submission queued a new one. Otherwise it joined the earlier one.
      if (earlier === undefined || !(await this.operationWaiting(earlier.operation))) {
        const queued = { atMs: this.#now(), operation: state.name };
        bounded(this.#queued, key, queued, this.#maxTracked);
      }
      this.#observer.executeSubmitted(request);
    }
    return state;
  }

  override takeWork(workerId: string, options?: TakeOptions): Promise<TakeResult> {
    // Not an async function: its frame would wait on the heap through every long poll.
    return this.inner.takeWork(workerId, options).then((result) => this.#leased(result));
  }

  #leased(result: TakeResult): TakeResult {
    const now = this.#now();
    this.#pruneLostLeases(now);
    for (const lease of result.leases) {
      const queued = this.#queued.get(actionKey(lease.instanceName, lease.actionDigest.key));
      const queuedAtMs = queued?.atMs;
      bounded(this.#leases, lease.id, { lease, queuedAtMs, leasedAtMs: now }, this.#maxTracked);
    }
    return result;
  }

  override async completeLease(
    workerId: string,
    leaseId: string,
    completion: LeaseCompletion,
  ): Promise<void> {
    await this.inner.completeLease(workerId, leaseId, completion);
    const tracked = this.#leases.get(leaseId);
    if (tracked === undefined) return;
    this.#leases.delete(leaseId);
    const { lease, queuedAtMs, leasedAtMs } = tracked;
    this.#queued.delete(actionKey(lease.instanceName, lease.actionDigest.key));
    this.#observer.executionCompleted({
      lease,
      completion,
      queuedAtMs,
      leasedAtMs,
      completedAtMs: this.#now(),
    });
  }

  /** Queued actions and leases remembered (for tests). */
  get tracked(): { queued: number; leases: number } {
    return { queued: this.#queued.size, leases: this.#leases.size };
  }

  /**
   * Forgets leases well past their deadline: the scheduler has given up on
   * them (lost: the worker died or went silent), so no completion will come.
   * Each holds its Lease, with the Action and Command, which workers that
   * open sessions and vanish would otherwise pile up to `maxTracked`.
   */
  #pruneLostLeases(now: number): void {
    if (now - this.#lastPruneMs < PRUNE_EVERY_MS) return;
    this.#lastPruneMs = now;
    for (const [id, tracked] of this.#leases) {
      if (tracked.lease.deadlineMs + LEASE_DEADLINE_SLACK_MS < now) this.#leases.delete(id);
    }
  }

  override close(): Promise<void> {
    this.#queued.clear();
    this.#leases.clear();
    return this.inner.close();
  }
}

/** Sets `key`, first forgetting the oldest entry when the map is full. */
function bounded<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  if (map.size >= max && !map.has(key)) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
  map.set(key, value);
}
