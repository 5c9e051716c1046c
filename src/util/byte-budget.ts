/**
 * A counting semaphore over bytes: work that holds memory in proportion to a
 * known size (decompressing a batch entry, say) takes that many bytes from
 * the budget first, so that concurrent requests cannot together hold more
 * than the budget. Waiters are served in arrival order and wait a bounded
 * time; a budget that cannot be had answers RESOURCE_EXHAUSTED, never hangs.
 */
import { resourceExhausted } from '../errors.ts';

/** Options for {@link ByteBudget}. */
export interface ByteBudgetOptions {
  /** What the bytes are for; error messages start with it (`batch zstd decompression`). */
  readonly name: string;
  /** The most bytes held at once. */
  readonly maxBytes: number;
  /** How long an acquisition may wait for bytes before RESOURCE_EXHAUSTED. */
  readonly maxWaitMs: number;
}

/** Gives the bytes back; calling it again does nothing. */
export type ReleaseBytes = () => void;

interface Waiter {
  readonly bytes: number;
  readonly grant: () => void;
}

/** A byte semaphore with first-come first-served waiting and a bound on the wait. */
export class ByteBudget {
  readonly #name: string;
  readonly #maxBytes: number;
  readonly #maxWaitMs: number;
  /** Insertion-ordered, so the first entry is the longest waiter; deletion is O(1). */
  readonly #waiters = new Set<Waiter>();
  #inUse = 0;

  constructor(options: ByteBudgetOptions) {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes <= 0) {
      throw new RangeError(`${options.name} budget: maxBytes must be a positive integer`);
    }
    this.#name = options.name;
    this.#maxBytes = options.maxBytes;
    this.#maxWaitMs = options.maxWaitMs;
  }

  /** The most bytes held at once. */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** Bytes held now, for metrics and tests. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Acquisitions waiting now, for metrics and tests. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /**
   * Takes `bytes` from the budget, waiting (behind earlier waiters) up to
   * `maxWaitMs` for them. Rejects with RESOURCE_EXHAUSTED at once when `bytes`
   * exceeds the whole budget, and when the wait runs out; with `signal`'s
   * reason when it aborts first.
   */
  acquire(bytes: number, signal?: AbortSignal): Promise<ReleaseBytes> {
    if (bytes > this.#maxBytes) {
      return Promise.reject(
        resourceExhausted(
          `${this.#name}: ${bytes} bytes can never fit in the budget of ${this.#maxBytes} bytes`,
        ),
      );
    }
    if (this.#waiters.size === 0 && this.#inUse + bytes <= this.#maxBytes) {
      return Promise.resolve(this.#take(bytes));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<ReleaseBytes>((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#waiters.delete(waiter);
      };
      const giveUp = (reason: unknown) => {
        settle();
        // The waiter that leaves may have been holding up smaller ones behind it.
        this.#grantWaiters();
        reject(reason);
      };
      const waiter: Waiter = {
        bytes,
        grant: () => {
          settle();
          resolve(this.#take(bytes));
        },
      };
      const timer = setTimeout(() => {
        giveUp(
          resourceExhausted(
            `${this.#name}: waited ${this.#maxWaitMs} ms for ${bytes} bytes of the ` +
              `${this.#maxBytes}-byte budget, which other requests hold; retry later`,
          ),
        );
      }, this.#maxWaitMs);
      const onAbort = () => giveUp(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  /** Runs `fn` holding `bytes` of the budget, and gives them back however it ends. */
  async use<T>(bytes: number, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(bytes, signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  #take(bytes: number): ReleaseBytes {
    this.#inUse += bytes;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#inUse -= bytes;
      this.#grantWaiters();
    };
  }

  /** Grants waiters in arrival order while the first one fits. */
  #grantWaiters(): void {
    for (const waiter of this.#waiters) {
      if (this.#inUse + waiter.bytes > this.#maxBytes) return;
      waiter.grant();
    }
  }
}
