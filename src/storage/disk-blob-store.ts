/**
 * Blobs on a local disk, evicted least-recently-used to a byte budget: small
 * blobs (and all action cache values) appended to packs (see pack-log.ts),
 * larger ones as a file each. Survives restarts and crashes: a pack record
 * is visible only once written and is checked at open, and a large upload
 * is written to a temporary file and renamed into place only when complete,
 * so a blob is either absent or whole, whatever moment the process dies.
 */
import { readFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../digest/digest.ts';
import { fromFsError, invalidArgument, type KilnError, notFound } from '../errors.ts';
import { BlobFileUploads } from './blob-file-uploads.ts';
import {
  type BlobStore,
  type BlobWriter,
  type ReadRange,
  resolveRange,
  type StoreStats,
} from './blob-store.ts';
import { DigestIndex, uniqueDigests } from './digest-index.ts';
import { readChunks } from './disk-chunk-reader.ts';
import { type BlobLocation, digestOfKey, locateBlob, scanBlobs } from './disk-layout.ts';
import { PackLog, type PackSlot } from './pack-log.ts';
import { SmallBlobWriter } from './small-blob-writer.ts';

/** Options of {@link DiskBlobStore.open}. */
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
   * Write blobs of {@link DIRECT_MIN_BYTES} or more with O_DIRECT, past the
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
}

/**
 * Blobs up to this size go to packs (see pack-log.ts), buffered in memory
 * until commit, and are read with one synchronous positioned read. Remote
 * builds are mostly such blobs (Actions, Commands, Directories, small
 * outputs); for them a file's asynchronous open, read and close, each a trip
 * through the libuv thread pool and back, cost more CPU than the reads
 * themselves, and creating the file cost more still. Files of this size
 * left by an older version of Kiln are still read, with one synchronous call.
 */
export const SMALL_BLOB_BYTES = 64 * 1024;

export { DIRECT_MIN_BYTES } from './blob-file-uploads.ts';

interface Entry {
  /** Fixed, except when a file found at open gives way to a pack record (see `#buildIndex`). */
  size: number;
  /** Where the blob is in a pack; undefined for a blob in a file of its own. */
  slot: PackSlot<Digest> | undefined;
  /** Last access in this process, or the file's mtime for blobs found at open. */
  accessMs: number;
  /**
   * The file's mtime as last written, or when the pack record was written, to
   * refresh it at most once per {@link PERSIST_ACCESS_MS}.
   */
  persistedMs: number;
}

const PERSIST_ACCESS_MS = 60 * 60 * 1000;

