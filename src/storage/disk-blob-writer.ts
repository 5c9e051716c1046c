/**
 * The upload side of the disk store: a {@link BlobWriter} that writes behind
 * into a temporary file and hands the closed file to the store at commit.
 * The file is open only while bytes flow: {@link OpenUploadFiles} closes it
 * when the upload has been idle for a while (its client went away, say) and
 * the next write reopens it where it stopped.
 */
import { constants as fsConstants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, rm } from 'node:fs/promises';
import {
  failedPrecondition,
  fromFsError,
  invalidArgument,
  KilnError,
  resourceExhausted,
} from '../errors.ts';
import type { BlobWriter } from './blob-store.ts';
import { type AlignedBufferPool, DirectFileSink } from './direct-file-sink.ts';
import type { OpenUploadFiles, UploadFile } from './open-upload-files.ts';

/**
 * Bytes an upload may have queued for its file before `write` waits. Writing
 * behind lets receiving and hashing the next chunks (main thread) overlap the
 * file write (the kernel's copy into the page cache, on the libuv thread
 * pool), which profiles of ByteStream.Write showed as its largest cost.
 */
const WRITE_BEHIND_BYTES = 4 * 1024 * 1024;
/** Most chunks in one `writev` (the kernel's IOV_MAX). */
const MAX_WRITEV_CHUNKS = 1024;

/** Create-exclusive, write-only, past the page cache. */
const DIRECT_FLAGS =
  fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_DIRECT;

/** Options of {@link DiskBlobWriter.create}. */
export interface DiskBlobWriterOptions {
  /** The blob's key, for error messages. */
  readonly key: string;
  /** Path of the temporary file: created here, removed when the upload is discarded. */
  readonly tmp: string;
  /** The store's open temporary files, where this upload's file is counted while open. */
  readonly files: OpenUploadFiles;
  /** The store's budget: an upload that grows past it fails with RESOURCE_EXHAUSTED. */
  readonly maxBytes: number;
  /** Required length at commit, or undefined when any length is fine. */
  readonly expectedSize: number | undefined;
  /** Whether to flush the file to stable storage before `install`. */
  readonly fsync: boolean;
  /** Renames the closed temporary file into place and indexes it. */
  readonly install: (size: number) => Promise<void>;
  /**
   * When set, the file is created with O_DIRECT and every byte goes through
   * a {@link DirectFileSink} over these staging buffers instead of the
   * write-behind queue (large blobs; see direct-file-sink.ts). The writer
   * returns the buffers to the pool when done.
   */
  readonly direct?: { readonly pool: AlignedBufferPool; readonly buffers: [Buffer, Buffer] };
}

/**
 * An upload into a temporary file of the disk store. `write` queues chunks
 * and one `writev` at a time drains the queue; `commit` checks the length,
 * waits for the queue, closes (and optionally syncs) the file and calls
 * `install`. Any failure removes the temporary file.
 */
export class DiskBlobWriter implements BlobWriter, UploadFile {
  readonly #options: DiskBlobWriterOptions;
  /** The open file; undefined before it is opened and while closed for being idle. */
  #handle: FileHandle | undefined;
  /** The O_DIRECT sink, until the first idle close (after which writes go through the page cache). */
  #direct: DirectFileSink | undefined;
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
  /** `write` calls in progress. */
  #writing = 0;
  /** An idle close in progress (never rejects). */
  #closing: Promise<void> | undefined;
  /** A reopen in progress. */
  #reopening: Promise<FileHandle> | undefined;
  /** The first error of a queued write. */
  #failure: unknown;
  #state: 'open' | 'committing' | 'committed' | 'aborted' = 'open';
  #commit: Promise<void> | undefined;
  /** The removal of the temporary file once aborted, which every `abort` call waits for. */
  #discarded: Promise<void> | undefined;

  private constructor(options: DiskBlobWriterOptions) {
    this.#options = options;
  }

  /**
   * Creates the temporary file and a writer for it. Fails with
   * RESOURCE_EXHAUSTED when the store has too many upload files busy.
   */
  static async create(options: DiskBlobWriterOptions): Promise<DiskBlobWriter> {
    const writer = new DiskBlobWriter(options);
    const { direct, files, tmp, key } = options;
    try {
      await files.acquire(writer);
      const handle = await open(tmp, direct === undefined ? 'wx' : DIRECT_FLAGS, 0o644);
      writer.#handle = handle;
      if (direct !== undefined) writer.#direct = new DirectFileSink({ handle, ...direct });
      return writer;
    } catch (err) {
      files.release(writer);
      if (direct !== undefined) for (const buffer of direct.buffers) direct.pool.release(buffer);
      if (err instanceof KilnError) throw err;
      throw fromFsError(err, `disk store: creating a temporary file for blob ${key}`);
    }
  }

  get written(): number {
    return this.#written;
  }

  /** For {@link OpenUploadFiles}: nothing is using the file. */
  get idle(): boolean {
    return (
      this.#state === 'open' &&
      this.#handle !== undefined &&
      this.#writing === 0 &&
      this.#flushing === undefined
    );
  }

