/**
 * A single-consumer buffered channel that turns pushed updates into an async
 * iterable; the basis of `watchOperation`.
 */
import type { Clock, TimerHandle } from './clock.ts';

/**
 * Coalescing of {@link UpdateChannel.iterate}: an update may wait up to `ms`
 * for a newer one (or the end) to replace it, timed by `clock`.
 */
export interface Coalescing {
  readonly ms: number;
  readonly clock: Clock;
}

/**
 * Updates are buffered in order until the consumer pulls them, so a consumer
 * that is briefly slow still sees every stage an operation went through. The
 * producer {@link UpdateChannel.end}s it, optionally with an error that the
 * consumer's loop then throws.
 */
export class UpdateChannel<T> {
  readonly #buffer: T[] = [];
  #ended = false;
  #error: unknown;
  #wake: (() => void) | undefined;

  /** Queues a value for the consumer; ignored once ended. */
  push(value: T): void {
    if (this.#ended) return;
    this.#buffer.push(value);
    this.#notify();
  }

  /** Ends the stream after the buffered values; with `error`, the consumer's loop throws it. */
  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#notify();
  }

  /**
   * Yields buffered and future values until ended or `signal` aborts. With
   * `coalesce`, a value is held until a newer one replaces it, the channel
   * ends (the last value before the end goes out at once), or `coalesce.ms`
   * pass since it arrived; only the latest held value is yielded.
   */
  async *iterate(signal?: AbortSignal, coalesce?: Coalescing): AsyncGenerator<T, void, undefined> {
    const onAbort = (): void => this.end();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        if (signal?.aborted === true) return;
        if (this.#buffer.length > 0) {
          if (coalesce !== undefined && coalesce.ms > 0) {
            if (!this.#ended) await this.#hold(coalesce);
            if (aborted(signal)) return; // (not narrowed by the check above: it awaited)
            this.#buffer.splice(0, this.#buffer.length - 1);
          }
          yield this.#buffer.shift() as T;
          continue;
        }
        if (this.#ended) {
          if (this.#error !== undefined) throw this.#error;
          return;
        }
        await this.#pushed();
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Resolves on the next push or end. */
  #pushed(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
    });
  }

  /** Waits until the channel ends or `ms` pass, taking pushes meanwhile. */
  async #hold({ ms, clock }: Coalescing): Promise<void> {
    let expired = false;
    let timer: TimerHandle | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = clock.setTimer(ms, () => {
        expired = true;
        resolve();
      });
    });
    try {
      while (!this.#ended && !expired) await Promise.race([timeout, this.#pushed()]);
    } finally {
      timer?.cancel();
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
