/**
 * A single-consumer buffered channel that turns pushed updates into an async
 * iterable; the basis of `watchOperation`.
 */

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

  /** Yields buffered and future values until ended or `signal` aborts. */
  async *iterate(signal?: AbortSignal): AsyncGenerator<T, void, undefined> {
    const onAbort = (): void => this.end();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        if (signal?.aborted === true) return;
        const next = this.#buffer.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (this.#ended) {
          if (this.#error !== undefined) throw this.#error;
          return;
        }
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
