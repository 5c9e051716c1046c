/**
 * Hand-built zstd frames for tests of decompression bounds: a frame of RLE
 * blocks expands 32,768-fold, so kilobytes stand for gigabytes of zeros
 * without the test ever holding (or compressing) the expanded data.
 */
import { createHash } from 'node:crypto';
import type { Digest as DigestMessage } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';

/** The largest zstd block, and the window the frames below declare. */
export const ZSTD_BLOCK_BYTES = 128 * 1024;

const MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
/** Frame header descriptor: no content size, no checksum, no dictionary, windowed. */
const DESCRIPTOR = 0x00;
/** Window descriptor: exponent 7, mantissa 0, so 2^(10+7) = 128 KiB. */
const WINDOW = 7 << 3;

/**
 * A zstd frame that expands to `size` zero bytes (a multiple of
 * {@link ZSTD_BLOCK_BYTES}), 4 bytes per block.
 */
export function zstdZeros(size: number): Buffer {
  if (size <= 0 || size % ZSTD_BLOCK_BYTES !== 0) {
    throw new Error(`zstdZeros: ${size} is not a positive multiple of ${ZSTD_BLOCK_BYTES}`);
  }
  const blocks = size / ZSTD_BLOCK_BYTES;
  const frame = Buffer.alloc(6 + 4 * blocks);
  frame.set([...MAGIC, DESCRIPTOR, WINDOW]);
  for (let i = 0; i < blocks; i++) {
    const last = i === blocks - 1 ? 1 : 0;
    // Block header, 3 bytes little-endian: last flag, type 1 (RLE), regenerated size.
    frame.writeUIntLE((ZSTD_BLOCK_BYTES << 3) | (1 << 1) | last, 6 + 4 * i, 3);
    // The byte to repeat (zero) is already there.
  }
  return frame;
}

/** SHA-256 digest of `size` zero bytes, hashed in chunks rather than held whole. */
export function zerosDigest(size: number): DigestMessage {
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(Math.min(size, 1024 * 1024));
  for (let left = size; left > 0; left -= chunk.byteLength) {
    hash.update(left >= chunk.byteLength ? chunk : chunk.subarray(0, left));
  }
  return { hash: hash.digest('hex'), sizeBytes: size };
}

/** Peak growth, in bytes, of process memory while something ran. */
export interface MemoryGrowth {
  /** Resident set size. */
  readonly rss: number;
  /** Buffers and other memory outside the JS heap (`external`, which includes ArrayBuffers) plus the JS heap. */
  readonly buffers: number;
}

/**
 * Samples memory while `run` runs and reports the peak growth over the level
 * before it. Blob data lives in Buffers outside the JS heap, so `buffers` is
 * where decompressed output shows; `rss` also counts the decoders' own memory.
 */
export async function peakMemoryGrowth<T>(
  run: () => Promise<T>,
): Promise<{ result: T; growth: MemoryGrowth }> {
  const sample = () => {
    const m = process.memoryUsage();
    return { rss: m.rss, buffers: m.external + m.heapUsed };
  };
  const before = sample();
  const peak = { ...before };
  const update = () => {
    const now = sample();
    peak.rss = Math.max(peak.rss, now.rss);
    peak.buffers = Math.max(peak.buffers, now.buffers);
  };
  const timer = setInterval(update, 2);
  try {
    const result = await run();
    update();
    return {
      result,
      growth: { rss: peak.rss - before.rss, buffers: peak.buffers - before.buffers },
    };
  } finally {
    clearInterval(timer);
  }
}
