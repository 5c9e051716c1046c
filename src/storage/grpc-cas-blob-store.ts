/**
 * The CAS of another REAPI server as a BlobStore, so that a frontend without
 * storage of its own proxies to a storage node (another Kiln, Buildbarn, …).
 * Small blobs travel in BatchReadBlobs and BatchUpdateBlobs, larger ones
 * stream through ByteStream Read (with offset and limit) and Write, chunk by
 * chunk with backpressure: a large blob is never held in memory whole.
 */
import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { fitsBatch, splitEvery, wireKey } from '../client/blob-batches.ts';
import { CLIENT_MAX_MESSAGE_BYTES } from '../client/channel-options.ts';
import { type Digest, toDigestMessage } from '../digest/digest.ts';
import { formatReadResourceName, formatWriteResourceName } from '../digest/resource-name.ts';
import { failedPrecondition, KilnError, notFound } from '../errors.ts';
import { type BlobStore, type BlobWriter, type ReadRange, resolveRange } from './blob-store.ts';
import { ChunkQueue } from './chunk-queue.ts';
import {
  BufferingWriter,
  backendError,
  digestFunctionOf,
  type GrpcBackend,
  singleChunk,
} from './grpc-backend.ts';
import { missingInOrder } from './store-fan-out.ts';

/** Batch limit when the backend states none (0) or does not answer GetCapabilities. */
const DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024 - 64 * 1024;
/** Most digests in one FindMissingBlobs request. */
const MAX_FIND_MISSING_DIGESTS = 10_000;
/** Largest ByteStream.Write message payload. */
const WRITE_CHUNK_BYTES = 1024 * 1024;

/** Options of {@link GrpcCasBlobStore}. */
export interface GrpcCasBlobStoreOptions {
  /** The connection; closed by the store's `close`. */
  readonly backend: GrpcBackend;
  /**
   * Largest blob (plus framing) sent in a batch request; by default the
   * backend's `max_batch_total_size_bytes` (4 MiB - 64 KiB when it states none).
   */
  readonly maxBatchBytes?: number;
}

/** A remote CAS: blobs by digest, over the REAPI storage RPCs. */
export class GrpcCasBlobStore implements BlobStore {
  readonly #backend: GrpcBackend;
  readonly #maxBatchOverride: number | undefined;
  #maxBatch: Promise<number> | undefined;

  constructor(options: GrpcCasBlobStoreOptions) {
    this.#backend = options.backend;
    this.#maxBatchOverride = options.maxBatchBytes;
  }

