/**
 * Build directories kept for reuse. Creating and deleting directories is one
 * of the dearest file system operations (a block allocated and freed, and
 * journalled, each time), and a fresh build directory costs two of each;
 * emptying the input root of a used one costs one `readdir` when the action
 * left nothing behind.
 *
 * A returned directory is emptied in the background, so that an action's
 * result goes out without waiting for its build directory to be cleaned; it
 * is handed out again only once empty. It is reused only when its input
 * root is still a directory with the mode it was created with, its
 * temporary directory still the worker's with mode 0o700, and everything in
 * both could be deleted; otherwise it is deleted as a one-off
 * build directory would be.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../util/logger.ts';
import { type BuildDirectory, createBuildDirectory } from './build-directory.ts';
import type { KeepDirectories } from './keep-directories.mjs';

/** Options for {@link BuildDirectoryPool}. */
export interface BuildDirectoryPoolOptions {
  /** Directory under which build directories are created (created if absent). */
  readonly buildRoot: string;
  /** Most emptied directories kept for reuse; 64 by default. */
  readonly maxIdle?: number;
  /** Where a directory that could not be deleted is reported. */
  readonly log?: Logger;
  /**
   * Empties a directory, keeping it; rejects when something stays. By
   * default each entry is removed here with `rm`; the worker passes its spawn
   * helper's, which does it with synchronous calls in that small process.
   */
  readonly empty?: (path: string) => Promise<void>;
  /**
   * While actions run, a used input root is not emptied but moved aside (one
   * rename) and replaced by a new empty directory (one mkdir); what was moved
   * aside is deleted once no build directory has been in use for this long.
   * Deleting many files and directories during a build is what makes creating
   * new ones expensive on some file systems (on the ext4 Kiln was measured
   * on, the inode allocator scanned past recently freed inodes: a quarter of
   * the server's CPU in a remote build), and the deletion is no action's
   * business. 1 s by default.
   */
  readonly sweepIdleMs?: number;
  /** Input roots moved aside after which they are deleted even while busy; 256 by default, 0 empties each at once. */
  readonly maxDeferred?: number;
  /**
   * Empties a used input root but keeps the directories `keep` allows, and
   * returns them (the worker passes its spawn helper's). When given, this
   * replaces the trash: the next action finds those directories in its
   * input root ({@link BuildDirectory.skeleton}) and staging creates only
   * the ones missing and removes the ones it does not need, instead of a
   * mkdir now and a rmdir later for every directory of every action.
   */
  readonly emptyKeepingDirectories?: (path: string, keep: KeepDirectories) => Promise<string[]>;
  /**
   * Permission bits of the directories staging creates (InputStagerOptions.directoryMode):
   * only directories with exactly these are kept for the next action. 0o755 by default.
   */
  readonly directoryMode?: number;
}

interface Pooled {
  readonly directory: BuildDirectory;
  /** Mode bits of the input root when it was created. */
  readonly rootMode: number;
  /** Empty directories left in the input root for the next action. */
  skeleton: readonly string[];
}

/** Most directories kept in a reused input root. */
const MAX_SKELETON = 10_000;

/** The build root's subdirectory for used input roots waiting to be deleted. */
const TRASH = '.trash';

/** Hands out empty build directories, reusing the ones actions gave back. */
export class BuildDirectoryPool {
  readonly #buildRoot: string;
  readonly #maxIdle: number;
  readonly #log: Logger | undefined;
  readonly #empty: (path: string) => Promise<void>;
  readonly #emptyKeeping: BuildDirectoryPoolOptions['emptyKeepingDirectories'];
  readonly #idle: Pooled[] = [];
  /** Directories being emptied or deleted in the background. */
  readonly #cleaning = new Set<Promise<void>>();
  readonly #sweepIdleMs: number;
  readonly #maxDeferred: number;
  /** Where used input roots wait for deletion (`.trash` in the build root). */
  readonly #trashDir: string;
  readonly #directoryMode: number;
  #trashReady: Promise<void> | undefined;
  /** Directories handed out and not given back. */
  #inUse = 0;
  /** Input roots moved to the trash since the last sweep began. */
  #deferred = 0;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;
  #closed = false;
  readonly #uid = process.getuid?.() ?? 0;

  constructor(options: BuildDirectoryPoolOptions) {
    this.#buildRoot = options.buildRoot;
    this.#maxIdle = options.maxIdle ?? 64;
    this.#log = options.log;
    this.#empty = options.empty ?? removeEntries;
    this.#emptyKeeping = options.emptyKeepingDirectories;
    this.#sweepIdleMs = options.sweepIdleMs ?? 1000;
    this.#maxDeferred = options.maxDeferred ?? 256;
    this.#trashDir = join(options.buildRoot, TRASH);
    this.#directoryMode = options.directoryMode ?? 0o755;
  }

  /**
   * An empty build directory. Its `remove()` resolves at once with true and
   * empties the directory in the background for a later action (or deletes
   * it); it never rejects.
   */
  async acquire(): Promise<BuildDirectory> {
    // The longest-idle directory first: whatever an earlier action left
    // running in another session has had the most time to stop touching it.
    this.#inUse++;
    clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    let pooled: Pooled;
    try {
      pooled = this.#idle.shift() ?? (await this.#create());
    } catch (err) {
      this.#inUse--;
      throw err;
    }
    let given = false;
    return {
      ...pooled.directory,
      skeleton: pooled.skeleton,
      remove: () => {
        if (!given) {
          given = true;
          this.#inUse--;
        }
        return this.#release(pooled);
      },
    };
  }

