/**
 * Blobs on a local disk, evicted least-recently-used to a byte budget: small
 * blobs (and all action cache values) appended to packs (see pack-log.ts),
 * larger ones as a file each. Survives restarts and crashes: a pack record
 * is visible only once written and is checked at open, and a large upload
 * is written to a temporary file and renamed into place only when complete,
 * so a blob is either absent or whole, whatever moment the process dies.
 */
import { mkdir, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../digest/digest.ts';
import { fromFsError, invalidArgument } from '../errors.ts';
import { BlobFileUploads } from './blob-file-uploads.ts';
import type { BlobStore, BlobWriter, ReadRange, StoreStats } from './blob-store.ts';
import { CompactDigestIndex, NONE } from './compact-digest-index.ts';
import { uniqueDigests } from './digest-index.ts';
import { type BlobReadSource, readBlob, SMALL_BLOB_BYTES } from './disk-blob-reads.ts';
import { loadDiskIndex } from './disk-index-loader.ts';
import { type BlobLocation, digestOfKey, locateBlob } from './disk-layout.ts';
import type { DiskBlobStoreOptions } from './disk-store-options.ts';
import { KeyedQueue } from './keyed-queue.ts';
import { PackLog, type PackSlot } from './pack-log.ts';
import { SmallBlobWriter } from './small-blob-writer.ts';

export { DIRECT_MIN_BYTES } from './blob-file-uploads.ts';

export { SMALL_BLOB_BYTES } from './disk-blob-reads.ts';
export type { DiskBlobStoreOptions } from './disk-store-options.ts';

/** A pack slot; the store needs no tag, as a record's key names its digest. */
type Slot = PackSlot<true>;

const PERSIST_ACCESS_MS = 60 * 60 * 1000;

/**
 * Local disk {@link BlobStore}. The index (per digest: length, pack slot if
 * packed, last access, last access written to disk; in LRU order; see
 * compact-digest-index.ts) lives in memory and is rebuilt at open from the
 * packs' records and the files' names, sizes and mtimes (see
 * disk-index-loader.ts: before open returns, or in the background with
 * `indexInBackground`), so `findMissing` never touches the disk. Reads refresh a
 * file's mtime, or copy a pack record to the newest pack, at most once an
 * hour, so that recency survives a restart without a write per read (packs
 * are read in order at open, so a copy counts as recent).
 */
export class DiskBlobStore implements BlobStore {
  readonly #blobsDir: string;
  readonly #maxBytes: number;
  readonly #fsync: boolean;
  readonly #contentAddressed: boolean;
  readonly #now: () => number;
  readonly #directIo: boolean;
  readonly #index: CompactDigestIndex<Slot>;
  /** Renames and unlinks of blob files, in order per key. */
  readonly #serial = new KeyedQueue();
  readonly #background = new Set<Promise<void>>();
  #bytes = 0;
  #evictions = 0;
  #evictedBytes = 0;
  /** Temporary files of large uploads; set at open. */
  #files: BlobFileUploads | undefined;
  /** The packs of small blobs; set at open. */
  #packs: PackLog<true> | undefined;
  /** Settles once the index lists every blob on disk; rejects when building it failed. */
  #indexed: Promise<void> = Promise.resolve();
  /** The index is being built: a digest it lacks may still be on disk. */
  #indexing = false;
  /** Whether building the index began (see `indexAfter`). */
  #buildStarted = false;
  #closed = false;
  /** Stamps of entries committed while the index is being built; undefined once it is over. */
  #committedWhileIndexing: Set<number> | undefined = new Set();
  readonly #packBytes: number;
  /** What the read path (disk-blob-reads.ts) sees of the store. */
  readonly #reads: BlobReadSource;

  private constructor(options: DiskBlobStoreOptions) {
    this.#blobsDir = join(options.path, 'blobs');
    this.#maxBytes = options.maxBytes;
    this.#fsync = options.fsync ?? false;
    this.#contentAddressed = options.contentAddressed ?? true;
    this.#now = options.now ?? Date.now;
    this.#directIo = options.directIo ?? true;
    this.#index = new CompactDigestIndex({ distinctLengths: !this.#contentAddressed });
    this.#packBytes =
      options.packBytes ??
      Math.min(64 * 1024 * 1024, Math.max(64 * 1024, Math.floor(options.maxBytes / 16)));
    this.#reads = {
      index: this.#index,
      packs: () => this.#packs as PackLog<true>,
      indexing: () => this.#indexing,
      indexed: () => this.#indexed,
      locate: (key) => this.#locate(key),
      touch: (digest, stamp) => this.#touch(digest, stamp, true),
      forgetStale: (digest, stamp) => {
        const id = this.#current(digest, stamp);
        if (id !== NONE) this.#forget(id);
      },
    };
  }

  /** Opens (creating if needed) the store at `options.path`, cleaning up after any crash. */
  static async open(options: DiskBlobStoreOptions): Promise<DiskBlobStore> {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes <= 0) {
      throw invalidArgument(`disk store: maxBytes ${options.maxBytes} must be a positive integer`);
    }
    const store = new DiskBlobStore(options);
    try {
      await store.#prepare(options.path);
    } catch (err) {
      await store.#packs?.close();
      throw fromFsError(err, `disk store: opening ${options.path}`);
    }
    store.#indexing = true;
    const after = options.indexInBackground === true ? options.indexAfter : undefined;
    const build = (): Promise<void> => {
      // Closed before its turn came: nothing to build for.
      if (store.#closed) return Promise.resolve();
      store.#buildStarted = true;
      return store.#buildIndex();
    };
    store.#indexed = (after === undefined ? build() : after.then(build, build)).catch(
      (err: unknown) => {
        // `#indexing` stays set: a lookup the index cannot answer fails with this error, rather
        // than report a blob missing that may be on disk, and nothing is evicted.
        store.#committedWhileIndexing = undefined;
        throw fromFsError(err, `disk store: indexing ${options.path}`);
      },
    );
    if (options.indexInBackground === true) {
      // Waiting lookups get the error; nothing else may be left unhandled.
      store.#indexed.catch(() => {});
      return store;
    }
    try {
      await store.#indexed;
    } catch (err) {
      await store.#packs?.close();
      throw err;
    }
    return store;
  }

  /** Whether the index is still being built, or building it failed (see `indexInBackground`). */
  get indexing(): boolean {
    return this.#indexing;
  }

  /** Settles once the index lists every blob found on disk at open. */
  whenIndexed(): Promise<void> {
    return this.#indexed;
  }

  /** Whether large blobs are written with O_DIRECT (enabled, and the filesystem takes it). */
  get directIo(): boolean {
    return this.#files?.directIo ?? false;
  }

  /**
   * Current size, eviction counters and reach of the cache. The index's
   * oldest entry is the next victim, so its last access is the store's reach.
   */
  async stats(): Promise<StoreStats> {
    await this.#indexed.catch(() => {});
    const { oldest } = this.#index;
    return {
      bytes: this.#bytes,
      blobs: this.#index.size,
      maxBytes: this.#maxBytes,
      evictions: this.#evictions,
      evictedBytes: this.#evictedBytes,
      oldestAccessMs: oldest === NONE ? undefined : this.#index.accessMsOf(oldest),
    };
  }

  /** See `readBlob` in disk-blob-reads.ts. */
  get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    return readBlob(this.#reads, digest, range);
  }

  async put(digest: Digest): Promise<BlobWriter> {
    if (this.#contentAddressed && digest.size > SMALL_BLOB_BYTES) return this.#putFile(digest);
    this.#locate(digest.key); // Rejects a malformed key now rather than at commit.
    return new SmallBlobWriter({
      key: digest.key,
      maxBytes: this.#maxBytes,
      expectedSize: this.#contentAddressed ? digest.size : undefined,
      install: (data) => this.#installPacked(digest, data),
    });
  }

  /** An upload into a temporary file, renamed into place at commit. */
  #putFile(digest: Digest): Promise<BlobWriter> {
    const location = this.#locate(digest.key);
    return (this.#files as BlobFileUploads).create({
      digest,
      maxBytes: this.#maxBytes,
      expectedSize: digest.size,
      install: (tmp, size) => this.#install(digest, tmp, location, size),
    });
  }

  async findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    let missing = this.#present(digests);
    if (missing.length > 0 && this.#indexing) {
      // Perhaps on disk and not indexed yet: ask again once the index is whole.
      await this.#indexed;
      missing = this.#present(missing);
    }
    return uniqueDigests(missing);
  }

  /** Touches the indexed ones of `digests` and returns the others. */
  #present(digests: readonly Digest[]): Digest[] {
    const missing: Digest[] = [];
    const index = this.#index;
    const now = this.#now();
    for (const digest of digests) {
      const id = index.find(digest);
      if (id === NONE) {
        missing.push(digest);
        continue;
      }
      // A client told that a blob exists is about to use it: keep it from eviction.
      index.touch(id);
      index.setAccessMs(id, now);
    }
    return missing;
  }

  /** Waits for pending writes, renames, unlinks and mtime updates. */
  async close(): Promise<void> {
    this.#closed = true;
    // A build still waiting for `indexAfter` will not start.
    if (this.#buildStarted) await this.#indexed.catch(() => {});
    while (this.#serial.busy || this.#background.size > 0) {
      await Promise.all([this.#serial.settled(), ...this.#background]);
    }
    await this.#packs?.close();
  }

  #locate(key: string): BlobLocation {
    return locateBlob(this.#blobsDir, key);
  }

  /** The entry of `digest` if it is still the one stamped `stamp`, or NONE. */
  #current(digest: Digest, stamp: number): number {
    const id = this.#index.find(digest);
    return id !== NONE && this.#index.stamp(id) === stamp ? id : NONE;
  }

  /**
   * Marks a use of the entry of `digest` stamped `stamp`, unless another
   * replaced it; with `persist`, also on disk when the last time is an hour old.
   */
  #touch(digest: Digest, stamp: number, persist: boolean): void {
    const index = this.#index;
    const id = this.#current(digest, stamp);
    if (id === NONE) return;
    index.touch(id);
    const now = this.#now();
    index.setAccessMs(id, now);
    if (!persist || now - index.persistedMsOf(id) < PERSIST_ACCESS_MS) return;
    index.setPersistedMs(id, now);
    const slot = index.refOf(id);
    if (slot !== undefined) {
      this.#track(this.#copyForward(digest, slot).catch(() => {}));
      return;
    }
    const time = new Date(now);
    this.#track(utimes(this.#locate(digest.key).file, time, time).catch(() => {}));
  }

  /** Copies a packed blob to the newest pack, so that a restart sees it as recent. */
  async #copyForward(digest: Digest, slot: Slot): Promise<void> {
    const packs = this.#packs as PackLog<true>;
    const copy = await packs.append(digest.key, packs.read(slot, 0, slot.size), true);
    packs.release(this.#moved(slot, copy, digest.key) ? slot : copy);
  }

  /** Points the entry of `key` that uses `from` at `to` instead; false when there is none. */
  #moved(from: Slot, to: Slot, key: string): boolean {
    const digest = digestOfKey(key);
    const id = digest === undefined ? NONE : this.#index.find(digest);
    if (id === NONE || this.#index.refOf(id) !== from) return false;
    this.#index.setRef(id, to);
    return true;
  }

  /** Drops entry `id` from the index and its bytes from the total, and releases its record. */
  #forget(id: number): void {
    const slot = this.#index.refOf(id);
    this.#bytes -= this.#index.lengthOf(id);
    this.#index.delete(id);
    if (slot !== undefined) this.#packs?.release(slot);
  }

  /** Appends a small blob to a pack, then indexes it. */
  async #installPacked(digest: Digest, data: Buffer): Promise<void> {
    const packs = this.#packs as PackLog<true>;
    let slot: Slot;
    try {
      slot = await packs.append(digest.key, data, true);
    } catch (err) {
      throw fromFsError(err, `disk store: writing blob ${digest.key}`);
    }
    const old = this.#index.find(digest);
    const oldIsFile = old !== NONE && this.#index.refOf(old) === undefined;
    this.#indexCommitted(digest, data.byteLength, slot);
    // A file an older version of Kiln wrote for this key is now out of date.
    if (oldIsFile) void this.#unlinkUnlessFile(digest);
    await this.#evict();
  }

  async #install(digest: Digest, tmp: string, location: BlobLocation, size: number): Promise<void> {
    await this.#serial.run(digest.key, async () => {
      await (this.#files as BlobFileUploads).renameIntoPlace(tmp, location);
      this.#indexCommitted(digest, size, undefined);
    });
    await this.#evict();
  }

  /** Records a blob just written to a pack (`slot`) or renamed into place. */
  #indexCommitted(digest: Digest, size: number, slot: Slot | undefined): void {
    const old = this.#index.find(digest);
    // Concurrent uploads of one key replace each other's identical copy: count it once.
    if (old !== NONE) this.#forget(old);
    const id = this.#index.insert(digest, size, this.#now(), slot);
    this.#bytes += size;
    this.#committedWhileIndexing?.add(this.#index.stamp(id));
  }

  /**
   * Deletes least-recently-used blobs until the total, with evicted small
   * blobs whose pack has not given their space back yet, fits the budget.
   */
  async #evict(): Promise<void> {
    // Until the index is built, the least recently used blobs are not known.
    if (this.#indexing) return;
    if (this.#bytes + (this.#packs?.deadBytes ?? 0) <= this.#maxBytes) return;
    const unlinks: Promise<void>[] = [];
    const index = this.#index;
    for (let id = index.oldest; id !== NONE; ) {
      if (this.#bytes + (this.#packs?.deadBytes ?? 0) <= this.#maxBytes) break;
      const newer = index.newerThan(id);
      const length = index.lengthOf(id);
      const digest = index.refOf(id) === undefined ? index.digestOf(id) : undefined;
      this.#forget(id);
      this.#evictions++;
      this.#evictedBytes += length;
      if (digest !== undefined) unlinks.push(this.#unlinkUnlessFile(digest));
      id = newer;
    }
    await Promise.all(unlinks);
  }

  /** Deletes the file of `digest` unless the index lists it as that file again. */
  #unlinkUnlessFile(digest: Digest): Promise<void> {
    const { file } = this.#locate(digest.key);
    return this.#serial.run(digest.key, async () => {
      // A commit queued before this unlink re-added the key: its file is the live copy.
      const id = this.#index.find(digest);
      if (id !== NONE && this.#index.refOf(id) === undefined) return;
      await unlink(file).catch(() => {});
    });
  }

  #track(promise: Promise<void>): void {
    this.#background.add(promise);
    void promise.finally(() => this.#background.delete(promise));
  }

  /** What open does before it returns: enough to take writes and serve what they add. */
  async #prepare(path: string): Promise<void> {
    await mkdir(this.#blobsDir, { recursive: true });
    this.#files = await BlobFileUploads.open({
      tmpDir: join(path, 'tmp'),
      fsync: this.#fsync,
      directIo: this.#directIo,
    });
    this.#packs = await PackLog.create<true>({
      dir: join(path, 'packs'),
      packBytes: this.#packBytes,
      fsync: this.#fsync,
      // Keys are parsed as the index is built, which releases malformed ones.
      parseKey: () => true,
      moved: (from, to, key) => this.#moved(from, to, key),
    });
  }

  /** Builds the index from what is on disk (see disk-index-loader.ts), then tidies up. */
  async #buildIndex(): Promise<void> {
    const outdated = await loadDiskIndex({
      blobsDir: this.#blobsDir,
      contentAddressed: this.#contentAddressed,
      files: this.#files as BlobFileUploads,
      packs: this.#packs as PackLog<true>,
      index: this.#index,
      committed: this.#committedWhileIndexing ?? new Set(),
      addBytes: (bytes) => {
        this.#bytes += bytes;
      },
    });
    this.#indexing = false;
    this.#committedWhileIndexing = undefined;
    await Promise.all(outdated.map((digest) => this.#unlinkUnlessFile(digest)));
    // The budget may have shrunk since the last run, and commits meanwhile did not evict.
    await this.#evict();
  }
}
