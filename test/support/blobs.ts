/** Small helpers for making blobs and digests in tests. */
import { createHash, randomBytes } from 'node:crypto';
import type { Digest as DigestMessage } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';

/** SHA-256 proto digest of a buffer. */
export function sha256Digest(data: Uint8Array): DigestMessage {
  return { hash: createHash('sha256').update(data).digest('hex'), sizeBytes: data.byteLength };
}

/** Digest under any Node-supported hash ('sha1', 'md5', 'sha384', 'sha512'). */
export function digestWith(algorithm: string, data: Uint8Array): DigestMessage {
  return { hash: createHash(algorithm).update(data).digest('hex'), sizeBytes: data.byteLength };
}

/** A random blob of `size` bytes. */
export function randomBlob(size: number): Buffer {
  return randomBytes(size);
}

/** Compressible data of `size` bytes. */
export function textBlob(size: number, seed = 'kiln'): Buffer {
  return Buffer.from(`${seed} `.repeat(Math.ceil(size / (seed.length + 1)))).subarray(0, size);
}

/** Random bytes drawn a megabyte at a time: a call of randomBytes per digest is slow. */
let pool = Buffer.alloc(0);
let used = 0;

/** A random digest (of no stored blob, in all likelihood). */
export function randomDigest(): DigestMessage {
  if (used + 36 > pool.length) {
    pool = randomBytes(1 << 20);
    used = 0;
  }
  const hash = pool.toString('hex', used, used + 32);
  const sizeBytes = 1 + pool.readUIntBE(used + 32, 3);
  used += 36;
  return { hash, sizeBytes };
}

/**
 * `count` digests for a large FindMissingBlobs: a quarter from `present`
 * (taken in turn, so each is asked about many times), the rest random, and
 * the first 1000 random ones asked about again at the end, long after their
 * first mention. `missing` is the random ones once each, in order: the reply.
 */
export function mixedDigests(
  present: readonly DigestMessage[],
  count: number,
): { digests: DigestMessage[]; missing: DigestMessage[] } {
  const digests: DigestMessage[] = [];
  const missing: DigestMessage[] = [];
  for (let i = 0; i < count - 1000; i++) {
    if (i % 4 === 0) {
      digests.push(present[(i / 4) % present.length] as DigestMessage);
    } else {
      const digest = randomDigest();
      digests.push(digest);
      missing.push(digest);
    }
  }
  digests.push(...missing.slice(0, 1000));
  return { digests, missing };
}
