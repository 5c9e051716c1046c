/**
 * google.bytestream.ByteStream for CAS blobs: Read with offset and limit,
 * resumable Write, QueryWriteStatus; plain and zstd-compressed resource names.
 */

import { addAbortSignal, pipeline, Readable } from 'node:stream';
import { createZstdCompress, constants as zlibConstants } from 'node:zlib';
import { type ServerWritableStream, status } from '@grpc/grpc-js';
import { isEmptyDigest } from '../digest/digest.ts';
import { validateInstanceName } from '../digest/instance-name.ts';
import {
  type BlobResource,
  parseReadResourceName,
  parseWriteResourceName,
} from '../digest/resource-name.ts';
import { invalidArgument, KilnError, outOfRange, quote } from '../errors.ts';
import type {
  ByteStreamServer,
  QueryWriteStatusRequest,
  ReadRequest,
  ReadResponse,
  WriteRequest,
  WriteResponse,
} from '../gen/google/bytestream/bytestream.js';
import { boundedSend } from '../rpc/bounded-send.ts';
import { MessageReader } from '../rpc/message-reader.ts';
import { clientStreaming, type RpcContext, serverStreaming, unary } from '../rpc/rpc.ts';
import { type BlobStore, hasBlob } from '../storage/blob-store.ts';
import { ZstdDecompressingWriter } from '../storage/zstd-decompressing-writer.ts';
import type { Logger } from '../util/logger.ts';
import { ZSTD_LEVEL } from '../util/zstd.ts';
import { READ_CHUNK_BYTES } from './limits.ts';
import { READ_BUFFER_BYTES, ReadStreams } from './read-streams.ts';
import type { PendingUpload, UploadRegistry } from './upload-registry.ts';

/** Options for {@link createByteStreamService}. */
export interface ByteStreamServiceOptions {
  readonly log: Logger;
  /** The CAS; must verify content against digests. */
  readonly cas: BlobStore;
  /**
   * Uploads in progress. One that a stream leaves without finish_write, or
   * that is cancelled, stays here to be resumed (see QueryWriteStatus) until
   * the registry's idle timeout; meanwhile the disk store closes its file.
   */
  readonly uploads: UploadRegistry;
  /** The bound on concurrent Read streams; `DEFAULT_MAX_READ_STREAMS` when absent. */
  readonly readStreams?: ReadStreams;
}

/**
 * Slices fed to the compressor. zstd compresses (and emits) a whole input
 * chunk at once, so feeding it 1 MiB storage chunks would hold a megabyte
 * more per stream, a stalled one included.
 */
const COMPRESS_INPUT_BYTES = 128 * 1024;

/** Bytes of a ReadResponse's data, for the Read stream's byte bound. */
const dataBytes = (response: ReadResponse): number => response.data.byteLength;

/** Yields chunks of at most `max` bytes. */
async function* rechunk(
  source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  max: number,
): AsyncIterable<Uint8Array> {
  for await (const chunk of source) {
    for (let at = 0; at < chunk.byteLength; at += max) {
      yield chunk.subarray(at, Math.min(chunk.byteLength, at + max));
    }
  }
}

/**
 * Closes a blob stream nothing has read: leaving a `for await` closes only
 * a stream that has started, so start it first.
 */
async function closeUnread(data: AsyncIterable<Uint8Array>): Promise<void> {
  const chunks = data[Symbol.asyncIterator]();
  try {
    await chunks.next();
  } finally {
    await chunks.return?.();
  }
}

function parseWrite(name: string): BlobResource & { uploadId: string } {
  const resource = parseWriteResourceName(name);
  validateInstanceName(resource.instanceName);
  return resource;
}

