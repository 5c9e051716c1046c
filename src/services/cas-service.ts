/**
 * ContentAddressableStorage: FindMissingBlobs, BatchUpdateBlobs,
 * BatchReadBlobs and GetTree over the CAS BlobStore.
 */
import { status } from '@grpc/grpc-js';
import { type Digest, isEmptyDigest, parseDigest, toDigestMessage } from '../digest/digest.ts';
import { validateInstanceName } from '../digest/instance-name.ts';
import { codeOf, invalidArgument, KilnError, unimplemented, withContext } from '../errors.ts';
import {
  type BatchReadBlobsRequest,
  type BatchReadBlobsResponse_Response,
  type BatchUpdateBlobsRequest,
  type BatchUpdateBlobsRequest_Request,
  type BatchUpdateBlobsResponse_Response,
  Compressor_Value,
  type ContentAddressableStorageServer,
  type GetTreeRequest,
  type GetTreeResponse,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Status } from '../gen/google/rpc/status.js';
import { type RpcContext, serverStreaming, unary } from '../rpc/rpc.ts';
import { type BlobStore, putBuffer, readAll } from '../storage/blob-store.ts';
import { ByteBudget } from '../util/byte-budget.ts';
import type { Logger } from '../util/logger.ts';
import { compressZstd, decompressZstdExact } from '../util/zstd.ts';
import { createFindMissing } from './find-missing.ts';
import { streamTree } from './get-tree.ts';
import {
  BATCH_DECOMPRESSION_BUDGET_BYTES,
  BATCH_DECOMPRESSION_WAIT_MS,
  FIND_MISSING_BUDGET_BYTES,
  FIND_MISSING_WAIT_MS,
  MAX_BATCH_TOTAL_SIZE_BYTES,
  MAX_BATCH_ZSTD_DECLARED_BYTES,
} from './limits.ts';

/** Options for {@link createCasService}. */
export interface CasServiceOptions {
  readonly log: Logger;
  /** The CAS; must verify content against digests (VerifyingBlobStore on top). */
  readonly cas: BlobStore;
  /**
   * Bounds the bytes that BatchUpdateBlobs zstd entries hold while they are
   * decompressed and stored, across all concurrent requests. By default a
   * budget of {@link BATCH_DECOMPRESSION_BUDGET_BYTES} of this service's own.
   */
  readonly batchDecompressionBudget?: ByteBudget;
  /**
   * Bounds the encoded bytes of the large FindMissingBlobs requests being
   * answered at once, across all concurrent calls. By default a budget of
   * {@link FIND_MISSING_BUDGET_BYTES} of this service's own.
   */
  readonly findMissingBudget?: ByteBudget;
}

const OK: Status = { code: status.OK, message: '', details: [] };

/** Only blobs at least this large are worth compressing in BatchReadBlobs replies. */
const MIN_COMPRESS_BYTES = 2048;

function statusOf(err: unknown): Status {
  return {
    code: codeOf(err),
    message: err instanceof Error ? err.message : String(err),
    details: [],
  };
}

