/**
 * A decorator that counts the bytes flowing through a store, for the
 * `kiln_cas_read_bytes_total` and `kiln_cas_written_bytes_total` metrics.
 * Sitting on the CAS as a whole, it counts every way in and out (ByteStream,
 * batch calls, the server's own reads) in one place.
 */
import type { Digest } from '../digest/digest.ts';
import {
  type BlobStore,
  type BlobWriter,
  type MissingBlobListener,
  type ReadRange,
  type StoreStats,
  statsOf,
} from './blob-store.ts';

/** Options for {@link MeteringBlobStore}. */
export interface MeteringBlobStoreOptions {
  readonly backend: BlobStore;
  /** Called with the length of every chunk handed to a reader. Must not throw. */
  readonly onRead: (bytes: number) => void;
  /** Called with the length of every blob once its upload commits. Must not throw. */
  readonly onWrite: (bytes: number) => void;
}

/** Counts bytes read and committed; otherwise the backend, unchanged. */
export class MeteringBlobStore implements BlobStore {
  readonly #backend: BlobStore;
  readonly #onRead: (bytes: number) => void;
  readonly #onWrite: (bytes: number) => void;
  /** The backend's counters: metering stores nothing. */
  readonly stats: (() => Promise<StoreStats>) | undefined;

  constructor(options: MeteringBlobStoreOptions) {
    this.#backend = options.backend;
    this.#onRead = options.onRead;
    this.#onWrite = options.onWrite;
    this.stats = statsOf(options.backend);
  }

  async get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    return countedChunks(await this.#backend.get(digest, range), this.#onRead);
  }

  async put(digest: Digest): Promise<BlobWriter> {
    return new MeteredWriter(await this.#backend.put(digest), this.#onWrite);
  }

  findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    return this.#backend.findMissing(digests);
  }

  noteUsed(digests: readonly Digest[], onMissing?: MissingBlobListener): void {
    this.#backend.noteUsed?.(digests, onMissing);
  }

  close(): Promise<void> {
    return this.#backend.close();
  }
}

/** The backend's writer, telling `onWrite` of the blob's length once committed. */
class MeteredWriter implements BlobWriter {
  readonly #writer: BlobWriter;
  readonly #onWrite: (bytes: number) => void;

  constructor(writer: BlobWriter, onWrite: (bytes: number) => void) {
    this.#writer = writer;
    this.#onWrite = onWrite;
  }

  get written(): number {
    return this.#writer.written;
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.#writer.write(chunk);
  }

  async commit(): Promise<void> {
    await this.#writer.commit();
    this.#onWrite(this.#writer.written);
  }

  abort(): Promise<void> {
    return this.#writer.abort();
  }
}

/**
 * Passes chunks through unchanged (the same objects: readers may use their
 * headroom), telling `onRead` each one's length. A plain iterator rather
 * than an async generator, which costs several promise turns per chunk.
 */
export function countedChunks(
  source: AsyncIterable<Uint8Array>,
  onRead: (bytes: number) => void,
): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      const inner = source[Symbol.asyncIterator]();
      const count = (r: IteratorResult<Uint8Array>) => {
        if (r.done !== true) onRead(r.value.byteLength);
        return r;
      };
      return {
        next: () => inner.next().then(count),
        return: (value?: unknown) =>
          inner.return === undefined
            ? Promise.resolve({ done: true, value: undefined })
            : inner.return(value),
        throw: inner.throw?.bind(inner),
      };
    },
  };
}
