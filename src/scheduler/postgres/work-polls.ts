/**
 * A worker's request for work on the PostgreSQL scheduler, after the
 * scheduler checked it and put its long-poll in line: the first claim
 * (also its sign of life), then the wait for work that a notification or
 * a direct lease brings. A request that follows a completion of the same
 * worker waits for it (completions.ts), and when that completion recorded
 * the poll's sign of life and nothing the worker can run is queued, the
 * poll waits without a claim.
 */
import type { Pool } from 'pg';
import type { Clock } from '../clock.ts';
import type { SchedulerPolicy } from '../policy.ts';
import type { Lease, TakeResult } from '../types.ts';
import { claim, type ExecutingLimits } from './claim.ts';
import { Completions } from './completions.ts';
import type { Channels } from './events.ts';
import type { CompletionRecord } from './lease-reports.ts';
import type { Poll, PollWorker, Waiters } from './waiters.ts';
import type { Wakeups } from './wakeups.ts';
import { touchWorker, type WorkerInfo, workerNotRegistered } from './worker-writes.ts';

/** Options of {@link WorkPolls}. */
export interface WorkPollsOptions {
  readonly pool: Pool;
  readonly clock: Clock;
  readonly policy: SchedulerPolicy;
  readonly channels: Channels;
  /** The principals' `maxExecuting`; undefined when none has one. */
  readonly limits: ExecutingLimits | undefined;
  readonly waiters: Waiters;
  readonly wakeups: Wakeups;
  readonly closed: () => boolean;
}

/** A long-poll in line: the poll, and the leases it ends with. */
export interface Waiting {
  readonly poll: Poll;
  readonly done: Promise<Lease[]>;
}

/** Claims and long-polls of the workers that call this process. */
export class WorkPolls {
  readonly #o: WorkPollsOptions;
  readonly #completions = new Completions();
  /** What the last claim read of each worker that polls here (its platform and capacity). */
  readonly #known = new Map<string, Omit<PollWorker, 'maxLeases'>>();

  constructor(options: WorkPollsOptions) {
    this.#o = options;
  }

  /** The worker registered again or left: its platform and capacity are read anew. */
  forget(workerId: string): void {
    this.#known.delete(workerId);
  }

  /** Runs a completion of the worker's lease; its next request for work waits for it. */
  complete(
    workerId: string,
    run: (presentUntil: () => number | undefined) => Promise<CompletionRecord>,
  ): Promise<void> {
    return this.#completions.track(workerId, run);
  }

  /**
   * Records a sign of life (present for `extraMs` more, for a long-poll) and
   * returns the worker with its cancelled leases; NOT_FOUND when it is gone.
   */
  touch(workerId: string, extraMs: number, now = this.#o.clock.now()): Promise<WorkerInfo> {
    return touchWorker(this.#o.pool, workerId, now, now + extraMs + this.#o.policy.workerTimeoutMs);
  }

  /** Leases work for the worker, waiting (with `waiting`) until some comes. */
  async take(
    workerId: string,
    maxLeases: number | undefined,
    waitMs: number,
    waiting: Waiting | undefined,
    calledAtMs: number,
  ): Promise<TakeResult> {
    const { wakeups } = this.#o;
    // A worker inside a long-poll is present until the poll ends.
    const untilMs = calledAtMs + waitMs + this.#o.policy.workerTimeoutMs;
    if (maxLeases === 0) {
      const w = await this.touch(workerId, waitMs, calledAtMs);
      return { leases: [], cancelledLeaseIds: w.cancelled ?? [] };
    }
    const heard = wakeups.workHeard;
    // A bot reports a result and asks for work in one call: the claim waits
    // for the completion, which records this poll's sign of life.
    const completed = this.#completions.has(workerId)
      ? await this.#completions.wait(workerId, untilMs)
      : undefined;
    const known = this.#known.get(workerId);
    if (
      waiting !== undefined &&
      completed !== undefined &&
      known !== undefined &&
      this.#o.limits === undefined &&
      completed.presentUntilMs >= untilMs &&
      wakeups.knownEmpty(known.offered)
    ) {
      // Nothing it can run is queued, and its presence is recorded: the
      // poll waits for work without a claim of its own.
      if (completed.cancelled.length > 0) {
        return { leases: [], cancelledLeaseIds: completed.cancelled };
      }
      return this.#waitForWork(workerId, waiting, { ...known, maxLeases }, heard);
    }
    // The sign of life and the first claim in one statement.
    const first = await this.#claim(workerId, maxLeases, untilMs).catch((err: unknown) => {
      this.#known.delete(workerId);
      throw err;
    });
    const w = first.worker;
    if (w === undefined) {
      this.#known.delete(workerId);
      throw workerNotRegistered(workerId);
    }
    if (first.room > 0 && first.candidates === 0) wakeups.noteEmpty(w.offered, heard);
    const worker = {
      workerName: w.name,
      offered: w.offered,
      offeredSet: new Set(w.offered),
      capacity: w.capacity,
    };
    this.#known.set(workerId, worker);
    const cancelled = w.cancelled ?? [];
    if (waiting === undefined || first.leases.length > 0 || cancelled.length > 0) {
      return { leases: first.leases, cancelledLeaseIds: cancelled };
    }
    return this.#waitForWork(workerId, waiting, { ...worker, maxLeases }, heard);
  }

  /** A poll that found nothing waits for work, a cancellation or its end. */
  async #waitForWork(
    workerId: string,
    waiting: Waiting,
    worker: PollWorker,
    heard: number,
  ): Promise<TakeResult> {
    const { poll, done } = waiting;
    poll.worker = worker;
    // Work queued while the first claim ran may have been announced before the poll could take it.
    if (this.#o.wakeups.workHeard !== heard) this.#o.wakeups.serve([poll]);
    const leases = await done;
    // Leases handed to the poll: the worker was present, and cancellations wait for its next call.
    if (this.#o.closed() || leases.length > 0) return { leases, cancelledLeaseIds: [] };
    // The end of a long-poll is a sign of life, and the moment to report cancellations.
    const after = await this.touch(workerId, 0).catch(() => undefined);
    return { leases, cancelledLeaseIds: after?.cancelled ?? [] };
  }

  #claim(workerId: string, maxLeases: number | undefined, touchUntilMs: number) {
    return claim(this.#o.pool, {
      workerId,
      touchUntilMs,
      maxLeases,
      nowMs: this.#o.clock.now(),
      leaseGraceMs: this.#o.policy.leaseGraceMs,
      opsChannel: this.#o.channels.ops,
      limits: this.#o.limits,
    });
  }
}
