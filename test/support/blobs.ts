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