  async get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    const { start, end } = resolveRange(digest.size, range, digest.key);
    if (fitsBatch(digest, await this.#maxBatchBytes())) {
      const data = await this.#batchRead(digest);
      return singleChunk(data.subarray(start, end));
    }
    const name = formatReadResourceName(this.#backend.instanceName, digest);
    const stream = this.#backend.rpc.read(name, start, end - start)[Symbol.asyncIterator]();
    // The first message (or the failure) arrives before the caller sees a byte.
    let first: IteratorResult<Buffer>;
    try {
      first = await stream.next();
    } catch (err) {
      throw this.#readError(err, digest);
    }
    return this.#rest(first, stream, digest);
  }

  async put(digest: Digest): Promise<BlobWriter> {
    if (fitsBatch(digest, await this.#maxBatchBytes())) {
      return new BufferingWriter(
        digest,
        digest.size,
        () =>
          failedPrecondition(`upload of ${digest.key} exceeds its size of ${digest.size} bytes`),
        (data) => this.#batchUpdate(digest, data),
      );
    }
    return new StreamWriter(digest, (chunks) =>
      this.#backend.rpc
        .write(
          formatWriteResourceName(this.#backend.instanceName, randomUUID(), digest),
          digest.size,
          chunks,
        )
        .catch((err: unknown) => {
          throw backendError(this.#backend, err, `uploading blob ${digest.key}`);
        }),
    );
  }

  async findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    const unique = new Map<string, Digest>();
    for (const d of digests) unique.set(d.key, d);
    const byFunction = new Map<number, Digest[]>();
    for (const d of unique.values()) {
      const group = byFunction.get(d.fn.value);
      if (group === undefined) byFunction.set(d.fn.value, [d]);
      else group.push(d);
    }
    const requests = [...byFunction.values()].flatMap((g) =>
      splitEvery(g, MAX_FIND_MISSING_DIGESTS),
    );
    const replies = await Promise.all(
      requests.map(async (chunk) => {
        let reply: Awaited<ReturnType<GrpcBackend['rpc']['findMissingBlobs']>>;
        try {
          reply = await this.#backend.rpc.findMissingBlobs({
            instanceName: this.#backend.instanceName,
            blobDigests: chunk.map(toDigestMessage),
            digestFunction: digestFunctionOf(chunk[0] as Digest),
          });
        } catch (err) {
          throw backendError(this.#backend, err, `FindMissingBlobs of ${chunk.length} digests`);
        }
        const sent = new Map(chunk.map((d) => [wireKey(d), d]));
        return reply.missingBlobDigests.flatMap((m) => sent.get(wireKey(m)) ?? []);
      }),
    );
    return missingInOrder(digests, replies.flat());
  }

  /** Closes the channel. */
  async close(): Promise<void> {
    this.#backend.close();
  }

  async *#rest(
    first: IteratorResult<Buffer>,
    stream: AsyncIterator<Buffer>,
    digest: Digest,
  ): AsyncIterable<Uint8Array> {
    if (first.done) return;
    let finished = false;
    try {
      yield first.value;
      for (;;) {
        let next: IteratorResult<Buffer>;
        try {
          next = await stream.next();
        } catch (err) {
          finished = true;
          throw this.#readError(err, digest);
        }
        if (next.done) break;
        yield next.value;
      }
      finished = true;
    } finally {
      // An early stop by the consumer cancels the call (and frees its slot).
      if (!finished) await stream.return?.();
    }
  }

  #readError(err: unknown, digest: Digest): KilnError {
    if (err instanceof KilnError && err.code === status.NOT_FOUND) {
      return notFound(`blob ${digest.key} is not in storage backend ${this.#backend.endpoint}`);
    }
    return backendError(this.#backend, err, `reading blob ${digest.key}`);
  }

  async #batchRead(digest: Digest): Promise<Buffer> {
    let reply: Awaited<ReturnType<GrpcBackend['rpc']['batchReadBlobs']>>;
    try {
      reply = await this.#backend.rpc.batchReadBlobs({
        instanceName: this.#backend.instanceName,
        digests: [toDigestMessage(digest)],
        acceptableCompressors: [],
        digestFunction: digestFunctionOf(digest),
      });
    } catch (err) {
      throw backendError(this.#backend, err, `BatchReadBlobs of ${digest.key}`);
    }
    const entry = reply.responses.find(
      (r) => r.digest !== undefined && wireKey(r.digest) === wireKey(digest),
    );
    // An absent status is an OK one (proto3 leaves a default message out).
    const code = entry === undefined ? status.INTERNAL : (entry.status?.code ?? status.OK);
    if (entry === undefined || code !== status.OK) {
      if (code === status.NOT_FOUND) throw this.#readError(notFound(''), digest);
      const why = entry === undefined ? 'no answer for it' : entry.status?.message;
      throw backendError(
        this.#backend,
        new KilnError(code, why ?? ''),
        `reading blob ${digest.key}`,
      );
    }
    if (entry.data.byteLength !== digest.size) {
      throw new KilnError(
        status.DATA_LOSS,
        `storage backend ${this.#backend.endpoint} returned ${entry.data.byteLength} bytes for blob ${digest.key}`,
      );
    }
    return entry.data;
  }

  async #batchUpdate(digest: Digest, data: Buffer): Promise<void> {
    let reply: Awaited<ReturnType<GrpcBackend['rpc']['batchUpdateBlobs']>>;
    try {
      reply = await this.#backend.rpc.batchUpdateBlobs({
        instanceName: this.#backend.instanceName,
        requests: [{ digest: toDigestMessage(digest), data, compressor: 0 }],
        digestFunction: digestFunctionOf(digest),
      });
    } catch (err) {
      throw backendError(this.#backend, err, `BatchUpdateBlobs of ${digest.key}`);
    }
    const answer = reply.responses[0];
    const code = answer === undefined ? status.INTERNAL : (answer.status?.code ?? status.OK);
    if (code !== status.OK) {
      const why = answer?.status?.message || 'no answer for it';
      throw backendError(this.#backend, new KilnError(code, why), `storing blob ${digest.key}`);
    }
  }

  #maxBatchBytes(): Promise<number> {
    if (this.#maxBatchOverride !== undefined) return Promise.resolve(this.#maxBatchOverride);
    this.#maxBatch ??= this.#backend.rpc
      .getCapabilities({ instanceName: this.#backend.instanceName })
      .then(
        (caps) => {
          const stated = caps.cacheCapabilities?.maxBatchTotalSizeBytes ?? 0;
          return Math.min(stated > 0 ? stated : DEFAULT_MAX_BATCH_BYTES, CLIENT_MAX_MESSAGE_BYTES);
        },
        (err: unknown) => {
          // A backend that is down is asked again next time; one without the RPC gets the default.
          if (err instanceof KilnError && err.code === status.UNIMPLEMENTED) {
            return DEFAULT_MAX_BATCH_BYTES;
          }
          this.#maxBatch = undefined;
          throw backendError(this.#backend, err, 'GetCapabilities');
        },
      );
    return this.#maxBatch;
  }
}

/** Streams a large blob into one ByteStream.Write, one chunk ahead at most. */
class StreamWriter implements BlobWriter {
  readonly #digest: Digest;
  readonly #queue = new ChunkQueue(WRITE_CHUNK_BYTES);
  readonly #done: Promise<void>;
  #written = 0;
  #state: 'open' | 'committed' | 'aborted' = 'open';

  constructor(digest: Digest, upload: (chunks: AsyncIterable<Uint8Array>) => Promise<void>) {
    this.#digest = digest;
    this.#done = upload(this.#queue);
    // Observed by commit; an early failure must not count as unhandled meanwhile.
    this.#done.catch(() => {});
  }

  get written(): number {
    return this.#written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== 'open')
      throw failedPrecondition(`upload of ${this.#digest.key} is ${this.#state}`);
    this.#written += chunk.byteLength;
    await this.#queue.push(chunk);
  }

  async commit(): Promise<void> {
    if (this.#state !== 'open')
      throw failedPrecondition(`upload of ${this.#digest.key} is ${this.#state}`);
    this.#state = 'committed';
    this.#queue.end();
    try {
      await this.#done;
    } catch (err) {
      this.#state = 'aborted';
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'aborted';
    this.#queue.fail(new KilnError(status.CANCELLED, `upload of ${this.#digest.key} was aborted`));
    await this.#done.catch(() => {});
  }
}
