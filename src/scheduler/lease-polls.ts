/**
 * Workers waiting for work (long-polls). The Bots service holds an
 * UpdateBotSession call open on one of these instead of making the bot poll.
 *
 * Waiting polls are grouped by the exact platform their worker offers, each
 * group a linked list in arrival order. Handing out work looks at the first
 * poll of each group (distinct platforms are few), never at every waiting
 * poll, and a poll leaves its group in O(1). (Not a Set: the first entry of
 * a JavaScript Set whose front entries were deleted is found by skipping
 * their tombstones, which costs O(deleted) until the table is rebuilt.)
 */
import type { Clock, TimerHandle } from './clock.ts';
import type { OfferedPlatform } from './platform.ts';
import type { Lease } from './types.ts';
import type { VisitCounter } from './visit-counter.ts';
import type { WorkerRecord } from './worker-registry.ts';

interface Poll {
  readonly worker: WorkerRecord;
  readonly maxLeases: number | undefined;
  readonly resolve: (leases: Lease[]) => void;
  /** Arrival order: lower waited longer. */
  readonly seq: number;
  timer: TimerHandle | undefined;
  cleanUp: (() => void) | undefined;
  /** The group it waits in; undefined while parked (its worker had no free capacity). */
  group: PollGroup | undefined;
  /** Neighbours in its group's list. */
  prev: Poll | undefined;
  next: Poll | undefined;
}

/** Waiting polls of workers offering one exact platform, longest-waiting (`head`) first. */
interface PollGroup {
  readonly key: string;
  readonly offered: OfferedPlatform;
  head: Poll | undefined;
  tail: Poll | undefined;
}

/** Hands out work to the worker of a poll; returns what it leased (maybe nothing). */
export type LeaseFiller = (worker: WorkerRecord, maxLeases: number | undefined) => Lease[];

/** Whether queued work exists that a worker offering `offered` could run. */
export type WorkProbe = (offered: OfferedPlatform) => boolean;

/** Options for {@link LeasePolls}. */
export interface LeasePollsOptions {
  readonly clock: Clock;
  /**
   * Up to this fraction of a long wait is cut off, differently for each
   * poll, so polls of workers that started together do not all end (and
   * come back) together. Only waits of {@link MIN_JITTERED_WAIT_MS} or more
   * are shortened; a poll never outlasts the wait it asked for. Default 0.1.
   */
  readonly jitter?: number;
  readonly visits?: VisitCounter;
}

/** Shorter waits end exactly on time. */
export const MIN_JITTERED_WAIT_MS = 1_000;

/** The fractional part of n·φ: consecutive n spread evenly over [0, 1). */
const GOLDEN = (Math.sqrt(5) - 1) / 2;
const spread = (n: number): number => (n * GOLDEN) % 1;

/**
 * Pending polls. The worker that has waited longest among those that can run
 * the work gets it first. A poll ends with the leases it was given, or with
 * none at its deadline, on abort, or when its worker must look at a
 * cancellation. Nothing here loops or polls: polls end from timers and events only.
 */
export class LeasePolls {
  readonly #clock: Clock;
  readonly #jitter: number;
  readonly #visits: VisitCounter;
  /** Groups with at least one waiting poll, by platform key. */
  readonly #groups = new Map<string, PollGroup>();
  /** Every pending poll (waiting or parked), by worker. */
  readonly #byWorker = new Map<WorkerRecord, Set<Poll>>();
  #seq = 0;
  #size = 0;

