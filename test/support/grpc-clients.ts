/**
 * Typed gRPC clients for tests and benchmarks, with promise helpers for the
 * calls tests make most.
 */
import {
  type CallOptions,
  type ClientUnaryCall,
  credentials,
  type Interceptor,
  Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import { CLIENT_CHANNEL_OPTIONS } from '../../src/client/channel-options.ts';
import {
  ActionCacheClient,
  CapabilitiesClient,
  ContentAddressableStorageClient,
  ExecutionClient,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { ByteStreamClient } from '../../src/gen/google/bytestream/bytestream.js';
import { BotsClient } from '../../src/gen/google/devtools/remoteworkers/v1test2/bots.js';
import { OperationsClient } from '../../src/gen/google/longrunning/operations.js';

/** Client channel options: large windows and messages, like Bazel's tuned clients. */
export const CLIENT_OPTIONS = CLIENT_CHANNEL_OPTIONS;

/** One set of clients sharing a channel. */
export interface KilnClients {
  readonly cas: ContentAddressableStorageClient;
  readonly byteStream: ByteStreamClient;
  readonly actionCache: ActionCacheClient;
  readonly capabilities: CapabilitiesClient;
  readonly execution: ExecutionClient;
  readonly operations: OperationsClient;
  readonly bots: BotsClient;
  close(): void;
}

/**
 * Connects every REAPI storage client to `address` (host:port), with
 * `interceptors` (e.g. one sending a bearer token) around every call.
 */
export function connectClients(address: string, interceptors: Interceptor[] = []): KilnClients {
  const creds = credentials.createInsecure();
  const cas = new ContentAddressableStorageClient(address, creds, {
    ...CLIENT_OPTIONS,
    interceptors,
  });
  const channelOverride = cas.getChannel();
  const opts = { ...CLIENT_OPTIONS, interceptors, channelOverride };
  return {
    cas,
    byteStream: new ByteStreamClient(address, creds, opts),
    actionCache: new ActionCacheClient(address, creds, opts),
    capabilities: new CapabilitiesClient(address, creds, opts),
    execution: new ExecutionClient(address, creds, opts),
    operations: new OperationsClient(address, creds, opts),
    bots: new BotsClient(address, creds, opts),
    close: () => cas.close(),
  };
}

type UnaryCallback<Res> = (err: ServiceError | null, res: Res) => void;

/** Request and response types of a unary client method (its last overload). */
type UnaryTypes<F> = F extends (
  request: infer Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: UnaryCallback<infer Res>,
) => ClientUnaryCall
  ? { req: Req; res: Res }
  : never;

/** Method names of `C` that are unary calls. */
type UnaryMethods<C> = {
  [K in keyof C]: UnaryTypes<C[K]> extends never ? never : K;
}[keyof C];

/** Calls a unary method and resolves with its response: `await call(clients.cas, 'findMissingBlobs', req)`. */
export function call<C, K extends UnaryMethods<C>>(
  client: C,
  method: K,
  request: UnaryTypes<C[K]>['req'],
  metadata: Metadata = new Metadata(),
  options: Partial<CallOptions> = {},
): Promise<UnaryTypes<C[K]>['res']> {
  return new Promise((resolve, reject) => {
    const fn = client[method] as unknown as (
      req: unknown,
      md: Metadata,
      opts: Partial<CallOptions>,
      cb: UnaryCallback<UnaryTypes<C[K]>['res']>,
    ) => unknown;
    fn.call(client, request, metadata, options, (err, res) => (err ? reject(err) : resolve(res)));
  });
}
