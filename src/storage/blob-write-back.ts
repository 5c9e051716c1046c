/**
 * Copies blobs that a cache tier still holds back into the store behind it
 * when that store reports them gone ({@link BlobStore.noteUsed}'s
 * `onMissing`): an object store's lifecycle rule or an operator removed a
 * blob that this process keeps serving from its local disk, and the other
 * processes, which read the shared store, would otherwise lack it for good.
 *
 * Only bytes that hash to their digest are written back (hashed while they
 * stream, the upload aborted on a mismatch): a local copy that rotted never
 * reaches the shared store, and a blob not keyed by its content (an action
 * result) is never resurrected. The copies run in the background, a bounded
 * number at a time, one per blob however often it is reported; reports past
 * the queue's bound are dropped (the blob is reported again on a later use).
 */
import type { Digest } from '../digest/digest.ts';
import { createHasher } from '../digest/digest-function.ts';
import { internal } from '../errors.ts';
import type { BlobStore } from './blob-store.ts';

/** Options of {@link BlobWriteBack}. */
export interface BlobWriteBackOptions {
  /** The tier that still holds the blobs. */
  readonly from: BlobStore;
  /** The store that lost them. */
  readonly into: BlobStore;
  /** Copies running at once; 4 by default. */
  readonly concurrency?: number;
  /** Most reports waiting for a copy; 10,000 by default. */
  readonly maxQueued?: number;
}

/** What {@link BlobWriteBack} did, for metrics and tests. */
export interface WriteBackCounters {
  /** Blobs copied back. */
  written: number;
  /** Copies that failed: the blob was gone from `from` too, its bytes did not match, or `into` failed. */
  failed: number;
  /** Reports dropped because the queue was full. */
  dropped: number;
}

/** A queue of blobs to copy back; see the module comment. */
export class BlobWriteBack {
  readonly #from: BlobStore;
  readonly #into: BlobStore;
  readonly #concurrency: number;
  readonly #maxQueued: number;
  /** Keys waiting or being copied, so a blob is copied once at a time. */
  readonly #pending = new Set<string>();
  readonly #queue: Digest[] = [];
  readonly #running = new Set<Promise<void>>();
  #closed = false;
  readonly counters: WriteBackCounters = { written: 0, failed: 0, dropped: 0 };

  constructor(options: BlobWriteBackOptions) {
    this.#from = options.from;
    this.#into = options.into;
    this.#concurrency = options.concurrency ?? 4;
    this.#maxQueued = options.maxQueued ?? 10_000;
  }

  /** Queues a copy of `digest` back into `into`; returns at once. */
  readonly add = (digest: Digest): void => {
    if (this.#closed || this.#pending.has(digest.key)) return;
    if (this.#queue.length >= this.#maxQueued) {
      this.counters.dropped++;
      return;
    }
    this.#pending.add(digest.key);
    this.#queue.push(digest);
    this.#pump();
  };

  /** Settles once nothing is queued or being copied. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled(this.#running);
  }

  /** Drops what is queued and waits for the copies under way. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const digest of this.#queue) this.#pending.delete(digest.key);
    this.#queue.length = 0;
    await this.idle();
  }

  #pump(): void {
    while (this.#running.size < this.#concurrency && this.#queue.length > 0) {
      const digest = this.#queue.shift() as Digest;
      const copy = this.#copy(digest).then(
        () => {
          this.counters.written++;
        },
        () => {
          this.counters.failed++;
        },
      );
      const tracked = copy.finally(() => {
        this.#pending.delete(digest.key);
        this.#running.delete(tracked);
        if (!this.#closed) this.#pump();
      });
      this.#running.add(tracked);
    }
  }

  async #copy(digest: Digest): Promise<void> {
    const hasher = await createHasher(digest.fn);
    const writer = await this.#into.put(digest);
    try {
      const source = await this.#from.get(digest);
      let length = 0;
      for await (const chunk of source) {
        hasher.update(chunk);
        length += chunk.byteLength;
        await writer.write(chunk);
      }
      if (length !== digest.size || hasher.digest() !== digest.hash) {
        throw internal(`the local copy of ${digest.key} does not match its digest`);
      }
      await writer.commit();
    } catch (err) {
      await writer.abort().catch(() => {});
      throw err;
    }
  }
}