  constructor(options: LeasePollsOptions) {
    this.#clock = options.clock;
    this.#jitter = options.jitter ?? 0.1;
    if (!(this.#jitter >= 0 && this.#jitter < 1)) {
      throw new RangeError(`poll jitter ${this.#jitter} must be in [0, 1)`);
    }
    this.#visits = options.visits ?? { visits: 0 };
  }

  /** Pending polls. */
  get size(): number {
    return this.#size;
  }

  /** Waits up to `waitMs` (see the jitter option) for {@link serve} to lease something to `worker`. */
  wait(
    worker: WorkerRecord,
    maxLeases: number | undefined,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<Lease[]> {
    if (signal?.aborted === true) return Promise.resolve([]);
    return new Promise((resolve) => {
      const seq = this.#seq++;
      const poll: Poll = {
        worker,
        maxLeases,
        resolve,
        seq,
        timer: undefined,
        cleanUp: undefined,
        group: undefined,
        prev: undefined,
        next: undefined,
      };
      const cut =
        waitMs >= MIN_JITTERED_WAIT_MS ? Math.floor(waitMs * this.#jitter * spread(seq + 1)) : 0;
      poll.timer = this.#clock.setTimer(waitMs - cut, () => this.#settle(poll, []));
      if (signal !== undefined) {
        const onAbort = (): void => this.#settle(poll, []);
        signal.addEventListener('abort', onAbort, { once: true });
        poll.cleanUp = () => signal.removeEventListener('abort', onAbort);
      }
      worker.polls++;
      this.#size++;
      let mine = this.#byWorker.get(worker);
      if (mine === undefined) {
        mine = new Set();
        this.#byWorker.set(worker, mine);
      }
      mine.add(poll);
      this.#join(poll);
    });
  }

  /**
   * Serves waiting polls while one of them can run queued work: each round
   * picks, among the groups `hasWork` says have work, the poll that has
   * waited longest, and fills it. A poll whose worker took nothing (it has
   * no free capacity) is parked until {@link refresh}. Costs O(groups) per
   * poll served, whatever the number of waiting polls.
   */
  serve(fill: LeaseFiller, hasWork: WorkProbe): void {
    for (;;) {
      let best: Poll | undefined;
      for (const group of this.#groups.values()) {
        this.#visits.visits++;
        const { head } = group;
        if (head === undefined || (best !== undefined && head.seq > best.seq)) continue;
        if (hasWork(group.offered)) best = head;
      }
      if (best === undefined) return;
      this.#visits.visits++;
      const leases = fill(best.worker, best.maxLeases);
      if (leases.length > 0) this.#settle(best, leases);
      else this.#leave(best);
    }
  }

  /**
   * Puts `worker`'s parked polls back in line, and moves its polls to the
   * group of its current platform: call after its capacity grew or it
   * registered again.
   */
  refresh(worker: WorkerRecord): void {
    for (const poll of this.#byWorker.get(worker) ?? []) {
      this.#visits.visits++;
      if (poll.group?.key === worker.platformKey) continue;
      this.#leave(poll);
      this.#join(poll);
    }
  }

  /** Ends `worker`'s polls with no new leases, so it hears about a cancellation (or its removal) now. */
  wake(worker: WorkerRecord): void {
    for (const poll of [...(this.#byWorker.get(worker) ?? [])]) this.#settle(poll, []);
  }

  /** Ends every poll with no leases. */
  close(): void {
    for (const polls of [...this.#byWorker.values()]) {
      for (const poll of [...polls]) this.#settle(poll, []);
    }
  }

  #join(poll: Poll): void {
    const { platformKey, offered } = poll.worker;
    let group = this.#groups.get(platformKey);
    if (group === undefined) {
      group = { key: platformKey, offered, head: undefined, tail: undefined };
      this.#groups.set(platformKey, group);
    }
    poll.group = group;
    poll.prev = group.tail;
    poll.next = undefined;
    if (group.tail === undefined) group.head = poll;
    else group.tail.next = poll;
    group.tail = poll;
  }

  #leave(poll: Poll): void {
    const { group, prev, next } = poll;
    if (group === undefined) return;
    if (prev === undefined) group.head = next;
    else prev.next = next;
    if (next === undefined) group.tail = prev;
    else next.prev = prev;
    poll.group = undefined;
    poll.prev = undefined;
    poll.next = undefined;
    if (group.head === undefined) this.#groups.delete(group.key);
  }

  #settle(poll: Poll, leases: Lease[]): void {
    const mine = this.#byWorker.get(poll.worker);
    if (mine === undefined || !mine.delete(poll)) return;
    if (mine.size === 0) this.#byWorker.delete(poll.worker);
    this.#leave(poll);
    this.#size--;
    poll.timer?.cancel();
    poll.cleanUp?.();
    poll.worker.polls--;
    poll.resolve(leases);
  }
}
