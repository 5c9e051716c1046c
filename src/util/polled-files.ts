/**
 * Notices when a set of files changes, by polling their identity, size and
 * times (through symlinks), and asks its owner to reload them once the
 * change has settled: the TLS files (src/tls/reloading-server-tls.ts) and
 * the tokens file (src/auth/tokens-file.ts).
 */
import { stat } from 'node:fs/promises';

/** Identity, size and times of each file, to notice replacements; throws when one is missing. */
export async function filesState(paths: readonly string[]): Promise<string> {
  const stats = await Promise.all(paths.map((p) => stat(p)));
  return stats.map((s) => `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`).join(' ');
}

/** Options for {@link PolledFiles}. */
export interface PolledFilesOptions {
  readonly paths: readonly string[];
  /** How often the files are looked at. */
  readonly intervalMs: number;
  /**
   * The state the owner last loaded (from {@link filesState}, taken before
   * reading, so that a change during the read is noticed).
   */
  readonly loadedState: string;
  /**
   * Reads the files again. A rejection means the files are not usable: the
   * owner keeps what it had, and this is not retried until they change again.
   */
  readonly reload: () => Promise<void>;
  /** Told each failed reload (the owner logs it). */
  readonly onError: (err: Error) => void;
}

/**
 * Calls `reload` once the files have changed and then stayed unchanged for
 * one interval, so that a tool writing them in several steps is read once.
 * Polling rather than `fs.watch`: replacing a file by rename or swapping a
 * symlink (Kubernetes secrets) escapes a watch on the old inode.
 */
export class PolledFiles {
  readonly #options: PolledFilesOptions;
  readonly #timer: NodeJS.Timeout;
  #loaded: string;
  #seen: string;
  #failed: string | undefined;
  #checking = false;

  constructor(options: PolledFilesOptions) {
    this.#options = options;
    this.#loaded = options.loadedState;
    this.#seen = options.loadedState;
    this.#timer = setInterval(() => void this.#check(), options.intervalMs);
    this.#timer.unref();
  }

  /** Stops polling. */
  close(): void {
    clearInterval(this.#timer);
  }

  async #check(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      const state = await filesState(this.#options.paths).catch(
        (err: Error) => `unreadable ${err.message}`,
      );
      const stable = state === this.#seen;
      this.#seen = state;
      if (!stable || state === this.#loaded || state === this.#failed) return;
      try {
        await this.#options.reload();
        this.#loaded = state;
        this.#failed = undefined;
      } catch (err) {
        this.#failed = state;
        this.#options.onError(err as Error);
      }
    } finally {
      this.#checking = false;
    }
  }
}
