/**
 * Reads CAS blobs for display: capped, so a page never buffers a huge blob,
 * and tolerant of absence, because evicted inputs and outputs are normal in
 * a cache and a page should say so rather than fail.
 */
import { status } from '@grpc/grpc-js';
import type { Digest } from '../digest/digest.ts';
import { hasCode } from '../errors.ts';
import type { BlobStore } from '../storage/blob-store.ts';

/** The first bytes of a blob. */
export interface BlobHead {
  readonly data: Buffer;
  /** True when the blob is longer than what was read. */
  readonly truncated: boolean;
}

/**
 * Reads at most `limit` bytes of a blob (its whole content when it is
 * smaller). Rejects with NOT_FOUND when the blob is absent.
 */
export async function readHead(cas: BlobStore, digest: Digest, limit: number): Promise<BlobHead> {
  const wanted = Math.min(limit, digest.size);
  const chunks: Buffer[] = [];
  let length = 0;
  // An empty read needs no limit (0 would mean "unlimited" to the store).
  const range = wanted === 0 ? undefined : { limit: wanted };
  for await (const chunk of await cas.get(digest, range)) {
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    length += chunk.byteLength;
    if (length >= wanted) break;
  }
  const data = Buffer.concat(chunks).subarray(0, wanted);
  return { data, truncated: digest.size > data.length };
}

/** {@link readHead}, or undefined when the blob is not in the CAS. */
export async function readHeadIfPresent(
  cas: BlobStore,
  digest: Digest,
  limit: number,
): Promise<BlobHead | undefined> {
  try {
    return await readHead(cas, digest, limit);
  } catch (err) {
    if (hasCode(err, status.NOT_FOUND)) return undefined;
    throw err;
  }
}
