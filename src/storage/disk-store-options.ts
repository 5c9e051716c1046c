/**
 * The options of the local disk store (see disk-blob-store.ts), in a file of
 * their own so that the store's file holds only its behaviour.
 */

/** Options of `DiskBlobStore.open`. */
export interface DiskBlobStoreOptions {
  /**
   * Directory owned by this store (created if absent). Small blobs live in
   * packs, `<path>/packs/<number>.pack`; larger ones in
   * `<path>/blobs/<fn>/<first two hex chars>/<hash>_<size>`, uploads in
   * progress in `<path>/tmp/`, which is emptied on open. One store per path.
   */
  readonly path: string;
  /**
   * Byte budget for committed blobs. After each commit the least-recently-used
   * blobs are deleted until the total fits; a single larger blob is rejected
   * with RESOURCE_EXHAUSTED. Uploads in progress are not counted. Evicted
   * small blobs count until their pack gives their space back (see
   * pack-log.ts): at most a quarter of each finished pack.
   */
  readonly maxBytes: number;
  /**
   * Flush each blob and its directory to stable storage before it becomes
   * visible. Default false: a killed process never leaves a partial blob
   * either way (the kernel keeps written data), and without fsync a power loss
   * can at worst leave files shorter than their name says, which open removes.
   */
  readonly fsync?: boolean;
  /**
   * Whether a blob's length always equals its digest's size, as in the CAS
   * (where VerifyingBlobStore sits on top). Then commits of another length are
   * rejected with INVALID_ARGUMENT and open removes files whose length differs
   * from the size in their name, which is how damage is detected. Set false
   * for stores of values keyed by unrelated digests, such as the action cache.
   * Default true.
   */
  readonly contentAddressed?: boolean;
  /** Clock in milliseconds since the epoch, for tests. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * Write blobs of `DIRECT_MIN_BYTES` or more with O_DIRECT, past the
   * page cache, when the filesystem supports it (see direct-file-sink.ts).
   * Default true.
   */
  readonly directIo?: boolean;
  /**
   * Size at which a pack is finished and the next one started. Default: a
   * sixteenth of `maxBytes`, between 64 KiB and 64 MiB.
   */
  readonly packBytes?: number;
  /**
   * Build the index in the background instead of before open returns.
   * Default false. Open then only empties `tmp/` and lists the packs, so a
   * store of any size opens in milliseconds; meanwhile writes are taken,
   * blobs already indexed (found so far, or written since open) are
   * answered at once, and a lookup of one not indexed yet waits for the
   * index to be complete, so that no answer is wrong. Eviction waits too.
   */
  readonly indexInBackground?: boolean;
  /**
   * With `indexInBackground`: start building the index only once this
   * settles. `kiln serve` passes one that settles when its gRPC port is
   * bound: reading the packs of a large store (a second per million blobs)
   * would otherwise run between the steps of its start-up and delay it.
   */
  readonly indexAfter?: Promise<unknown>;
}
