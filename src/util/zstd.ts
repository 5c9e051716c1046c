/**
 * zstd helpers over Node's built-in zlib bindings, for the `ZSTD` compressor
 * of REAPI batch and ByteStream transfers.
 */

import { promisify } from 'node:util';
import { constants, createZstdDecompress, zstdCompress } from 'node:zlib';
import { invalidArgument, type KilnError } from '../errors.ts';

const compressAsync = promisify(zstdCompress);

/** zstd level used for replies: fast, since the network is rarely the bottleneck. */
export const ZSTD_LEVEL = 1;

/** Compresses a buffer (off the main thread). */
export function compressZstd(data: Uint8Array): Promise<Buffer> {
  return compressAsync(data, { params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } });
}

/**
 * Output chunk size of the decompressors: large enough that a big blob takes
 * few thread-pool round trips, small enough to bound what one chunk holds.
 */
export const ZSTD_OUTPUT_CHUNK_BYTES = 256 * 1024;

/** zlib's smallest chunk size. */
const MIN_CHUNK_BYTES = 64;

/**
 * The decompressor's output chunk size for a blob of `declaredSize` bytes:
 * at most one byte more than the blob, so that the first chunk of a bomb
 * already shows it.
 */
export function zstdChunkBytes(declaredSize: number): number {
  return Math.min(ZSTD_OUTPUT_CHUNK_BYTES, Math.max(MIN_CHUNK_BYTES, declaredSize + 1));
}

/** INVALID_ARGUMENT for zstd output that passes the digest's size. */
export function expandsBeyond(declaredSize: number): KilnError {
  return invalidArgument(`zstd data expands beyond the declared size of ${declaredSize} bytes`);
}

/** INVALID_ARGUMENT for zstd output that ends short of the digest's size. */
export function expandsShort(produced: number, declaredSize: number): KilnError {
  return invalidArgument(
    `zstd data expands to ${produced} bytes, but the digest declares ${declaredSize}`,
  );
}

/** INVALID_ARGUMENT for input the decompressor refuses. */
export function corruptZstd(err: Error): KilnError {
  return invalidArgument(`zstd data is corrupt: ${err.message}`);
}

/**
 * Decompresses a buffer that must expand to exactly `expectedSize` bytes,
 * straight into one buffer of that size. It stops at the first output chunk
 * that would pass `expectedSize`, so a bomb costs no more memory or time than
 * an honest blob of the declared size.
 */
export function decompressZstdExact(data: Uint8Array, expectedSize: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const zstd = createZstdDecompress({ chunkSize: zstdChunkBytes(expectedSize) });
    let out: Buffer | undefined;
    let filled = 0;
    let settled = false;
    const fail = (err: KilnError) => {
      if (settled) return;
      settled = true;
      zstd.destroy();
      reject(err);
    };
    // Each chunk is copied out as it arrives, so the stream never holds more than one.
    zstd.on('data', (chunk: Buffer) => {
      if (settled) return;
      if (chunk.byteLength > expectedSize - filled) {
        fail(expandsBeyond(expectedSize));
        return;
      }
      out ??= Buffer.allocUnsafe(expectedSize);
      out.set(chunk, filled);
      filled += chunk.byteLength;
    });
    zstd.on('error', (err) => fail(corruptZstd(err)));
    zstd.on('end', () => {
      if (filled !== expectedSize) {
        fail(expandsShort(filled, expectedSize));
        return;
      }
      settled = true;
      resolve(out ?? Buffer.alloc(0));
    });
    zstd.end(data);
  });
}
