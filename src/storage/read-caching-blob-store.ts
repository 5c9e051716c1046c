/**
 * A fast store (local memory or disk) in front of a slow one (a shared or
 * larger store), Buildbarn's ReadCachingBlobAccess: the slow store is the
 * source of truth and the fast one is a cache that fills itself on reads.
 *
 * What the fast tier serves, the slow one never sees; it hears of it through
 * {@link BlobStore.noteUsed}, so a slow store that expires unused blobs (s3
 * with a lifecycle rule) keeps those the fast tier is serving; and a served
 * blob the slow store reports gone (expired, or removed by hand) is written
 * back from the fast tier ({@link BlobWriteBack}), so the slow store, which
 * other processes share, does not lack for good what this one still serves.
 */
import { status } from '@grpc/grpc-js';
import type { Digest } from '../digest/digest.ts';
import { hasCode } from '../errors.ts';
import {
  type BlobStore,
  type BlobWriter,
  type MissingBlobListener,
  type ReadRange,
  readContinuingFrom,
  type StoreStats,
  statsOf,
} from './blob-store.ts';
import { BlobWriteBack } from './blob-write-back.ts';

/** Options of {@link ReadCachingBlobStore}. Both stores are closed by its `close`. */
export interface ReadCachingBlobStoreOptions {
  /** The cache tier: read first, filled from `slow` on a miss, written best-effort. */
  readonly fast: BlobStore;
  /** The source of truth: every write must succeed here. */
  readonly slow: BlobStore;
}

/**
 * Reads try `fast`, then `slow`; a whole-blob read served by `slow` is copied
 * into `fast` while it streams to the caller. Writes go to both, and succeed
 * when `slow` commits. Failures of `fast` never fail an operation: a cache
 * that breaks only makes Kiln slower.
 */
export class ReadCachingBlobStore implements BlobStore {
  readonly #fast: BlobStore;
  readonly #slow: BlobStore;
  /** Copies of served blobs that the slow store lost, back from the fast tier. */
  readonly writeBack: BlobWriteBack;

  /**
   * The slow store's counters: it holds every blob, so its size and reach are
   * the store's. The fast tier's own evictions are only a cache's churn.
   */
  readonly stats: (() => Promise<StoreStats>) | undefined;

  constructor(options: ReadCachingBlobStoreOptions) {
    this.#fast = options.fast;
    this.#slow = options.slow;
    this.writeBack = new BlobWriteBack({ from: options.fast, into: options.slow });
    this.stats = statsOf(options.slow);
  }

  async get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    let fromFast: AsyncIterable<Uint8Array>;
    try {
      fromFast = await this.#fast.get(digest, range);
    } catch (err) {
      // An offset past the end is the caller's mistake, and slow would say the same.
      if (hasCode(err, status.OUT_OF_RANGE)) throw err;
      return this.#readSlow(digest, range);
    }
    this.#slow.noteUsed?.([digest], this.writeBack.add);
    return readContinuingFrom(fromFast, this.#slow, digest, range);
  }

  async put(digest: Digest): Promise<BlobWriter> {
    const slow = await this.#slow.put(digest);
    let fast: BlobWriter | undefined;
    try {
      fast = await this.#fast.put(digest);
    } catch {
      fast = undefined;
    }
    return new TeeWriter(slow, fast);
  }

  async findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    let notInFast: readonly Digest[];
    try {
      notInFast = await this.#fast.findMissing(digests);
    } catch {
      notInFast = digests;
    }
    if (this.#slow.noteUsed !== undefined && notInFast.length < digests.length) {
      const served = notInFast.length === 0 ? digests : without(digests, notInFast);
      if (served.length > 0) this.#slow.noteUsed(served, this.writeBack.add);
    }
    return notInFast.length === 0 ? [] : this.#slow.findMissing(notInFast);
  }

  /**
   * Passed on to the slow store, which holds every blob; what it lost is
   * written back by the caller's listener, else from this fast tier.
   */
  noteUsed(digests: readonly Digest[], onMissing?: MissingBlobListener): void {
    this.#slow.noteUsed?.(digests, onMissing ?? this.writeBack.add);
  }

  /** Finishes the write-backs under way, then closes both stores. */
  async close(): Promise<void> {
    await this.writeBack.close();
    const results = await Promise.allSettled([this.#fast.close(), this.#slow.close()]);
    for (const result of results) if (result.status === 'rejected') throw result.reason;
  }

  async #readSlow(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    const stream = await this.#slow.get(digest, range);
    if ((range?.offset ?? 0) !== 0 || (range?.limit ?? 0) !== 0) return stream;
    let writer: BlobWriter | undefined;
    try {
      writer = await this.#fast.put(digest);
    } catch {
      return stream;
    }
    return teeInto(stream, writer);
  }
}

/**
 * `digests` less those in `removed`, told apart by identity: local stores
 * answer with the very objects they were asked about, and a set of objects
 * needs no hex string of a packed digest. Empty when `removed` holds other
 * objects (then nothing is known to be present).
 */
function without(digests: readonly Digest[], removed: readonly Digest[]): Digest[] {
  const gone = new Set(removed);
  const kept = digests.filter((d) => !gone.has(d));
  return kept.length + gone.size > digests.length ? [] : kept;
}

/**
 * Yields `stream` to the caller and writes the same chunks into `writer`,
 * committing it at the end. The caller's pace drives both (the next chunk is
 * pulled only after the fast write resolved and the caller asked for it). A
 * failing fast write is abandoned; an early stop or a failing source aborts it.
 */
async function* teeInto(
  stream: AsyncIterable<Uint8Array>,
  writer: BlobWriter,
): AsyncIterable<Uint8Array> {
  let teeing = true;
  let finished = false;
  try {
    for await (const chunk of stream) {
      if (teeing) {
        try {
          await writer.write(chunk);
        } catch {
          teeing = false;
          await writer.abort().catch(() => {});
        }
      }
      yield chunk;
    }
    finished = true;
  } finally {
    if (teeing) {
      if (finished) await writer.commit().catch(() => writer.abort().catch(() => {}));
      else await writer.abort().catch(() => {});
    }
  }
}

/** Writes every chunk to slow and, best-effort, to fast; slow decides success. */
class TeeWriter implements BlobWriter {
  readonly #slow: BlobWriter;
  #fast: BlobWriter | undefined;

  constructor(slow: BlobWriter, fast: BlobWriter | undefined) {
    this.#slow = slow;
    this.#fast = fast;
  }

  get written(): number {
    return this.#slow.written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    const fast = this.#fast;
    if (fast === undefined) return this.#slow.write(chunk);
    // Both writes run together; a fast failure only drops the fast copy.
    const [slowResult] = await Promise.allSettled([
      this.#slow.write(chunk),
      fast.write(chunk).catch(() => this.#dropFast()),
    ]);
    if (slowResult.status === 'rejected') {
      await this.#dropFast();
      throw slowResult.reason;
    }
  }

  async commit(): Promise<void> {
    try {
      await this.#slow.commit();
    } catch (err) {
      await this.#dropFast();
      throw err;
    }
    const fast = this.#fast;
    this.#fast = undefined;
    await fast?.commit().catch(() => fast.abort().catch(() => {}));
  }

  async abort(): Promise<void> {
    await Promise.allSettled([this.#slow.abort(), this.#dropFast()]);
  }

  async #dropFast(): Promise<void> {
    const fast = this.#fast;
    this.#fast = undefined;
    await fast?.abort().catch(() => {});
  }
}
