/**
 * Digests of files on disk, computed by streaming, so that large outputs are
 * never held in memory.
 */
import { read } from 'node:fs';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { type Digest, makeDigest } from '../digest/digest.ts';
import { createHasher, type DigestFunction } from '../digest/digest-function.ts';
import { fromFsError } from '../errors.ts';

/** Largest read while hashing. */
const CHUNK_BYTES = 1024 * 1024;

const readAt = promisify(read);

/** Hashes the file at `path` under `fn`. */
export async function digestFile(fn: DigestFunction, path: string): Promise<Digest> {
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      return await digestDescriptor(fn, handle.fd, size);
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw fromFsError(err, `hashing ${path}`);
  }
}

/**
 * Hashes the file open at `fd` from its first byte to its end, streaming.
 * For a file that must be read through the descriptor it was checked on
 * (see `confined-file.ts`), never reopened by path. `size` (the file's size
 * when it was opened) only sizes the read buffer. The caller closes `fd`;
 * errors are raw file system errors, for the caller to give context.
 */
export async function digestDescriptor(
  fn: DigestFunction,
  fd: number,
  size: number,
): Promise<Digest> {
  const hasher = await createHasher(fn);
  // A read buffer no larger than the file: a fresh 1 MiB buffer for every
  // small output is external memory that makes V8 run full collections.
  const chunk = Buffer.allocUnsafe(Math.max(1, Math.min(size, CHUNK_BYTES)));
  let position = 0;
  for (;;) {
    // Positioned reads: the result does not depend on the descriptor's offset.
    const { bytesRead } = await readAt(fd, chunk, 0, chunk.byteLength, position);
    if (bytesRead === 0) break;
    hasher.update(chunk.subarray(0, bytesRead));
    position += bytesRead;
  }
  return makeDigest(fn, hasher.digest(), position);
}