/**
 * Local disk {@link BlobStore}. The index (digest → size, in LRU order) lives in
 * memory and is rebuilt at open from the packs' records and the files' names,
 * sizes and mtimes (before open returns, or in the background with
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
  readonly #index = new DigestIndex<Entry>();
  /** Tail of the queue of renames and unlinks per key (see `#serial`). */
  readonly #pending = new Map<string, Promise<void>>();
  readonly #background = new Set<Promise<void>>();
  #bytes = 0;
  #evictions = 0;
  #evictedBytes = 0;
  /** Temporary files of large uploads; set at open. */
  #files: BlobFileUploads | undefined;
  /** The packs of small blobs; set at open. */
  #packs: PackLog<Digest> | undefined;
  /** Settles once the index lists every blob on disk; rejects when building it failed. */
  #indexed: Promise<void> = Promise.resolve();
  /** The index is being built: a digest it lacks may still be on disk. */
  #indexing = false;
  /** Entries of blobs committed while the index is being built; undefined once it is over. */
  #committedWhileIndexing: Set<Entry> | undefined = new Set();
  readonly #packBytes: number;

  private constructor(options: DiskBlobStoreOptions) {
    this.#blobsDir = join(options.path, 'blobs');
    this.#maxBytes = options.maxBytes;
    this.#fsync = options.fsync ?? false;
    this.#contentAddressed = options.contentAddressed ?? true;
    this.#now = options.now ?? Date.now;
    this.#directIo = options.directIo ?? true;
    this.#packBytes =
      options.packBytes ??
      Math.min(64 * 1024 * 1024, Math.max(64 * 1024, Math.floor(options.maxBytes / 16)));
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
    store.#indexed = store.#buildIndex().catch((err: unknown) => {
      // `#indexing` stays set: a lookup the index cannot answer fails with this error, rather
      // than report a blob missing that may be on disk, and nothing is evicted.
      store.#committedWhileIndexing = undefined;
      throw fromFsError(err, `disk store: indexing ${options.path}`);
    });
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
    return {
      bytes: this.#bytes,
      blobs: this.#index.size,
      maxBytes: this.#maxBytes,
      evictions: this.#evictions,
      evictedBytes: this.#evictedBytes,
      oldestAccessMs: this.#index.oldestValue()?.accessMs,
    };
  }

  /**
   * Streams the blob in chunks of up to 1 MiB, each with `CHUNK_HEADROOM` free
   * bytes in front (see `hasHeadroom` in disk-chunk-reader.ts). The stream holds the file
   * open until it ends or is abandoned (leaving a `for await` loop ends it), so
   * a blob evicted meanwhile is still read whole.
   */
  async get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    let entry = this.#index.get(digest);
    if (entry === undefined && this.#indexing) {
      // Perhaps on disk and not indexed yet.
      await this.#indexed;
      entry = this.#index.get(digest);
    }
    if (entry === undefined) {
      this.#locate(digest.key); // A malformed key is INVALID_ARGUMENT, not NOT_FOUND.
      throw notFound(`blob ${digest.key} not found`);
    }
    const { start, end } = resolveRange(entry.size, range, digest.key);
    if (entry.slot !== undefined) return this.#getPacked(digest, entry, entry.slot, start, end);
    const { file } = this.#locate(digest.key); // Only valid keys are indexed.
    if (entry.size <= SMALL_BLOB_BYTES) return this.#getSmall(digest, entry, file, start, end);
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      throw this.#openFailure(digest, entry, err);
    }
    this.#touch(digest, entry, true);
    if (start === end) {
      await handle.close();
      return empty();
    }
    return readChunks(handle, start, end);
  }

  /** Reads a packed blob with one synchronous positioned read. */
  #getPacked(
    digest: Digest,
    entry: Entry,
    slot: PackSlot<Digest>,
    start: number,
    end: number,
  ): AsyncIterable<Uint8Array> {
    if (start === end) {
      this.#touch(digest, entry, true);
      return empty();
    }
    let data: Buffer;
    try {
      data = (this.#packs as PackLog<Digest>).read(slot, start, end);
    } catch (err) {
      throw fromFsError(err, `disk store: reading blob ${digest.key}`);
    }
    this.#touch(digest, entry, true);
    return once(data);
  }

  /**
   * Reads a small blob file with one synchronous call (see {@link SMALL_BLOB_BYTES}).
   */
  #getSmall(
    digest: Digest,
    entry: Entry,
    file: string,
    start: number,
    end: number,
  ): AsyncIterable<Uint8Array> {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (err) {
      throw this.#openFailure(digest, entry, err);
    }
    this.#touch(digest, entry, true);
    return start === end ? empty() : once(data.subarray(start, end));
  }

  /** The error for a blob file that could not be opened; a vanished file is NOT_FOUND. */
  #openFailure(digest: Digest, entry: Entry, err: unknown): KilnError {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      return fromFsError(err, `disk store: reading blob ${digest.key}`);
    }
    // Deleted behind our back; forget it unless a newer copy was committed meanwhile.
    if (this.#index.get(digest) === entry) this.#forget(digest, entry);
    return notFound(`blob ${digest.key} not found`);
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
    for (const digest of digests) {
      const entry = this.#index.get(digest);
      // A client told that a blob exists is about to use it: keep it from eviction.
      if (entry !== undefined) this.#touch(digest, entry, false);
      else missing.push(digest);
    }
    return missing;
  }

  /** Waits for pending writes, renames, unlinks and mtime updates. */
  async close(): Promise<void> {
    await this.#indexed.catch(() => {});
    while (this.#pending.size > 0 || this.#background.size > 0) {
      await Promise.all([...this.#pending.values(), ...this.#background]);
    }
    await this.#packs?.close();
  }

  #locate(key: string): BlobLocation {
    return locateBlob(this.#blobsDir, key);
  }

  /**
   * Marks a use of `entry`, the current entry of `digest`, unless another
   * replaced it; with `persist`, also on disk when the last time is an hour old.
   */
  #touch(digest: Digest, entry: Entry, persist: boolean): void {
    if (this.#index.get(digest) !== entry) return;
    this.#index.touch(digest);
    const now = this.#now();
    entry.accessMs = now;
    if (!persist || now - entry.persistedMs < PERSIST_ACCESS_MS) return;
    entry.persistedMs = now;
    if (entry.slot !== undefined) {
      this.#track(this.#copyForward(digest, entry.slot).catch(() => {}));
      return;
    }
    const time = new Date(now);
    this.#track(utimes(this.#locate(digest.key).file, time, time).catch(() => {}));
  }

  /** Copies a packed blob to the newest pack, so that a restart sees it as recent. */
  async #copyForward(digest: Digest, slot: PackSlot<Digest>): Promise<void> {
    const packs = this.#packs as PackLog<Digest>;
    const copy = await packs.append(digest.key, packs.read(slot, 0, slot.size), digest);
    packs.release(this.#moved(slot, copy) ? slot : copy);
  }

  /** Points the entry that uses `from` at `to` instead; false when there is none. */
  #moved(from: PackSlot<Digest>, to: PackSlot<Digest>): boolean {
    const entry = this.#index.get(from.tag);
    if (entry?.slot !== from) return false;
    entry.slot = to;
    return true;
  }

  #forget(digest: Digest, entry: Entry): void {
    this.#index.delete(digest);
    this.#bytes -= entry.size;
    if (entry.slot !== undefined) this.#packs?.release(entry.slot);
  }

  /** Appends a small blob to a pack, then indexes it. */
  async #installPacked(digest: Digest, data: Buffer): Promise<void> {
    const packs = this.#packs as PackLog<Digest>;
    let slot: PackSlot<Digest>;
    try {
      slot = await packs.append(digest.key, data, digest);
    } catch (err) {
      throw fromFsError(err, `disk store: writing blob ${digest.key}`);
    }
    const old = this.#index.get(digest);
    this.#indexCommitted(digest, data.byteLength, slot);
    // A file an older version of Kiln wrote for this key is now out of date.
    if (old !== undefined && old.slot === undefined) void this.#unlinkUnlessFile(digest);
    await this.#evict();
  }

  async #install(digest: Digest, tmp: string, location: BlobLocation, size: number): Promise<void> {
    await this.#serial(digest.key, async () => {
      await (this.#files as BlobFileUploads).renameIntoPlace(tmp, location);
      this.#indexCommitted(digest, size, undefined);
    });
    await this.#evict();
  }

  /** Records a blob just written to a pack (`slot`) or renamed into place. */
  #indexCommitted(digest: Digest, size: number, slot: PackSlot<Digest> | undefined): void {
    const old = this.#index.get(digest);
    // Concurrent uploads of one key replace each other's identical copy: count it once.
    if (old !== undefined) this.#forget(digest, old);
    const now = this.#now();
    const entry: Entry = { size, slot, accessMs: now, persistedMs: now };
    this.#index.set(digest, entry);
    this.#bytes += size;
    this.#committedWhileIndexing?.add(entry);
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
    for (const [digest, entry] of this.#index.entries()) {
      if (this.#bytes + (this.#packs?.deadBytes ?? 0) <= this.#maxBytes) break;
      this.#forget(digest, entry);
      this.#evictions++;
      this.#evictedBytes += entry.size;
      if (entry.slot === undefined) unlinks.push(this.#unlinkUnlessFile(digest));
    }
    await Promise.all(unlinks);
  }

  /** Deletes the file of `digest` unless the index lists it as that file again. */
  #unlinkUnlessFile(digest: Digest): Promise<void> {
    const { file } = this.#locate(digest.key);
    return this.#serial(digest.key, async () => {
      // A commit queued before this unlink re-added the key: its file is the live copy.
      const entry = this.#index.get(digest);
      if (entry !== undefined && entry.slot === undefined) return;
      await unlink(file).catch(() => {});
    });
  }

  /**
   * Runs file operations on one key in order. Without it an eviction's unlink
   * could land after a concurrent commit's rename of the same key and delete
   * the fresh file while the index still lists it.
   */
  #serial(key: string, op: () => Promise<void>): Promise<void> {
    const result = (this.#pending.get(key) ?? Promise.resolve()).then(op);
    const tail = result.catch(() => {});
    this.#pending.set(key, tail);
    void tail.then(() => {
      if (this.#pending.get(key) === tail) this.#pending.delete(key);
    });
    return result;
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
    this.#packs = await PackLog.create<Digest>({
      dir: join(path, 'packs'),
      packBytes: this.#packBytes,
      fsync: this.#fsync,
      parseKey: (key) => digestOfKey(key),
      moved: (from, to) => this.#moved(from, to),
    });
  }

  /**
   * Indexes the blob files and the records of the packs found at open,
   * newest first, each inserted as the oldest entry so far, so that the index
   * ends up in recency order however far it got. Blobs committed meanwhile
   * are newer than anything found, and stay the newest. Of a key found
   * twice the newer copy wins, except that a pack record beats a file (a
   * file of a key that also has a record was left by an older version of
   * Kiln, and is deleted); records whose length differs from their digest's
   * size in a content-addressed store are dropped. The event loop is given
   * back every {@link INDEX_BATCH} entries, so that requests are served
   * meanwhile; a compaction that moves a record not indexed yet leaves it
   * where it is (see `PackLog`), so that never loses a blob.
   */
  async #buildIndex(): Promise<void> {
    const log = this.#packs as PackLog<Digest>;
    const { blobs: files, dirs } = await scanBlobs({
      blobsDir: this.#blobsDir,
      contentAddressed: this.#contentAddressed,
    });
    (this.#files as BlobFileUploads).knowDirectories(dirs);
    const records = await log.load();
    files.sort((x, y) => x.mtimeMs - y.mtimeMs);
    const outdated: Digest[] = [];
    let f = files.length - 1;
    let r = records.length - 1;
    for (let n = 1; f >= 0 || r >= 0; n++) {
      if (n % INDEX_BATCH === 0) await yieldToEventLoop();
      const file = files[f];
      const slot = records[r];
      // Newest first; a record goes before a file of the same time, as it came later.
      if (slot !== undefined && (file === undefined || slot.pack.mtimeMs >= file.mtimeMs)) {
        r--;
        this.#indexFoundRecord(slot, outdated);
      } else if (file !== undefined) {
        f--;
        const entry: Entry = {
          size: file.size,
          slot: undefined,
          accessMs: file.mtimeMs,
          persistedMs: file.mtimeMs,
        };
        if (this.#index.addOldest(file.digest, entry)) {
          this.#bytes += file.size;
        } else if (this.#index.get(file.digest)?.slot !== undefined) {
          outdated.push(file.digest);
        }
      }
    }
    this.#indexing = false;
    this.#committedWhileIndexing = undefined;
    await Promise.all(outdated.map((digest) => this.#unlinkUnlessFile(digest)));
    // The budget may have shrunk since the last run, and commits meanwhile did not evict.
    await this.#evict();
  }

  /** Indexes one pack record found at open (see {@link #buildIndex}). */
  #indexFoundRecord(slot: PackSlot<Digest>, outdated: Digest[]): void {
    const log = this.#packs as PackLog<Digest>;
    const digest = slot.tag;
    if (this.#contentAddressed && slot.size !== digest.size) {
      log.release(slot);
      return;
    }
    const mtimeMs = slot.pack.mtimeMs;
    const entry: Entry = { size: slot.size, slot, accessMs: mtimeMs, persistedMs: mtimeMs };
    if (this.#index.addOldest(digest, entry)) {
      this.#bytes += slot.size;
      return;
    }
    const newer = this.#index.get(digest) as Entry;
    if (newer.slot !== undefined || this.#committedWhileIndexing?.has(newer) === true) {
      // A newer record, or a copy committed meanwhile.
      log.release(slot);
      return;
    }
    // A file found at open, and an older record of the same key: the record wins, in the
    // file's place.
    outdated.push(digest);
    this.#bytes += slot.size - newer.size;
    newer.size = slot.size;
    newer.slot = slot;
  }
}

/** Entries indexed between two turns of the event loop while building the index. */
const INDEX_BATCH = 20_000;

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function* empty(): AsyncIterable<Uint8Array> {}

async function* once(chunk: Uint8Array): AsyncIterable<Uint8Array> {
  yield chunk;
}
