/**
 * Random access to a CAS blob for yauzl, which reads a zip from its end (the
 * central directory) and then jumps to each entry's data. Every read becomes
 * a ranged `BlobStore.get`, so the archive is never copied out of the CAS.
 */
import { Readable } from 'node:stream';
import { RandomAccessReader } from 'yauzl';
import type { Digest } from '../digest/digest.ts';
import type { BlobStore } from '../storage/blob-store.ts';

/**
 * yauzl reads the central directory in pieces of a few dozen bytes (46 per
 * entry header, then its name): one store round trip each would make a zip of
 * many entries crawl, so small reads are served from a window this large.
 */
const WINDOW_BYTES = 64 * 1024;

/** Options of {@link CasRandomAccessReader}. */
export interface CasRandomAccessReaderOptions {
  readonly cas: BlobStore;
  /** The zip archive's blob. */
  readonly archive: Digest;
}

/** A yauzl `RandomAccessReader` over one CAS blob. */
export class CasRandomAccessReader extends RandomAccessReader {
  readonly #cas: BlobStore;
  readonly #archive: Digest;
  #window: { start: number; bytes: Buffer } | undefined;

  constructor(options: CasRandomAccessReaderOptions) {
    super();
    this.#cas = options.cas;
    this.#archive = options.archive;
  }

  /** Streams `[start, end)` of the blob; yauzl uses it for entry data. */
  override _readStreamForRange(start: number, end: number): Readable {
    return Readable.from(this.#range(start, end), { objectMode: false });
  }

  /** Fills `buffer` from `position`; yauzl uses it for headers and the central directory. */
  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err: Error | null) => void,
  ): void {
    this.#readAt(position, length).then(
      (bytes) => {
        bytes.copy(buffer, offset);
        callback(null);
      },
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
    );
  }

  async #readAt(position: number, length: number): Promise<Buffer> {
    const window = this.#window;
    if (
      window !== undefined &&
      position >= window.start &&
      position + length <= window.start + window.bytes.length
    ) {
      return window.bytes.subarray(position - window.start, position - window.start + length);
    }
    const end = Math.min(this.#archive.size, position + Math.max(length, WINDOW_BYTES));
    const chunks: Uint8Array[] = [];
    for await (const chunk of this.#range(position, end)) chunks.push(chunk);
    const bytes = Buffer.concat(chunks);
    if (bytes.length < length) throw new Error('unexpected end of the zip archive');
    this.#window = { start: position, bytes };
    return bytes.subarray(0, length);
  }

  async *#range(start: number, end: number): AsyncIterable<Uint8Array> {
    // A corrupt central directory may point past the end; the store would call that
    // OUT_OF_RANGE, but it is the archive that is wrong (a plain Error becomes INVALID_ARGUMENT).
    if (start < 0 || end > this.#archive.size || start > end) {
      throw new Error(`zip archive points at bytes ${start}-${end} past its end`);
    }
    if (start === end) return;
    yield* await this.#cas.get(this.#archive, { offset: start, limit: end - start });
  }
}
