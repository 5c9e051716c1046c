/**
 * Blobs as files on a local disk, evicted least-recently-used to a byte budget.
 * Survives restarts and crashes: an upload is written to a temporary file and
 * renamed into place only when complete, so a blob file is either absent or
 * whole, whatever moment the process dies.
 */
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { lstat, mkdir, open, readdir, rename, rm, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../digest/digest.ts';
import { digestFunctionByName } from '../digest/digest-function.ts';
import {
  failedPrecondition,
  fromFsError,
  invalidArgument,
  KilnError,
  notFound,
  outOfRange,
  resourceExhausted,
} from '../errors.ts';
import type { BlobStore, BlobWriter, ReadRange } from './blob-store.ts';

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
}

/** Counters for metrics and operators. */
export interface DiskBlobStoreStats {
  /** Bytes held by committed blobs. */
  readonly bytes: number;
  /** Number of committed blobs. */
  readonly count: number;
  /** Blobs evicted to stay within the budget since the store was opened. */
  readonly evictions: number;
  /**
   * Last access (ms since the epoch) of the next blob to be evicted, or
   * undefined when empty. How far back the cache reaches: if it is minutes, the
   * budget is too small for the workload.
   */
  readonly oldestAccessMs: number | undefined;
}

interface Entry {
  readonly size: number;
  /** Last access in this process, or the file's mtime for blobs found at open. */
  accessMs: number;
  /** The file's mtime as last written, to refresh it at most once per {@link PERSIST_ACCESS_MS}. */
  persistedMs: number;
}

interface Location {
  readonly dir: string;
  readonly file: string;
}

const KEY = /^([a-z0-9]+)\/([0-9a-f]+)_(0|[1-9][0-9]{0,15})$/;
const FILE_NAME = /^([0-9a-f]+)_(0|[1-9][0-9]{0,15})$/;
const SHARD = /^[0-9a-f]{2}$/;
const READ_CHUNK = 1024 * 1024;
/** Free bytes in front of each chunk `get` yields (see {@link hasHeadroom}). */
export const CHUNK_HEADROOM = 8;
/**
 * Bytes an upload may have queued for its file before `write` waits. Writing
 * behind lets receiving and hashing the next chunks (main thread) overlap the
 * file write (the kernel's copy into the page cache, on the libuv thread
 * pool), which profiles of ByteStream.Write showed as its largest cost.
 */
const WRITE_BEHIND_BYTES = 4 * 1024 * 1024;
/** Most chunks in one `writev` (the kernel's IOV_MAX). */
const MAX_WRITEV_CHUNKS = 1024;
const PERSIST_ACCESS_MS = 60 * 60 * 1000;
/** Shard directories scanned in parallel at open; enough to keep the libuv pool busy. */
const SHARD_CONCURRENCY = 4;

