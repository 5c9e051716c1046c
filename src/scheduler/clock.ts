/**
 * Time as the scheduler sees it. Scheduler code never calls `Date.now()` or
 * `setTimeout` directly, so scenario tests can drive hours of leases,
 * heartbeats and retention in microseconds with a {@link FakeClock}.
 */
import { timerDelayMs } from '../util/timer-delay.ts';

/** A scheduled callback that can still be called off. */
export interface TimerHandle {
  /** Prevents the callback from running; harmless after it ran or was cancelled. */
  cancel(): void;
}

/** A source of time and one-shot timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `fn` once, `ms` milliseconds from now (at once for `ms <= 0`, but never synchronously). */
  setTimer(ms: number, fn: () => void): TimerHandle;
}

/**
 * The real clock. Its timers are unref'd: a pending lease deadline or
 * retention timer must not keep a process alive that is otherwise done.
 */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimer(ms: number, fn: () => void): TimerHandle {
    const t = setTimeout(fn, timerDelayMs(ms));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
});

interface FakeTimer {
  readonly due: number;
  readonly seq: number;
  readonly fn: () => void;
}

/**
 * A manual clock for tests: time stands still until {@link FakeClock.advance}
 * moves it, firing every timer that falls due on the way, in due order.
 */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Set<FakeTimer>();

  /** Starts at `startMs` (default: 2024-01-01T00:00:00Z, so timestamps look real). */
  constructor(startMs = Date.UTC(2024, 0, 1)) {
    this.#now = startMs;
  }

  /** The current fake time. */
  now(): number {
    return this.#now;
  }

  /** Registers a timer; it fires during a later {@link advance} that reaches its due time. */
  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer: FakeTimer = { due: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#timers.add(timer);
    return { cancel: () => void this.#timers.delete(timer) };
  }

  /**
   * Moves time forward by `ms`, firing due timers one at a time in order of
   * due time (ties in creation order). During each callback `now()` equals
   * that timer's due time, and timers it creates fire too if they fall due
   * within the same advance.
   */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`cannot advance a clock by ${ms} ms`);
    const target = this.#now + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const t of this.#timers) {
        if (
          t.due <= target &&
          (next === undefined || t.due < next.due || (t.due === next.due && t.seq < next.seq))
        ) {
          next = t;
        }
      }
      if (next === undefined) break;
      this.#timers.delete(next);
      this.#now = next.due;
      next.fn();
    }
    this.#now = target;
  }

  /** How many timers are waiting; tests use it to prove nothing leaks. */
  get pendingTimers(): number {
    return this.#timers.size;
  }
}
