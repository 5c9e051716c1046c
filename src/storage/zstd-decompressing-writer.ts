/**
 * A BlobWriter that takes zstd-compressed bytes and writes the decompressed
 * stream to another writer, for `compressed-blobs/zstd` uploads. Its
 * `written` counts compressed bytes, which is what ByteStream offsets refer to
 * for compressed uploads.
 */
import { createZstdDecompress, type ZstdDecompress } from 'node:zlib';
import { invalidArgument } from '../errors.ts';
import type { BlobWriter } from './blob-store.ts';

/** Wraps `inner` so that compressed input is decompressed before storing. */
export class ZstdDecompressingWriter implements BlobWriter {
  readonly #inner: BlobWriter;
  readonly #zstd: ZstdDecompress;
  #pending: Promise<void> = Promise.resolve();
  #error: Error | undefined;
  #written = 0;

  constructor(inner: BlobWriter) {
    this.#inner = inner;
    this.#zstd = createZstdDecompress();
    this.#zstd.on('data', (out: Buffer) => {
      this.#pending = this.#pending.then(() => (this.#error ? undefined : this.#inner.write(out)));
      this.#pending.catch((err: unknown) => {
        this.#error ??= err as Error;
      });
    });
    this.#zstd.on('error', (err) => {
      this.#error ??= invalidArgument(`zstd data is corrupt: ${err.message}`);
    });
  }

  get written(): number {
    return this.#written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#throwIfFailed();
    await new Promise<void>((resolve) => {
      this.#zstd.write(chunk, () => resolve());
    });
    await this.#pending;
    this.#throwIfFailed();
    this.#written += chunk.byteLength;
  }

  async commit(): Promise<void> {
    this.#throwIfFailed();
    await new Promise<void>((resolve) => {
      this.#zstd.once('end', resolve);
      this.#zstd.once('error', () => resolve());
      this.#zstd.end();
      this.#zstd.resume();
    });
    await this.#pending.catch(() => undefined);
    if (this.#error) {
      await this.#inner.abort();
      throw this.#error;
    }
    await this.#inner.commit();
  }

  async abort(): Promise<void> {
    this.#zstd.destroy();
    await this.#inner.abort();
  }

  #throwIfFailed(): void {
    if (this.#error) throw this.#error;
  }
}
