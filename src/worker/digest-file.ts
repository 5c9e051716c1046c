/**
 * Digests of files on disk, computed by streaming, so that large outputs are
 * never held in memory.
 */
import { createReadStream } from 'node:fs';
import { type Digest, makeDigest } from '../digest/digest.ts';
import { createHasher, type DigestFunction } from '../digest/digest-function.ts';
import { fromFsError } from '../errors.ts';

/** Hashes the file at `path` under `fn`. */
export async function digestFile(fn: DigestFunction, path: string): Promise<Digest> {
  const hasher = await createHasher(fn);
  let size = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
      hasher.update(chunk as Buffer);
      size += (chunk as Buffer).byteLength;
    }
  } catch (err) {
    throw fromFsError(err, `hashing ${path}`);
  }
  return makeDigest(fn, hasher.digest(), size);
}
