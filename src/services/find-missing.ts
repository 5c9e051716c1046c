/**
 * FindMissingBlobs for requests of any size the server accepts, up to about
 * 900,000 digests. Digests are validated and looked up a slice at a time and
 * the missing ones written into the encoded reply as they are found, so a
 * call holds one slice of digests however many its request names, and other
 * calls get their turn between slices.
 *
 * Digests are validated straight from the request's bytes into packed
 * digests (see packed-digest.ts): one small object per digest, and no hash
 * string at all for the ones a disk-backed CAS answers. Slices are sized by
 * time: they grow while a slice keeps the event loop for less than
 * {@link SLICE_BUDGET_MS}, and shrink when it takes longer, between
 * {@link MIN_SLICE} and {@link MAX_SLICE} digests.
 *
 * A request larger than {@link FIND_MISSING_UNBUDGETED_BYTES} first takes its
 * size from a budget that all calls share: a flood of huge requests waits,
 * then fails with RESOURCE_EXHAUSTED, instead of together holding gigabytes.
 * Smaller requests, which is what build tools send, never wait.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import { type Digest, parseDigest } from '../digest/digest.ts';
import { type DigestFunction, resolveDigestFunction } from '../digest/digest-function.ts';
import { validateInstanceName } from '../digest/instance-name.ts';
import { PackedDigestBatch } from '../digest/packed-digest.ts';
import { KilnError } from '../errors.ts';
import {
  FindMissingBlobsRequest,
  type FindMissingBlobsResponse,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  LazyFindMissingBlobsRequest,
  releaseRequest,
  type ValidatingReader,
} from '../rpc/cas-codec.ts';
import { MissingDigestWriter } from '../rpc/missing-digest-writer.ts';
import type { RpcContext } from '../rpc/rpc.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { ByteBudget, ReleaseBytes } from '../util/byte-budget.ts';
import { FIND_MISSING_UNBUDGETED_BYTES } from './limits.ts';

/**
 * Digests of the first slice, and the fewest of any: requests of this many
 * digests or fewer are one slice.
 */
export const MIN_SLICE = 2048;
/**
 * Most digests of a slice: what other calls wait for at most (a few
 * milliseconds). Larger slices cost more than they save: a slice's digests
 * outlive more young-generation collections and get promoted (a 400,000-digest
 * call cost 10-15% more server CPU with slices of 16,384).
 */
export const MAX_SLICE = 4096;
/** Event-loop time a slice aims at, in milliseconds. */
const SLICE_BUDGET_MS = 2;

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
    request: LazyFindMissingBlobsRequest,
    ctx: RpcContext,
  ): Promise<FindMissingBlobsResponse> {
    const { digestFunction } = request;
    const sliced = request.digestCount > MIN_SLICE;
    const writer = new MissingDigestWriter({
      deduplicate: sliced,
      capacity: sliced ? request.byteLength : undefined,
      expectedEntries: request.digestCount,
    });
    const fn = packedFunctionOf(digestFunction);
    const reader: ValidatingReader = {
      batch: undefined,
      parse: (message, index) => parseDigest(message, digestFunction, 'blob_digests', index),
      read: 0,
    };
    let length = MIN_SLICE;
    let pos = 0;
    while (pos < request.byteLength) {
      if (pos > 0) {
        await nextTurn();
        if (ctx.cancelled()) throw cancelled();
      }
      const started = performance.now();
      reader.batch = fn === undefined ? undefined : new PackedDigestBatch(fn, length);
      const digests: Digest[] = [];
      pos = request.readValidated(pos, length, reader, digests);
      let busy: number;
      if (digests.length > 0) {
        // Stores report each absent digest once per call (the BlobStore contract), which
        // spares deduplicating a one-slice request; the writer drops repeats across slices.
        const lookup = cas.findMissing(digests);
        busy = performance.now() - started;
        const missing = await lookup;
        const writing = performance.now();
        writer.add(missing);
        busy += performance.now() - writing;
      } else {
        busy = performance.now() - started;
      }
      length = nextSliceLength(length, busy);
    }
    return writer.finish();
  }

  return async (request, ctx) => {
    validateInstanceName(request.instanceName);
    const lazy = asLazy(request);
    const bytes = lazy.byteLength;
    if (bytes <= FIND_MISSING_UNBUDGETED_BYTES) return answer(lazy, ctx);
    let release: ReleaseBytes;
    try {
      release = await budget.acquire(bytes, ctx.signal);
    } catch (err) {
      releaseRequest(request);
      throw ctx.cancelled() ? cancelled() : err;
    }
    try {
      return await answer(lazy, ctx);
    } finally {
      releaseRequest(request);
      release();
    }
  };
}

/**
 * The next slice's length: scaled towards {@link SLICE_BUDGET_MS} by the
 * time the last slice held the event loop for, at most doubled or halved.
 */
export function nextSliceLength(length: number, busyMs: number): number {
  const scaled = busyMs > 0 ? Math.round((length * SLICE_BUDGET_MS) / busyMs) : 2 * length;
  const bounded = Math.min(2 * length, Math.max(length >> 1, scaled));
  return Math.min(MAX_SLICE, Math.max(MIN_SLICE, bounded));
}

/**
 * The function whose digests can be packed for a request's `digest_function`
 * value: the one it names, or for UNKNOWN the one a SHA-256-length hash is
 * inferred as (other lengths take the general path). Undefined when the
 * value names no supported function: every digest then takes the general
 * path, which words the error.
 */
function packedFunctionOf(value: number): DigestFunction | undefined {
  try {
    return resolveDigestFunction(value, value === 0 ? SHA256_LENGTH_HASH : undefined);
  } catch {
    return undefined;
  }
}

const SHA256_LENGTH_HASH = '0'.repeat(64);

/** The request as the server receives it: in-process callers may pass it decoded. */
function asLazy(request: FindMissingBlobsRequest): LazyFindMissingBlobsRequest {
  if (request instanceof LazyFindMissingBlobsRequest) return request;
  return new LazyFindMissingBlobsRequest(
    Buffer.from(FindMissingBlobsRequest.encode(request).finish()),
  );
}

function cancelled(): KilnError {
  return new KilnError(status.CANCELLED, 'FindMissingBlobs cancelled by the client');
}
