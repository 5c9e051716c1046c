/**
 * Checks every upload against its digest before it reaches the wrapped store,
 * so the CAS never holds a blob whose bytes do not hash to its key.
 */

import { type Digest, isEmptyDigest } from '../digest/digest.ts';
import { createHasher, type Hasher } from '../digest/digest-function.ts';
import { failedPrecondition, invalidArgument, outOfRange } from '../errors.ts';
import {
  type BlobStore,
  type BlobWriter,
  type ReadRange,
  type StoreStats,
  statsOf,
} from './blob-store.ts';

/** The empty blob, which every CAS holds implicitly. */
const EMPTY: AsyncIterable<Uint8Array> = {
  async *[Symbol.asyncIterator]() {},
};

/** Options of {@link VerifyingBlobStore}. */
export interface VerifyingBlobStoreOptions {
  /** The store that receives blobs once verified, and serves all reads. */
  readonly backend: BlobStore;
}

/**
 * A {@link BlobStore} decorator that hashes and counts the bytes of every
 * upload. A write past the declared size fails at once; a commit with the
 * wrong size or hash fails with INVALID_ARGUMENT and the backend upload is
 * aborted, so nothing becomes visible. Reads and `findMissing` pass through:
 * blobs are checked on the way in, not on every way out. The empty blob is
 * always present, as REAPI clients expect, without being stored.
 *
 * Put it on top of every CAS; not on the action cache, whose values are keyed
 * by action digests rather than their own content.
 */
export class VerifyingBlobStore implements BlobStore {
  readonly #backend: BlobStore;

  /** The backend's counters: verification holds no blobs of its own. */
  readonly stats: (() => Promise<StoreStats>) | undefined;

  constructor(options: VerifyingBlobStoreOptions) {
    this.#backend = options.backend;
    this.stats = statsOf(options.backend);
  }

  get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    if (isEmptyDigest(digest)) {
      if ((range?.offset ?? 0) > 0) {
        return Promise.reject(
          outOfRange(`offset ${range?.offset} is past the end of the empty blob`),
        );
      }
      return Promise.resolve(EMPTY);
    }
    return this.#backend.get(digest, range);
  }

  async put(digest: Digest): Promise<BlobWriter> {
    const hasher = await createHasher(digest.fn);
    const writer = await this.#backend.put(digest);
    return new VerifyingBlobWriter(digest, hasher, writer);
  }

  findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    // Copy only when there is an empty digest to drop: callers such as the CAS service drop them
    // already, and a copy of a thousand-digest list per FindMissingBlobs is measurable.
    let stored = digests;
    for (const digest of digests) {
      if (isEmptyDigest(digest)) {
        stored = digests.filter((d) => !isEmptyDigest(d));
        break;
      }
    }
    return stored.length === 0 ? Promise.resolve([]) : this.#backend.findMissing(stored);
  }

  noteUsed(digests: readonly Digest[]): void {
    const stored = digests.filter((d) => !isEmptyDigest(d));
    if (stored.length > 0) this.#backend.noteUsed?.(stored);
  }

  close(): Promise<void> {
    return this.#backend.close();
  }
}

class VerifyingBlobWriter implements BlobWriter {
  readonly #digest: Digest;
  readonly #hasher: Hasher;
  readonly #backend: BlobWriter;
  #written = 0;
  #state: 'open' | 'closed' = 'open';

  constructor(digest: Digest, hasher: Hasher, backend: BlobWriter) {
    this.#digest = digest;
    this.#hasher = hasher;
    this.#backend = backend;
  }

  get written(): number {
    return this.#written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#checkOpen();
    const { key, size } = this.#digest;
    if (this.#written + chunk.byteLength > size) {
      await this.abort();
      throw invalidArgument(
        `blob ${key}: ${this.#written + chunk.byteLength} bytes received, which exceeds the declared size ${size}`,
      );
    }
    // Hash synchronously, in call order, so unawaited concurrent writes hash what the backend stores.
    this.#hasher.update(chunk);
    this.#written += chunk.byteLength;
    await this.#backend.write(chunk);
  }

  async commit(): Promise<void> {
    this.#checkOpen();
    this.#state = 'closed';
    const { key, hash, size } = this.#digest;
    if (this.#written !== size) {
      await this.#backend.abort();
      throw invalidArgument(
        `blob ${key}: received ${this.#written} bytes, fewer than the declared size ${size}`,
      );
    }
    const computed = this.#hasher.digest();
    if (computed !== hash) {
      await this.#backend.abort();
      throw invalidArgument(
        `blob ${key}: content does not match its digest: expected ${this.#digest.fn.name} ${hash}, computed ${computed}`,
      );
    }
    await this.#backend.commit();
  }

  async abort(): Promise<void> {
    this.#state = 'closed';
    await this.#backend.abort();
  }

  #checkOpen(): void {
    if (this.#state !== 'open') {
      throw failedPrecondition(`upload of blob ${this.#digest.key} is already finished`);
    }
  }
}
