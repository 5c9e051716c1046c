/**
 * Uploads in progress, kept across broken ByteStream.Write streams so that a
 * client can ask QueryWriteStatus how far it got and resume from there. Idle
 * uploads are abandoned (their temporary data removed) after a timeout. What
 * an idle upload holds meanwhile is its partial data: the disk store closes
 * the upload's file while no stream feeds it (see open-upload-files.ts).
 */
import type { Digest } from '../digest/digest.ts';
import { aborted } from '../errors.ts';
import type { BlobWriter } from '../storage/blob-store.ts';

/** How long an upload no stream feeds is kept for resumption, by default. */
export const DEFAULT_UPLOAD_IDLE_TIMEOUT_MS = 60_000;

/**
 * How many uploads no stream feeds are kept for resumption at most, by
 * default. A small upload keeps its bytes in memory until commit (see
 * small-blob-writer.ts), so without a cap a client that starts uploads and
 * breaks them off holds up to 64 KiB of server memory for each for a
 * minute, however many it starts (1,235 of them, 32 MB, after one minute
 * of `npm run fuzz`).
 */
export const DEFAULT_MAX_IDLE_UPLOADS = 512;

/** One upload, identified by its full resource name (which includes the client's uuid). */
export interface PendingUpload {
  readonly name: string;
  readonly digest: Digest;
  readonly writer: BlobWriter;
  /** True while a Write stream is feeding it. */
  active: boolean;
  lastUsedMs: number;
}

/** Options for {@link UploadRegistry}. */
export interface UploadRegistryOptions {
  /**
   * Abandon uploads no stream has touched for this long; checked every
   * quarter of it (at least every second, at most every 15 seconds).
   * Default {@link DEFAULT_UPLOAD_IDLE_TIMEOUT_MS}.
   */
  readonly idleTimeoutMs?: number;
  /**
   * Keep at most this many idle uploads: past it, the one idle the longest
   * is abandoned at once. Default {@link DEFAULT_MAX_IDLE_UPLOADS}.
   */
  readonly maxIdleUploads?: number;
  /** Milliseconds clock; injectable for tests. */
  readonly now?: () => number;
}

/** The set of resumable uploads of one server. */
export class UploadRegistry {
  readonly #uploads = new Map<string, PendingUpload>();
  /** The uploads no stream feeds, the one idle the longest first. */
  readonly #idle = new Set<PendingUpload>();
  readonly #idleTimeoutMs: number;
  readonly #maxIdleUploads: number;
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout;
  #abandoned = 0;

  constructor(options: UploadRegistryOptions = {}) {
    this.#idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_UPLOAD_IDLE_TIMEOUT_MS;
    this.#maxIdleUploads = options.maxIdleUploads ?? DEFAULT_MAX_IDLE_UPLOADS;
    this.#now = options.now ?? Date.now;
    const every = Math.min(15_000, Math.max(1000, this.#idleTimeoutMs / 4));
    this.#timer = setInterval(() => void this.sweep(), every);
    this.#timer.unref();
  }

  /** The upload with this name, marked active; ABORTED if another stream is feeding it. */
  resume(name: string): PendingUpload | undefined {
    const upload = this.#uploads.get(name);
    if (upload === undefined) return undefined;
    if (upload.active) {
      throw aborted(`upload ${name} is already being written by another stream; retry later`);
    }
    upload.active = true;
    upload.lastUsedMs = this.#now();
    this.#idle.delete(upload);
    return upload;
  }

  /** Registers a new active upload. */
  start(name: string, digest: Digest, writer: BlobWriter): PendingUpload {
    const upload: PendingUpload = { name, digest, writer, active: true, lastUsedMs: this.#now() };
    this.#uploads.set(name, upload);
    return upload;
  }

  /**
   * Marks an upload idle but resumable; when that makes more than
   * `maxIdleUploads` idle, the one idle the longest is abandoned.
   */
  release(upload: PendingUpload): void {
    upload.active = false;
    upload.lastUsedMs = this.#now();
    if (this.#uploads.get(upload.name) !== upload) return;
    this.#idle.delete(upload);
    this.#idle.add(upload);
    for (const oldest of this.#idle) {
      if (this.#idle.size <= this.#maxIdleUploads) break;
      this.#abandoned++;
      // finish() inside discard() takes it out of #idle at once; only the abort is async.
      void this.discard(oldest).catch(() => {});
    }
  }

  /** Forgets a finished upload. */
  finish(upload: PendingUpload): void {
    if (this.#uploads.get(upload.name) === upload) this.#uploads.delete(upload.name);
    this.#idle.delete(upload);
  }

  /** Forgets an upload and discards its data. */
  async discard(upload: PendingUpload): Promise<void> {
    this.finish(upload);
    await upload.writer.abort();
  }

  /** Bytes received so far for an upload, or undefined when unknown. */
  committedSize(name: string): number | undefined {
    return this.#uploads.get(name)?.writer.written;
  }

  /** Abandons idle uploads older than the timeout. */
  async sweep(): Promise<void> {
    const cutoff = this.#now() - this.#idleTimeoutMs;
    for (const upload of [...this.#uploads.values()]) {
      // Checked one by one: a stream may resume an upload while an earlier one is discarded.
      if (upload.active || upload.lastUsedMs >= cutoff) continue;
      this.#abandoned++;
      await this.discard(upload);
    }
  }

  /** Aborts everything (server shutdown). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all([...this.#uploads.values()].map((u) => this.discard(u)));
  }

  /** Number of uploads held, for metrics and tests. */
  get size(): number {
    return this.#uploads.size;
  }

  /**
   * Uploads abandoned by their clients and discarded, after the idle timeout
   * or to stay within `maxIdleUploads`, since start.
   */
  get abandoned(): number {
    return this.#abandoned;
  }
}
