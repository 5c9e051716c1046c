/**
 * A bounded in-memory blob store with least-recently-used eviction by bytes.
 * The embedded default for the action cache and the fastest CAS for tests and
 * small setups; everything is lost on restart.
 */
import type { Digest } from '../digest/digest.ts';
import { failedPrecondition, invalidArgument, notFound, resourceExhausted } from '../errors.ts';
import {
  type BlobStore,
  type BlobWriter,
  type ReadRange,
  resolveRange,
  type StoreStats,
} from './blob-store.ts';

/** Options of {@link MemoryBlobStore}. */
export interface MemoryBlobStoreOptions {
  /**
   * Byte budget. Committing a blob evicts least-recently-used blobs until the
   * total fits; a single blob larger than this is rejected with RESOURCE_EXHAUSTED.
   */
  readonly maxBytes: number;
  /** Clock in milliseconds since the epoch, for last-access times; default `Date.now`. */
  readonly now?: () => number;
}

interface Entry {
  readonly data: Buffer;
  /** Last read, commit or findMissing that named it. */
  accessMs: number;
}

/** Reads are served as slices of at most this size, so consumers see the same shape as disk. */
const READ_CHUNK = 1024 * 1024;

/**
 * In-memory {@link BlobStore}. A JavaScript Map keeps insertion order, so
 * re-inserting a key on access turns it into an LRU list whose first entry is
 * the next victim. `findMissing` also refreshes recency, because a client that
 * was told a blob exists is about to reference it.
 */
export class MemoryBlobStore implements BlobStore {
  readonly #maxBytes: number;
  readonly #now: () => number;
  readonly #blobs = new Map<string, Entry>();
  #bytes = 0;
  #evictions = 0;
  #evictedBytes = 0;

  constructor(options: MemoryBlobStoreOptions) {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes <= 0) {
      throw invalidArgument(
        `memory store: maxBytes ${options.maxBytes} must be a positive integer`,
      );
    }
    this.#maxBytes = options.maxBytes;
    this.#now = options.now ?? Date.now;
  }

  /** Current size and eviction counters; the first Map entry is the least recently used. */
  async stats(): Promise<StoreStats> {
    return {
      bytes: this.#bytes,
      blobs: this.#blobs.size,
      maxBytes: this.#maxBytes,
      evictions: this.#evictions,
      evictedBytes: this.#evictedBytes,
      oldestAccessMs: this.#blobs.values().next().value?.accessMs,
    };
  }

  async get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    const entry = this.#blobs.get(digest.key);
    if (entry === undefined) throw notFound(`blob ${digest.key} not found`);
    this.#touch(digest.key, entry);
    const { data } = entry;
    const { start, end } = resolveRange(data.length, range, digest.key);
    return slices(data.subarray(start, end));
  }

  async put(digest: Digest): Promise<BlobWriter> {
    return new MemoryBlobWriter(digest.key, this.#maxBytes, (data) =>
      this.#insert(digest.key, data),
    );
  }

  async findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    const missing = new Map<string, Digest>();
    for (const digest of digests) {
      const entry = this.#blobs.get(digest.key);
      if (entry === undefined) missing.set(digest.key, digest);
      else this.#touch(digest.key, entry);
    }
    return [...missing.values()];
  }

  async close(): Promise<void> {
    this.#blobs.clear();
    this.#bytes = 0;
  }

  #touch(key: string, entry: Entry): void {
    this.#blobs.delete(key);
    this.#blobs.set(key, entry);
    entry.accessMs = this.#now();
  }

  #insert(key: string, data: Buffer): void {
    const old = this.#blobs.get(key);
    if (old !== undefined) {
      this.#blobs.delete(key);
      this.#bytes -= old.data.length;
    }
    this.#blobs.set(key, { data, accessMs: this.#now() });
    this.#bytes += data.length;
    // The new blob is the most recent entry, and fits on its own, so it is never its own victim.
    for (const [victim, entry] of this.#blobs) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#blobs.delete(victim);
      this.#bytes -= entry.data.length;
      this.#evictions++;
      this.#evictedBytes += entry.data.length;
    }
  }
}

class MemoryBlobWriter implements BlobWriter {
  readonly #key: string;
  readonly #maxBytes: number;
  readonly #insert: (data: Buffer) => void;
  #chunks: Buffer[] = [];
  #written = 0;
  #state: 'open' | 'committed' | 'aborted' = 'open';

  constructor(key: string, maxBytes: number, insert: (data: Buffer) => void) {
    this.#key = key;
    this.#maxBytes = maxBytes;
    this.#insert = insert;
  }

  get written(): number {
    return this.#written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#checkOpen();
    if (this.#written + chunk.byteLength > this.#maxBytes) {
      await this.abort();
      throw resourceExhausted(
        `blob ${this.#key} is larger than the memory store's budget of ${this.#maxBytes} bytes`,
      );
    }
    // Copy: the caller may reuse its buffer once write resolves.
    this.#chunks.push(Buffer.from(chunk));
    this.#written += chunk.byteLength;
  }

  async commit(): Promise<void> {
    this.#checkOpen();
    const data =
      this.#chunks.length === 1 && this.#chunks[0] !== undefined
        ? this.#chunks[0]
        : Buffer.concat(this.#chunks, this.#written);
    this.#chunks = [];
    this.#state = 'committed';
    this.#insert(data);
  }

  async abort(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'aborted';
    this.#chunks = [];
  }

  #checkOpen(): void {
    if (this.#state !== 'open') {
      throw failedPrecondition(`upload of blob ${this.#key} is already ${this.#state}`);
    }
  }
}

async function* slices(data: Buffer): AsyncIterable<Uint8Array> {
  for (let i = 0; i < data.length; i += READ_CHUNK) yield data.subarray(i, i + READ_CHUNK);
}
