/**
 * zstd frames that expand to any size at almost no cost to make: a frame of
 * RLE blocks, each 4 bytes that stand for 128 KiB of one repeated byte. A
 * gigabyte costs 32 KiB on the wire and nothing to build.
 */

const MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
/** Largest block: 128 KiB (and the window below is 128 KiB). */
const BLOCK = 128 * 1024;
/** No content size, no checksum, no dictionary; a window descriptor follows. */
const FRAME_HEADER = Buffer.from([0x00, (17 - 10) << 3]);

/** A zstd frame that decompresses to `size` copies of `byte`. */
export function zstdRleBomb(size: number, byte = 0): Buffer {
  const blocks = Math.max(1, Math.ceil(size / BLOCK));
  const out = Buffer.allocUnsafe(MAGIC.length + FRAME_HEADER.length + blocks * 4);
  MAGIC.copy(out, 0);
  FRAME_HEADER.copy(out, MAGIC.length);
  let pos = MAGIC.length + FRAME_HEADER.length;
  for (let i = 0; i < blocks; i++) {
    const length = Math.min(BLOCK, size - i * BLOCK);
    const last = i === blocks - 1 ? 1 : 0;
    // Block header, 3 bytes little-endian: last-block bit, type 1 (RLE), regenerated size.
    out.writeUIntLE(last | (1 << 1) | (Math.max(0, length) << 3), pos, 3);
    out[pos + 3] = byte;
    pos += 4;
  }
  return out;
}
