/**
 * The worker's local content-addressed file cache. Input files are hardlinked
 * from here into build directories, so a blob used by many actions, or at
 * many paths of one action, is downloaded once and stored once.
 *
 * Hardlinks share mode bits, so a blob has up to two entries: one executable
 * (0o555) and one not (0o444). Cached files are read-only, and under
 * privilege separation owned by the worker while actions run as other
 * users, so that no action can write them or change their mode. When
 * actions run as the worker's own user, nothing stops one from making an
 * input writable and changing it; with `verifyIntegrity` the cache then
 * finds such files (before linking one, and in `verifyUnchanged` after an
 * action ran) and drops them, so that no later action gets the changed copy.
 *
 * Concurrent requests for the same entry share one download (single-flight).
 * Entries are evicted least-recently-used once the byte budget is exceeded,
 * except entries pinned by a link in progress; while many are pinned the
 * cache may briefly exceed its budget.
 */
import { chmodSync, chownSync, constants, linkSync, lstatSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConcurrencyLimiter } from '../client/concurrency-limiter.ts';
import { MissingBlobsError } from '../client/missing-blobs-error.ts';
import type { Digest } from '../digest/digest.ts';
import { fromFsError } from '../errors.ts';
import type { Logger } from '../util/logger.ts';
import type {
  BlobFetcher,
  ChangedFile,
  FileCacheOptions,
  FileCacheStats,
  LinkedFiles,
  LinkRequest,
} from './file-cache-types.ts';
import { describeChange, type FileIdentity, identityOf } from './file-identity.ts';
import { InputModeVotes } from './input-mode-votes.ts';

// Callers keep importing the cache's types from here.
export type * from './file-cache-types.ts';

interface Entry {
  readonly digest: Digest;
  readonly executable: boolean;
  readonly path: string;
  /** Links in progress that need this entry; never evicted while positive. */
  pins: number;
  ready: boolean;
  /** Recorded when ready, with `verifyIntegrity`. */
  identity?: FileIdentity;
  /** Why it was discarded; its file goes once no link in progress pins it. */
  discarded?: string;
  readonly loaded: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

/** Most bytes of small blobs requested by one batchRead call of the cache. */
const BATCH_GROUP_BYTES = 8 * 1024 * 1024;
const FAN_OUT = /^[0-9a-f]{2}$/;

/** A local content-addressed file cache with single-flight fetches and LRU eviction. */
export class FileCache {
  readonly #directory: string;
  readonly #maxBytes: number;
  readonly #cas: BlobFetcher;
  readonly #batchBlobBytes: number;
  readonly #limiter: ConcurrencyLimiter;
  readonly #takeOwnership: boolean;
  readonly #verifyIntegrity: boolean;
  readonly #log: Logger | undefined;
  /** In LRU order: the first entry is the next eviction candidate. */
  readonly #entries = new Map<string, Entry>();
  readonly #unlinks = new Set<Promise<void>>();
  #sequence = 0;
  #bytes = 0;
  #files = 0;
  #fetches = 0;
  #hits = 0;
  #evictions = 0;
  #discarded = 0;
  #copies = 0;
  /** Which mode inputs are mostly asked in: adopted outputs take it. */
  readonly #inputModes = new InputModeVotes();

  private constructor(options: FileCacheOptions) {
    this.#directory = options.directory;
    this.#maxBytes = options.maxBytes;
    this.#cas = options.cas;
    this.#batchBlobBytes = options.batchBlobBytes ?? 1024 * 1024;
    this.#limiter = new ConcurrencyLimiter({ limit: options.concurrency ?? 64 });
    this.#takeOwnership = options.privateToWorker === true;
    this.#verifyIntegrity = options.verifyIntegrity === true;
    this.#log = options.log;
  }

  /** Prepares the directory (removing what an earlier process cached) and returns the cache. */
  static async open(options: FileCacheOptions): Promise<FileCache> {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes <= 0) {
      throw new RangeError(`file cache maxBytes ${options.maxBytes} must be a positive integer`);
    }
    const dir = options.directory;
    try {
      await mkdir(dir, { recursive: true });
      if (options.privateToWorker === true) await chmod(dir, 0o700);
      // Only the cache's own fan-out directories go, so a misconfigured path loses nothing else.
      const stale = (await readdir(dir)).filter((name) => FAN_OUT.test(name));
      await Promise.all(stale.map((name) => rm(join(dir, name), { recursive: true, force: true })));
      await Promise.all(
        Array.from({ length: 256 }, (_, i) => mkdir(join(dir, i.toString(16).padStart(2, '0')))),
      );
    } catch (err) {
      throw fromFsError(err, `preparing file cache ${dir}`);
    }
    return new FileCache(options);
  }

