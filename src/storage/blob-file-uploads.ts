/**
 * The disk store's uploads of blobs too large for its packs: each is written
 * to a temporary file in `tmp/` (with O_DIRECT from aligned staging buffers
 * when it is large and the file system takes it, see direct-file-sink.ts)
 * and renamed into its place under `blobs/` at commit, so that a blob file is
 * either absent or whole. The store decides what to write and keeps the
 * index; this module owns the temporary files and the shard directories.
 * Uploads keep their files open only while bytes flow, and only so many at
 * once (see open-upload-files.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../digest/digest.ts';
import type { BlobWriter } from './blob-store.ts';
import { AlignedBufferPool, DIRECT_CHUNK_BYTES } from './direct-file-sink.ts';
import { DiskBlobWriter } from './disk-blob-writer.ts';
import type { BlobLocation } from './disk-layout.ts';
import { OpenUploadFiles } from './open-upload-files.ts';

/** Blobs at least this large are written with O_DIRECT when enabled. */
export const DIRECT_MIN_BYTES = 2 * DIRECT_CHUNK_BYTES;

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
  /**
   * Staging buffers for O_DIRECT uploads; undefined when disabled or
   * unsupported, `unprobed` until the first upload large enough asks.
   */
  #direct: AlignedBufferPool | undefined | 'unprobed';
  readonly #openFiles: OpenUploadFiles;

  private constructor(tmpDir: string, fsync: boolean, openFiles: OpenUploadFiles) {
    this.#tmpDir = tmpDir;
    this.#fsync = fsync;
    this.#openFiles = openFiles;
  }

  /**
   * Empties `tmpDir` (what is there belongs to uploads of a previous process
   * that never committed). Whether the file system takes O_DIRECT (with
   * `directIo`) is found out by the first upload that would use it, not here:
   * the probe is a synchronous write to the device, and a restarted server
   * should listen without waiting for one per store.
   */
  static async open(options: {
    readonly tmpDir: string;
    readonly fsync: boolean;
    readonly directIo: boolean;
    /** Most temporary files open at once; default `DEFAULT_MAX_OPEN_UPLOAD_FILES`. */
    readonly maxOpenFiles?: number;
    /** Close a file no write used for this long; default `DEFAULT_UPLOAD_FILE_IDLE_CLOSE_MS`. */
    readonly idleCloseMs?: number;
  }): Promise<BlobFileUploads> {
    await rm(options.tmpDir, { recursive: true, force: true });
    await mkdir(options.tmpDir, { recursive: true });
    const openFiles = new OpenUploadFiles({
      maxOpen: options.maxOpenFiles,
      idleCloseMs: options.idleCloseMs,
    });
    const uploads = new BlobFileUploads(options.tmpDir, options.fsync, openFiles);
    if (options.directIo) uploads.#direct = 'unprobed';
    return uploads;
  }

  /**
   * Whether large blobs are written with O_DIRECT (enabled, and the file
   * system takes it); asking probes the file system when no upload has yet.
   */
  get directIo(): boolean {
    return this.#pool() !== undefined;
  }

  /** The staging buffer pool, probing the file system on first use. */
  #pool(): AlignedBufferPool | undefined {
    if (this.#direct === 'unprobed') this.#direct = AlignedBufferPool.open({ dir: this.#tmpDir });
    return this.#direct;
  }

  /** Records shard directories found to exist. */
  knowDirectories(dirs: Iterable<string>): void {
    for (const dir of dirs) this.#dirs.add(dir);
  }

  /** Temporary files open now (for tests and diagnostics). */
  get openFiles(): number {
    return this.#openFiles.size;
  }

  /**
   * An upload into a temporary file; its commit calls `upload.install`.
   * RESOURCE_EXHAUSTED when too many uploads are writing at once.
   */
  create(upload: BlobFileUpload): Promise<BlobWriter> {
    const { digest } = upload;
    const tmp = join(this.#tmpDir, `${this.#tmpPrefix}-${(this.#tmpCount++).toString(36)}`);
    const buffers = upload.expectedSize === undefined ? undefined : this.#directBuffers(digest);
    const pool = buffers === undefined ? undefined : this.#pool();
    return DiskBlobWriter.create({
      direct: buffers === undefined || pool === undefined ? undefined : { pool, buffers },
      key: digest.key,
      tmp,
      files: this.#openFiles,
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
    if (this.#direct === undefined || digest.size < DIRECT_MIN_BYTES) return undefined;
    const pool = this.#pool();
    if (pool === undefined) return undefined;
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
