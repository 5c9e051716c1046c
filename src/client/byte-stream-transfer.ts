/**
 * Streaming ByteStream.Read and ByteStream.Write on the client side, with
 * backpressure in both directions: reads are consumed as the caller writes
 * them out, writes wait for the HTTP/2 stream to drain.
 */
import type { ClientWritableStream } from '@grpc/grpc-js';
import { internal } from '../errors.ts';
import type {
  ByteStreamClient,
  WriteRequest,
  WriteResponse,
} from '../gen/google/bytestream/bytestream.js';
import { fromGrpcError } from './grpc-error.ts';

/**
 * Yields the blob behind `resourceName` chunk by chunk, from `readOffset` and
 * at most `readLimit` bytes (0: to the end). The call is cancelled when the
 * consumer stops early; errors become KilnErrors with their gRPC code.
 */
export async function* readByteStream(
  client: ByteStreamClient,
  resourceName: string,
  readOffset = 0,
  readLimit = 0,
): AsyncGenerator<Buffer> {
  const call = client.read({ resourceName, readOffset, readLimit });
  let ended = false;
  try {
    for await (const response of call as AsyncIterable<{ data: Buffer }>) {
      if (response.data.byteLength > 0) yield response.data;
    }
    ended = true;
  } catch (err) {
    ended = true;
    throw fromGrpcError(err, `ByteStream.Read ${resourceName}`);
  } finally {
    if (!ended) call.cancel();
  }
}

/** What {@link writeByteStream} sends. */
export interface WriteByteStreamOptions {
  readonly client: ByteStreamClient;
  /** `{instance}/uploads/{uuid}/blobs/{hash}/{size}`. */
  readonly resourceName: string;
  /** Expected length; the request that reaches it carries `finish_write`. */
  readonly size: number;
  /** The bytes, in chunks no larger than the channel's message limit. */
  readonly chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

/** Resolves once `call` can take more data or the call has finished. */
function drainedOrDone(call: ClientWritableStream<WriteRequest>, done: Promise<unknown>) {
  return new Promise<void>((resolve) => {
    const settle = () => {
      call.off('drain', settle);
      resolve();
    };
    call.once('drain', settle);
    done.then(settle, settle);
  });
}

/**
 * Uploads a blob with one ByteStream.Write call. A server may answer before
 * all data was sent (it already holds the blob); the rest is then skipped.
 * Rejects with the server's status as a KilnError.
 */
export async function writeByteStream(options: WriteByteStreamOptions): Promise<void> {
  const { client, resourceName, size } = options;
  let finished = false;
  let call: ClientWritableStream<WriteRequest> | undefined;
  const done = new Promise<WriteResponse>((resolve, reject) => {
    call = client.write((err, response) => {
      finished = true;
      if (err) reject(err);
      else resolve(response);
    });
  });
  // Observed below; this keeps an early failure from counting as unhandled meanwhile.
  done.catch(() => {});
  const stream = call as ClientWritableStream<WriteRequest>;
  let offset = 0;
  let sentFinish = false;
  try {
    for await (const chunk of options.chunks) {
      if (finished) break;
      const data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      const finishWrite = offset + data.byteLength >= size;
      const request: WriteRequest = {
        resourceName: offset === 0 ? resourceName : '',
        writeOffset: offset,
        finishWrite,
        data,
      };
      offset += data.byteLength;
      if (!stream.write(request)) await drainedOrDone(stream, done);
      if (finishWrite) {
        sentFinish = true;
        break;
      }
    }
    if (!finished && !sentFinish) {
      // Fewer bytes than promised: finishing lets the server reject the size.
      stream.write({
        resourceName: offset === 0 ? resourceName : '',
        writeOffset: offset,
        finishWrite: true,
        data: Buffer.alloc(0),
      });
    }
    stream.end();
  } catch (err) {
    stream.cancel();
    throw fromGrpcError(err, `ByteStream.Write ${resourceName}`);
  }
  let response: WriteResponse;
  try {
    response = await done;
  } catch (err) {
    throw fromGrpcError(err, `ByteStream.Write ${resourceName}`);
  }
  if (response.committedSize !== size) {
    throw internal(
      `ByteStream.Write ${resourceName}: server committed ${response.committedSize} of ${size} bytes`,
    );
  }
}
