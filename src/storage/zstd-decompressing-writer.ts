/**
 * A BlobWriter that takes zstd-compressed bytes and writes the decompressed
 * stream to another writer, for `compressed-blobs/zstd` uploads. Its
 * `written` counts compressed bytes, which is what ByteStream offsets refer to
 * for compressed uploads.
 */
import { createZstdDecompress, type ZstdDecompress } from 'node:zlib';
import { corruptZstd, expandsBeyond, expandsShort, zstdChunkBytes } from '../util/zstd.ts';
import type { BlobWriter } from './blob-store.ts';

/** Options for {@link ZstdDecompressingWriter}. */
export interface ZstdDecompressingWriterOptions {
  /** Where the decompressed bytes go. */
  readonly inner: BlobWriter;
  /**
   * The blob's size from its digest. Decompression stops, and the upload
   * fails, as soon as the output passes it; output that ends short of it
   * fails at commit.
   */
  readonly declaredSize: number;
}

/**
 * Wraps a writer so that compressed input is decompressed before storing.
 * Output is pulled from the decompressor only as fast as the inner writer
 * takes it, so one write of a few kilobytes cannot expand into gigabytes held
 * in memory; the first failure (corrupt input, output past the declared size,
 * a storage error) destroys the decompressor, aborts the inner writer and is
 * what every later call rejects with.
 */
export class ZstdDecompressingWriter implements BlobWriter {
  readonly #inner: BlobWriter;
  readonly #declaredSize: number;
  readonly #zstd: ZstdDecompress;
  /** Settles (never rejects) when the pump has stopped, for whatever reason. */
  readonly #pumped: Promise<void>;
  #error: Error | undefined;
  #written = 0;
  #produced = 0;

  constructor(options: ZstdDecompressingWriterOptions) {
    this.#inner = options.inner;
    this.#declaredSize = options.declaredSize;
    this.#zstd = createZstdDecompress({ chunkSize: zstdChunkBytes(options.declaredSize) });
    // Errors reach the pump through its iterator; this keeps a late one from going unhandled.
    this.#zstd.on('error', () => undefined);
    this.#pumped = this.#pump();
  }

  get written(): number {
    return this.#written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#throwIfFailed();
    if (!this.#zstd.write(chunk)) {
      // Wait until the decompressor has worked through its input (and the
      // pump has stored the output), or until the pump stops on a failure.
      let onDrain = (): void => undefined;
      const drained = new Promise<void>((resolve) => {
        onDrain = resolve;
        this.#zstd.once('drain', resolve);
      });
      await Promise.race([drained, this.#pumped]);
      this.#zstd.off('drain', onDrain);
    }
    this.#throwIfFailed();
    this.#written += chunk.byteLength;
  }

  async commit(): Promise<void> {
    this.#throwIfFailed();
    this.#zstd.end();
    await this.#pumped;
    if (this.#error === undefined && this.#produced !== this.#declaredSize) {
      await this.#fail(expandsShort(this.#produced, this.#declaredSize));
    }
    this.#throwIfFailed();
    await this.#inner.commit();
  }

  async abort(): Promise<void> {
    this.#error ??= new Error('the upload was aborted');
    this.#zstd.destroy();
    await this.#inner.abort();
  }

  /** Moves decompressed output to the inner writer, one chunk at a time. */
  async #pump(): Promise<void> {
    try {
      // The iterator reads only when asked, so the decompressor pauses while
      // the inner writer is busy; leaving the loop early destroys it.
      for await (const out of this.#zstd as AsyncIterable<Buffer>) {
        if (this.#error !== undefined) return;
        if (out.byteLength > this.#declaredSize - this.#produced) {
          await this.#fail(expandsBeyond(this.#declaredSize));
          return;
        }
        this.#produced += out.byteLength;
        try {
          await this.#inner.write(out);
        } catch (err) {
          await this.#fail(err as Error);
          return;
        }
      }
    } catch (err) {
      // Only the decompressor throws here: the input is not valid zstd.
      await this.#fail(corruptZstd(err as Error));
    }
  }

  /** Records the first failure, stops decompressing and discards what was stored. */
  async #fail(err: Error): Promise<void> {
    if (this.#error !== undefined) return;
    this.#error = err;
    this.#zstd.destroy();
    await this.#inner.abort();
  }

  #throwIfFailed(): void {
    if (this.#error) throw this.#error;
  }
}
