/**
 * Small blobs to one store, large ones to another (Buildbarn's
 * SizeDistinguishingBlobAccess): e.g. small blobs in memory or on a fast SSD,
 * large ones on a big disk or an object store. The digest's size decides, so
 * every operation on a digest reaches exactly one of the two stores.
 */
import type { Digest } from '../digest/digest.ts';
import type { BlobStore, BlobWriter, MissingBlobListener, ReadRange } from './blob-store.ts';
import { closeEvery, missingInOrder, sumStats } from './store-fan-out.ts';

/** Options of {@link SizePartitionedBlobStore}. Both stores are closed by its `close`. */
export interface SizePartitionedBlobStoreOptions {
  /** Holds blobs of at most `maxSmallBytes` bytes. */
  readonly small: BlobStore;
  /** Holds every larger blob. */
  readonly large: BlobStore;
  /** Largest blob, in bytes, that goes to `small`. */
  readonly maxSmallBytes: number;
}

/** Routes each digest by its size: up to `maxSmallBytes` to `small`, the rest to `large`. */
export class SizePartitionedBlobStore implements BlobStore {
  readonly #small: BlobStore;
  readonly #large: BlobStore;
  readonly #maxSmallBytes: number;
  readonly stats: BlobStore['stats'];

  constructor(options: SizePartitionedBlobStoreOptions) {
    this.#small = options.small;
    this.#large = options.large;
    this.#maxSmallBytes = options.maxSmallBytes;
    this.stats = sumStats([options.small, options.large]);
  }

  get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    return this.#storeOf(digest).get(digest, range);
  }

  put(digest: Digest): Promise<BlobWriter> {
    return this.#storeOf(digest).put(digest);
  }

  async findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    const small: Digest[] = [];
    const large: Digest[] = [];
    for (const d of digests) (d.size <= this.#maxSmallBytes ? small : large).push(d);
    const answers = await Promise.all([
      small.length === 0 ? [] : this.#small.findMissing(small),
      large.length === 0 ? [] : this.#large.findMissing(large),
    ]);
    return missingInOrder(digests, answers.flat());
  }

  noteUsed(digests: readonly Digest[], onMissing?: MissingBlobListener): void {
    const small = digests.filter((d) => d.size <= this.#maxSmallBytes);
    if (small.length > 0) this.#small.noteUsed?.(small, onMissing);
    if (small.length < digests.length) {
      this.#large.noteUsed?.(
        digests.filter((d) => d.size > this.#maxSmallBytes),
        onMissing,
      );
    }
  }

  /** Closes both stores. */
  close(): Promise<void> {
    return closeEvery([this.#small, this.#large]);
  }

  #storeOf(digest: Digest): BlobStore {
    return digest.size <= this.#maxSmallBytes ? this.#small : this.#large;
  }
}
