/**
 * Writing large uploads with O_DIRECT, past the page cache.
 *
 * A buffered write makes the kernel find a fresh page-cache page for every
 * 4 KiB written. On the virtual machines Kiln was measured on, first-touch
 * pages are expensive: plain buffered writes of fresh files ran at 260–400
 * MB/s while O_DIRECT writes of the same data ran at about 2 GB/s. Large blobs
 * are also the ones least likely to be read again soon, so keeping them out of
 * the page cache spares the small, hot blobs that are.
 *
 * O_DIRECT wants the memory address, the file offset and the length aligned to
 * the device's block size. Node cannot allocate aligned memory, so each staging
 * buffer is allocated with a spare 4 KiB and the aligned start inside it is
 * found once by trial: the kernel rejects a misaligned O_DIRECT write with
 * EINVAL before touching the file.
 */
import { closeSync, constants, openSync, unlinkSync, writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/** Size of one staging buffer and of every write but the last. */
export const DIRECT_CHUNK_BYTES = 1024 * 1024;
/** Largest block alignment the probe looks for; the tail is padded to it. */
const MAX_ALIGNMENT = 4096;
/** malloc aligns to at least 16 bytes, so the probe steps by 16. */
const PROBE_STEP = 16;
/** Staging buffers kept for reuse; beyond this, uploads fall back to buffered writes. */
const DEFAULT_MAX_BUFFERS = 32;

let probeFiles = 0;

/**
 * Probe files this process has opened to find out whether (and at which
 * alignment) a file system takes O_DIRECT, one per staging buffer allocated:
 * how tests tell that no probe runs where none should (such as at start-up).
 */
export function directIoProbeCount(): number {
  return probeFiles;
}

/** Options of {@link AlignedBufferPool.open}. */
export interface AlignedBufferPoolOptions {
  /** A directory on the filesystem the files will be written to (probe files go here). */
  readonly dir: string;
  /** Most staging buffers in existence at once. Default 32 (32 MiB). */
  readonly maxBuffers?: number;
}

/**
 * Reusable, aligned staging buffers of {@link DIRECT_CHUNK_BYTES} for O_DIRECT
 * writes into one directory's filesystem.
 */
export class AlignedBufferPool {
  readonly #dir: string;
  readonly #maxBuffers: number;
  readonly #free: Buffer[] = [];
  #allocated = 0;

  private constructor(dir: string, maxBuffers: number) {
    this.#dir = dir;
    this.#maxBuffers = maxBuffers;
  }

  /**
   * A pool for `options.dir`, or undefined when its filesystem does not take
   * O_DIRECT writes (tmpfs, some network filesystems) or the platform has no
   * O_DIRECT: callers then write through the page cache.
   */
  static open(options: AlignedBufferPoolOptions): AlignedBufferPool | undefined {
    if (constants.O_DIRECT === undefined) return undefined;
    const pool = new AlignedBufferPool(options.dir, options.maxBuffers ?? DEFAULT_MAX_BUFFERS);
    const first = pool.acquire();
    if (first === undefined) return undefined;
    pool.release(first);
    return pool;
  }

  /** An aligned buffer of {@link DIRECT_CHUNK_BYTES}, or undefined when the pool is exhausted. */
  acquire(): Buffer | undefined {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    if (this.#allocated >= this.#maxBuffers) return undefined;
    const buffer = alignedBuffer(this.#dir);
    if (buffer !== undefined) this.#allocated++;
    return buffer;
  }

  /** Returns a buffer from {@link acquire}; its contents are garbage from now on. */
  release(buffer: Buffer): void {
    this.#free.push(buffer);
  }
}

/**
 * Allocates a buffer with spare room and returns its aligned window, found by
 * trying O_DIRECT writes of one block at every 16-byte offset. Undefined when
 * no offset works (the filesystem refuses O_DIRECT altogether).
 */
function alignedBuffer(dir: string): Buffer | undefined {
  const raw = Buffer.allocUnsafeSlow(DIRECT_CHUNK_BYTES + MAX_ALIGNMENT);
  raw.fill(0, 0, 2 * MAX_ALIGNMENT);
  const probe = join(dir, `.direct-io-probe-${process.pid}`);
  probeFiles++;
  let fd: number;
  try {
    fd = openSync(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT, 0o600);
  } catch {
    return undefined;
  }
  try {
    for (let offset = 0; offset < MAX_ALIGNMENT; offset += PROBE_STEP) {
      try {
        writeSync(fd, raw, offset, MAX_ALIGNMENT, 0);
        return raw.subarray(offset, offset + DIRECT_CHUNK_BYTES);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL') return undefined;
      }
    }
    return undefined;
  } finally {
    closeSync(fd);
    try {
      unlinkSync(probe);
    } catch {
      // Already gone: nothing to clean.
    }
  }
}

/** Options of {@link DirectFileSink}. */
export interface DirectFileSinkOptions {
  /** The file, opened with O_DIRECT, empty. The sink does not close it. */
  readonly handle: FileHandle;
  /** Two buffers from the pool; returned to it by `finish` or `discard`. */
  readonly pool: AlignedBufferPool;
  readonly buffers: readonly [Buffer, Buffer];
}

/**
 * Copies written chunks into two aligned staging buffers and writes each full
 * buffer with O_DIRECT while the other fills: the caller's hashing and
 * receiving overlap the device write, and at most two buffers are in flight.
 */
export class DirectFileSink {
  readonly #handle: FileHandle;
  readonly #pool: AlignedBufferPool;
  readonly #buffers: readonly [Buffer, Buffer];
  readonly #inFlight: [Promise<void> | undefined, Promise<void> | undefined] = [
    undefined,
    undefined,
  ];
  #current = 0;
  #fill = 0;
  #position = 0;
  #failure: unknown;
  #released = false;

  constructor(options: DirectFileSinkOptions) {
    this.#handle = options.handle;
    this.#pool = options.pool;
    this.#buffers = options.buffers;
  }

  /** The first write error, if any. */
  get failure(): unknown {
    return this.#failure;
  }

  /** Copies `chunk` in; resolves when the staging buffer it needs is free again. */
  async write(chunk: Uint8Array): Promise<void> {
    let at = 0;
    while (at < chunk.byteLength) {
      // Once released, the buffers may belong to another upload: never touch them again.
      if (this.#released) throw new Error('the upload was discarded');
      const target = this.#buffers[this.#current] as Buffer;
      const n = Math.min(chunk.byteLength - at, DIRECT_CHUNK_BYTES - this.#fill);
      target.set(chunk.subarray(at, at + n), this.#fill);
      this.#fill += n;
      at += n;
      if (this.#fill === DIRECT_CHUNK_BYTES) await this.#submit(DIRECT_CHUNK_BYTES);
      if (this.#failure !== undefined) throw this.#failure;
    }
  }

  /**
   * Writes what is left, padded to the block size, then cuts the file to
   * `size` bytes and releases the buffers. Throws the first write error.
   */
  async finish(size: number): Promise<void> {
    try {
      const tail = this.#fill;
      if (tail > 0 && this.#failure === undefined) {
        const padded = Math.ceil(tail / MAX_ALIGNMENT) * MAX_ALIGNMENT;
        (this.#buffers[this.#current] as Buffer).fill(0, tail, padded);
        await this.#submit(padded);
      }
      await Promise.all(this.#inFlight);
      if (this.#failure !== undefined) throw this.#failure;
      await this.#handle.truncate(size);
    } finally {
      this.#release();
    }
  }

  /** Waits for writes in flight and releases the buffers; the file is the caller's to remove. */
  async discard(): Promise<void> {
    await Promise.all(this.#inFlight);
    this.#release();
  }

  /** Starts writing the current buffer, switches to the other and waits until it is free. */
  async #submit(length: number): Promise<void> {
    const index = this.#current;
    const buffer = this.#buffers[index] as Buffer;
    const position = this.#position;
    this.#inFlight[index] = writeFully(this.#handle, buffer, length, position).catch(
      (err: unknown) => {
        this.#failure ??= err;
      },
    );
    this.#position += length;
    this.#fill = 0;
    this.#current = 1 - index;
    await this.#inFlight[this.#current];
    this.#inFlight[this.#current] = undefined;
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    for (const buffer of this.#buffers) this.#pool.release(buffer);
  }
}

async function writeFully(
  handle: FileHandle,
  buffer: Buffer,
  length: number,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await handle.write(buffer, done, length - done, position + done);
    if (bytesWritten === 0) throw new Error(`write wrote nothing at offset ${position + done}`);
    done += bytesWritten;
  }
}