  /** Current counters. */
  get stats(): FileCacheStats {
    return {
      bytes: this.#bytes,
      files: this.#files,
      fetches: this.#fetches,
      hits: this.#hits,
      evictions: this.#evictions,
      discarded: this.#discarded,
      copies: this.#copies,
    };
  }

  /** Hardlinks (or copies, across devices) the blob to `path` with the given mode. */
  async link(digest: Digest, executable: boolean, path: string): Promise<void> {
    await this.linkAll([{ digest, executable, path }]);
  }

  /**
   * Materializes many files, fetching what is not cached in as few requests
   * as possible (and, with `verifyIntegrity`, anew what changed in place).
   * Rejects with one MissingBlobsError naming every absent blob, or with the
   * first other failure, after every request has settled.
   */
  async linkAll(requests: readonly LinkRequest[]): Promise<LinkedFiles> {
    const pinned = new Map<string, Entry>();
    const created: Entry[] = [];
    for (const r of requests) {
      this.#inputModes.note(r.executable);
      const key = entryKey(r.digest, r.executable);
      if (pinned.has(key)) continue;
      let entry = this.#entries.get(key);
      if (entry !== undefined && this.#changeOf(entry) !== undefined) entry = undefined;
      if (entry === undefined) {
        entry = this.#createEntry(r.digest, r.executable);
        this.#entries.set(key, entry);
        created.push(entry);
      } else {
        this.#hits++;
        this.#entries.delete(key);
        this.#entries.set(key, entry);
      }
      entry.pins++;
      pinned.set(key, entry);
    }
    try {
      this.#fetch(created).catch((err: unknown) => {
        for (const e of created) this.#failed(e, err);
      });
      const settled = await Promise.allSettled(
        requests.map(async (r) => {
          const entry = pinned.get(entryKey(r.digest, r.executable)) as Entry;
          await entry.loaded;
          await this.#limiter.run(() => materialize(entry, r.path));
        }),
      );
      throwCombined(settled.flatMap((s) => (s.status === 'rejected' ? [s.reason] : [])));
    } finally {
      for (const entry of pinned.values()) this.#unpin(entry);
      this.#evict();
    }
    if (!this.#verifyIntegrity) return Linked.none;
    const paths = new Map<Entry, string[]>();
    for (const r of requests) {
      const entry = pinned.get(entryKey(r.digest, r.executable)) as Entry;
      const list = paths.get(entry);
      if (list === undefined) paths.set(entry, [r.path]);
      else list.push(r.path);
    }
    return new Linked(paths);
  }

  /**
   * Checks the cache files a {@link linkAll} call linked, after the action
   * that reads them ran and before its outputs are used: returns those that
   * changed in place since they were cached, and discards them, so that the
   * next request fetches the blob anew. Without `verifyIntegrity` nothing is
   * recorded and nothing is found. Entries evicted meanwhile are no longer
   * served and go unchecked.
   */
  async verifyUnchanged(linked: LinkedFiles): Promise<ChangedFile[]> {
    if (!(linked instanceof Linked)) throw new TypeError('not the result of FileCache.linkAll');
    const changed: ChangedFile[] = [];
    for (const [entry, paths] of linked.paths) {
      const change = this.#changeOf(entry);
      if (change === undefined) continue;
      changed.push({ digest: entry.digest, executable: entry.executable, paths, change });
    }
    return changed;
  }

