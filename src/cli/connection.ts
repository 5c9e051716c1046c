/**
 * The client commands' connection to a REAPI server (Kiln or any other): the
 * global options that choose it (`--server`, `--instance`, TLS files,
 * `--header`), and the clients of every service on one channel. Headers and
 * the REAPI RequestMetadata (tool `kiln`, one invocation id per command) are
 * added to every call by an interceptor.
 */
import { randomUUID } from 'node:crypto';
import {
  type CallOptions,
  type Channel,
  type ChannelCredentials,
  InterceptingCall,
  type Interceptor,
  Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import { readBearerToken } from '../client/bearer-token.ts';
import { CasClient } from '../client/cas-client.ts';
import { type ClientTlsFiles, channelCredentials } from '../client/channel-credentials.ts';
import { CLIENT_CHANNEL_OPTIONS } from '../client/channel-options.ts';
import { fromGrpcError } from '../client/grpc-error.ts';
import {
  DIGEST_FUNCTIONS,
  type DigestFunction,
  digestFunctionByName,
  SHA256,
} from '../digest/digest-function.ts';
import {
  ActionCacheClient,
  CapabilitiesClient,
  ExecutionClient,
  RequestMetadata,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { OperationsClient } from '../gen/google/longrunning/operations.js';
import { ActionCacheAdminClient } from '../gen/kiln/admin/v1/action_cache_admin.js';
import { UsageError } from './cli-errors.ts';

/** The default server when neither `--server` nor `KILN_SERVER` names one. */
export const DEFAULT_SERVER = '127.0.0.1:8980';

/** Client package version, sent as ToolDetails. */
const TOOL_VERSION = '0.1.0';

/** The global options, resolved. */
export interface ClientSettings {
  /** `host:port`. */
  readonly address: string;
  /** TLS files, or undefined for plaintext. `{}` means TLS with the system's CAs. */
  readonly tls: ClientTlsFiles | undefined;
  readonly instanceName: string;
  readonly digestFunction: DigestFunction;
  /** `--header` pairs, names lower-cased. */
  readonly headers: readonly (readonly [string, string])[];
}

/** Raw global option values, as parsed from the command line. */
export interface GlobalOptionValues {
  readonly server?: string;
  readonly instance?: string;
  readonly digestFunction?: string;
  readonly tlsCa?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly headers?: readonly string[];
  /** `--token-file`: a file holding the bearer token (else `KILN_TOKEN`). */
  readonly tokenFile?: string;
}

/** Resolves the global options; UsageError for malformed values. */
export function resolveSettings(
  values: GlobalOptionValues,
  env: NodeJS.ProcessEnv = process.env,
): ClientSettings {
  const server = values.server ?? (env.KILN_SERVER || DEFAULT_SERVER);
  const match = /^(?:(grpcs?):\/\/)?((?:\[[^\]]+\]|[^:/[\]]+):(\d{1,5}))\/?$/.exec(server);
  if (match === null || Number(match[3]) > 65535) {
    throw new UsageError(
      `server "${server}" must look like HOST:PORT, grpc://HOST:PORT or grpcs://HOST:PORT`,
    );
  }
  const fnName = values.digestFunction ?? 'sha256';
  const digestFunction = digestFunctionByName(fnName.toLowerCase());
  if (digestFunction === undefined) {
    throw new UsageError(
      `--digest-function "${fnName}" is not one of ${DIGEST_FUNCTIONS.map((f) => f.name).join(', ')}`,
    );
  }
  if ((values.tlsCert === undefined) !== (values.tlsKey === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together (a client certificate and its key)');
  }
  const wantsTls =
    match[1] === 'grpcs' || values.tlsCa !== undefined || values.tlsCert !== undefined;
  const headers = (values.headers ?? []).map((h): [string, string] => {
    const at = h.indexOf('=');
    const name = h.slice(0, at).trim().toLowerCase();
    if (at <= 0 || !/^[0-9a-z_.-]+$/.test(name) || name.endsWith('-bin')) {
      throw new UsageError(
        `--header "${h}" must look like NAME=VALUE (NAME of letters, digits, "-", "_", ".", not ending in -bin)`,
      );
    }
    return [name, h.slice(at + 1)];
  });
  let token: string | undefined;
  try {
    token = readBearerToken(values.tokenFile, env);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (token !== undefined) {
    if (headers.some(([name]) => name === 'authorization')) {
      throw new UsageError(
        '--header authorization=… and a token (--token-file or KILN_TOKEN) both set the authorization header; give one',
      );
    }
    headers.push(['authorization', `Bearer ${token}`]);
  }
  return {
    address: match[2] as string,
    tls: wantsTls ? { ca: values.tlsCa, cert: values.tlsCert, key: values.tlsKey } : undefined,
    instanceName: values.instance ?? '',
    digestFunction: digestFunction ?? SHA256,
    headers,
  };
}

type Callback<T> = (err: ServiceError | null, response: T) => void;

/** Clients of every REAPI service on one channel. `close()` when done. */
export class Connection {
  readonly settings: ClientSettings;
  /** Storage: FindMissingBlobs, batches, ByteStream, GetTree. */
  readonly cas: CasClient;
  readonly execution: ExecutionClient;
  readonly actionCache: ActionCacheClient;
  readonly capabilities: CapabilitiesClient;
  readonly operations: OperationsClient;
  /** Kiln's own action cache administration (provenance, purge). */
  readonly actionCacheAdmin: ActionCacheAdminClient;
  /** The RequestMetadata tool_invocation_id of this command's calls. */
  readonly invocationId: string;

  private constructor(settings: ClientSettings, creds: ChannelCredentials) {
    this.settings = settings;
    this.invocationId = randomUUID();
    const interceptors = [metadataInterceptor(settings.headers, this.invocationId)];
    const { address } = settings;
    this.capabilities = new CapabilitiesClient(address, creds, {
      ...CLIENT_CHANNEL_OPTIONS,
      interceptors,
    });
    const shared = {
      ...CLIENT_CHANNEL_OPTIONS,
      interceptors,
      channelOverride: this.capabilities.getChannel(),
    };
    this.execution = new ExecutionClient(address, creds, shared);
    this.actionCache = new ActionCacheClient(address, creds, shared);
    this.operations = new OperationsClient(address, creds, shared);
    this.actionCacheAdmin = new ActionCacheAdminClient(address, creds, shared);
    this.cas = new CasClient({
      channel: this.capabilities.getChannel() as Channel,
      credentials: creds,
      interceptors,
      instanceName: settings.instanceName,
      digestFunction: settings.digestFunction,
    });
  }

  /** Reads the TLS files, if any, and connects (lazily: the first call dials). */
  static async open(settings: ClientSettings): Promise<Connection> {
    if (settings.tls !== undefined) {
      // grpc-js passes an IP address host to tls.connect as the server name,
      // for which Node prints a deprecation warning (DEP0123) that is noise to
      // a CLI user; certificates for IP addresses still verify.
      process.noDeprecation = true;
    }
    const creds = await channelCredentials(settings.tls).catch((err: Error) => {
      throw new UsageError(err.message);
    });
    return new Connection(settings, creds);
  }

  /** Closes the channel. */
  close(): void {
    this.capabilities.close();
  }

  /**
   * Runs a unary call with a deadline (60 s by default), turning failures
   * into KilnErrors that keep the server's code.
   */
  unary<T>(
    what: string,
    start: (metadata: Metadata, options: Partial<CallOptions>, callback: Callback<T>) => unknown,
    timeoutMs = 60_000,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      start(new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
        err ? reject(fromGrpcError(err, what)) : resolve(res),
      );
    });
  }
}

/** Adds the `--header` pairs and the REAPI RequestMetadata to every call. */
function metadataInterceptor(
  headers: readonly (readonly [string, string])[],
  invocationId: string,
): Interceptor {
  const requestMetadata = Buffer.from(
    RequestMetadata.encode(
      RequestMetadata.fromPartial({
        toolDetails: { toolName: 'kiln', toolVersion: TOOL_VERSION },
        toolInvocationId: invocationId,
      }),
    ).finish(),
  );
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        for (const [name, value] of headers) metadata.add(name, value);
        metadata.set('build.bazel.remote.execution.v2.requestmetadata-bin', requestMetadata);
        next(metadata, listener);
      },
    });
}
