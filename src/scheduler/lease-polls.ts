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
 * Their deadlines share one clock timer (deadline-list.ts) instead of a
 * timer each: with 20,000 workers, 20,000 Node timers and their closures
 * lived on the heap, and a thousand were set and cleared every second.
 */
import type { Clock } from './clock.ts';
import { type DeadlineEntry, DeadlineList, type DeadlineSlot, roundDown } from './deadline-list.ts';
import type { OfferedPlatform } from './platform.ts';
import type { Lease } from './types.ts';
import type { VisitCounter } from './visit-counter.ts';
import type { WorkerRecord } from './worker-registry.ts';

/**
 * One waiting poll. Besides its place in its group, it is its own entry in
 * the deadline list and its own abort listener (`handleEvent`), so a poll
 * costs this object and its promise, and no timer or closure of its own.
 */
class Poll implements DeadlineEntry {
  readonly owner: LeasePolls;
  readonly worker: WorkerRecord;
  readonly maxLeases: number | undefined;
  readonly resolve: (leases: Lease[]) => void;
  /** Arrival order: lower waited longer. */
  readonly seq: number;
  readonly signal: AbortSignal | undefined;
  /** The group it waits in; undefined while parked (its worker had no free capacity). */
  group: PollGroup | undefined = undefined;
  /** Neighbours in its group's list. */
  prev: Poll | undefined = undefined;
  next: Poll | undefined = undefined;
  deadlineSlot: DeadlineSlot<this> | undefined = undefined;
  deadlinePrev: this | undefined = undefined;
  deadlineNext: this | undefined = undefined;

  constructor(
    owner: LeasePolls,
    worker: WorkerRecord,
    maxLeases: number | undefined,
    resolve: (leases: Lease[]) => void,
    seq: number,
    signal: AbortSignal | undefined,
  ) {
    this.owner = owner;
    this.worker = worker;
    this.maxLeases = maxLeases;
    this.resolve = resolve;
    this.seq = seq;
    this.signal = signal;
  }

  /** The abort of its signal ends it (EventTarget calls a listener object's `handleEvent`). */
  handleEvent(): void {
    this.owner.end(this);
  }
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

/**
 * Jittered waits end on a multiple of this many milliseconds (rounded down,
 * so never later than asked), so that the polls ending within one such step
 * share a slot of the deadline list: its one timer fires at most once per
 * step, however many polls wait. (Without jitter, waits end exactly.)
 */
export const POLL_DEADLINE_STEP_MS = 100;

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
  /**
   * Every pending poll (waiting or parked), by worker: the poll itself, or
   * a set in the rare case of a worker with several (a worker has one
   * poll at a time, and a set per waiting worker would cost more than the poll).
   */
  readonly #byWorker = new Map<WorkerRecord, Poll | Set<Poll>>();
  /** Every pending poll's deadline, on one timer. */
  readonly #deadlines: DeadlineList<Poll>;
  #seq = 0;
  #size = 0;

  constructor(options: LeasePollsOptions) {
    this.#clock = options.clock;
    this.#jitter = options.jitter ?? 0.1;
    if (!(this.#jitter >= 0 && this.#jitter < 1)) {
      throw new RangeError(`poll jitter ${this.#jitter} must be in [0, 1)`);
    }
    this.#visits = options.visits ?? { visits: 0 };
    this.#deadlines = new DeadlineList(this.#clock, (poll) => this.#settle(poll, []));
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
      const poll = new Poll(this, worker, maxLeases, resolve, seq, signal);
      // A jittered wait also ends on a step, which takes up to a step more
      // off it; the cut leaves room for that, so it stays within the jitter.
      const step = waitMs >= MIN_JITTERED_WAIT_MS && this.#jitter > 0 ? POLL_DEADLINE_STEP_MS : 1;
      const cut =
        step > 1 ? Math.floor(Math.max(0, waitMs * this.#jitter - step) * spread(seq + 1)) : 0;
      this.#deadlines.add(poll, roundDown(this.#clock.now() + waitMs - cut, step));
      signal?.addEventListener('abort', poll, { once: true });
      worker.polls++;
      this.#size++;
      const mine = this.#byWorker.get(worker);
      if (mine === undefined) this.#byWorker.set(worker, poll);
      else if (mine instanceof Poll) this.#byWorker.set(worker, new Set([mine, poll]));
      else mine.add(poll);
      this.#join(poll);
    });
  }

  /** Ends a poll with no leases (its signal aborted). */
  end(poll: Poll): void {
    this.#settle(poll, []);
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
    for (const poll of this.#pollsOf(worker)) {
      this.#visits.visits++;
      if (poll.group?.key === worker.platformKey) continue;
      this.#leave(poll);
      this.#join(poll);
    }
  }

  /** Ends `worker`'s polls with no new leases, so it hears about a cancellation (or its removal) now. */
  wake(worker: WorkerRecord): void {
    for (const poll of this.#pollsOf(worker)) this.#settle(poll, []);
  }

  /** Ends every poll with no leases. */
  close(): void {
    for (const worker of [...this.#byWorker.keys()]) {
      for (const poll of this.#pollsOf(worker)) this.#settle(poll, []);
    }
  }

  /** A copy of `worker`'s pending polls. */
  #pollsOf(worker: WorkerRecord): Poll[] {
    const mine = this.#byWorker.get(worker);
    return mine === undefined ? [] : mine instanceof Poll ? [mine] : [...mine];
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
    if (mine === poll) this.#byWorker.delete(poll.worker);
    else if (mine instanceof Set && mine.delete(poll)) {
      if (mine.size === 1) this.#byWorker.set(poll.worker, mine.values().next().value as Poll);
    } else return;
    this.#leave(poll);
    this.#size--;
    this.#deadlines.remove(poll);
    poll.signal?.removeEventListener('abort', poll);
    poll.worker.polls--;
    poll.resolve(leases);
  }
}
