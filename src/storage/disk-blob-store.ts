/**
 * Blobs as files on a local disk, evicted least-recently-used to a byte budget.
 * Survives restarts and crashes: an upload is written to a temporary file and
 * renamed into place only when complete, so a blob file is either absent or
 * whole, whatever moment the process dies.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, readFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, rename, rm, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../digest/digest.ts';
import { fromFsError, invalidArgument, type KilnError, notFound } from '../errors.ts';
import {
  type BlobStore,
  type BlobWriter,
  type ReadRange,
  resolveRange,
  type StoreStats,
} from './blob-store.ts';
import { DigestIndex, uniqueDigests } from './digest-index.ts';
import { AlignedBufferPool, DIRECT_CHUNK_BYTES, DirectFileSink } from './direct-file-sink.ts';
import { DiskBlobWriter } from './disk-blob-writer.ts';
import { readChunks } from './disk-chunk-reader.ts';
import { type BlobLocation, locateBlob, scanBlobs } from './disk-layout.ts';
import { FileWriterThread } from './file-writer-thread.ts';
import { SmallBlobWriter } from './small-blob-writer.ts';

/** Options of {@link DiskBlobStore.open}. */
export interface DiskBlobStoreOptions {
  /**
   * Directory owned by this store (created if absent). Blobs live in
   * `<path>/blobs/<fn>/<first two hex chars>/<hash>_<size>`, uploads in
   * progress in `<path>/tmp/`, which is emptied on open. One store per path.
   */
  readonly path: string;
  /**
   * Byte budget for committed blobs. After each commit the least-recently-used
   * blobs are deleted until the total fits; a single larger blob is rejected
   * with RESOURCE_EXHAUSTED. Uploads in progress are not counted.
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
   * Write blobs of up to {@link SMALL_BLOB_BYTES} as whole files on the
   * process's file writer thread (see file-writer-thread.ts) rather than with
   * four thread-pool requests each. Default true.
   */
  readonly writerThread?: boolean;
}

/**
 * Blobs up to this size are read with one synchronous call. Remote builds
 * are mostly such blobs (Actions, Commands, Directories, small outputs), and
 * for them the three asynchronous file operations of a read (open, read,
 * close), each a trip through the libuv thread pool and back, cost more CPU
 * than the reads themselves. Writes of such blobs are buffered and go whole
 * to the file writer thread (see file-writer-thread.ts), not the event loop:
 * creating a file can take the kernel a millisecond of CPU on a file system
 * with many recently deleted inodes (ext4 skips them while looking for a
 * free one), measured at 0.2-1.6 ms per 4 KiB blob here.
 */
export const SMALL_BLOB_BYTES = 64 * 1024;

/** Blobs at least this large are written with O_DIRECT when enabled. */
export const DIRECT_MIN_BYTES = 2 * DIRECT_CHUNK_BYTES;

/** Create-exclusive, write-only, past the page cache. */
const DIRECT_FLAGS =
  fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_DIRECT;

interface Entry {
  readonly size: number;
  /** Last access in this process, or the file's mtime for blobs found at open. */
  accessMs: number;
  /** The file's mtime as last written, to refresh it at most once per {@link PERSIST_ACCESS_MS}. */
  persistedMs: number;
}

const PERSIST_ACCESS_MS = 60 * 60 * 1000;

/**
 * Local disk {@link BlobStore}. The index (digest → size, in LRU order) lives in
 * memory and is rebuilt at open from the files' names, sizes and mtimes, so
 * `findMissing` never touches the disk. Reads refresh a file's mtime at most
 * once an hour so that recency survives a restart without a write per read.
 */
export class DiskBlobStore implements BlobStore {
  readonly #blobsDir: string;
  readonly #tmpDir: string;
  readonly #maxBytes: number;
  readonly #fsync: boolean;
  readonly #contentAddressed: boolean;
  readonly #now: () => number;
  readonly #directIo: boolean;
  readonly #index = new DigestIndex<Entry>();
  /** Shard directories known to exist, to skip a mkdir per commit. */
  readonly #dirs = new Set<string>();
  /** Tail of the queue of renames and unlinks per key (see `#serial`). */
  readonly #pending = new Map<string, Promise<void>>();
  readonly #background = new Set<Promise<void>>();
  /** Temporary file names: this store's random prefix and a counter (cheaper than random names). */
  readonly #tmpPrefix = randomBytes(8).toString('hex');
  #tmpCount = 0;
  #bytes = 0;
  #evictions = 0;
  #evictedBytes = 0;
  /** Staging buffers for O_DIRECT uploads; undefined when disabled or unsupported. */
  #direct: AlignedBufferPool | undefined;
  /** The file writer thread, for small blobs; undefined when disabled. */
  #files: FileWriterThread | undefined;

