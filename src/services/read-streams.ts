/**
 * The bound on concurrent ByteStream.Read streams of one server. Each stream
 * holds up to {@link READ_BUFFER_BYTES} waiting for the client plus the chunk
 * being read from storage (and an open file for a large blob on disk), so
 * the bound caps the memory and file descriptors that slow or stalled
 * readers can pin: a stream beyond it is refused with RESOURCE_EXHAUSTED,
 * which clients such as Bazel retry with backoff.
 */
import { resourceExhausted } from '../errors.ts';
import { READ_CHUNK_BYTES } from './limits.ts';

/** Concurrent Read streams a server takes by default. */
export const DEFAULT_MAX_READ_STREAMS = 512;

/**
 * Bytes of one Read stream that may wait to go out to the client before the
 * server stops reading the blob: one chunk, so that the next chunk is read
 * from storage while this one is sent.
 */
export const READ_BUFFER_BYTES = READ_CHUNK_BYTES;

/** Counts the Read streams in progress and refuses those beyond the bound. */
export class ReadStreams {
  readonly #max: number;
  #open = 0;
  #refused = 0;

  constructor(max: number = DEFAULT_MAX_READ_STREAMS) {
    this.#max = max;
  }

  /** Counts a new stream; RESOURCE_EXHAUSTED when the bound is reached. Pair with {@link leave}. */
  enter(): void {
    if (this.#open >= this.#max) {
      this.#refused++;
      throw resourceExhausted(
        `too many ByteStream.Read streams in progress (the server's limit is ${this.#max}); retry later`,
      );
    }
    this.#open++;
  }

  /** A stream counted by {@link enter} ended. */
  leave(): void {
    this.#open--;
  }

  /** Streams in progress. */
  get open(): number {
    return this.#open;
  }

  /** Streams refused for the bound, since start. */
  get refused(): number {
    return this.#refused;
  }
}
