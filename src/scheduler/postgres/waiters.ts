/**
 * What waits in this process for a PostgreSQL notification: workers'
 * long-polls (woken when matching work is queued, or when one of their
 * leases is cancelled) and operation watchers (woken when their operation
 * changes in any process). Nothing here polls the database on a timer.
 */
import { notFound } from '../../errors.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import type { Lease, OperationState } from '../types.ts';
import { UpdateChannel } from '../update-channel.ts';

/** What a poll learns about its worker once the worker's row was read. */
export interface PollWorker {
  readonly workerName: string;
  readonly offered: readonly string[];
  readonly offeredSet: ReadonlySet<string>;
  readonly capacity: number;
  readonly maxLeases: number | undefined;
}

/**
 * One long-poll of a worker. It is in line (and its deadline runs) from the
 * moment takeWork is called; work is offered to it once `worker` is set.
 */
export interface Poll {
  readonly workerId: string;
  worker: PollWorker | undefined;
  readonly resolve: (leases: Lease[]) => void;
  timer: TimerHandle | undefined;
  cleanUp: (() => void) | undefined;
  settled: boolean;
  /** Set aside for a direct lease (direct-lease.ts): claims pass it by meanwhile. */
  reserved: boolean;
}

/**
 * One watcher of one operation. Until its first read arrives (`state`
 * undefined) the changes it hears wait in `early`; after it, a change
 * counts only when its row version is newer than the watcher's.
 */
export interface Watcher {
  readonly channel: UpdateChannel<OperationState>;
  state: OperationState | undefined;
  version: number;
  early: Change[];
}

/** A newer state of a watched operation, or undefined when it was deleted. */
export interface Change {
  readonly version: number;
  /** The new state from the watcher's current one; undefined: deleted. */
  readonly next: ((current: OperationState) => OperationState) | undefined;
}

const NO_POLLS: ReadonlySet<Poll> = new Set();

/** Waiting polls in arrival order, and watchers by operation name. */
export class Waiters {
  readonly #clock: Clock;
  readonly polls = new Set<Poll>();
  /** The same polls by worker id. */
  readonly #byWorker = new Map<string, Set<Poll>>();
  readonly watchers = new Map<string, Set<Watcher>>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Registers a poll that ends with no leases after `waitMs` or on abort. */
  addPoll(
    workerId: string,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): { poll: Poll; done: Promise<Lease[]> } {
    let poll: Poll | undefined;
    const done = new Promise<Lease[]>((resolve) => {
      poll = {
        workerId,
        worker: undefined,
        resolve,
        timer: undefined,
        cleanUp: undefined,
        settled: false,
        reserved: false,
      };
    });
    const p = poll as Poll;
    p.timer = this.#clock.setTimer(waitMs, () => {
      this.settle(p, []);
    });
    if (signal !== undefined) {
      const onAbort = (): void => {
        this.settle(p, []);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      p.cleanUp = () => signal.removeEventListener('abort', onAbort);
      if (signal.aborted) this.settle(p, []);
    }
    if (!p.settled) {
      this.polls.add(p);
      let own = this.#byWorker.get(workerId);
      if (own === undefined) {
        own = new Set();
        this.#byWorker.set(workerId, own);
      }
      own.add(p);
    }
    return { poll: p, done };
  }

  /** Ends a poll with `leases`; false when it had already ended. */
  settle(poll: Poll, leases: Lease[]): boolean {
    if (poll.settled) return false;
    poll.settled = true;
    this.polls.delete(poll);
    const own = this.#byWorker.get(poll.workerId);
    if (own?.delete(poll) === true && own.size === 0) this.#byWorker.delete(poll.workerId);
    poll.timer?.cancel();
    poll.timer = undefined;
    poll.cleanUp?.();
    poll.cleanUp = undefined;
    poll.resolve(leases);
    return true;
  }

  /** Waiting polls whose worker offers every pair of `required`, longest-waiting first. */
  *pollsFor(required: readonly string[]): IterableIterator<Poll> {
    for (const poll of this.polls) {
      const { worker } = poll;
      if (poll.reserved || worker === undefined) continue;
      if (required.every((p) => worker.offeredSet.has(p))) yield poll;
    }
  }

  /** Sets aside the longest-waiting poll that can run `required`; undefined when none waits. */
  reserve(required: readonly string[]): Poll | undefined {
    for (const poll of this.pollsFor(required)) {
      poll.reserved = true;
      return poll;
    }
    return undefined;
  }

  /** Puts a poll set aside by {@link reserve} back in line. */
  unreserve(poll: Poll): void {
    poll.reserved = false;
  }

  /** The waiting polls of one worker. */
  pollsOf(workerId: string): ReadonlySet<Poll> {
    return this.#byWorker.get(workerId) ?? NO_POLLS;
  }

  /** Ends the polls of one worker with no leases. */
  wakeWorker(workerId: string): void {
    for (const poll of [...this.pollsOf(workerId)]) this.settle(poll, []);
  }

  /** Subscribes a watcher to an operation's changes; see {@link start}. */
  watch(name: string): Watcher {
    const watcher: Watcher = {
      channel: new UpdateChannel(),
      state: undefined,
      version: -1,
      early: [],
    };
    let set = this.watchers.get(name);
    if (set === undefined) {
      set = new Set();
      this.watchers.set(name, set);
    }
    set.add(watcher);
    return watcher;
  }

  /** Gives a watcher its first state (read after subscribing), then the changes it heard meanwhile. */
  start(name: string, watcher: Watcher, state: OperationState, version: number): void {
    watcher.state = state;
    watcher.version = version;
    watcher.channel.push(state);
    if (state.done) this.#end(name, watcher);
    const early = watcher.early;
    watcher.early = [];
    for (const change of early) this.#apply(name, watcher, change);
  }

  unwatch(name: string, watcher: Watcher): void {
    const set = this.watchers.get(name);
    if (set === undefined) return;
    set.delete(watcher);
    if (set.size === 0) this.watchers.delete(name);
  }

  /** Hands a change of `name` to its watchers. */
  publish(name: string, change: Change): void {
    for (const w of [...(this.watchers.get(name) ?? [])]) this.#apply(name, w, change);
  }

  #apply(name: string, w: Watcher, change: Change): void {
    if (w.state === undefined) {
      w.early.push(change);
      return;
    }
    if (change.next === undefined) {
      w.channel.end(notFound(`operation "${name}" was deleted`));
      this.unwatch(name, w);
      return;
    }
    if (change.version <= w.version) return;
    const previous = w.state;
    w.version = change.version;
    w.state = change.next(previous);
    // Like the in-memory scheduler: stage changes only (a new worker alone is not news).
    if (w.state.stage !== previous.stage) w.channel.push(w.state);
    if (w.state.done) this.#end(name, w);
  }

  #end(name: string, w: Watcher): void {
    w.channel.end();
    this.unwatch(name, w);
  }

  /** Ends every poll and watcher. */
  close(): void {
    for (const poll of [...this.polls]) this.settle(poll, []);
    for (const set of this.watchers.values()) for (const w of set) w.channel.end();
    this.watchers.clear();
  }
}