/** Creates the ByteStream service implementation. */
export function createByteStreamService(options: ByteStreamServiceOptions): ByteStreamServer {
  const { log, cas, uploads } = options;
  const readStreams = options.readStreams ?? new ReadStreams();

  /**
   * Streams the blob from storage chunk by chunk, reading the next chunk only
   * once the client has taken all but {@link READ_BUFFER_BYTES} of what was
   * sent; a cancelled call stops the reading and closes the blob. The
   * wrapper's `send`, whose backpressure counts messages, is not used.
   */
  async function read(
    req: ReadRequest,
    _send: unknown,
    ctx: RpcContext,
    call: ServerWritableStream<ReadRequest, ReadResponse>,
  ): Promise<void> {
    readStreams.enter();
    try {
      await readBlob(req, boundedSend(call, READ_BUFFER_BYTES, dataBytes), ctx);
    } finally {
      readStreams.leave();
    }
  }

  async function readBlob(
    req: ReadRequest,
    send: (r: ReadResponse) => Promise<void>,
    ctx: RpcContext,
  ): Promise<void> {
    const resource = parseReadResourceName(req.resourceName);
    validateInstanceName(resource.instanceName);
    const { digest } = resource;
    if (req.readOffset < 0) throw outOfRange(`read_offset ${req.readOffset} is negative`);
    if (req.readOffset > digest.size) {
      throw outOfRange(
        `read_offset ${req.readOffset} is past the end of a ${digest.size}-byte blob`,
      );
    }
    if (req.readLimit < 0) throw invalidArgument(`read_limit ${req.readLimit} is negative`);
    if (isEmptyDigest(digest)) {
      if (resource.compressor === 'zstd') await sendCompressed([], send, ctx);
      return;
    }
    const range = { offset: req.readOffset, limit: req.readLimit };
    const data = await cas.get(digest, range);
    if (ctx.cancelled()) {
      await closeUnread(data);
      throw new KilnError(status.CANCELLED, 'Read cancelled by the client');
    }
    if (resource.compressor === 'zstd') {
      await sendCompressed(data, send, ctx);
      return;
    }
    for await (const chunk of rechunk(data, READ_CHUNK_BYTES)) {
      await send({ data: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) });
    }
  }

  async function sendCompressed(
    data: AsyncIterable<Uint8Array> | Uint8Array[],
    send: (r: ReadResponse) => Promise<void>,
    ctx: RpcContext,
  ): Promise<void> {
    // An already aborted signal would destroy the compressor before the
    // pipeline starts, and the loop below would wait for it forever.
    if (ctx.signal.aborted) throw new KilnError(status.CANCELLED, 'Read cancelled by the client');
    const zstd = createZstdCompress({
      params: { [zlibConstants.ZSTD_c_compressionLevel]: ZSTD_LEVEL },
    });
    // One slice read ahead at most. Cancelling the call, or leaving the loop
    // below, destroys both streams, which closes the blob; errors of either
    // reach the loop through zstd.
    pipeline(
      Readable.from(rechunk(data, COMPRESS_INPUT_BYTES), { highWaterMark: 1 }),
      addAbortSignal(ctx.signal, zstd),
      () => {},
    );
    for await (const chunk of rechunk(zstd, READ_CHUNK_BYTES)) {
      await send({ data: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) });
    }
  }

  /** Opens (or resumes) the upload a first WriteRequest names. */
  async function openUpload(first: WriteRequest, resource: BlobResource): Promise<PendingUpload> {
    const resumed = uploads.resume(first.resourceName);
    if (resumed !== undefined) {
      if (first.writeOffset !== resumed.writer.written) {
        uploads.release(resumed);
        throw invalidArgument(
          `write_offset ${first.writeOffset} does not match the ${resumed.writer.written} bytes ` +
            'already received for this upload (see QueryWriteStatus)',
        );
      }
      return resumed;
    }
    if (first.writeOffset !== 0) {
      throw invalidArgument(
        `write_offset ${first.writeOffset} for an upload this server has no bytes of; start at 0`,
      );
    }
    const inner = await cas.put(resource.digest);
    const writer =
      resource.compressor === 'zstd'
        ? new ZstdDecompressingWriter({ inner, declaredSize: resource.digest.size })
        : inner;
    return uploads.start(first.resourceName, resource.digest, writer);
  }

  const write = clientStreaming<WriteRequest, WriteResponse>(
    log,
    'ByteStream.Write',
    async (call) => {
      let upload: PendingUpload | undefined;
      let resource: BlobResource | undefined;
      // Errors from the writer itself (bad data, storage failure) discard the
      // upload; protocol errors and broken streams leave it resumable.
      let writerFailed = false;
      // Returning at finish_write, before the client's half-close arrives, must
      // not destroy the call: that would build an AbortError (and a stack
      // trace) and then a write-after-end error for every upload.
      const requests = new MessageReader<WriteRequest>(call as unknown as Readable);
      try {
        for (let req = await requests.next(); req !== undefined; req = await requests.next()) {
          if (resource === undefined) {
            resource = parseWrite(req.resourceName);
            const complete =
              isEmptyDigest(resource.digest) ||
              (req.writeOffset === 0 && (await hasBlob(cas, resource.digest)));
            if (complete) {
              return {
                committedSize: resource.compressor === 'identity' ? resource.digest.size : -1,
              };
            }
            upload = await openUpload(req, resource);
          } else if (upload === undefined) {
            break;
          } else {
            if (req.resourceName !== '' && req.resourceName !== upload.name) {
              throw invalidArgument(
                `resource_name ${quote(req.resourceName)} differs from the stream's first ${quote(upload.name)}`,
              );
            }
            if (req.writeOffset !== upload.writer.written) {
              throw invalidArgument(
                `write_offset ${req.writeOffset} does not follow the ${upload.writer.written} bytes sent so far`,
              );
            }
          }
          writerFailed = true;
          if (req.data.byteLength > 0) await upload.writer.write(req.data);
          if (req.finishWrite) {
            await upload.writer.commit();
            uploads.finish(upload);
            const committedSize =
              resource.compressor === 'identity' ? resource.digest.size : upload.writer.written;
            upload = undefined;
            return { committedSize };
          }
          writerFailed = false;
        }
        if (resource === undefined) throw invalidArgument('Write stream carried no WriteRequest');
        throw invalidArgument(
          'Write stream ended without finish_write; the upload is kept, see QueryWriteStatus',
        );
      } catch (err) {
        if (upload !== undefined) {
          if (writerFailed) await uploads.discard(upload);
          else uploads.release(upload);
        }
        if (call.cancelled) throw new KilnError(status.CANCELLED, 'Write cancelled by the client');
        throw err;
      } finally {
        requests.close();
      }
    },
  );

  async function queryWriteStatus(req: QueryWriteStatusRequest) {
    const resource = parseWrite(req.resourceName);
    if (isEmptyDigest(resource.digest) || (await hasBlob(cas, resource.digest))) {
      return {
        committedSize: resource.compressor === 'identity' ? resource.digest.size : -1,
        complete: true,
      };
    }
    return { committedSize: uploads.committedSize(req.resourceName) ?? 0, complete: false };
  }

  return {
    read: serverStreaming(log, 'ByteStream.Read', read),
    write,
    queryWriteStatus: unary(log, 'ByteStream.QueryWriteStatus', queryWriteStatus),
  };
}
