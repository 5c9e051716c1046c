/**
 * The read side of the disk store: file ranges as chunks with free bytes in
 * front, so that ByteStream.Read can put its protobuf and gRPC frame headers
 * there and send a chunk without copying it (see `encodeReadResponseFramed`).
 */
import type { FileHandle } from 'node:fs/promises';

/** Largest chunk a read yields. */
const READ_CHUNK = 1024 * 1024;
/** Free bytes in front of each chunk {@link readChunks} yields (see {@link hasHeadroom}). */
export const CHUNK_HEADROOM = 16;

/** ArrayBuffers of chunks from {@link readChunks}, whose first bytes nothing else uses. */
const withHeadroom = new WeakSet<ArrayBufferLike>();

/**
 * Whether `chunk` came from {@link readChunks} (which `DiskBlobStore.get`
 * returns) unsliced, with {@link CHUNK_HEADROOM} bytes in front of it that no
 * other view uses. An
 * encoder may write a message header there and send header and chunk as one
 * buffer without copying the chunk.
 */
export function hasHeadroom(chunk: Uint8Array): boolean {
  return chunk.byteOffset === CHUNK_HEADROOM && withHeadroom.has(chunk.buffer);
}

/**
 * Reads `[start, end)` in chunks of up to {@link READ_CHUNK}, each in its own
 * buffer with {@link CHUNK_HEADROOM} free bytes in front, and closes the file
 * when done or abandoned. Like a file stream, it ends early at end of file.
 */
export async function* readChunks(
  handle: FileHandle,
  start: number,
  end: number,
): AsyncGenerator<Uint8Array> {
  try {
    for (let at = start; at < end; ) {
      const length = Math.min(READ_CHUNK, end - at);
      // Never pooled: the whole ArrayBuffer belongs to this chunk.
      const buffer = Buffer.allocUnsafeSlow(CHUNK_HEADROOM + length);
      let filled = 0;
      while (filled < length) {
        const offset = CHUNK_HEADROOM + filled;
        const { bytesRead } = await handle.read(buffer, offset, length - filled, at + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled > 0) {
        withHeadroom.add(buffer.buffer);
        yield buffer.subarray(CHUNK_HEADROOM, CHUNK_HEADROOM + filled);
      }
      if (filled < length) return;
      at += length;
    }
  } finally {
    await handle.close();
  }
}