  private constructor(options: DiskBlobStoreOptions) {
    this.#blobsDir = join(options.path, 'blobs');
    this.#tmpDir = join(options.path, 'tmp');
    this.#maxBytes = options.maxBytes;
    this.#fsync = options.fsync ?? false;
    this.#contentAddressed = options.contentAddressed ?? true;
    this.#now = options.now ?? Date.now;
    this.#directIo = options.directIo ?? true;
    if (options.writerThread ?? true) this.#files = FileWriterThread.acquire();
  }

  /**
   * Two staging buffers for an O_DIRECT upload of this blob, or undefined to
   * write through the page cache: for small blobs (one synchronous device write
   * each would cost more than the page cache), blobs of unknown length, and
   * when the filesystem or the buffer pool says no.
   */
  #directBuffers(digest: Digest): [Buffer, Buffer] | undefined {
    const pool = this.#direct;
    if (pool === undefined || !this.#contentAddressed || digest.size < DIRECT_MIN_BYTES) {
      return undefined;
    }
    const first = pool.acquire();
    if (first === undefined) return undefined;
    const second = pool.acquire();
    if (second === undefined) {
      pool.release(first);
      return undefined;
    }
    return [first, second];
  }

  /** Opens (creating if needed) the store at `options.path`, cleaning up after any crash. */
  static async open(options: DiskBlobStoreOptions): Promise<DiskBlobStore> {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes <= 0) {
      throw invalidArgument(`disk store: maxBytes ${options.maxBytes} must be a positive integer`);
    }
    const store = new DiskBlobStore(options);
    try {
      await store.#load();
    } catch (err) {
      await store.#files?.release();
      throw fromFsError(err, `disk store: opening ${options.path}`);
    }
    return store;
  }

  /** Whether large blobs are written with O_DIRECT (enabled, and the filesystem takes it). */
  get directIo(): boolean {
    return this.#direct !== undefined;
  }

  /**
   * Current size, eviction counters and reach of the cache. The index's
   * oldest entry is the next victim, so its last access is the store's reach.
   */
  async stats(): Promise<StoreStats> {
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
    const { file } = this.#locate(digest.key);
    const entry = this.#index.get(digest);
    if (entry === undefined) throw notFound(`blob ${digest.key} not found`);
    const { start, end } = resolveRange(entry.size, range, digest.key);
    if (entry.size <= SMALL_BLOB_BYTES) return this.#getSmall(digest, entry, file, start, end);
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      throw this.#openFailure(digest, entry, err);
    }
    this.#touch(digest, entry, file);
    if (start === end) {
      await handle.close();
      return empty();
    }
    return readChunks(handle, start, end);
  }

  /**
   * Reads a small blob with one synchronous call (see {@link SMALL_BLOB_BYTES}).
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
    this.#touch(digest, entry, file);
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
    const small = !this.#contentAddressed || digest.size <= SMALL_BLOB_BYTES;
    if (this.#files === undefined || !small) return this.#putFile(digest);
    this.#locate(digest.key); // Rejects a malformed key now rather than at commit.
    const files = this.#files;
    return new SmallBlobWriter({
      key: digest.key,
      limit: SMALL_BLOB_BYTES,
      maxBytes: this.#maxBytes,
      expectedSize: this.#contentAddressed ? digest.size : undefined,
      install: (data) => this.#installSmall(files, digest, data),
      spill: () => this.#putFile(digest),
    });
  }

  /** An upload into a temporary file, renamed into place at commit. */
  async #putFile(digest: Digest): Promise<BlobWriter> {
    const location = this.#locate(digest.key);
    const tmp = this.#tmpName();
    const buffers = this.#directBuffers(digest);
    let handle: FileHandle;
    try {
      handle = await open(tmp, buffers === undefined ? 'wx' : DIRECT_FLAGS, 0o644);
    } catch (err) {
      if (buffers !== undefined) for (const buffer of buffers) this.#direct?.release(buffer);
      throw fromFsError(err, `disk store: creating a temporary file for blob ${digest.key}`);
    }
    const direct =
      buffers === undefined || this.#direct === undefined
        ? undefined
        : new DirectFileSink({ handle, pool: this.#direct, buffers });
    return new DiskBlobWriter({
      direct,
      key: digest.key,
      handle,
      tmp,
      maxBytes: this.#maxBytes,
      expectedSize: this.#contentAddressed ? digest.size : undefined,
      fsync: this.#fsync,
      install: (size) => this.#install(digest, tmp, location, size),
    });
  }

  async findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    const missing: Digest[] = [];
    for (const digest of digests) {
      const entry = this.#index.get(digest);
      // A client told that a blob exists is about to use it: keep it from eviction.
      if (entry !== undefined) this.#touch(digest, entry, undefined);
      else missing.push(digest);
    }
    return uniqueDigests(missing);
  }

  /** Waits for pending renames, unlinks and mtime updates. */
  async close(): Promise<void> {
    while (this.#pending.size > 0 || this.#background.size > 0) {
      await Promise.all([...this.#pending.values(), ...this.#background]);
    }
    const files = this.#files;
    this.#files = undefined;
    await files?.release();
  }

  /** A name in tmp/ no upload of this store has used (tmp/ is emptied at open). */
  #tmpName(): string {
    return join(this.#tmpDir, `${this.#tmpPrefix}-${(this.#tmpCount++).toString(36)}`);
  }

  #locate(key: string): BlobLocation {
    return locateBlob(this.#blobsDir, key);
  }

  /** Marks a use of `entry`, the current entry of `digest`, unless another replaced it. */
  #touch(digest: Digest, entry: Entry, persistTo: string | undefined): void {
    if (this.#index.get(digest) !== entry) return;
    this.#index.touch(digest);
    const now = this.#now();
    entry.accessMs = now;
    if (persistTo === undefined || now - entry.persistedMs < PERSIST_ACCESS_MS) return;
    entry.persistedMs = now;
    const time = new Date(now);
    this.#track(utimes(persistTo, time, time).catch(() => {}));
  }

  #forget(digest: Digest, entry: Entry): void {
    this.#index.delete(digest);
    this.#bytes -= entry.size;
  }

  /** Writes a small blob's file on the file writer thread, then indexes it. */
  async #installSmall(files: FileWriterThread, digest: Digest, data: Buffer): Promise<void> {
    const { dir, file } = this.#locate(digest.key);
    const tmp = this.#tmpName();
    await this.#serial(digest.key, async () => {
      try {
        await files.write({ tmp, dest: file, dir, data, fsync: this.#fsync });
      } catch (err) {
        throw fromFsError(err, `disk store: writing blob ${digest.key}`);
      }
      this.#dirs.add(dir);
      this.#indexCommitted(digest, data.byteLength);
    });
    await this.#evict();
  }

  async #install(digest: Digest, tmp: string, location: BlobLocation, size: number): Promise<void> {
    await this.#serial(digest.key, async () => {
      await this.#renameIntoPlace(tmp, location);
      this.#indexCommitted(digest, size);
    });
    await this.#evict();
  }

  /** Records a blob whose file was just renamed into place. */
  #indexCommitted(digest: Digest, size: number): void {
    const old = this.#index.get(digest);
    // Concurrent uploads of one key replace each other's identical file: count it once.
    if (old !== undefined) this.#forget(digest, old);
    const now = this.#now();
    this.#index.set(digest, { size, accessMs: now, persistedMs: now });
    this.#bytes += size;
  }

  async #renameIntoPlace(tmp: string, { dir, file }: BlobLocation): Promise<void> {
    if (!this.#dirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.#dirs.add(dir);
    }
    try {
      await rename(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // The shard directory was removed behind our back: recreate it once.
      await mkdir(dir, { recursive: true });
      await rename(tmp, file);
    }
    if (this.#fsync) {
      const handle = await open(dir, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  }

  /** Deletes least-recently-used blobs until the total fits the budget. */
  async #evict(): Promise<void> {
    const unlinks: Promise<void>[] = [];
    for (const [digest, entry] of this.#index.entries()) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#forget(digest, entry);
      this.#evictions++;
      this.#evictedBytes += entry.size;
      const { key } = digest;
      const { file } = this.#locate(key);
      unlinks.push(
        this.#serial(key, async () => {
          // A commit queued before this unlink re-added the key: its file is the live copy.
          if (this.#index.has(digest)) return;
          await unlink(file).catch(() => {});
        }),
      );
    }
    await Promise.all(unlinks);
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

  async #load(): Promise<void> {
    await mkdir(this.#blobsDir, { recursive: true });
    // Whatever is in tmp/ belongs to uploads of a previous process that never committed.
    await rm(this.#tmpDir, { recursive: true, force: true });
    await mkdir(this.#tmpDir, { recursive: true });
    if (this.#directIo) this.#direct = AlignedBufferPool.open({ dir: this.#tmpDir });
    const { blobs, dirs } = await scanBlobs({
      blobsDir: this.#blobsDir,
      contentAddressed: this.#contentAddressed,
    });
    for (const dir of dirs) this.#dirs.add(dir);
    blobs.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const { digest, size, mtimeMs } of blobs) {
      this.#index.set(digest, { size, accessMs: mtimeMs, persistedMs: mtimeMs });
      this.#bytes += size;
    }
    // The budget may have shrunk since the last run.
    await this.#evict();
  }
}

async function* empty(): AsyncIterable<Uint8Array> {}

async function* once(chunk: Uint8Array): AsyncIterable<Uint8Array> {
  yield chunk;
}
