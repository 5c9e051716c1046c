/**
 * Stores the content of archive entries in the CAS. `BlobStore.put` needs the
 * digest before the first byte, but an archive gives the bytes first, so each
 * entry is hashed on its way to a holding place: memory for small entries, a
 * temporary file for large ones, which are then streamed into the store. No
 * large entry is ever held in memory.
 */
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Digest, makeDigest } from '../digest/digest.ts';
import { createHasher, type DigestFunction } from '../digest/digest-function.ts';
import { fromFsError } from '../errors.ts';
import { type BlobStore, putStream } from '../storage/blob-store.ts';

/** Entries up to this size stay in memory; larger ones go to a temporary file. */
export const SPOOL_MEMORY_LIMIT = 4 * 1024 * 1024;

/** Read size when streaming a spooled file into the store. */
const SPOOL_READ_CHUNK = 1024 * 1024;

/** Options of {@link ArchiveBlobSpool}. */
export interface ArchiveBlobSpoolOptions {
  /** Where blobs go. */
  readonly cas: BlobStore;
  /** The digest function every blob is hashed with (the archive's own). */
  readonly fn: DigestFunction;
  /** Parent of the temporary directory for large entries; `os.tmpdir()` by default. */
  readonly tmpDir?: string;
  /** Largest entry kept in memory; {@link SPOOL_MEMORY_LIMIT} by default. */
  readonly memoryLimit?: number;
}

/**
 * Turns entry contents into CAS blobs, one entry at a time. The temporary
 * directory is created on the first large entry; {@link close} removes it and
 * must be called whatever happened (in a `finally`).
 */
export class ArchiveBlobSpool {
  readonly #cas: BlobStore;
  readonly #fn: DigestFunction;
  readonly #tmpParent: string;
  readonly #memoryLimit: number;
  #dir: string | undefined;
  #files = 0;

  constructor(options: ArchiveBlobSpoolOptions) {
    this.#cas = options.cas;
    this.#fn = options.fn;
    this.#tmpParent = options.tmpDir ?? tmpdir();
    this.#memoryLimit = options.memoryLimit ?? SPOOL_MEMORY_LIMIT;
  }

  /** Hashes `content`, stores it unless the CAS has it already, and returns its digest. */
  async store(content: AsyncIterable<Uint8Array>): Promise<Digest> {
    const hasher = await createHasher(this.#fn);
    const held: Uint8Array[] = [];
    let size = 0;
    let file: SpoolFile | undefined;
    try {
      for await (const chunk of content) {
        hasher.update(chunk);
        size += chunk.byteLength;
        if (file === undefined && size <= this.#memoryLimit) {
          held.push(chunk);
          continue;
        }
        if (file === undefined) {
          file = await this.#openSpoolFile();
          for (const earlier of held) await file.write(earlier);
          held.length = 0;
        }
        await file.write(chunk);
      }
      const digest = makeDigest(this.#fn, hasher.digest(), size);
      if (file === undefined) {
        await this.#put(digest, held);
      } else {
        await file.close();
        await this.#put(digest, file.read());
      }
      return digest;
    } finally {
      await file?.remove();
    }
  }

  /**
   * Removes the temporary directory, if one was made. Safe to call more than
   * once; never throws, because it runs on error paths whose error matters more.
   */
  async close(): Promise<void> {
    const dir = this.#dir;
    this.#dir = undefined;
    if (dir !== undefined) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }

  async #put(digest: Digest, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>) {
    // Archives often repeat content (licences, empty files) and fetches repeat archives.
    if ((await this.#cas.findMissing([digest])).length === 0) return;
    await putStream(this.#cas, digest, chunks);
  }

  async #openSpoolFile(): Promise<SpoolFile> {
    try {
      this.#dir ??= await mkdtemp(join(this.#tmpParent, 'kiln-unpack-'));
      const path = join(this.#dir, `entry-${this.#files++}`);
      return new SpoolFile(path, await open(path, 'w', 0o600));
    } catch (err) {
      throw fromFsError(err, 'creating a spool file for a large archive entry');
    }
  }
}

/** One temporary file holding one entry's content. */
class SpoolFile {
  readonly #path: string;
  readonly #handle: FileHandle;
  #open = true;

  constructor(path: string, handle: FileHandle) {
    this.#path = path;
    this.#handle = handle;
  }

  async write(chunk: Uint8Array): Promise<void> {
    try {
      // FileHandle.write may write less than asked; loop until the chunk is out.
      let offset = 0;
      while (offset < chunk.byteLength) {
        const { bytesWritten } = await this.#handle.write(chunk, offset, chunk.byteLength - offset);
        offset += bytesWritten;
      }
    } catch (err) {
      throw fromFsError(err, `writing spool file ${this.#path}`);
    }
  }

  /** Flushes and closes the file, so that {@link read} sees every byte. */
  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    try {
      await this.#handle.close();
    } catch (err) {
      throw fromFsError(err, `closing spool file ${this.#path}`);
    }
  }

  async *read(): AsyncIterable<Uint8Array> {
    try {
      for await (const chunk of createReadStream(this.#path, { highWaterMark: SPOOL_READ_CHUNK })) {
        yield chunk as Buffer;
      }
    } catch (err) {
      throw fromFsError(err, `reading spool file ${this.#path}`);
    }
  }

  /** Closes (if still open) and deletes the file; never throws, as it runs on error paths. */
  async remove(): Promise<void> {
    await this.close().catch(() => undefined);
    await rm(this.#path, { force: true }).catch(() => undefined);
  }
}
