/**
 * A counting semaphore for async work, so that a client never has more than a
 * fixed number of RPCs (or file operations) in flight however many callers
 * ask at once.
 */

/** Options for {@link ConcurrencyLimiter}. */
export interface ConcurrencyLimiterOptions {
  /** Most tasks running at once; a positive integer. */
  readonly limit: number;
}

/** Runs async tasks with at most `limit` of them in flight; the rest wait in FIFO order. */
export class ConcurrencyLimiter {
  readonly #limit: number;
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(options: ConcurrencyLimiterOptions) {
    if (!Number.isSafeInteger(options.limit) || options.limit < 1) {
      throw new RangeError(`concurrency limit ${options.limit} must be a positive integer`);
    }
    this.#limit = options.limit;
  }

  /** Tasks running now. */
  get running(): number {
    return this.#running;
  }

  /**
   * Waits for a slot and returns the function that releases it, for work that
   * is not one promise (a stream consumed piece by piece). Call it exactly once.
   * When `signal` aborts before a slot is free, stops waiting and rejects with
   * the signal's reason.
   */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.#running >= this.#limit) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          const at = this.#waiting.indexOf(granted);
          if (at >= 0) this.#waiting.splice(at, 1);
          reject(signal?.reason);
        };
        const granted = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        this.#waiting.push(granted);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    } else {
      this.#running++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      // The slot passes straight to the next waiter, so `running` stays the same.
      if (next === undefined) this.#running--;
      else next();
    };
  }

  /** Runs `task` once a slot is free and releases the slot when it settles. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await task();
    } finally {
      release();
    }
  }

  /** Maps `items` through `fn` with this limiter's bound; resolves in input order. */
  map<T, R>(items: readonly T[], fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
    return Promise.all(items.map((item, i) => this.run(() => fn(item, i))));
  }
}
