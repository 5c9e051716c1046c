/**
 * Digests of files on disk, computed by streaming, so that large outputs are
 * never held in memory.
 */
import { open } from 'node:fs/promises';
import { type Digest, makeDigest } from '../digest/digest.ts';
import { createHasher, type DigestFunction } from '../digest/digest-function.ts';
import { fromFsError } from '../errors.ts';

/** Largest read while hashing. */
const CHUNK_BYTES = 1024 * 1024;

/** Hashes the file at `path` under `fn`. */
export async function digestFile(fn: DigestFunction, path: string): Promise<Digest> {
  const hasher = await createHasher(fn);
  let size = 0;
  try {
    const handle = await open(path, 'r');
    try {
      // A read buffer no larger than the file: a fresh 1 MiB buffer for every
      // small output is external memory that makes V8 run full collections.
      const { size: expected } = await handle.stat();
      const chunk = Buffer.allocUnsafe(Math.max(1, Math.min(expected, CHUNK_BYTES)));
      for (;;) {
        const { bytesRead } = await handle.read(chunk, 0, chunk.byteLength, null);
        if (bytesRead === 0) break;
        hasher.update(chunk.subarray(0, bytesRead));
        size += bytesRead;
      }
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw fromFsError(err, `hashing ${path}`);
  }
  return makeDigest(fn, hasher.digest(), size);
}
