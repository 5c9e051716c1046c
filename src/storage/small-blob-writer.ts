/**
 * The upload side of the disk store for small blobs: bytes are collected in
 * memory and written at commit in one go (see `DiskBlobStore.put`).
 */
import { failedPrecondition, invalidArgument, resourceExhausted } from '../errors.ts';
import type { BlobWriter } from './blob-store.ts';

/** Options of {@link SmallBlobWriter}. */
export interface SmallBlobWriterOptions {
  /** The blob's key, for error messages. */
  readonly key: string;
  /** Most bytes the upload may hold; more fails with RESOURCE_EXHAUSTED. */
  readonly maxBytes: number;
  /** Required length at commit, or undefined when any length is fine. */
  readonly expectedSize: number | undefined;
  /** Writes the whole blob into place and indexes it. */
  readonly install: (data: Buffer) => Promise<void>;
}

/**
 * A {@link BlobWriter} that keeps the chunks (without copying them: callers
 * must not change a chunk after writing it) and hands them to `install` as
 * one buffer at commit. Nothing touches the disk before commit, so abort has
 * nothing to clean up.
 */
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
    const { maxBytes, key } = this.#options;
    if (this.#written + chunk.byteLength > maxBytes) {
      this.#discard();
      throw resourceExhausted(`blob ${key} is larger than the store allows (${maxBytes} bytes)`);
    }
    this.#written += chunk.byteLength;
    if (chunk.byteLength > 0) this.#chunks.push(chunk);
  }

  async commit(): Promise<void> {
    this.#checkOpen();
    const { key, expectedSize, install } = this.#options;
    this.#state = 'committing';
    try {
      if (expectedSize !== undefined && this.#written !== expectedSize) {
        throw invalidArgument(
          `blob ${key}: received ${this.#written} bytes, but the digest declares ${expectedSize}`,
        );
      }
      const chunks = this.#chunks;
      this.#chunks = [];
      const [first] = chunks;
      const data =
        chunks.length === 1 && first !== undefined
          ? Buffer.from(first.buffer, first.byteOffset, first.byteLength)
          : Buffer.concat(chunks);
      await install(data);
      this.#state = 'committed';
    } catch (err) {
      this.#discard();
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.#state === 'open') this.#discard();
  }

  #discard(): void {
    this.#state = 'aborted';
    this.#chunks = [];
  }

  #checkOpen(): void {
    if (this.#state !== 'open') {
      throw failedPrecondition(`upload of blob ${this.#options.key} is already ${this.#state}`);
    }
  }
}
