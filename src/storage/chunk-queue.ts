/**
 * A hand-over from a BlobWriter's `write` calls to a consumer that pulls
 * chunks (a ByteStream.Write upload), with backpressure both ways. The last
 * chunk is held back until {@link ChunkQueue.end}: the consumer marks the
 * chunk that completes the blob as the final one, and the backend commits
 * on it, so it must not leave before the writer commits.
 */

/** An async iterable of the pushed chunks, in slices of at most `sliceBytes`. */
export class ChunkQueue implements AsyncIterable<Uint8Array> {
  readonly #sliceBytes: number;
  /** The newest chunk (a copy), released when another arrives or at the end. */
  #held: Uint8Array | undefined;
  /** A released chunk the consumer has not taken yet. */
  #ready: Uint8Array | undefined;
  #ended = false;
  #error: unknown;
  #failed = false;
  #consumerGone = false;
  #wake: (() => void) | undefined;
  #wakePusher: (() => void) | undefined;

  constructor(sliceBytes: number) {
    this.#sliceBytes = sliceBytes;
  }

  /** Queues a chunk; resolves once the previous one was taken (or nobody consumes any more). */
  async push(chunk: Uint8Array): Promise<void> {
    while (this.#ready !== undefined && !this.#consumerGone && !this.#failed) {
      await new Promise<void>((resolve) => {
        this.#wakePusher = resolve;
      });
    }
    if (this.#consumerGone || this.#failed) return;
    if (this.#held !== undefined) {
      this.#ready = this.#held;
      this.#signal();
    }
    // Copied: the writer's caller may reuse its buffer once write resolves.
    this.#held = Buffer.from(chunk);
  }

  /** No more chunks: the held one is released and the iteration ends after it. */
  end(): void {
    this.#ended = true;
    this.#signal();
  }

  /** Ends the iteration with `err` (the consumer then abandons its upload). */
  fail(err: unknown): void {
    this.#failed = true;
    this.#error = err;
    this.#held = undefined;
    this.#ready = undefined;
    this.#signal();
    this.#wakePusher?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    try {
      for (;;) {
        while (this.#ready === undefined && !this.#ended && !this.#failed) {
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
          });
        }
        if (this.#failed) throw this.#error;
        let chunk = this.#ready;
        if (chunk !== undefined) {
          this.#ready = undefined;
          const pusher = this.#wakePusher;
          this.#wakePusher = undefined;
          pusher?.();
        } else {
          chunk = this.#held;
          this.#held = undefined;
          if (chunk === undefined) return;
        }
        for (let at = 0; at < chunk.byteLength; at += this.#sliceBytes) {
          yield chunk.subarray(at, at + this.#sliceBytes);
        }
      }
    } finally {
      this.#consumerGone = true;
      this.#held = undefined;
      this.#ready = undefined;
      this.#wakePusher?.();
    }
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
