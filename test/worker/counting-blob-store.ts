/**
 * A memory BlobStore that counts reads per blob, so tests can assert how often
 * the worker fetched something from the server.
 */
import type { Digest } from '../../src/digest/digest.ts';
import type { BlobStore, BlobWriter, ReadRange } from '../../src/storage/blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';

/** Counts `get` and `put` calls per digest key over a memory store. */
export class CountingBlobStore implements BlobStore {
  readonly #inner = new MemoryBlobStore({ maxBytes: 512 * 1024 * 1024 });
  readonly reads = new Map<string, number>();
  /** Number of `put` calls (uploads started) of any blob. */
  puts = 0;

  /** Reads of one blob so far. */
  readsOf(digest: Digest): number {
    return this.reads.get(digest.key) ?? 0;
  }

  /** Reads of all blobs so far. */
  get totalReads(): number {
    let total = 0;
    for (const n of this.reads.values()) total += n;
    return total;
  }

  get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    this.reads.set(digest.key, this.readsOf(digest) + 1);
    return this.#inner.get(digest, range);
  }

  put(digest: Digest): Promise<BlobWriter> {
    this.puts++;
    return this.#inner.put(digest);
  }

  findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    return this.#inner.findMissing(digests);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
