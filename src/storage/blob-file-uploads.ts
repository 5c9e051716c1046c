/**
 * The disk store's uploads of blobs too large for its packs: each is written
 * to a temporary file in `tmp/` (with O_DIRECT from aligned staging buffers
 * when it is large and the file system takes it, see direct-file-sink.ts)
 * and renamed into its place under `blobs/` at commit, so that a blob file is
 * either absent or whole. The store decides what to write and keeps the
 * index; this module owns the temporary files and the shard directories.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../digest/digest.ts';
import { fromFsError } from '../errors.ts';
import type { BlobWriter } from './blob-store.ts';
import { AlignedBufferPool, DIRECT_CHUNK_BYTES, DirectFileSink } from './direct-file-sink.ts';
import { DiskBlobWriter } from './disk-blob-writer.ts';
import type { BlobLocation } from './disk-layout.ts';

/** Blobs at least this large are written with O_DIRECT when enabled. */
export const DIRECT_MIN_BYTES = 2 * DIRECT_CHUNK_BYTES;

/** Create-exclusive, write-only, past the page cache. */
const DIRECT_FLAGS =
  fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_DIRECT;

/** What one upload needs from the store. */
export interface BlobFileUpload {
  readonly digest: Digest;
  /** The store's budget: an upload that grows past it fails with RESOURCE_EXHAUSTED. */
  readonly maxBytes: number;
  /** Required length at commit, or undefined when any length is fine. */
  readonly expectedSize: number | undefined;
  /** Renames the finished temporary file into place and indexes it. */
  readonly install: (tmp: string, size: number) => Promise<void>;
}

/** Temporary files and shard directories of one disk store. */
export class BlobFileUploads {
  readonly #tmpDir: string;
  readonly #fsync: boolean;
  /** Temporary file names: a random prefix and a counter (cheaper than random names). */
  readonly #tmpPrefix = randomBytes(8).toString('hex');
  #tmpCount = 0;
  /** Shard directories known to exist, to skip a mkdir per commit. */
  readonly #dirs = new Set<string>();
  /** Staging buffers for O_DIRECT uploads; undefined when disabled or unsupported. */
  #direct: AlignedBufferPool | undefined;

  private constructor(tmpDir: string, fsync: boolean) {
    this.#tmpDir = tmpDir;
    this.#fsync = fsync;
  }

  /**
   * Empties `tmpDir` (what is there belongs to uploads of a previous process
   * that never committed) and, with `directIo`, checks whether the file
   * system takes O_DIRECT.
   */
  static async open(options: {
    readonly tmpDir: string;
    readonly fsync: boolean;
    readonly directIo: boolean;
  }): Promise<BlobFileUploads> {
    await rm(options.tmpDir, { recursive: true, force: true });
    await mkdir(options.tmpDir, { recursive: true });
    const uploads = new BlobFileUploads(options.tmpDir, options.fsync);
    if (options.directIo) uploads.#direct = AlignedBufferPool.open({ dir: options.tmpDir });
    return uploads;
  }

  /** Whether large blobs are written with O_DIRECT (enabled, and the file system takes it). */
  get directIo(): boolean {
    return this.#direct !== undefined;
  }

  /** Records shard directories found to exist. */
  knowDirectories(dirs: Iterable<string>): void {
    for (const dir of dirs) this.#dirs.add(dir);
  }

  /** An upload into a temporary file; its commit calls `upload.install`. */
  async create(upload: BlobFileUpload): Promise<BlobWriter> {
    const { digest } = upload;
    const tmp = join(this.#tmpDir, `${this.#tmpPrefix}-${(this.#tmpCount++).toString(36)}`);
    const buffers = upload.expectedSize === undefined ? undefined : this.#directBuffers(digest);
    let handle: FileHandle;
    try {
      handle = await open(tmp, buffers === undefined ? 'wx' : DIRECT_FLAGS, 0o644);
    } catch (err) {
      if (buffers !== undefined) for (const buffer of buffers) this.#direct?.release(buffer);
      throw fromFsError(err, `disk store: creating a temporary file for blob ${digest.key}`);
    }
    const direct =
      buffers === undefined || this.#direct === undefined
        ? undefined
        : new DirectFileSink({ handle, pool: this.#direct, buffers });
    return new DiskBlobWriter({
      direct,
      key: digest.key,
      handle,
      tmp,
      maxBytes: upload.maxBytes,
      expectedSize: upload.expectedSize,
      fsync: this.#fsync,
      install: (size) => upload.install(tmp, size),
    });
  }

  /** Renames a finished temporary file to its blob's place (with fsync, durably). */
  async renameIntoPlace(tmp: string, { dir, file }: BlobLocation): Promise<void> {
    if (!this.#dirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.#dirs.add(dir);
    }
    try {
      await rename(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // The shard directory was removed behind our back: recreate it once.
      await mkdir(dir, { recursive: true });
      await rename(tmp, file);
    }
    if (this.#fsync) {
      const handle = await open(dir, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  }

  /**
   * Two staging buffers for an O_DIRECT upload of this blob, or undefined to
   * write through the page cache: for small blobs (one synchronous device write
   * each would cost more than the page cache), and when the filesystem or the
   * buffer pool says no.
   */
  #directBuffers(digest: Digest): [Buffer, Buffer] | undefined {
    const pool = this.#direct;
    if (pool === undefined || digest.size < DIRECT_MIN_BYTES) return undefined;
    const first = pool.acquire();
    if (first === undefined) return undefined;
    const second = pool.acquire();
    if (second === undefined) {
      pool.release(first);
      return undefined;
    }
    return [first, second];
  }
}
