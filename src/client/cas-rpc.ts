/**
 * The transport under {@link CasClient}: the generated REAPI storage clients
 * on one channel, each call bounded by a shared concurrency limit, unary
 * calls given a deadline, and every failure turned into a KilnError with the
 * server's code. No policy lives here (batching, verification, files); that
 * is CasClient's job.
 */
import {
  type CallOptions,
  type Channel,
  type ChannelCredentials,
  credentials,
  type Interceptor,
  Metadata,
  makeGenericClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import {
  type BatchReadBlobsRequest,
  type BatchReadBlobsResponse,
  type BatchUpdateBlobsRequest,
  type BatchUpdateBlobsResponse,
  CapabilitiesClient,
  ContentAddressableStorageClient,
  type FindMissingBlobsRequest,
  type FindMissingBlobsResponse,
  type GetCapabilitiesRequest,
  type GetTreeRequest,
  type GetTreeResponse,
  type ServerCapabilities,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { ByteStreamClient } from '../gen/google/bytestream/bytestream.js';
import { byteStreamServiceDefinition } from '../rpc/bytestream-codec.ts';
import { readByteStream, writeByteStream } from './byte-stream-transfer.ts';
import { CLIENT_CHANNEL_OPTIONS } from './channel-options.ts';
import { ConcurrencyLimiter } from './concurrency-limiter.ts';
import { fromGrpcError } from './grpc-error.ts';

/** ByteStream client with copy-free codecs for the data-carrying messages. */
const FastByteStreamClient = makeGenericClientConstructor(
  byteStreamServiceDefinition,
  'google.bytestream.ByteStream',
) as unknown as new (
  ...args: ConstructorParameters<typeof ContentAddressableStorageClient>
) => ByteStreamClient;

/** Options for {@link CasRpc}. */
export interface CasRpcOptions {
  /** gRPC target (`host:port`). Required unless `channel` is given. */
  readonly address?: string;
  /** A grpc-js channel to share with other clients; CasRpc then does not close it. */
  readonly channel?: Channel;
  /** Credentials for `address`; insecure (plaintext) by default. */
  readonly credentials?: ChannelCredentials;
  /** Most calls in flight at once; 16 by default. */
  readonly concurrency?: number;
  /** Deadline of each unary call in milliseconds; 60 s by default. Streams have none. */
  readonly rpcTimeoutMs?: number;
  /**
   * Client interceptors around every call, e.g. one adding credentials as
   * call metadata (the CLI's `--header`); none by default.
   */
  readonly interceptors?: Interceptor[];
}

type Callback<T> = (err: ServiceError | null, response: T) => void;

/** The REAPI storage RPCs of one channel, concurrency-limited, with KilnError failures. */
export class CasRpc {
  readonly #cas: ContentAddressableStorageClient;
  readonly #byteStream: ByteStreamClient;
  readonly #capabilities: CapabilitiesClient;
  readonly #ownsChannel: boolean;
  readonly #limiter: ConcurrencyLimiter;
  readonly #rpcTimeoutMs: number;

  constructor(options: CasRpcOptions) {
    const creds = options.credentials ?? credentials.createInsecure();
    const address = options.channel?.getTarget() ?? options.address;
    if (address === undefined) throw new TypeError('a CAS client needs an address or a channel');
    this.#ownsChannel = options.channel === undefined;
    const interceptors = options.interceptors ?? [];
    this.#cas = new ContentAddressableStorageClient(address, creds, {
      ...CLIENT_CHANNEL_OPTIONS,
      interceptors,
      ...(options.channel === undefined ? {} : { channelOverride: options.channel }),
    });
    const shared = {
      ...CLIENT_CHANNEL_OPTIONS,
      interceptors,
      channelOverride: this.#cas.getChannel(),
    };
    this.#byteStream = new FastByteStreamClient(address, creds, shared);
    this.#capabilities = new CapabilitiesClient(address, creds, shared);
    this.#limiter = new ConcurrencyLimiter({ limit: options.concurrency ?? 16 });
    this.#rpcTimeoutMs = options.rpcTimeoutMs ?? 60_000;
  }

  /** Closes the channel, unless it was passed in. */
  close(): void {
    if (this.#ownsChannel) this.#cas.close();
  }

  /** Capabilities.GetCapabilities. */
  getCapabilities(request: GetCapabilitiesRequest): Promise<ServerCapabilities> {
    return this.#unary('GetCapabilities', (md, opts, cb) =>
      this.#capabilities.getCapabilities(request, md, opts, cb),
    );
  }

  /** ContentAddressableStorage.FindMissingBlobs. */
  findMissingBlobs(request: FindMissingBlobsRequest): Promise<FindMissingBlobsResponse> {
    return this.#unary('FindMissingBlobs', (md, opts, cb) =>
      this.#cas.findMissingBlobs(request, md, opts, cb),
    );
  }

  /** ContentAddressableStorage.BatchUpdateBlobs; per-blob failures are in the reply. */
  batchUpdateBlobs(request: BatchUpdateBlobsRequest): Promise<BatchUpdateBlobsResponse> {
    return this.#unary('BatchUpdateBlobs', (md, opts, cb) =>
      this.#cas.batchUpdateBlobs(request, md, opts, cb),
    );
  }

  /** ContentAddressableStorage.BatchReadBlobs; per-blob failures are in the reply. */
  batchReadBlobs(request: BatchReadBlobsRequest): Promise<BatchReadBlobsResponse> {
    return this.#unary('BatchReadBlobs', (md, opts, cb) =>
      this.#cas.batchReadBlobs(request, md, opts, cb),
    );
  }

  /** Yields the pages of one GetTree call (a server may stop early with a next_page_token). */
  async *getTree(request: GetTreeRequest): AsyncGenerator<GetTreeResponse> {
    const release = await this.#limiter.acquire();
    const call = this.#cas.getTree(request);
    let ended = false;
    try {
      yield* call as AsyncIterable<GetTreeResponse>;
      ended = true;
    } catch (err) {
      ended = true;
      throw fromGrpcError(err, 'GetTree');
    } finally {
      if (!ended) call.cancel();
      release();
    }
  }

  /** Yields a blob's bytes from ByteStream.Read, optionally from an offset and up to a limit. */
  async *read(resourceName: string, readOffset = 0, readLimit = 0): AsyncGenerator<Buffer> {
    const release = await this.#limiter.acquire();
    try {
      yield* readByteStream(this.#byteStream, resourceName, readOffset, readLimit);
    } finally {
      release();
    }
  }

  /** Uploads `size` bytes from `chunks` with one ByteStream.Write. */
  write(
    resourceName: string,
    size: number,
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<void> {
    return this.#limiter.run(() =>
      writeByteStream({ client: this.#byteStream, resourceName, size, chunks }),
    );
  }

  /** Runs a unary call under the limiter with a deadline, mapping errors. */
  #unary<T>(
    what: string,
    start: (md: Metadata, opts: Partial<CallOptions>, cb: Callback<T>) => unknown,
  ): Promise<T> {
    return this.#limiter.run(
      () =>
        new Promise<T>((resolve, reject) => {
          start(new Metadata(), { deadline: Date.now() + this.#rpcTimeoutMs }, (err, res) =>
            err ? reject(fromGrpcError(err, what)) : resolve(res),
          );
        }),
    );
  }
}