  /** Deletes what waits in the trash now (tests and shutdown; otherwise it happens when idle). */
  sweep(): Promise<void> {
    clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    if (this.#sweeping !== undefined) return this.#sweeping;
    if (this.#deferred === 0 && this.#trashReady === undefined) return Promise.resolve();
    this.#deferred = 0;
    this.#sweeping = (async () => {
      try {
        await this.#trashReady;
        await this.#empty(this.#trashDir);
      } catch (err) {
        this.#log?.warn({ err, path: this.#trashDir }, 'build directory trash not emptied');
      }
    })().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  /** Resolves once every directory given back so far is emptied (or deleted). */
  async settled(): Promise<void> {
    while (this.#cleaning.size > 0) await Promise.all(this.#cleaning);
  }

  /** Waits for the background cleaning, then deletes the idle directories. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.settled();
    await this.sweep();
    if (this.#trashReady !== undefined) await rm(this.#trashDir, { recursive: true, force: true });
    const idle = this.#idle.splice(0);
    await Promise.all(idle.map((p) => p.directory.remove()));
  }

  async #create(): Promise<Pooled> {
    const directory = await createBuildDirectory(this.#buildRoot);
    const rootMode = await lstat(directory.inputRoot).then(
      (info) => info.mode,
      () => -1,
    );
    return { directory, rootMode, skeleton: [] };
  }

  async #release(pooled: Pooled): Promise<boolean> {
    const cleaning = this.#clean(pooled).finally(() => this.#cleaning.delete(cleaning));
    this.#cleaning.add(cleaning);
    return true;
  }

  async #clean(pooled: Pooled): Promise<void> {
    const keep = !this.#closed && this.#idle.length + this.#cleaning.size < this.#maxIdle;
    // Closed while emptying: nobody will take it any more.
    if (
      keep &&
      (await this.#tmpEmptied(pooled)) &&
      (await this.#renewed(pooled)) &&
      !this.#closed
    ) {
      this.#idle.push(pooled);
    } else if (!(await pooled.directory.remove())) {
      this.#log?.warn({ path: pooled.directory.path }, 'build directory not removed');
    }
    this.#scheduleSweep();
  }

  /**
   * Empties the action's temporary directory, which is usually empty
   * already (one `readdir`). False when it cannot be reused: no longer a
   * directory of the worker's with mode 0o700 (privilege separation gives it
   * back so; an action that changed it otherwise gets a new one).
   */
  async #tmpEmptied({ directory }: Pooled): Promise<boolean> {
    try {
      const info = lstatSync(directory.tmpDir);
      if (!info.isDirectory() || (info.mode & 0o7777) !== 0o700 || info.uid !== this.#uid) {
        return false;
      }
      if (readdirSync(directory.tmpDir).length > 0) await this.#empty(directory.tmpDir);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Gives the directory an empty input root: a fresh one, with the used one
   * moved to the trash, or (deferral off, or the move failed) the used one
   * emptied. False when it cannot be reused.
   */
  async #renewed(pooled: Pooled): Promise<boolean> {
    pooled.skeleton = [];
    if (this.#emptyKeeping !== undefined) return this.#pruned(pooled, this.#emptyKeeping);
    if (this.#maxDeferred === 0) return emptied(pooled, this.#empty);
    const { inputRoot } = pooled.directory;
    try {
      const info = await lstat(inputRoot);
      if (!info.isDirectory() || info.mode !== pooled.rootMode) return false;
      this.#trashReady ??= mkdir(this.#trashDir, { recursive: true }).then(() => {});
      await this.#trashReady;
      await rename(inputRoot, join(this.#trashDir, randomBytes(8).toString('hex')));
      await mkdir(inputRoot);
    } catch {
      return emptied(pooled, this.#empty);
    }
    if (++this.#deferred >= this.#maxDeferred) void this.sweep();
    return true;
  }

  /** Empties the input root down to its reusable directories; false when it cannot be reused. */
  async #pruned(
    pooled: Pooled,
    emptyKeeping: NonNullable<BuildDirectoryPoolOptions['emptyKeepingDirectories']>,
  ): Promise<boolean> {
    const { inputRoot } = pooled.directory;
    try {
      const info = lstatSync(inputRoot);
      if (!info.isDirectory() || info.mode !== pooled.rootMode) return false;
      const mode = this.#directoryMode;
      pooled.skeleton = await emptyKeeping(inputRoot, { mode, limit: MAX_SKELETON });
      return true;
    } catch {
      // Something could not be deleted: the full removal deals with it.
      return false;
    }
  }

  /** Sweeps the trash once no directory has been in use for a while. */
  #scheduleSweep(): void {
    if (this.#deferred === 0 || this.#inUse > 0 || this.#sweepTimer !== undefined) return;
    if (this.#closed) return;
    this.#sweepTimer = setTimeout(() => {
      this.#sweepTimer = undefined;
      if (this.#inUse === 0) void this.sweep();
    }, this.#sweepIdleMs);
    this.#sweepTimer.unref();
  }
}

/** Empties the input root; false when it cannot be reused as if fresh. */
async function emptied(
  { directory, rootMode }: Pooled,
  empty: (path: string) => Promise<void>,
): Promise<boolean> {
  try {
    const info = await lstat(directory.inputRoot);
    if (!info.isDirectory() || info.mode !== rootMode) return false;
    await empty(directory.inputRoot);
    return true;
  } catch {
    // Something the action made undeletable: the full removal deals with it.
    return false;
  }
}

/** Removes every entry of `path` with asynchronous calls from this process. */
async function removeEntries(path: string): Promise<void> {
  const entries = await readdir(path);
  await Promise.all(entries.map((name) => rm(join(path, name), { recursive: true, force: true })));
}
