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
    return metered(await this.#backend.get(digest, range), this.#onRead);
  }

  async put(digest: Digest): Promise<BlobWriter> {
    const writer = await this.#backend.put(digest);
    const onWrite = this.#onWrite;
    return {
      get written() {
        return writer.written;
      },
      write: (chunk) => writer.write(chunk),
      async commit() {
        await writer.commit();
        onWrite(writer.written);
      },
      abort: () => writer.abort(),
    };
  }

  findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    return this.#backend.findMissing(digests);
  }

  noteUsed(digests: readonly Digest[]): void {
    this.#backend.noteUsed?.(digests);
  }

  close(): Promise<void> {
    return this.#backend.close();
  }
}

/** Passes chunks through unchanged (the same objects: readers may use their headroom). */
async function* metered(
  source: AsyncIterable<Uint8Array>,
  onRead: (bytes: number) => void,
): AsyncIterable<Uint8Array> {
  for await (const chunk of source) {
    onRead(chunk.byteLength);
    yield chunk;
  }
}