  /**
   * Adds a file this worker already holds (an output it has just uploaded)
   * by hardlinking it, so that a later action reading it needs no download:
   * in a chain of actions, one's outputs are the next one's inputs. The file
   * becomes read-only, as cached files are, and executable or not as recent
   * inputs mostly were (`executable`, the output's own mode, when they were
   * evenly split): the output was already reported with its own. Does
   * nothing when the blob is cached or being fetched; when the link fails,
   * the entry is fetched from the CAS instead. Never rejects.
   */
  async adopt(digest: Digest, outputExecutable: boolean, path: string): Promise<void> {
    const executable = this.#inputModes.preferred(outputExecutable);
    const key = entryKey(digest, executable);
    if (this.#entries.has(key)) return;
    const entry = this.#createEntry(digest, executable);
    this.#entries.set(key, entry);
    try {
      linkSync(path, entry.path);
      // The action's user is gone by now (privilege separation killed its processes).
      if (this.#takeOwnership)
        chownSync(entry.path, process.getuid?.() ?? 0, process.getgid?.() ?? 0);
      chmodSync(entry.path, modeOf(executable));
      this.#loaded(entry, false);
    } catch {
      await unlink(entry.path).catch(() => {});
      // Whoever waits for it meanwhile gets it from the CAS, where it was just uploaded.
      await this.#fetch([entry]).catch((err: unknown) => this.#failed(entry, err));
    }
  }

  /** Waits for background deletions of evicted files. */
  async close(): Promise<void> {
    await Promise.all(this.#unlinks);
  }

  #createEntry(digest: Digest, executable: boolean): Entry {
    const name = `${digest.hash}_${digest.size}${executable ? '_x' : ''}_${this.#sequence++}`;
    let resolve: () => void = () => {};
    let reject: (err: unknown) => void = () => {};
    const loaded = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Failures are observed by every requester; this keeps an unobserved one from crashing the process.
    loaded.catch(() => {});
    return {
      digest,
      executable,
      path: join(this.#directory, digest.hash.slice(0, 2), name),
      pins: 0,
      ready: false,
      loaded,
      resolve,
      reject,
    };
  }

  /**
   * Fills new entries: from the other mode's cached copy when there is one,
   * otherwise small blobs in grouped batch reads and large ones streamed.
   */
  async #fetch(entries: readonly Entry[]): Promise<void> {
    const remote: Entry[] = [];
    const local: Array<Promise<void>> = [];
    for (const e of entries) {
      const sibling = this.#entries.get(entryKey(e.digest, !e.executable));
      if (sibling?.ready && this.#changeOf(sibling) === undefined) {
        local.push(this.#copyFrom(sibling, e));
      } else remote.push(e);
    }
    const small = remote.filter((e) => e.digest.size <= this.#batchBlobBytes);
    const large = remote.filter((e) => e.digest.size > this.#batchBlobBytes);
    const groups: Entry[][] = [];
    let bytes = Number.POSITIVE_INFINITY;
    for (const e of small) {
      if (bytes + e.digest.size > BATCH_GROUP_BYTES) {
        groups.push([]);
        bytes = 0;
      }
      groups.at(-1)?.push(e);
      bytes += e.digest.size;
    }
    await Promise.all([
      ...local,
      ...groups.map((group) => this.#fetchGroup(group)),
      ...large.map(async (e) => {
        try {
          await this.#cas.downloadToFile(e.digest, e.path, { mode: modeOf(e.executable) });
          this.#loaded(e);
        } catch (err) {
          this.#failed(e, err);
        }
      }),
    ]);
  }

  async #fetchGroup(group: readonly Entry[]): Promise<void> {
    let read: { found: Map<string, Buffer>; missing: Digest[] };
    try {
      read = await this.#cas.readAvailable(group.map((e) => e.digest));
    } catch (err) {
      for (const e of group) this.#failed(e, err);
      return;
    }
    const absent = new Set(read.missing.map((d) => d.key));
    const pending: Entry[] = [];
    for (const e of group) {
      if (absent.has(e.digest.key)) this.#failed(e, new MissingBlobsError([e.digest]));
      else pending.push(e);
    }
    const data = read.found;
    await Promise.all(
      pending.map((e) =>
        this.#limiter.run(async () => {
          try {
            const bytes = data.get(e.digest.key) ?? Buffer.alloc(0);
            await writeFile(e.path, bytes, { mode: modeOf(e.executable), flag: 'wx' });
            this.#loaded(e);
          } catch (err) {
            this.#failed(e, fromFsError(err, `caching ${e.digest.key}`));
          }
        }),
      ),
    );
  }

  /** Fills `entry` with a copy of the same blob cached in the other mode. */
  async #copyFrom(sibling: Entry, entry: Entry): Promise<void> {
    sibling.pins++;
    this.#copies++;
    try {
      await this.#limiter.run(async () => {
        await copyFile(sibling.path, entry.path, constants.COPYFILE_EXCL);
        await chmod(entry.path, modeOf(entry.executable));
      });
      this.#loaded(entry, false);
    } catch (err) {
      this.#failed(entry, fromFsError(err, `caching ${entry.digest.key}`));
    } finally {
      this.#unpin(sibling);
    }
  }

