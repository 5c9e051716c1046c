/**
 * A decorator that remembers, for a short time, which blobs a backend is known
 * to hold, so repeated FindMissingBlobs calls (Bazel asks about the same
 * inputs for every action) skip the backend.
 */
import { status } from '@grpc/grpc-js';
import type { Digest } from '../digest/digest.ts';
import { hasCode, invalidArgument } from '../errors.ts';
import {
  type BlobStore,
  type BlobWriter,
  type MissingBlobListener,
  type ReadRange,
  type StoreStats,
  statsOf,
} from './blob-store.ts';
import { DigestIndex } from './digest-index.ts';

/** Options of {@link ExistenceCacheBlobStore}. */
export interface ExistenceCacheBlobStoreOptions {
  /** The store whose presence answers are cached. Closed by {@link ExistenceCacheBlobStore.close}. */
  readonly backend: BlobStore;
  /**
   * How long a digest is remembered as present, in milliseconds. Bounds how
   * long a client may be told a blob exists after the backend evicted it.
   */
  readonly ttlMs: number;
  /** Most digests remembered at once; the least recently confirmed are forgotten first. */
  readonly maxEntries: number;
  /** Milliseconds since some epoch; `Date.now` by default. Injected by tests. */
  readonly clock?: () => number;
}

/**
 * Caches presence, never absence: a digest is remembered after the backend
 * reported it present, after a committed upload, and after a successful read.
 * An absent blob is always asked about again, because it may be uploaded at
 * any moment. A read that finds the blob gone forgets it at once.
 */
export class ExistenceCacheBlobStore implements BlobStore {
  readonly #backend: BlobStore;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #clock: () => number;
  /** Digest → expiry time, least recently confirmed first. */
  readonly #present = new DigestIndex<number>();

  /** The backend's counters: the cache remembers digests, not blobs. */
  readonly stats: (() => Promise<StoreStats>) | undefined;

  constructor(options: ExistenceCacheBlobStoreOptions) {
    if (!(options.ttlMs > 0)) {
      throw invalidArgument(`existence cache: ttlMs ${options.ttlMs} must be positive`);
    }
    if (!Number.isSafeInteger(options.maxEntries) || options.maxEntries <= 0) {
      throw invalidArgument(
        `existence cache: maxEntries ${options.maxEntries} must be a positive integer`,
      );
    }
    this.#backend = options.backend;
    this.stats = statsOf(options.backend);
    this.#ttlMs = options.ttlMs;
    this.#maxEntries = options.maxEntries;
    this.#clock = options.clock ?? Date.now;
  }

  /** Number of digests currently remembered (expired ones included until touched). */
  get size(): number {
    return this.#present.size;
  }

  async get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    let stream: AsyncIterable<Uint8Array>;
    try {
      stream = await this.#backend.get(digest, range);
    } catch (err) {
      if (hasCode(err, status.NOT_FOUND)) this.#present.delete(digest);
      throw err;
    }
    this.#remember(digest);
    return this.#forgetIfLost(digest, stream);
  }

  async put(digest: Digest): Promise<BlobWriter> {
    const inner = await this.#backend.put(digest);
    return {
      write: (chunk) => inner.write(chunk),
      commit: async () => {
        await inner.commit();
        this.#remember(digest);
      },
      abort: () => inner.abort(),
      get written() {
        return inner.written;
      },
    };
  }

  async findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    const now = this.#clock();
    const unknown: Digest[] = [];
    for (const digest of digests) {
      const expiry = this.#present.get(digest);
      if (expiry !== undefined && expiry > now) continue;
      if (expiry !== undefined) this.#present.delete(digest);
      unknown.push(digest);
    }
    if (unknown.length === 0) return [];
    const missing = await this.#backend.findMissing(unknown);
    // Stores report each absent digest once, so as many missing as asked means none is present.
    if (missing.length === unknown.length) return missing;
    const absent = new DigestIndex<true>();
    for (const digest of missing) absent.set(digest, true);
    for (const digest of unknown) {
      if (!absent.has(digest)) this.#remember(digest);
    }
    return missing;
  }

  /** The backend holds the blobs, so it is the one to hear they were used. */
  noteUsed(digests: readonly Digest[], onMissing?: MissingBlobListener): void {
    this.#backend.noteUsed?.(digests, onMissing);
  }

  /** Forgets every remembered digest and closes the backend. */
  async close(): Promise<void> {
    this.#present.clear();
    await this.#backend.close();
  }

  #remember(digest: Digest): void {
    this.#present.set(digest, this.#clock() + this.#ttlMs);
    while (this.#present.size > this.#maxEntries) this.#present.deleteOldest();
  }

  /** A blob evicted while being streamed is no longer known to be present. */
  async *#forgetIfLost(
    digest: Digest,
    stream: AsyncIterable<Uint8Array>,
  ): AsyncIterable<Uint8Array> {
    try {
      yield* stream;
    } catch (err) {
      if (hasCode(err, status.NOT_FOUND)) this.#present.delete(digest);
      throw err;
    }
  }
}