/** Creates the ContentAddressableStorage service implementation. */
export function createCasService(options: CasServiceOptions): ContentAddressableStorageServer {
  const { log, cas } = options;
  const decompressionBudget =
    options.batchDecompressionBudget ??
    new ByteBudget({
      name: 'BatchUpdateBlobs zstd decompression',
      maxBytes: BATCH_DECOMPRESSION_BUDGET_BYTES,
      maxWaitMs: BATCH_DECOMPRESSION_WAIT_MS,
    });

  const findMissing = createFindMissing({
    cas,
    budget:
      options.findMissingBudget ??
      new ByteBudget({
        name: 'FindMissingBlobs requests',
        maxBytes: FIND_MISSING_BUDGET_BYTES,
        maxWaitMs: FIND_MISSING_WAIT_MS,
      }),
  });

  /**
   * Refuses a zstd entry whose declared size is over the batch limit, or
   * would take the request's zstd entries over theirs, before anything is
   * decompressed. Counts it in `declared` otherwise.
   */
  function admitZstd(digest: Digest, i: number, declared: { bytes: number }): void {
    if (digest.size > MAX_BATCH_TOTAL_SIZE_BYTES) {
      throw invalidArgument(
        `requests[${i}]: the digest declares ${digest.size} bytes, over the limit of ` +
          `${MAX_BATCH_TOTAL_SIZE_BYTES} per batch (max_batch_total_size_bytes in GetCapabilities); ` +
          'upload this blob with ByteStream.Write',
      );
    }
    if (declared.bytes + digest.size > MAX_BATCH_ZSTD_DECLARED_BYTES) {
      throw invalidArgument(
        `requests[${i}]: the batch's zstd entries declare more than ${MAX_BATCH_ZSTD_DECLARED_BYTES} ` +
          'bytes in total; send this blob in another batch or with ByteStream.Write',
      );
    }
    declared.bytes += digest.size;
  }

  /** Decompresses and stores one zstd entry, holding its size of the decompression budget. */
  async function storeZstd(digest: Digest, compressed: Buffer, i: number, signal: AbortSignal) {
    let release: () => void;
    try {
      release = await decompressionBudget.acquire(digest.size, signal);
    } catch (err) {
      throw withContext(err, `requests[${i}]`);
    }
    try {
      const data = await decompressZstdExact(compressed, digest.size);
      if (!isEmptyDigest(digest)) await putBuffer(cas, digest, data);
    } finally {
      release();
    }
  }

  async function updateOne(
    r: BatchUpdateBlobsRequest_Request,
    i: number,
    fnValue: number,
    declared: { bytes: number },
    ctx: RpcContext,
  ): Promise<BatchUpdateBlobsResponse_Response> {
    const { signal } = ctx;
    try {
      const digest = parseDigest(r.digest, fnValue, `requests[${i}].digest`);
      if (r.compressor === Compressor_Value.ZSTD) {
        // Before the first await, so entries are admitted in request order.
        admitZstd(digest, i, declared);
        await storeZstd(digest, r.data, i, signal);
      } else if (r.compressor !== Compressor_Value.IDENTITY) {
        throw invalidArgument(`requests[${i}]: compressor ${r.compressor} is not supported`);
      } else if (r.data.byteLength !== digest.size) {
        throw invalidArgument(
          `requests[${i}]: data is ${r.data.byteLength} bytes but the digest declares ${digest.size}`,
        );
      } else if (!isEmptyDigest(digest)) {
        await putBuffer(cas, digest, r.data);
      }
      return { digest: r.digest, status: OK };
    } catch (err) {
      if (!(err instanceof KilnError) && !signal.aborted)
        ctx.log.error(
          { err, digest: `${r.digest?.hash}/${r.digest?.sizeBytes}` },
          'BatchUpdateBlobs: storing a blob failed',
        );
      return { digest: r.digest, status: statusOf(err) };
    }
  }

  async function batchUpdate(req: BatchUpdateBlobsRequest, ctx: RpcContext) {
    validateInstanceName(req.instanceName);
    let total = 0;
    for (const r of req.requests) total += r.data.byteLength;
    if (total > MAX_BATCH_TOTAL_SIZE_BYTES) {
      throw invalidArgument(
        `BatchUpdateBlobs carries ${total} bytes, over the limit of ${MAX_BATCH_TOTAL_SIZE_BYTES} ` +
          '(max_batch_total_size_bytes in GetCapabilities); split the batch or use ByteStream.Write',
      );
    }
    const declared = { bytes: 0 };
    const responses = await Promise.all(
      req.requests.map((r, i) => updateOne(r, i, req.digestFunction, declared, ctx)),
    );
    return { responses };
  }

  async function readOne(
    digest: Digest,
    zstdAccepted: boolean,
  ): Promise<BatchReadBlobsResponse_Response> {
    const message = toDigestMessage(digest);
    try {
      const data = isEmptyDigest(digest) ? Buffer.alloc(0) : await readAll(cas, digest);
      if (zstdAccepted && data.byteLength >= MIN_COMPRESS_BYTES) {
        const compressed = await compressZstd(data);
        if (compressed.byteLength < data.byteLength) {
          return {
            digest: message,
            data: compressed,
            compressor: Compressor_Value.ZSTD,
            status: OK,
          };
        }
      }
      return { digest: message, data, compressor: Compressor_Value.IDENTITY, status: OK };
    } catch (err) {
      return {
        digest: message,
        data: Buffer.alloc(0),
        compressor: Compressor_Value.IDENTITY,
        status: statusOf(err),
      };
    }
  }

  async function batchRead(req: BatchReadBlobsRequest) {
    validateInstanceName(req.instanceName);
    const digests = req.digests.map((d, i) => parseDigest(d, req.digestFunction, 'digests', i));
    const total = digests.reduce((sum, d) => sum + d.size, 0);
    if (total > MAX_BATCH_TOTAL_SIZE_BYTES) {
      throw invalidArgument(
        `BatchReadBlobs asks for ${total} bytes, over the limit of ${MAX_BATCH_TOTAL_SIZE_BYTES} ` +
          '(max_batch_total_size_bytes in GetCapabilities); split the batch or use ByteStream.Read',
      );
    }
    const zstd = req.acceptableCompressors.includes(Compressor_Value.ZSTD);
    return { responses: await Promise.all(digests.map((d) => readOne(d, zstd))) };
  }

  return {
    findMissingBlobs: unary(log, 'CAS.FindMissingBlobs', findMissing),
    batchUpdateBlobs: unary(log, 'CAS.BatchUpdateBlobs', batchUpdate),
    batchReadBlobs: unary(log, 'CAS.BatchReadBlobs', batchRead),
    getTree: serverStreaming<GetTreeRequest, GetTreeResponse>(
      log,
      'CAS.GetTree',
      async (req, send) => {
        validateInstanceName(req.instanceName);
        const root = parseDigest(req.rootDigest, req.digestFunction, 'root_digest');
        await streamTree({ cas, root, pageSize: req.pageSize, pageToken: req.pageToken, send });
      },
    ),
    splitBlob: unary(log, 'CAS.SplitBlob', async () => {
      throw unimplemented('SplitBlob is not supported (split_blob_support is false)');
    }),
    spliceBlob: unary(log, 'CAS.SpliceBlob', async () => {
      throw unimplemented('SpliceBlob is not supported (splice_blob_support is false)');
    }),
  };
}
