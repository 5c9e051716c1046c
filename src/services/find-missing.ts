/**
 * FindMissingBlobs for requests of any size the server accepts, up to about
 * 900,000 digests. Digests are validated and looked up a slice at a time and
 * the missing ones written into the encoded reply as they are found, so a
 * call holds one slice of digest objects however many its request names,
 * and other calls get their turn between slices.
 *
 * A request larger than {@link FIND_MISSING_UNBUDGETED_BYTES} first takes its
 * size from a budget that all calls share: a flood of huge requests waits,
 * then fails with RESOURCE_EXHAUSTED, instead of together holding gigabytes.
 * Smaller requests, which is what build tools send, never wait.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import { type Digest, isEmptyDigest, parseDigest } from '../digest/digest.ts';
import { validateInstanceName } from '../digest/instance-name.ts';
import { KilnError } from '../errors.ts';
import type {
  FindMissingBlobsRequest,
  FindMissingBlobsResponse,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { digestCountOf, digestSlicesOf, encodedSizeOf, releaseRequest } from '../rpc/cas-codec.ts';
import { MissingDigestWriter } from '../rpc/missing-digest-writer.ts';
import type { RpcContext } from '../rpc/rpc.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { ByteBudget, ReleaseBytes } from '../util/byte-budget.ts';
import { FIND_MISSING_UNBUDGETED_BYTES } from './limits.ts';

/**
 * Digests validated and looked up at a time: a few hundred kilobytes of
 * objects, which die young (slices of 8192 left the heap of a 400,000-digest
 * call a third larger). Requests of this many digests or fewer are one slice.
 */
const SLICE_DIGESTS = 2048;

/** Options for {@link createFindMissing}. */
export interface FindMissingOptions {
  /** The CAS. */
  readonly cas: BlobStore;
  /**
   * Encoded request bytes that large calls hold while they are answered,
   * shared by all calls (`FIND_MISSING_BUDGET_BYTES` in production).
   */
  readonly budget: ByteBudget;
}

/** The FindMissingBlobs handler. */
export function createFindMissing(
  options: FindMissingOptions,
): (request: FindMissingBlobsRequest, ctx: RpcContext) => Promise<FindMissingBlobsResponse> {
  const { cas, budget } = options;

  async function answer(
    request: FindMissingBlobsRequest,
    ctx: RpcContext,
  ): Promise<FindMissingBlobsResponse> {
    const { digestFunction } = request;
    const sliced = digestCountOf(request) > SLICE_DIGESTS;
    const writer = new MissingDigestWriter({
      deduplicate: sliced,
      capacity: sliced ? encodedSizeOf(request) : undefined,
    });
    let index = 0;
    for (const slice of digestSlicesOf(request, SLICE_DIGESTS)) {
      if (index > 0) {
        await nextTurn();
        if (ctx.cancelled()) throw cancelled();
      }
      const digests: Digest[] = [];
      for (const message of slice) {
        const digest = parseDigest(message, digestFunction, 'blob_digests', index++);
        if (!isEmptyDigest(digest)) digests.push(digest);
      }
      // Stores report each absent digest once per call (the BlobStore contract), which
      // spares deduplicating a one-slice request; the writer drops repeats across slices.
      if (digests.length > 0) writer.add(await cas.findMissing(digests));
    }
    return writer.finish();
  }

  return async (request, ctx) => {
    validateInstanceName(request.instanceName);
    const bytes = encodedSizeOf(request);
    if (bytes <= FIND_MISSING_UNBUDGETED_BYTES) return answer(request, ctx);
    let release: ReleaseBytes;
    try {
      release = await budget.acquire(bytes, ctx.signal);
    } catch (err) {
      releaseRequest(request);
      throw ctx.cancelled() ? cancelled() : err;
    }
    try {
      return await answer(request, ctx);
    } finally {
      releaseRequest(request);
      release();
    }
  };
}

function cancelled(): KilnError {
  return new KilnError(status.CANCELLED, 'FindMissingBlobs cancelled by the client');
}
