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
  /** Milliseconds clock; injectable for tests. */
  readonly now?: () => number;
}

/** The set of resumable uploads of one server. */
export class UploadRegistry {
  readonly #uploads = new Map<string, PendingUpload>();
  readonly #idleTimeoutMs: number;
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout;
  #abandoned = 0;

  constructor(options: UploadRegistryOptions = {}) {
    this.#idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_UPLOAD_IDLE_TIMEOUT_MS;
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
    return upload;
  }

  /** Registers a new active upload. */
  start(name: string, digest: Digest, writer: BlobWriter): PendingUpload {
    const upload: PendingUpload = { name, digest, writer, active: true, lastUsedMs: this.#now() };
    this.#uploads.set(name, upload);
    return upload;
  }

  /** Marks an upload idle but resumable. */
  release(upload: PendingUpload): void {
    upload.active = false;
    upload.lastUsedMs = this.#now();
  }

  /** Forgets a finished upload. */
  finish(upload: PendingUpload): void {
    if (this.#uploads.get(upload.name) === upload) this.#uploads.delete(upload.name);
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

  /** Uploads abandoned by their clients and discarded after the idle timeout, since start. */
  get abandoned(): number {
    return this.#abandoned;
  }
}