/**
 * Local disk {@link BlobStore}. The index (key → size, in LRU order) lives in
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
  readonly #index = new Map<string, Entry>();
  /** Shard directories known to exist, to skip a mkdir per commit. */
  readonly #dirs = new Set<string>();
  /** Tail of the queue of renames and unlinks per key (see `#serial`). */
  readonly #pending = new Map<string, Promise<void>>();
  readonly #background = new Set<Promise<void>>();
  #bytes = 0;
  #evictions = 0;

  private constructor(options: DiskBlobStoreOptions) {
    this.#blobsDir = join(options.path, 'blobs');
    this.#tmpDir = join(options.path, 'tmp');
    this.#maxBytes = options.maxBytes;
    this.#fsync = options.fsync ?? false;
    this.#contentAddressed = options.contentAddressed ?? true;
    this.#now = options.now ?? Date.now;
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
      throw fromFsError(err, `disk store: opening ${options.path}`);
    }
    return store;
  }

  /** Current size, eviction counter and reach of the cache. */
  get stats(): DiskBlobStoreStats {
    return {
      bytes: this.#bytes,
      count: this.#index.size,
      evictions: this.#evictions,
      oldestAccessMs: this.#index.values().next().value?.accessMs,
    };
  }

  /**
   * Streams the blob in chunks of up to 1 MiB, each with {@link CHUNK_HEADROOM}
   * free bytes in front (see {@link hasHeadroom}). The stream holds the file
   * open until it ends or is abandoned (leaving a `for await` loop ends it), so
   * a blob evicted meanwhile is still read whole.
   */
  async get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    const { file } = this.#locate(digest.key);
    const entry = this.#index.get(digest.key);
    if (entry === undefined) throw notFound(`blob ${digest.key} not found`);
    const { start, end } = resolveRange(entry.size, range, digest.key);
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw fromFsError(err, `disk store: reading blob ${digest.key}`);
      }
      // Deleted behind our back; forget it unless a newer copy was committed meanwhile.
      if (this.#index.get(digest.key) === entry) this.#forget(digest.key, entry);
      throw notFound(`blob ${digest.key} not found`);
    }
    this.#touch(digest.key, entry, file);
    if (start === end) {
      await handle.close();
      return empty();
    }
    return readChunks(handle, start, end);
  }

  async put(digest: Digest): Promise<BlobWriter> {
    const location = this.#locate(digest.key);
    const tmp = join(this.#tmpDir, randomBytes(16).toString('hex'));
    let handle: FileHandle;
    try {
      handle = await open(tmp, 'wx');
    } catch (err) {
      throw fromFsError(err, `disk store: creating a temporary file for blob ${digest.key}`);
    }
    return new DiskBlobWriter({
      key: digest.key,
      handle,
      tmp,
      maxBytes: this.#maxBytes,
      expectedSize: this.#contentAddressed ? digest.size : undefined,
      fsync: this.#fsync,
      install: (size) => this.#install(digest.key, tmp, location, size),
    });
  }

  async findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    const missing = new Map<string, Digest>();
    for (const digest of digests) {
      const entry = this.#index.get(digest.key);
      // A client told that a blob exists is about to use it: keep it from eviction.
      if (entry !== undefined) this.#touch(digest.key, entry, undefined);
      else missing.set(digest.key, digest);
    }
    return [...missing.values()];
  }

  /** Waits for pending renames, unlinks and mtime updates. */
  async close(): Promise<void> {
    while (this.#pending.size > 0 || this.#background.size > 0) {
      await Promise.all([...this.#pending.values(), ...this.#background]);
    }
  }

  /** Maps a key to its file, rejecting anything that is not `<fn>/<hex>_<size>`. */
  #locate(key: string): Location {
    const [, fnName = '', hash = '', size = ''] = KEY.exec(key) ?? [];
    const fn = digestFunctionByName(fnName);
    if (fn === undefined || hash.length !== fn.hexLength || !Number.isSafeInteger(Number(size))) {
      throw invalidArgument(`disk store: malformed blob key "${key.slice(0, 200)}"`);
    }
    const dir = join(this.#blobsDir, fn.name, hash.slice(0, 2));
    return { dir, file: join(dir, `${hash}_${size}`) };
  }

  #touch(key: string, entry: Entry, persistTo: string | undefined): void {
    if (this.#index.get(key) !== entry) return;
    this.#index.delete(key);
    this.#index.set(key, entry);
    const now = this.#now();
    entry.accessMs = now;
    if (persistTo === undefined || now - entry.persistedMs < PERSIST_ACCESS_MS) return;
    entry.persistedMs = now;
    const time = new Date(now);
    this.#track(utimes(persistTo, time, time).catch(() => {}));
  }

  #forget(key: string, entry: Entry): void {
    this.#index.delete(key);
    this.#bytes -= entry.size;
  }

  async #install(key: string, tmp: string, location: Location, size: number): Promise<void> {
    await this.#serial(key, async () => {
      await this.#renameIntoPlace(tmp, location);
      const old = this.#index.get(key);
      // Concurrent uploads of one key replace each other's identical file: count it once.
      if (old !== undefined) this.#forget(key, old);
      const now = this.#now();
      this.#index.set(key, { size, accessMs: now, persistedMs: now });
      this.#bytes += size;
    });
    await this.#evict();
  }

  async #renameIntoPlace(tmp: string, { dir, file }: Location): Promise<void> {
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
    for (const [key, entry] of this.#index) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#forget(key, entry);
      this.#evictions++;
      const { file } = this.#locate(key);
      unlinks.push(
        this.#serial(key, async () => {
          // A commit queued before this unlink re-added the key: its file is the live copy.
          if (this.#index.has(key)) return;
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
    const found = await this.#scan();
    found.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const { key, size, mtimeMs } of found) {
      this.#index.set(key, { size, accessMs: mtimeMs, persistedMs: mtimeMs });
      this.#bytes += size;
    }
    // The budget may have shrunk since the last run.
    await this.#evict();
  }

  /** Lists valid blob files; removes anything else under blobs/. */
  async #scan(): Promise<{ key: string; size: number; mtimeMs: number }[]> {
    const shards: { fn: string; hexLength: number; name: string; dir: string }[] = [];
    const strays: string[] = [];
    for (const fnEntry of await readdir(this.#blobsDir, { withFileTypes: true })) {
      const fn = digestFunctionByName(fnEntry.name);
      const fnDir = join(this.#blobsDir, fnEntry.name);
      if (fn === undefined || !fnEntry.isDirectory()) {
        strays.push(fnDir);
        continue;
      }
      for (const shard of await readdir(fnDir, { withFileTypes: true })) {
        const dir = join(fnDir, shard.name);
        if (SHARD.test(shard.name) && shard.isDirectory()) {
          shards.push({ fn: fn.name, hexLength: fn.hexLength, name: shard.name, dir });
        } else {
          strays.push(dir);
        }
      }
    }
    const found: { key: string; size: number; mtimeMs: number }[] = [];
    // A few shards at a time, each with all its lstat calls in flight: measured faster than a
    // fixed pool of workers over all files (the per-await overhead dominates at 100k files).
    await forEachLimit(shards, SHARD_CONCURRENCY, async ({ fn, hexLength, name: shard, dir }) => {
      this.#dirs.add(dir);
      const names = await readdir(dir);
      await Promise.all(
        names.map(async (name) => {
          const file = `${dir}/${name}`;
          const [, hash = '', size = ''] = FILE_NAME.exec(name) ?? [];
          const info =
            hash.length === hexLength && hash.startsWith(shard)
              ? await lstat(file).catch(() => undefined)
              : null;
          if (info === undefined) return; // Vanished meanwhile.
          if (
            info === null ||
            !info.isFile() ||
            (this.#contentAddressed && info.size !== Number(size))
          ) {
            // Not ours, or truncated by a power loss.
            strays.push(file);
          } else {
            found.push({ key: `${fn}/${name}`, size: info.size, mtimeMs: info.mtimeMs });
          }
        }),
      );
    });
    await forEachLimit(strays, SHARD_CONCURRENCY, (path) =>
      rm(path, { recursive: true, force: true }),
    );
    return found;
  }
}

interface DiskBlobWriterOptions {
  readonly key: string;
  readonly handle: FileHandle;
  readonly tmp: string;
  readonly maxBytes: number;
  /** Required length at commit, or undefined when any length is fine. */
  readonly expectedSize: number | undefined;
  readonly fsync: boolean;
  /** Renames the closed temporary file into place and indexes it. */
  readonly install: (size: number) => Promise<void>;
}

class DiskBlobWriter implements BlobWriter {
  readonly #options: DiskBlobWriterOptions;
  #handle: FileHandle | undefined;
  #written = 0;
  /** Chunks handed to `write` and not yet passed to the file, in order. */
  #queue: Uint8Array[] = [];
  /** Bytes handed to `write` whose file write has not finished. */
  #queuedBytes = 0;
  /** Bytes already in the file: where the next batch goes. */
  #flushed = 0;
  /** The running flush loop, while there is one. */
  #flushing: Promise<void> | undefined;
  /** The batch being written (never rejects). */
  #batch: Promise<void> | undefined;
  /** The first error of a queued write. */
  #failure: unknown;
  #state: 'open' | 'committing' | 'committed' | 'aborted' = 'open';
  #commit: Promise<void> | undefined;

  constructor(options: DiskBlobWriterOptions) {
    this.#options = options;
    this.#handle = options.handle;
  }

  get written(): number {
    return this.#written;
  }

  /**
   * Queues the chunk for the file and resolves at once while less than
   * {@link WRITE_BEHIND_BYTES} are queued, so the caller can receive and hash
   * the next chunk while this one is written. The caller must not change the
   * chunk afterwards. A failed write fails the next `write` or the `commit`.
   */
  async write(chunk: Uint8Array): Promise<void> {
    const { maxBytes } = this.#options;
    const handle = this.#openHandle();
    if (this.#failure !== undefined) return this.#fail();
    if (this.#written + chunk.byteLength > maxBytes) {
      await this.abort();
      throw resourceExhausted(
        `blob ${this.#options.key} is larger than the disk store's budget of ${maxBytes} bytes`,
      );
    }
    this.#written += chunk.byteLength;
    if (chunk.byteLength > 0) {
      this.#queue.push(chunk);
      this.#queuedBytes += chunk.byteLength;
      this.#flushing ??= this.#flush(handle);
    }
    while (this.#queuedBytes > WRITE_BEHIND_BYTES && this.#failure === undefined) {
      await this.#batch;
    }
    if (this.#failure !== undefined) return this.#fail();
  }

  commit(): Promise<void> {
    let handle: FileHandle;
    try {
      handle = this.#openHandle();
    } catch (err) {
      return Promise.reject(err);
    }
    this.#state = 'committing';
    this.#commit = this.#doCommit(handle);
    return this.#commit;
  }

  async abort(): Promise<void> {
    if (this.#commit !== undefined) {
      // A failed commit cleans up after itself; a successful one must stay.
      await this.#commit.catch(() => {});
      return;
    }
    if (this.#state !== 'open') return;
    this.#state = 'aborted';
    await this.#discard();
  }

  async #doCommit(handle: FileHandle): Promise<void> {
    const { key, expectedSize, fsync, install } = this.#options;
    try {
      if (expectedSize !== undefined && this.#written !== expectedSize) {
        throw invalidArgument(
          `blob ${key}: received ${this.#written} bytes, but the digest declares ${expectedSize}`,
        );
      }
      await this.#drain();
      if (this.#failure !== undefined) {
        throw fromFsError(this.#failure, `disk store: writing blob ${key}`);
      }
      this.#handle = undefined;
      try {
        if (fsync) await handle.sync();
      } finally {
        await handle.close();
      }
      await install(this.#written);
      this.#state = 'committed';
    } catch (err) {
      this.#state = 'aborted';
      await this.#discard();
      throw err instanceof KilnError ? err : fromFsError(err, `disk store: committing blob ${key}`);
    }
  }

  async #discard(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await this.#drain();
    await handle?.close().catch(() => {});
    await rm(this.#options.tmp, { force: true }).catch(() => {});
  }

  /**
   * Writes queued chunks until none are left, one `writev` at a time: one
   * thread-pool request per batch, however small the chunks, and never two
   * requests of one upload contending for the file.
   */
  async #flush(handle: FileHandle): Promise<void> {
    while (this.#queue.length > 0 && this.#failure === undefined) {
      const chunks = this.#queue.splice(0, MAX_WRITEV_CHUNKS);
      let bytes = 0;
      for (const chunk of chunks) bytes += chunk.byteLength;
      this.#batch = writevFully(handle, chunks, this.#flushed).catch((err: unknown) => {
        this.#failure ??= err;
      });
      await this.#batch;
      this.#flushed += bytes;
      this.#queuedBytes -= bytes;
    }
    this.#flushing = undefined;
  }

  /** Waits until every queued chunk is written or a write failed. */
  async #drain(): Promise<void> {
    await this.#flushing;
  }

  async #fail(): Promise<never> {
    await this.abort();
    throw fromFsError(this.#failure, `disk store: writing blob ${this.#options.key}`);
  }

  #openHandle(): FileHandle {
    if (this.#state !== 'open' || this.#handle === undefined) {
      throw failedPrecondition(`upload of blob ${this.#options.key} is already ${this.#state}`);
    }
    return this.#handle;
  }
}

/**
 * Validates a read range against a blob's length, with the codes ByteStream
 * expects: OUT_OF_RANGE for a bad offset, INVALID_ARGUMENT for a bad limit.
 */
function resolveRange(
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

async function* empty(): AsyncIterable<Uint8Array> {}

/** ArrayBuffers of chunks from {@link readChunks}, whose first bytes nothing else uses. */
const withHeadroom = new WeakSet<ArrayBufferLike>();

/**
 * Whether `chunk` came from {@link DiskBlobStore.get} unsliced, with
 * {@link CHUNK_HEADROOM} bytes in front of it that no other view uses. An
 * encoder may write a message header there and send header and chunk as one
 * buffer without copying the chunk.
 */
export function hasHeadroom(chunk: Uint8Array): boolean {
  return chunk.byteOffset === CHUNK_HEADROOM && withHeadroom.has(chunk.buffer);
}

/**
 * Reads `[start, end)` in chunks of up to {@link READ_CHUNK}, each in its own
 * buffer with {@link CHUNK_HEADROOM} free bytes in front, and closes the file
 * when done or abandoned. Like a file stream, it ends early at end of file.
 */
async function* readChunks(
  handle: FileHandle,
  start: number,
  end: number,
): AsyncGenerator<Uint8Array> {
  try {
    for (let at = start; at < end; ) {
      const length = Math.min(READ_CHUNK, end - at);
      // Never pooled: the whole ArrayBuffer belongs to this chunk.
      const buffer = Buffer.allocUnsafeSlow(CHUNK_HEADROOM + length);
      let filled = 0;
      while (filled < length) {
        const offset = CHUNK_HEADROOM + filled;
        const { bytesRead } = await handle.read(buffer, offset, length - filled, at + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled > 0) {
        withHeadroom.add(buffer.buffer);
        yield buffer.subarray(CHUNK_HEADROOM, CHUNK_HEADROOM + filled);
      }
      if (filled < length) return;
      at += length;
    }
  } finally {
    await handle.close();
  }
}

/** Writes all of `chunks` at `position`, however many calls that takes. */
async function writevFully(
  handle: FileHandle,
  chunks: Uint8Array[],
  position: number,
): Promise<void> {
  let rest = chunks;
  let at = position;
  while (rest.length > 0) {
    let { bytesWritten } = await handle.writev(rest, at);
    if (bytesWritten === 0) throw new Error(`writev wrote nothing at offset ${at}`);
    at += bytesWritten;
    // Short writes are rare for files; skip what was written and go on.
    let i = 0;
    while (i < rest.length && bytesWritten >= (rest[i] as Uint8Array).byteLength) {
      bytesWritten -= (rest[i] as Uint8Array).byteLength;
      i++;
    }
    rest = rest.slice(i);
    if (bytesWritten > 0 && rest.length > 0) {
      rest[0] = (rest[0] as Uint8Array).subarray(bytesWritten);
    }
  }
}

async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
