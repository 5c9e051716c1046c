/**
 * The connection of a `grpc` store to its backend (another Kiln, Buildbarn,
 * any REAPI server): the channel with TLS and a bearer token, the storage and
 * action cache clients on it, and the mapping of the backend's failures to
 * errors a user of this Kiln can act on.
 */
import { readFile } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import { bearerTokenInterceptor } from '../client/bearer-token.ts';
import { CasRpc, type CasRpcOptions } from '../client/cas-rpc.ts';
import { type ClientTlsFiles, channelCredentials } from '../client/channel-credentials.ts';
import { CLIENT_CHANNEL_OPTIONS } from '../client/channel-options.ts';
import { fromGrpcError } from '../client/grpc-error.ts';
import { parseGrpcEndpoint } from '../config/grpc-store-schema.ts';
import type { Digest } from '../digest/digest.ts';
import { failedPrecondition, KilnError, withContext } from '../errors.ts';
import {
  ActionCacheClient,
  type DigestFunction_Value,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { BlobWriter } from './blob-store.ts';

/** Where and how to reach a backend; see the `grpc` store's configuration. */
export interface GrpcBackendOptions {
  /** `grpc://host:port` (plaintext) or `grpcs://host:port` (TLS). */
  readonly endpoint: string;
  /** REAPI instance name every request names on the backend. */
  readonly instanceName: string;
  /** CA and client certificate files for `grpcs://`; the system's CAs without `ca`. */
  readonly tls?: ClientTlsFiles;
  /** Bearer token sent with every call. */
  readonly token?: string;
  /** File holding the bearer token (read once, when the store is built). */
  readonly tokenFile?: string;
  /** Most calls (streams included) in flight at once. */
  readonly concurrency: number;
  /** Deadline of each unary call, in milliseconds. */
  readonly rpcTimeoutMs: number;
}

/** An open connection to a backend. */
export interface GrpcBackend {
  /** The endpoint as configured, for messages. */
  readonly endpoint: string;
  readonly instanceName: string;
  /** CAS, ByteStream and Capabilities calls. */
  readonly rpc: CasRpc;
  /** ActionCache calls, on the same channel. */
  readonly actionCache: ActionCacheClient;
  readonly rpcTimeoutMs: number;
  /** Closes the channel. */
  close(): void;
}

/**
 * Opens the channel (lazily: no connection is made until the first call, so
 * a backend that is down fails calls with UNAVAILABLE, not the server's
 * start). Reads the TLS and token files now; their errors name the file.
 */
export async function connectGrpcBackend(options: GrpcBackendOptions): Promise<GrpcBackend> {
  const parsed = parseGrpcEndpoint(options.endpoint);
  if (parsed === undefined) {
    throw new Error(
      `endpoint "${options.endpoint}" must look like grpc://HOST:PORT or grpcs://HOST:PORT`,
    );
  }
  if (!parsed.tls && options.tls !== undefined) {
    throw new Error('tls options need a grpcs:// endpoint');
  }
  const creds = await channelCredentials(parsed.tls ? (options.tls ?? {}) : undefined).catch(
    (err: unknown) => {
      // The shared helper names command-line flags; name the config fields instead.
      const text = (err as Error).message.replace(/--tls-(ca|cert|key)/g, 'tls.$1');
      throw new Error(text);
    },
  );
  const token = options.token ?? (await readTokenFile(options.tokenFile));
  const interceptors = token === undefined ? [] : [bearerTokenInterceptor(token)];
  const actionCache = new ActionCacheClient(parsed.address, creds, {
    ...CLIENT_CHANNEL_OPTIONS,
    interceptors,
  });
  const rpc = new CasRpc({
    // grpc-js types getChannel() as its interface, and CasRpc's option as the class behind it.
    channel: actionCache.getChannel() as NonNullable<CasRpcOptions['channel']>,
    credentials: creds,
    interceptors,
    concurrency: options.concurrency,
    rpcTimeoutMs: options.rpcTimeoutMs,
  });
  return {
    endpoint: options.endpoint,
    instanceName: options.instanceName,
    rpc,
    actionCache,
    rpcTimeoutMs: options.rpcTimeoutMs,
    close: () => actionCache.close(),
  };
}

async function readTokenFile(path: string | undefined): Promise<string | undefined> {
  if (path === undefined) return undefined;
  let token: string;
  try {
    token = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      `cannot read tokenFile ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
  if (token === '' || /\s/.test(token)) {
    throw new Error(`tokenFile ${path} must hold one bearer token (no white space), found none`);
  }
  return token;
}

/**
 * A backend failure as this store reports it: the backend's code is kept
 * (NOT_FOUND, PERMISSION_DENIED, …), with the endpoint in front; a backend
 * that cannot be reached or timed out becomes UNAVAILABLE saying so.
 */
export function backendError(backend: GrpcBackend, err: unknown, what: string): KilnError {
  const e = err instanceof KilnError ? err : fromGrpcError(err, what);
  if (e.code === status.UNAVAILABLE || e.code === status.DEADLINE_EXCEEDED) {
    return new KilnError(
      status.UNAVAILABLE,
      `storage backend ${backend.endpoint} is unavailable (${e.message}); ` +
        'check that it is running and reachable from this server',
      { cause: e },
    );
  }
  if (e.code === status.UNAUTHENTICATED || e.code === status.PERMISSION_DENIED) {
    return withContext(
      e,
      `storage backend ${backend.endpoint} refused this server's credentials (check the grpc store's token and tls)`,
    );
  }
  return withContext(e, `storage backend ${backend.endpoint}`);
}

/** The REAPI `digest_function` of a digest, as the generated request types want it. */
export function digestFunctionOf(digest: Digest): DigestFunction_Value {
  return digest.fn.value as DigestFunction_Value;
}

/** A stream of one chunk. */
export async function* singleChunk(chunk: Uint8Array): AsyncIterable<Uint8Array> {
  yield chunk;
}

/**
 * Collects what is written in memory and hands it whole to `send` at
 * commit: for values the backend takes in one message (a small blob in
 * BatchUpdateBlobs, an action cache entry). Writing past `limit` bytes
 * fails with `tooLarge()`; nothing is sent before commit, so an aborted or
 * failed upload leaves nothing behind.
 */
export class BufferingWriter implements BlobWriter {
  readonly #key: Digest;
  readonly #limit: number;
  readonly #tooLarge: () => KilnError;
  readonly #send: (value: Buffer) => Promise<void>;
  #chunks: Uint8Array[] = [];
  #written = 0;
  #state: 'open' | 'committed' | 'aborted' = 'open';

  constructor(
    key: Digest,
    limit: number,
    tooLarge: () => KilnError,
    send: (value: Buffer) => Promise<void>,
  ) {
    this.#key = key;
    this.#limit = limit;
    this.#tooLarge = tooLarge;
    this.#send = send;
  }

  get written(): number {
    return this.#written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== 'open')
      throw failedPrecondition(`upload of ${this.#key.key} is ${this.#state}`);
    if (this.#written + chunk.byteLength > this.#limit) throw this.#tooLarge();
    // Copied: the caller may reuse its buffer once write resolves.
    this.#chunks.push(Buffer.from(chunk));
    this.#written += chunk.byteLength;
  }

  async commit(): Promise<void> {
    if (this.#state !== 'open')
      throw failedPrecondition(`upload of ${this.#key.key} is ${this.#state}`);
    const value = Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#state = 'committed';
    try {
      await this.#send(value);
    } catch (err) {
      this.#state = 'aborted';
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.#state === 'open') this.#state = 'aborted';
    this.#chunks = [];
  }
}
