/**
 * Checks every upload against its digest before it reaches the wrapped store,
 * so the CAS never holds a blob whose bytes do not hash to its key.
 */

import { type Digest, isEmptyDigest } from '../digest/digest.ts';
import {
  createHasher,
  createHasherSync,
  type Hasher,
  hashSync,
} from '../digest/digest-function.ts';
import { failedPrecondition, invalidArgument, outOfRange } from '../errors.ts';
import {
  type BlobStore,
  type BlobWriter,
  type MissingBlobListener,
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
    // Node's hash functions need no set-up: the writer hashes as bytes come.
    const hasher = digest.fn.name === 'blake3' ? await createHasher(digest.fn) : undefined;
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

  noteUsed(digests: readonly Digest[], onMissing?: MissingBlobListener): void {
    const stored = digests.filter((d) => !isEmptyDigest(d));
    if (stored.length > 0) this.#backend.noteUsed?.(stored, onMissing);
  }

  close(): Promise<void> {
    return this.#backend.close();
  }
}

/**
 * Hashes what it passes on. A blob that arrives in one chunk (most blobs of
 * a build: one ByteStream message, one batch entry) is hashed in one call,
 * without a Hash object; others through a streaming hasher made at their
 * first chunk (or given, for BLAKE3).
 */
class VerifyingBlobWriter implements BlobWriter {
  readonly #digest: Digest;
  #hasher: Hasher | undefined;
  /** The hash of a blob that came whole in its first chunk. */
  #whole: string | undefined;
  readonly #backend: BlobWriter;
  #written = 0;
  #state: 'open' | 'closed' = 'open';

  constructor(digest: Digest, hasher: Hasher | undefined, backend: BlobWriter) {
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
    if (this.#hasher !== undefined) this.#hasher.update(chunk);
    else if (this.#written === 0 && chunk.byteLength === size) {
      this.#whole = hashSync(this.#digest.fn, chunk);
    } else {
      this.#hasher = createHasherSync(this.#digest.fn);
      this.#hasher?.update(chunk);
    }
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
    const computed = this.#whole ?? this.#hasher?.digest() ?? this.#digest.fn.emptyHash;
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
