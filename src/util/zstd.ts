/**
 * zstd helpers over Node's built-in zlib bindings, for the `ZSTD` compressor
 * of REAPI batch and ByteStream transfers.
 */

import { promisify } from 'node:util';
import { constants, zstdCompress, zstdDecompress } from 'node:zlib';
import { invalidArgument } from '../errors.ts';

const compressAsync = promisify(zstdCompress);
const decompressAsync = promisify(zstdDecompress);

/** zstd level used for replies: fast, since the network is rarely the bottleneck. */
export const ZSTD_LEVEL = 1;

/** Compresses a buffer (off the main thread). */
export function compressZstd(data: Uint8Array): Promise<Buffer> {
  return compressAsync(data, { params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } });
}

/**
 * Decompresses a buffer that must expand to exactly `expectedSize` bytes.
 * Output is capped so a compression bomb cannot allocate more than that.
 */
export async function decompressZstdExact(data: Uint8Array, expectedSize: number): Promise<Buffer> {
  let out: Buffer;
  try {
    out = await decompressAsync(data, { maxOutputLength: Math.max(1, expectedSize + 1) });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') {
      throw invalidArgument(`zstd data expands beyond the declared size of ${expectedSize} bytes`);
    }
    throw invalidArgument(`zstd data is corrupt: ${(err as Error).message}`);
  }
  if (out.byteLength !== expectedSize) {
    throw invalidArgument(
      `zstd data expands to ${out.byteLength} bytes, but the digest declares ${expectedSize}`,
    );
  }
  return out;
}
