/**
 * The one storage interface. Backends (memory, disk, …) implement it and every
 * other storage feature (verification, tiering, existence caching, …) is a
 * decorator that wraps a BlobStore and is one itself.
 *
 * Stores key blobs by {@link Digest.key}; they do not assume that the stored
 * bytes hash to the key (the action cache stores ActionResults under action
 * digests). Checking content against the digest is the job of
 * `VerifyingBlobStore`, which the CAS always puts on top.
 */
import type { Digest } from '../digest/digest.ts';
import { invalidArgument, outOfRange } from '../errors.ts';

/** A byte range of a blob. */
export interface ReadRange {
  /** First byte to return; 0 by default. Must not exceed the blob's length. */
  readonly offset?: number;
  /** Maximum number of bytes to return; unlimited when undefined or 0. */
  readonly limit?: number;
}

/**
 * An open upload. Bytes are invisible to readers until {@link commit}
 * resolves; {@link abort} (or a failed commit) leaves no trace.
 */
export interface BlobWriter {
  /** Appends bytes. Resolves when the store can take more (backpressure). */
  write(chunk: Uint8Array): Promise<void>;
  /** Makes the blob visible atomically. Rejects (and discards the data) on failure. */
  commit(): Promise<void>;
  /** Discards the upload. Safe to call more than once and after a failed commit. */
  abort(): Promise<void>;
  /** Bytes written so far. */
  readonly written: number;
}

/**
 * Told of a blob that a tier in front reported as used
 * ({@link BlobStore.noteUsed}) but that the store no longer holds.
 */
export type MissingBlobListener = (digest: Digest) => void;

/** Storage of blobs keyed by digest. */
export interface BlobStore {
  /**
   * Opens a blob for reading. Rejects with a NOT_FOUND KilnError when absent
   * (before any byte is produced), and OUT_OF_RANGE when the offset exceeds
   * the blob's length.
   */
  get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>>;
  /** Starts an upload of the blob with this digest. */
  put(digest: Digest): Promise<BlobWriter>;
  /**
   * Returns the digests of `digests` that the store does not hold, each once
   * however often it was asked about (callers rely on this and do not
   * deduplicate themselves).
   */
  findMissing(digests: readonly Digest[]): Promise<Digest[]>;
  /**
   * Tells the store that these blobs were just used although it was not asked
   * for them (a faster tier in front of it served them), so that a store that
   * expires what goes unused (s3 with a lifecycle rule) keeps them. Returns at
   * once and never throws; decorators pass it on to the stores holding the
   * blobs. Absent when a store has nothing to do with it.
   *
   * A store that finds one of them gone (a lifecycle rule or an operator
   * removed it) calls `onMissing` with it, later, so that the tier that
   * served it can write it back ({@link MissingBlobListener}).
   */
  noteUsed?(digests: readonly Digest[], onMissing?: MissingBlobListener): void;
  /** Releases resources (timers, file handles). */
  close(): Promise<void>;
  /**
   * Size and eviction counters, for metrics and the UI; cheap (constant time).
   * Backends with a budget implement it; decorators forward to the store that
   * holds the data. Absent when a store cannot tell.
   */
  stats?(): Promise<StoreStats>;
}

/** What a store holds and how hard it evicts: see {@link BlobStore.stats}. */
export interface StoreStats {
  /** Bytes held by committed blobs. */
  readonly bytes: number;
  /** Number of committed blobs. */
  readonly blobs: number;
  /** The byte budget. */
  readonly maxBytes: number;
  /** Blobs evicted to stay within the budget since the store was opened. */
  readonly evictions: number;
  /** Bytes of those evicted blobs. */
  readonly evictedBytes: number;
  /**
   * Last access (ms since the epoch) of the least recently used blob, the next
   * to be evicted; undefined when the store is empty. `now - oldestAccessMs`
   * is how far back the store reaches: when that is minutes, the budget is too
   * small for the workload.
   */
  readonly oldestAccessMs: number | undefined;
}

/**
 * A decorator's {@link BlobStore.stats}: its backend's, bound to it, or
 * undefined when the backend keeps none (so callers can tell "unknown" from
 * "empty").
 */
export function statsOf(store: BlobStore): (() => Promise<StoreStats>) | undefined {
  return store.stats?.bind(store);
}

/** Reads a whole blob into one buffer. For small blobs only (messages, batches). */
export async function readAll(store: BlobStore, digest: Digest): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of await store.get(digest)) chunks.push(chunk);
  // Most small blobs arrive as one chunk: a view of it spares a copy.
  if (chunks.length === 1) {
    const [only] = chunks as [Uint8Array];
    return Buffer.from(only.buffer, only.byteOffset, only.byteLength);
  }
  return Buffer.concat(chunks);
}

/**
 * Stores a buffer as one blob; on failure the upload is aborted. One write,
 * without the iteration of {@link putStream}: most blobs stored this way are
 * small (messages, outputs of a few bytes), and a `for await` over an array
 * costs more promise turns than the write.
 */
export async function putBuffer(store: BlobStore, digest: Digest, data: Uint8Array): Promise<void> {
  const writer = await store.put(digest);
  try {
    await writer.write(data);
    await writer.commit();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/**
 * Stores chunks as one blob, with backpressure; on any failure (of the
 * source or the store) the upload is aborted, leaving nothing behind.
 */
export async function putStream(
  store: BlobStore,
  digest: Digest,
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<void> {
  const writer = await store.put(digest);
  try {
    for await (const chunk of chunks) await writer.write(chunk);
    await writer.commit();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/** True when the store holds the blob. */
export async function hasBlob(store: BlobStore, digest: Digest): Promise<boolean> {
  return (await store.findMissing([digest])).length === 0;
}

/**
 * Validates a read range against a blob's length, with the codes ByteStream
 * expects: OUT_OF_RANGE for a bad offset, INVALID_ARGUMENT for a bad limit.
 * Returns the half-open byte range `[start, end)` to serve. For backends.
 */
export function resolveRange(
  length: number,
  range: ReadRange | undefined,
  key: string,
): { start: number; end: number } {
  const offset = range?.offset ?? 0;
  const limit = range?.limit ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > length) {
    throw outOfRange(`read offset ${offset} is outside blob ${key} of ${length} bytes`);
  }
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw invalidArgument(`read limit ${limit} must be a non-negative integer`);
  }
  return { start: offset, end: limit === 0 ? length : Math.min(length, offset + limit) };
}

/**
 * The bytes of `first` (a read of `digest` over `range`), and when it fails
 * part-way (a disk error, an eviction racing the read, a store going down),
 * the rest from `second`, starting at the first byte not yet delivered: a
 * reader of two stores that hold the same blobs never sees the switch.
 */
export async function* readContinuingFrom(
  first: AsyncIterable<Uint8Array>,
  second: BlobStore,
  digest: Digest,
  range: ReadRange | undefined,
): AsyncIterable<Uint8Array> {
  let delivered = 0;
  try {
    for await (const chunk of first) {
      delivered += chunk.byteLength;
      yield chunk;
    }
    return;
  } catch {
    // Continue from the second store below.
  }
  const offset = (range?.offset ?? 0) + delivered;
  const limit = range?.limit ?? 0;
  if (limit !== 0 && delivered >= limit) return;
  yield* await second.get(digest, { offset, limit: limit === 0 ? 0 : limit - delivered });
}
