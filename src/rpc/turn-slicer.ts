/**
 * Keeps one wave of heavy calls from holding the event loop.
 *
 * A socket read can carry hundreds of requests (a burst of Executes, a
 * fleet's completions), and grpc-js starts every handler in it before the
 * loop reads any other socket; each handler's first steps and the
 * continuations they set off then run in that same turn. A GetCapabilities
 * or a FindMissingBlobs arriving meanwhile waited for all of them: with
 * 1,000 Executes sent at once, turns of 100–180 ms.
 *
 * Handlers of heavy methods start through {@link TurnSlicer.run}: at once
 * while the current slice of the turn has time left, else queued and started
 * later, one per `setImmediate` callback (so that the continuations each
 * sets off run before the next starts), at most a slice's worth per loop
 * iteration, the loop polling every socket in between. Calls queue in
 * arrival order, and nothing is dropped: a queued call only starts later.
 * Light methods do not go through it and are answered between slices.
 */

/** How long the calls started in one slice may take before the loop polls again. */
export const SLICE_MS = 5;

/**
 * Drain callbacks deferred per loop iteration, each starting one waiting
 * call if the slice has time: adapted between these bounds, doubled when an
 * iteration's callbacks all started calls within the slice (cheap calls, such
 * as a fleet's registrations, would otherwise wait behind a fixed few per
 * iteration), halved when most found the slice used up.
 */
const MIN_PER_ITERATION = 16;
const MAX_PER_ITERATION = 4096;

/** What a slicer needs of the runtime; replaced in tests. */
export interface SlicerClock {
  now(): number;
  /** Runs `fn` in a later check phase of the loop, after I/O is polled (`setImmediate`). */
  defer(fn: () => void): void;
}

const realClock: SlicerClock = {
  now: () => performance.now(),
  defer: (fn) => {
    setImmediate(fn);
  },
};

export class TurnSlicer {
  readonly #clock: SlicerClock;
  readonly #sliceMs: number;
  readonly #queue: ((() => void) | undefined)[] = [];
  #head = 0;
  /** Start of the slice of the turn that runs starts at once; undefined until one does. */
  #directStart: number | undefined;
  /** Start of the slice of the current drain iteration. */
  #drainStart: number | undefined;
  /** Drain callbacks deferred and not yet run. */
  #scheduled = 0;
  /** Drain callbacks per iteration (see {@link MIN_PER_ITERATION}). */
  #perIteration = MIN_PER_ITERATION;
  /** Callbacks of the current iteration that found the slice used up. */
  #idle = 0;
  /** Starts that waited in the queue, for tests and metrics. */
  queuedTotal = 0;

  constructor(clock: SlicerClock = realClock, sliceMs = SLICE_MS) {
    this.#clock = clock;
    this.#sliceMs = sliceMs;
  }

  /** Calls waiting to start. */
  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  /** Starts `start` now if the turn has time left and nothing waits, else after the calls waiting. */
  run(start: () => void): void {
    if (this.waiting === 0 && this.#directAllows()) {
      start();
      return;
    }
    this.#queue.push(start);
    this.queuedTotal++;
    // One drain callback per waiting call, up to this iteration's count, until the
    // iteration's callbacks start running (the last of them schedules the next).
    if (this.#drainStart === undefined && this.#scheduled < this.#perIteration) this.#deferDrain();
  }

  #directAllows(): boolean {
    const now = this.#clock.now();
    if (this.#directStart === undefined) {
      this.#directStart = now;
      // A new slice for the next turn's direct starts.
      this.#clock.defer(() => {
        this.#directStart = undefined;
      });
      return true;
    }
    return now - this.#directStart < this.#sliceMs;
  }

  /** Defers the next iteration's drain callbacks; they run in its check phase. */
  #schedule(): void {
    if (this.#idle === 0) {
      this.#perIteration = Math.min(this.#perIteration * 2, MAX_PER_ITERATION);
    } else if (this.#idle * 2 > this.#perIteration) {
      this.#perIteration = Math.max(this.#perIteration / 2, MIN_PER_ITERATION);
    }
    this.#idle = 0;
    this.#drainStart = undefined;
    const count = Math.min(this.waiting, this.#perIteration);
    for (let i = 0; i < count; i++) this.#deferDrain();
  }

  #deferDrain(): void {
    this.#scheduled++;
    this.#clock.defer(() => this.#drainOne());
  }

  #drainOne(): void {
    this.#scheduled--;
    const now = this.#clock.now();
    this.#drainStart ??= now;
    const within = now - this.#drainStart < this.#sliceMs;
    if (!within) this.#idle++;
    const start = within ? this.#shift() : undefined;
    try {
      start?.();
    } finally {
      // The last callback of this iteration schedules the next one's, or,
      // with nothing waiting, lets the next call that queues defer one.
      if (this.#scheduled === 0) {
        if (this.waiting > 0) this.#schedule();
        else this.#drainStart = undefined;
      }
    }
  }

  #shift(): (() => void) | undefined {
    if (this.#head >= this.#queue.length) return undefined;
    const start = this.#queue[this.#head];
    this.#queue[this.#head++] = undefined;
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    return start;
  }
}

/** The process's slicer, shared by every heavy method. */
export const turnSlicer = new TurnSlicer();
