/**
 * The s3 store's memory of which blobs the bucket holds: for each digest,
 * until when it is vouched for without asking S3 and until when its object
 * is young enough to need no lifecycle touch, in recency order with a cap.
 *
 * It is a {@link CompactDigestIndex} (rows of typed arrays, the two times in
 * its two time columns): no object or string per blob, and a lookup of a
 * FindMissingBlobs digest compares the request's hash bytes in place. A
 * `DigestIndex` here cost a hex string per digest asked about (packed
 * request digests build theirs on first read) and kept each remembered
 * request digest's whole batch alive.
 */
import type { Digest } from '../digest/digest.ts';
import { CompactDigestIndex, NONE } from './compact-digest-index.ts';

/** What {@link S3ExistenceIndex.entryOf} returns for a digest it holds nothing of. */
export const NO_ENTRY = NONE;

/** Digest → (vouched until, young until), both in ms since the epoch. */
export class S3ExistenceIndex {
  #rows = new CompactDigestIndex<never>();
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#rows.size;
  }

  /** Whether the index vouches for `digest` at `now`. */
  isKnown(digest: Digest, now: number): boolean {
    const id = this.#rows.find(digest);
    return id !== NONE && this.#rows.accessMsOf(id) > now;
  }

  /** Whether there is an entry at all (vouching or not). */
  has(digest: Digest): boolean {
    return this.#rows.find(digest) !== NONE;
  }

  /**
   * The entry of `digest`, or {@link NO_ENTRY}: read its times with
   * {@link safeUntilAt} and {@link vouchedUntilAt} before the index changes.
   */
  entryOf(digest: Digest): number {
    return this.#rows.find(digest);
  }

  /** Until when the entry's object needs no touch. */
  safeUntilAt(entry: number): number {
    return this.#rows.persistedMsOf(entry);
  }

  /** Until when the entry is vouched for. */
  vouchedUntilAt(entry: number): number {
    return this.#rows.accessMsOf(entry);
  }

  /** Records (or replaces) an entry as the newest, forgetting the oldest beyond the cap. */
  set(digest: Digest, until: number, safeUntil: number): void {
    const rows = this.#rows;
    let id = rows.find(digest);
    if (id === NONE) {
      id = rows.insert(digest, digest.size, until, undefined);
    } else {
      rows.setAccessMs(id, until);
      rows.touch(id);
    }
    rows.setPersistedMs(id, safeUntil);
    while (rows.size > this.#maxEntries) rows.delete(rows.oldest);
  }

  delete(digest: Digest): void {
    const id = this.#rows.find(digest);
    if (id !== NONE) this.#rows.delete(id);
  }

  clear(): void {
    this.#rows = new CompactDigestIndex<never>();
  }
}
