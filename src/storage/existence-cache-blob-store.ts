/**
 * A decorator that remembers, for a short time, which blobs a backend is known
 * to hold, so repeated FindMissingBlobs calls (Bazel asks about the same
 * inputs for every action) skip the backend.
 */
import { status } from '@grpc/grpc-js';
import type { Digest } from '../digest/digest.ts';
import { hasCode, invalidArgument } from '../errors.ts';
import type { BlobStore, BlobWriter, ReadRange } from './blob-store.ts';

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
  /** Digest key → expiry time. Map order is insertion order: the first entry is the oldest. */
  readonly #present = new Map<string, number>();

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
      if (hasCode(err, status.NOT_FOUND)) this.#present.delete(digest.key);
      throw err;
    }
    this.#remember(digest.key);
    return this.#forgetIfLost(digest.key, stream);
  }

  async put(digest: Digest): Promise<BlobWriter> {
    const inner = await this.#backend.put(digest);
    return {
      write: (chunk) => inner.write(chunk),
      commit: async () => {
        await inner.commit();
        this.#remember(digest.key);
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
      const expiry = this.#present.get(digest.key);
      if (expiry !== undefined && expiry > now) continue;
      if (expiry !== undefined) this.#present.delete(digest.key);
      unknown.push(digest);
    }
    if (unknown.length === 0) return [];
    const missing = await this.#backend.findMissing(unknown);
    // Stores report each absent digest once, so as many missing as asked means none is present.
    if (missing.length === unknown.length) return missing;
    const missingKeys = new Set(missing.map((d) => d.key));
    for (const digest of unknown) {
      if (!missingKeys.has(digest.key)) this.#remember(digest.key);
    }
    return missing;
  }

  /** Forgets every remembered digest and closes the backend. */
  async close(): Promise<void> {
    this.#present.clear();
    await this.#backend.close();
  }

  #remember(key: string): void {
    // Re-inserting moves the key to the end, so the first entry is always the oldest.
    this.#present.delete(key);
    this.#present.set(key, this.#clock() + this.#ttlMs);
    for (const victim of this.#present.keys()) {
      if (this.#present.size <= this.#maxEntries) break;
      this.#present.delete(victim);
    }
  }

  /** A blob evicted while being streamed is no longer known to be present. */
  async *#forgetIfLost(key: string, stream: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    try {
      yield* stream;
    } catch (err) {
      if (hasCode(err, status.NOT_FOUND)) this.#present.delete(key);
      throw err;
    }
  }
}
