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
 * root is still a directory with the mode it was created with, and
 * everything in it could be deleted; otherwise it is deleted as a one-off
 * build directory would be.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../util/logger.ts';
import { type BuildDirectory, createBuildDirectory } from './build-directory.ts';

/** Options for {@link BuildDirectoryPool}. */
export interface BuildDirectoryPoolOptions {
  /** Directory under which build directories are created (created if absent). */
  readonly buildRoot: string;
  /** Most emptied directories kept for reuse; 64 by default. */
  readonly maxIdle?: number;
  /** Where a directory that could not be deleted is reported. */
  readonly log?: Logger;
}

interface Pooled {
  readonly directory: BuildDirectory;
  /** Mode bits of the input root when it was created. */
  readonly rootMode: number;
}

/** Hands out empty build directories, reusing the ones actions gave back. */
export class BuildDirectoryPool {
  readonly #buildRoot: string;
  readonly #maxIdle: number;
  readonly #log: Logger | undefined;
  readonly #idle: Pooled[] = [];
  /** Directories being emptied or deleted in the background. */
  readonly #cleaning = new Set<Promise<void>>();
  #closed = false;

  constructor(options: BuildDirectoryPoolOptions) {
    this.#buildRoot = options.buildRoot;
    this.#maxIdle = options.maxIdle ?? 64;
    this.#log = options.log;
  }

  /**
   * An empty build directory. Its `remove()` resolves at once with true and
   * empties the directory in the background for a later action (or deletes
   * it); it never rejects.
   */
  async acquire(): Promise<BuildDirectory> {
    // The longest-idle directory first: whatever an earlier action left
    // running in another session has had the most time to stop touching it.
    const pooled = this.#idle.shift() ?? (await this.#create());
    return { ...pooled.directory, remove: () => this.#release(pooled) };
  }

  /** Resolves once every directory given back so far is emptied (or deleted). */
  async settled(): Promise<void> {
    while (this.#cleaning.size > 0) await Promise.all(this.#cleaning);
  }

  /** Waits for the background cleaning, then deletes the idle directories. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.settled();
    const idle = this.#idle.splice(0);
    await Promise.all(idle.map((p) => p.directory.remove()));
  }

  async #create(): Promise<Pooled> {
    const directory = await createBuildDirectory(this.#buildRoot);
    const rootMode = await lstat(directory.inputRoot).then(
      (info) => info.mode,
      () => -1,
    );
    return { directory, rootMode };
  }

  async #release(pooled: Pooled): Promise<boolean> {
    const cleaning = this.#clean(pooled).finally(() => this.#cleaning.delete(cleaning));
    this.#cleaning.add(cleaning);
    return true;
  }

  async #clean(pooled: Pooled): Promise<void> {
    const keep = !this.#closed && this.#idle.length + this.#cleaning.size < this.#maxIdle;
    // Closed while emptying: nobody will take it any more.
    if (keep && (await emptied(pooled)) && !this.#closed) {
      this.#idle.push(pooled);
    } else if (!(await pooled.directory.remove())) {
      this.#log?.warn({ path: pooled.directory.path }, 'build directory not removed');
    }
  }
}

/** Empties the input root; false when it cannot be reused as if fresh. */
async function emptied({ directory, rootMode }: Pooled): Promise<boolean> {
  try {
    const info = await lstat(directory.inputRoot);
    if (!info.isDirectory() || info.mode !== rootMode) return false;
    const entries = await readdir(directory.inputRoot);
    await Promise.all(
      entries.map((name) => rm(join(directory.inputRoot, name), { recursive: true, force: true })),
    );
    return true;
  } catch {
    // Something the action made undeletable: the full removal deals with it.
    return false;
  }
}