  /**
   * Queues the chunk for the file and resolves at once while less than
   * {@link WRITE_BEHIND_BYTES} are queued, so the caller can receive and hash
   * the next chunk while this one is written. The caller must not change the
   * chunk afterwards. A failed write fails the next `write` or the `commit`.
   */
  async write(chunk: Uint8Array): Promise<void> {
    this.#checkOpen();
    if (this.#failure !== undefined) return this.#fail();
    const { maxBytes, files } = this.#options;
    if (this.#written + chunk.byteLength > maxBytes) {
      await this.abort();
      throw resourceExhausted(
        `blob ${this.#options.key} is larger than the disk store's budget of ${maxBytes} bytes`,
      );
    }
    this.#writing++;
    try {
      const handle = this.#handle ?? (await this.#reopen());
      files.touch(this);
      this.#written += chunk.byteLength;
      const direct = this.#direct;
      if (direct !== undefined) {
        await direct.write(chunk).catch((err: unknown) => {
          this.#failure ??= err;
        });
      } else if (chunk.byteLength > 0) {
        this.#queue.push(chunk);
        this.#queuedBytes += chunk.byteLength;
        this.#flushing ??= this.#flush(handle);
        while (this.#queuedBytes > WRITE_BEHIND_BYTES && this.#failure === undefined) {
          await this.#batch;
        }
      }
    } finally {
      this.#writing--;
    }
    if (this.#failure !== undefined) return this.#fail();
  }

  commit(): Promise<void> {
    try {
      this.#checkOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    this.#state = 'committing';
    this.#commit = this.#doCommit();
    return this.#commit;
  }

  async abort(): Promise<void> {
    if (this.#commit !== undefined) {
      // A failed commit cleans up after itself; a successful one must stay.
      await this.#commit.catch(() => {});
      return;
    }
    if (this.#state === 'open') {
      this.#state = 'aborted';
      this.#discarded = this.#discard();
    }
    // A second caller (a decorator and the service, say) also returns only once nothing is left.
    await this.#discarded;
  }

  /**
   * For {@link OpenUploadFiles}: closes the idle file. An O_DIRECT upload
   * writes out its staging buffer and gives the buffers back; it goes on
   * through the page cache when resumed.
   */
  closeIdle(): Promise<void> {
    const handle = this.#handle;
    if (!this.idle || handle === undefined) return Promise.resolve();
    this.#handle = undefined;
    this.#options.files.release(this);
    const direct = this.#direct;
    this.#direct = undefined;
    const closing = this.#closeFile(handle, direct).finally(() => {
      if (this.#closing === closing) this.#closing = undefined;
    });
    this.#closing = closing;
    return closing;
  }

  /** Closes the file of an idle upload; errors fail the next write or the commit. */
  async #closeFile(handle: FileHandle, direct: DirectFileSink | undefined): Promise<void> {
    if (direct !== undefined) {
      await direct.finish(this.#written).catch((err: unknown) => {
        this.#failure ??= err;
      });
    }
    await handle.close().catch((err: unknown) => {
      this.#failure ??= err;
    });
    this.#flushed = this.#written;
  }

  /** Reopens the file closed for being idle (once, however many writes wait for it). */
  #reopen(): Promise<FileHandle> {
    this.#reopening ??= this.#doReopen().finally(() => {
      this.#reopening = undefined;
    });
    return this.#reopening;
  }

  async #doReopen(): Promise<FileHandle> {
    const { files, tmp, key } = this.#options;
    await this.#closing;
    await files.acquire(this);
    let handle: FileHandle;
    try {
      handle = await open(tmp, 'r+');
    } catch (err) {
      files.release(this);
      throw fromFsError(err, `disk store: reopening the temporary file of blob ${key}`);
    }
    if (this.#state === 'aborted') {
      // Discarded while the file was opening.
      await handle.close().catch(() => {});
      files.release(this);
      throw failedPrecondition(`upload of blob ${key} is already aborted`);
    }
    this.#handle = handle;
    return handle;
  }

  async #doCommit(): Promise<void> {
    const { key, expectedSize, fsync, install, files } = this.#options;
    try {
      if (expectedSize !== undefined && this.#written !== expectedSize) {
        throw invalidArgument(
          `blob ${key}: received ${this.#written} bytes, but the digest declares ${expectedSize}`,
        );
      }
      await this.#closing;
      await this.#drain();
      if (this.#failure === undefined && this.#direct !== undefined) {
        const direct = this.#direct;
        this.#direct = undefined;
        await direct.finish(this.#written).catch((err: unknown) => {
          this.#failure ??= err;
        });
      }
      if (this.#failure !== undefined) {
        throw fromFsError(this.#failure, `disk store: writing blob ${key}`);
      }
      // A file closed while idle needs opening again only to be synced.
      const handle = this.#handle ?? (fsync ? await this.#doReopen() : undefined);
      this.#handle = undefined;
      if (handle !== undefined) {
        try {
          if (fsync) await handle.sync();
        } finally {
          await handle.close();
          files.release(this);
        }
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
    await this.#closing;
    await this.#drain();
    const direct = this.#direct;
    this.#direct = undefined;
    await direct?.discard();
    await handle?.close().catch(() => {});
    this.#options.files.release(this);
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

  #checkOpen(): void {
    if (this.#state !== 'open') {
      throw failedPrecondition(`upload of blob ${this.#options.key} is already ${this.#state}`);
    }
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
