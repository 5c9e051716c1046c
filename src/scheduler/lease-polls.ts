/**
 * Workers waiting for work (long-polls). The Bots service holds an
 * UpdateBotSession call open on one of these instead of making the bot poll.
 */
import type { Clock, TimerHandle } from './clock.ts';
import type { Lease } from './types.ts';
import type { WorkerRecord } from './worker-registry.ts';

interface Poll {
  readonly worker: WorkerRecord;
  readonly maxLeases: number | undefined;
  readonly resolve: (leases: Lease[]) => void;
  timer: TimerHandle | undefined;
  cleanUp: (() => void) | undefined;
}

/** Hands out work to the worker of a poll; returns what it leased (maybe nothing). */
export type LeaseFiller = (worker: WorkerRecord, maxLeases: number | undefined) => Lease[];

/**
 * Pending polls in arrival order, so the worker that has waited longest gets
 * new work first. A poll ends with the leases it was given, or with none at
 * its deadline, on abort, or when its worker must look at a cancellation.
 * Nothing here loops or polls: polls end from timers and events only.
 */
export class LeasePolls {
  readonly #clock: Clock;
  readonly #polls: Poll[] = [];

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Waits up to `waitMs` for {@link serve} to lease something to `worker`. */
  wait(
    worker: WorkerRecord,
    maxLeases: number | undefined,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<Lease[]> {
    if (signal?.aborted === true) return Promise.resolve([]);
    return new Promise((resolve) => {
      const poll: Poll = { worker, maxLeases, resolve, timer: undefined, cleanUp: undefined };
      poll.timer = this.#clock.setTimer(waitMs, () => this.#settle(poll, []));
      if (signal !== undefined) {
        const onAbort = (): void => this.#settle(poll, []);
        signal.addEventListener('abort', onAbort, { once: true });
        poll.cleanUp = () => signal.removeEventListener('abort', onAbort);
      }
      worker.polls++;
      this.#polls.push(poll);
    });
  }

  /** Offers work to each waiting poll, longest-waiting first; a poll that got leases ends. */
  serve(fill: LeaseFiller): void {
    for (const poll of [...this.#polls]) {
      if (!this.#polls.includes(poll)) continue;
      const leases = fill(poll.worker, poll.maxLeases);
      if (leases.length > 0) this.#settle(poll, leases);
    }
  }

  /** Ends `worker`'s polls with no new leases, so it hears about a cancellation (or its removal) now. */
  wake(worker: WorkerRecord): void {
    for (const poll of this.#polls.filter((p) => p.worker === worker)) this.#settle(poll, []);
  }

  /** Ends every poll with no leases. */
  close(): void {
    for (const poll of [...this.#polls]) this.#settle(poll, []);
  }

  #settle(poll: Poll, leases: Lease[]): void {
    const index = this.#polls.indexOf(poll);
    if (index < 0) return;
    this.#polls.splice(index, 1);
    poll.timer?.cancel();
    poll.cleanUp?.();
    poll.worker.polls--;
    poll.resolve(leases);
  }
}
