/**
 * The upload side of the disk store: a {@link BlobWriter} that writes behind
 * into a temporary file and hands the closed file to the store at commit.
 */
import type { FileHandle } from 'node:fs/promises';
import { rm } from 'node:fs/promises';
import {
  failedPrecondition,
  fromFsError,
  invalidArgument,
  KilnError,
  resourceExhausted,
} from '../errors.ts';
import type { BlobWriter } from './blob-store.ts';
import type { DirectFileSink } from './direct-file-sink.ts';

/**
 * Bytes an upload may have queued for its file before `write` waits. Writing
 * behind lets receiving and hashing the next chunks (main thread) overlap the
 * file write (the kernel's copy into the page cache, on the libuv thread
 * pool), which profiles of ByteStream.Write showed as its largest cost.
 */
const WRITE_BEHIND_BYTES = 4 * 1024 * 1024;
/** Most chunks in one `writev` (the kernel's IOV_MAX). */
const MAX_WRITEV_CHUNKS = 1024;

/** Options of {@link DiskBlobWriter}. */
export interface DiskBlobWriterOptions {
  /** The blob's key, for error messages. */
  readonly key: string;
  /** The temporary file, open for writing; the writer closes it. */
  readonly handle: FileHandle;
  /** Path of the temporary file, removed when the upload is discarded. */
  readonly tmp: string;
  /** The store's budget: an upload that grows past it fails with RESOURCE_EXHAUSTED. */
  readonly maxBytes: number;
  /** Required length at commit, or undefined when any length is fine. */
  readonly expectedSize: number | undefined;
  /** Whether to flush the file to stable storage before `install`. */
  readonly fsync: boolean;
  /** Renames the closed temporary file into place and indexes it. */
  readonly install: (size: number) => Promise<void>;
  /**
   * When set, `handle` was opened with O_DIRECT and every byte goes through
   * this sink instead of the write-behind queue (large blobs; see
   * direct-file-sink.ts).
   */
  readonly direct?: DirectFileSink;
}

/**
 * An upload into a temporary file of the disk store. `write` queues chunks
 * and one `writev` at a time drains the queue; `commit` checks the length,
 * waits for the queue, closes (and optionally syncs) the file and calls
 * `install`. Any failure removes the temporary file.
 */
export class DiskBlobWriter implements BlobWriter {
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
    const { direct } = this.#options;
    if (direct !== undefined) {
      const writing = direct.write(chunk);
      this.#flushing = writing.catch((err: unknown) => {
        this.#failure ??= err;
      });
      await this.#flushing;
      if (this.#failure !== undefined) return this.#fail();
      return;
    }
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
      if (this.#failure === undefined && this.#options.direct !== undefined) {
        await this.#options.direct.finish(this.#written).catch((err: unknown) => {
          this.#failure ??= err;
        });
      }
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
    await this.#options.direct?.discard();
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
