/**
 * The upload side of the disk store for small blobs and action cache values:
 * the bytes are kept in memory until commit and then appended whole to a
 * pack (see pack-log.ts). Their length is known up front (the digest's size,
 * at most `SMALL_BLOB_BYTES`), or they are values that arrive in one message
 * (an ActionResult), so memory holds little.
 */
import {
  failedPrecondition,
  fromFsError,
  invalidArgument,
  KilnError,
  resourceExhausted,
} from '../errors.ts';
import type { BlobWriter } from './blob-store.ts';

/** Options of {@link SmallBlobWriter}. */
export interface SmallBlobWriterOptions {
  /** The blob's key, for error messages. */
  readonly key: string;
  /** The store's budget: an upload that grows past it fails with RESOURCE_EXHAUSTED. */
  readonly maxBytes: number;
  /** Required length at commit, or undefined when any length is fine. */
  readonly expectedSize: number | undefined;
  /** Writes the whole blob into place and indexes it. */
  readonly install: (data: Buffer) => Promise<void>;
}

/** A small upload buffered in memory (see the module comment). */
export class SmallBlobWriter implements BlobWriter {
  readonly #options: SmallBlobWriterOptions;
  #chunks: Uint8Array[] = [];
  #written = 0;
  #state: 'open' | 'committing' | 'committed' | 'aborted' = 'open';

  constructor(options: SmallBlobWriterOptions) {
    this.#options = options;
  }

  get written(): number {
    return this.#written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#checkOpen();
    const { key, maxBytes, expectedSize } = this.#options;
    const total = this.#written + chunk.byteLength;
    if (total > maxBytes) {
      await this.abort();
      throw resourceExhausted(
        `blob ${key} is larger than the disk store's budget of ${maxBytes} bytes`,
      );
    }
    if (expectedSize !== undefined && total > expectedSize) {
      await this.abort();
      throw invalidArgument(
        `blob ${key}: received at least ${total} bytes, but the digest declares ${expectedSize}`,
      );
    }
    // As with the file-backed writer, the caller must not change the chunk afterwards.
    this.#chunks.push(chunk);
    this.#written = total;
  }

  async commit(): Promise<void> {
    this.#checkOpen();
    this.#state = 'committing';
    const { key, expectedSize, install } = this.#options;
    try {
      if (expectedSize !== undefined && this.#written !== expectedSize) {
        throw invalidArgument(
          `blob ${key}: received ${this.#written} bytes, but the digest declares ${expectedSize}`,
        );
      }
      const data = Buffer.concat(this.#chunks, this.#written);
      this.#chunks = [];
      await install(data);
      this.#state = 'committed';
    } catch (err) {
      this.#state = 'aborted';
      this.#chunks = [];
      throw err instanceof KilnError ? err : fromFsError(err, `disk store: committing blob ${key}`);
    }
  }

  async abort(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'aborted';
    this.#chunks = [];
  }

  #checkOpen(): void {
    if (this.#state !== 'open') {
      throw failedPrecondition(`upload of blob ${this.#options.key} is already ${this.#state}`);
    }
  }
}
