/**
 * The open temporary files of one disk store's uploads, bounded. An upload
 * keeps its file open only while bytes are flowing: a file no write has used
 * for {@link OpenUploadFilesOptions.idleCloseMs} is closed, and reopened
 * when its upload resumes. So a client that abandons uploads (a broken
 * connection, a cancelled build) leaves partial files on disk, resumable,
 * but no file descriptors. At the bound, opening one more file first closes
 * the least recently used idle one; only when every open file is in the
 * middle of a write does it fail, with RESOURCE_EXHAUSTED.
 */
import { resourceExhausted } from '../errors.ts';

/** Most temporary upload files open at once, per disk store, by default. */
export const DEFAULT_MAX_OPEN_UPLOAD_FILES = 512;
/** How long an upload's file stays open without a write, by default. */
export const DEFAULT_UPLOAD_FILE_IDLE_CLOSE_MS = 1000;

/** An upload's temporary file, as {@link OpenUploadFiles} sees it. */
export interface UploadFile {
  /** True when no write, flush or commit is using the file, so it can be closed now. */
  readonly idle: boolean;
  /** Closes the file; the upload reopens it when it needs it again. Never rejects. */
  closeIdle(): Promise<void>;
}

/** Options of {@link OpenUploadFiles}. */
export interface OpenUploadFilesOptions {
  /** Most files open at once. Default {@link DEFAULT_MAX_OPEN_UPLOAD_FILES}. */
  readonly maxOpen?: number;
  /** Close a file no write has used for this long. Default {@link DEFAULT_UPLOAD_FILE_IDLE_CLOSE_MS}. */
  readonly idleCloseMs?: number;
  /** Milliseconds clock; injectable for tests. */
  readonly now?: () => number;
}

/** See the module comment. */
export class OpenUploadFiles {
  readonly #maxOpen: number;
  readonly #idleCloseMs: number;
  readonly #now: () => number;
  /** Open files and their last use, least recently used first (a Map keeps insertion order). */
  readonly #open = new Map<UploadFile, number>();
  /** Runs only while files are open, so an idle store has no timer. */
  #timer: NodeJS.Timeout | undefined;

  constructor(options: OpenUploadFilesOptions = {}) {
    this.#maxOpen = options.maxOpen ?? DEFAULT_MAX_OPEN_UPLOAD_FILES;
    this.#idleCloseMs = options.idleCloseMs ?? DEFAULT_UPLOAD_FILE_IDLE_CLOSE_MS;
    this.#now = options.now ?? Date.now;
  }

  /** Files counted as open. */
  get size(): number {
    return this.#open.size;
  }

  /**
   * Counts `file` as open; call before opening it, and {@link release} if
   * the open fails. At the bound it closes the least recently used idle file
   * first, and fails with RESOURCE_EXHAUSTED when none is idle.
   */
  async acquire(file: UploadFile): Promise<void> {
    let victim: UploadFile | undefined;
    this.#open.delete(file);
    if (this.#open.size >= this.#maxOpen) {
      victim = this.#leastRecentlyUsedIdle();
      if (victim === undefined) {
        throw resourceExhausted(
          `too many uploads writing at once: all ${this.#maxOpen} temporary upload files ` +
            'of the disk store are in use; retry later',
        );
      }
      this.#open.delete(victim);
    }
    // Counted before the victim is closed, so that concurrent callers see the slot taken.
    this.#open.set(file, this.#now());
    this.#timer ??= this.#startTimer();
    await victim?.closeIdle();
  }

  /** A use of `file`: it becomes the most recently used. */
  touch(file: UploadFile): void {
    if (this.#open.delete(file)) this.#open.set(file, this.#now());
  }

  /** `file` is closed (or was never opened). Safe to call more than once. */
  release(file: UploadFile): void {
    this.#open.delete(file);
    if (this.#open.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Closes every idle file unused for the idle time; stops at the first recent one. */
  closeIdle(): void {
    const cutoff = this.#now() - this.#idleCloseMs;
    for (const [file, lastUse] of this.#open) {
      if (lastUse > cutoff) break;
      if (!file.idle) continue;
      this.release(file);
      void file.closeIdle();
    }
  }

  #leastRecentlyUsedIdle(): UploadFile | undefined {
    for (const file of this.#open.keys()) if (file.idle) return file;
    return undefined;
  }

  #startTimer(): NodeJS.Timeout {
    const timer = setInterval(() => this.closeIdle(), Math.max(10, this.#idleCloseMs / 2));
    timer.unref();
    return timer;
  }
}
