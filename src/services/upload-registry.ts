/**
 * Uploads in progress, kept across broken ByteStream.Write streams so that a
 * client can ask QueryWriteStatus how far it got and resume from there. Idle
 * uploads are aborted (their temporary data removed) after a timeout.
 */
import type { Digest } from '../digest/digest.ts';
import { aborted } from '../errors.ts';
import type { BlobWriter } from '../storage/blob-store.ts';

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
  /** Abort uploads no stream has touched for this long. */
  readonly idleTimeoutMs: number;
  /** Milliseconds clock; injectable for tests. */
  readonly now?: () => number;
}

/** The set of resumable uploads of one server. */
export class UploadRegistry {
  readonly #uploads = new Map<string, PendingUpload>();
  readonly #idleTimeoutMs: number;
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout;

  constructor(options: UploadRegistryOptions) {
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.#now = options.now ?? Date.now;
    this.#timer = setInterval(() => void this.sweep(), Math.max(1000, this.#idleTimeoutMs / 4));
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

  /** Aborts idle uploads older than the timeout. */
  async sweep(): Promise<void> {
    const cutoff = this.#now() - this.#idleTimeoutMs;
    for (const upload of [...this.#uploads.values()]) {
      if (!upload.active && upload.lastUsedMs < cutoff) await this.discard(upload);
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
}