  #loaded(entry: Entry, fetched = true): void {
    if (this.#verifyIntegrity) {
      try {
        entry.identity = identityOf(lstatSync(entry.path, { bigint: true }));
      } catch (err) {
        this.#failed(entry, fromFsError(err, `caching ${entry.digest.key}`));
        this.#unlinkLater(entry.path);
        return;
      }
    }
    if (fetched) this.#fetches++;
    entry.ready = true;
    this.#bytes += entry.digest.size;
    this.#files++;
    entry.resolve();
    this.#evict();
  }

  #failed(entry: Entry, err: unknown): void {
    const key = entryKey(entry.digest, entry.executable);
    if (this.#entries.get(key) === entry) this.#entries.delete(key);
    entry.reject(err);
  }

  #evict(): void {
    if (this.#bytes <= this.#maxBytes) return;
    for (const [key, entry] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      if (!entry.ready || entry.pins > 0) continue;
      this.#entries.delete(key);
      this.#bytes -= entry.digest.size;
      this.#files--;
      this.#evictions++;
      this.#unlinkLater(entry.path);
    }
  }

  /**
   * What changed in the entry's file since it became ready (undefined when
   * nothing did, or when there is no record to compare with); a changed
   * entry is discarded, once.
   */
  #changeOf(entry: Entry): string | undefined {
    if (entry.discarded !== undefined) return entry.discarded;
    if (entry.identity === undefined) return undefined;
    let change: string | undefined;
    try {
      change = describeChange(entry.identity, identityOf(lstatSync(entry.path, { bigint: true })));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Evicted meanwhile: no longer served, so there is nothing to protect.
      const cached = this.#entries.get(entryKey(entry.digest, entry.executable)) === entry;
      if (code === 'ENOENT' && !cached) return undefined;
      change = code === 'ENOENT' ? 'deleted' : `unreadable (${code})`;
    }
    if (change !== undefined) this.#discard(entry, change);
    return change;
  }

  /** Stops serving a changed entry; its file goes now, or when the last link in progress ends. */
  #discard(entry: Entry, change: string): void {
    entry.discarded = change;
    this.#discarded++;
    const key = entryKey(entry.digest, entry.executable);
    if (this.#entries.get(key) === entry) {
      this.#entries.delete(key);
      this.#bytes -= entry.digest.size;
      this.#files--;
    }
    this.#log?.warn(
      { digest: entry.digest.key, executable: entry.executable, cachePath: entry.path, change },
      'a cached input file changed in place (an action running as the worker user wrote it); discarded, fetched anew when next needed',
    );
    if (entry.pins === 0) this.#unlinkLater(entry.path);
  }

  #unpin(entry: Entry): void {
    entry.pins--;
    if (entry.pins === 0 && entry.discarded !== undefined) this.#unlinkLater(entry.path);
  }

  #unlinkLater(path: string): void {
    // Entry paths are never reused, so a late unlink cannot hit a newer copy.
    const pending = unlink(path)
      .catch(() => {})
      .finally(() => this.#unlinks.delete(pending));
    this.#unlinks.add(pending);
  }
}

/** {@link LinkedFiles} as the cache keeps it: each entry with the paths it went to. */
class Linked implements LinkedFiles {
  static readonly none = new Linked(new Map());
  readonly paths: ReadonlyMap<Entry, string[]>;
  constructor(paths: ReadonlyMap<Entry, string[]>) {
    this.paths = paths;
  }
  get count(): number {
    return this.paths.size;
  }
}

function entryKey(digest: Digest, executable: boolean): string {
  return executable ? `${digest.key}:x` : digest.key;
}

function modeOf(executable: boolean): number {
  return executable ? 0o555 : 0o444;
}

/**
 * Hardlinks the cached file to `path`; copies where a hardlink is impossible.
 * The link is made synchronously: it creates no inode, only a directory
 * entry, and measured here a thread-pool round trip (wake-ups of a pool
 * thread and of the event loop) cost several times the syscall itself.
 */
async function materialize(entry: Entry, path: string): Promise<void> {
  try {
    linkSync(entry.path, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Other device, too many links to one inode, or a file system without hardlinks.
    if (code !== 'EXDEV' && code !== 'EMLINK' && code !== 'EPERM' && code !== 'ENOTSUP') {
      throw fromFsError(err, `linking ${entry.digest.key} to ${path}`);
    }
    try {
      await copyFile(entry.path, path, constants.COPYFILE_EXCL);
      await chmod(path, modeOf(entry.executable));
    } catch (copyErr) {
      throw fromFsError(copyErr, `copying ${entry.digest.key} to ${path}`);
    }
  }
}

/** Throws nothing, one MissingBlobsError naming every absent blob, or the first other error. */
function throwCombined(errors: readonly unknown[]): void {
  if (errors.length === 0) return;
  const other = errors.find((e) => !(e instanceof MissingBlobsError));
  if (other !== undefined) throw other;
  throw MissingBlobsError.merge(errors as MissingBlobsError[]);
}
