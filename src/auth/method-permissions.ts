/**
 * The one table of what every RPC needs: a permission, on the instance name
 * read from its (first) request message. The authorization interceptor
 * refuses a method that is not listed here, and a test fails for every
 * method the server registers without an entry. The few methods anyone may
 * call are listed apart, in {@link PUBLIC_METHODS}.
 */
import type { Permission } from './permissions.ts';

/** What one method needs. */
export interface MethodRule {
  readonly permission: Permission;
  /** The instance name the permission must cover, from the (first) request message. */
  readonly instanceOf: (request: unknown) => string;
}

type Fields = Record<string, unknown>;

function field(request: unknown, name: string): string {
  let value: unknown;
  try {
    value = (request as Fields | null)?.[name];
  } catch {
    // A lazily decoded request (FindMissingBlobs) that does not decode throws
    // on first read: checked against "" here, refused by its handler as
    // INVALID_ARGUMENT.
    return '';
  }
  return typeof value === 'string' ? value : '';
}

/** REAPI requests that carry `instance_name`. */
const instanceName = (request: unknown): string => field(request, 'instanceName');

/**
 * ByteStream resource names: the segments before the first `blobs`,
 * `compressed-blobs` or `uploads` segment (words REAPI reserves, so no
 * instance name contains them). A malformed name yields "", every
 * instance's scope, so only callers allowed everywhere learn why it is malformed.
 */
export function instanceOfResourceName(name: string): string {
  const segments = name.split('/');
  const at = segments.findIndex(
    (s) => s === 'blobs' || s === 'compressed-blobs' || s === 'uploads',
  );
  return at <= 0 ? '' : segments.slice(0, at).join('/');
}

const resourceName = (request: unknown): string =>
  instanceOfResourceName(field(request, 'resourceName'));

/** A bot session name is `{parent}/botSessions/{id}`, the parent being the instance name. */
export function instanceOfBotSession(name: string): string {
  const at = name.lastIndexOf('botSessions/');
  return at <= 0 ? '' : name.slice(0, at - 1);
}

/**
 * Operation names are `operations/{id}` and carry no instance name, so
 * these calls need their permission on every instance (`""`). A token
 * limited to some instances cannot follow operations by name.
 */
const noInstance = (): string => '';

const REAPI = '/build.bazel.remote.execution.v2';

/**
 * Full gRPC method path → what it needs. Why each permission, where not obvious:
 * - GetCapabilities needs only `cas:read`: every client (cache-only or
 *   remote execution) asks it first, and it reveals no data.
 * - FindMissingBlobs is `cas:read`: it tells whether blobs exist.
 * - GetTree and SplitBlob read the CAS; SpliceBlob writes it.
 * - QueryWriteStatus reveals an upload's progress and the blob's presence: `cas:read`.
 * - WaitExecution follows an execution: `execute`, like Execute.
 * - GetOperation, ListOperations and WaitOperation read operations, which
 *   name actions and their results: `execute`. Cancelling or deleting one
 *   stops or hides someone's work: `admin`.
 * - Bots is the workers' service: `worker`, since a bot's results are
 *   written into the action cache.
 * - FetchBlob/FetchDirectory make the server download from a URI (a
 *   server-side request forgery risk): `asset:fetch`. Push redirects a URI
 *   for everyone: `asset:push`.
 * - Kiln's ActionCacheAdmin: GetProvenance reads what GetActionResult
 *   reads, so `ac:read`; Purge removes others' entries: `admin`, on the
 *   instance prefix it purges.
 */
export const METHOD_RULES: ReadonlyMap<string, MethodRule> = new Map<string, MethodRule>([
  [`${REAPI}.Capabilities/GetCapabilities`, { permission: 'cas:read', instanceOf: instanceName }],
  [
    `${REAPI}.ContentAddressableStorage/FindMissingBlobs`,
    { permission: 'cas:read', instanceOf: instanceName },
  ],
  [
    `${REAPI}.ContentAddressableStorage/BatchUpdateBlobs`,
    { permission: 'cas:write', instanceOf: instanceName },
  ],
  [
    `${REAPI}.ContentAddressableStorage/BatchReadBlobs`,
    { permission: 'cas:read', instanceOf: instanceName },
  ],
  [
    `${REAPI}.ContentAddressableStorage/GetTree`,
    { permission: 'cas:read', instanceOf: instanceName },
  ],
  [
    `${REAPI}.ContentAddressableStorage/SplitBlob`,
    { permission: 'cas:read', instanceOf: instanceName },
  ],
  [
    `${REAPI}.ContentAddressableStorage/SpliceBlob`,
    { permission: 'cas:write', instanceOf: instanceName },
  ],
  ['/google.bytestream.ByteStream/Read', { permission: 'cas:read', instanceOf: resourceName }],
  ['/google.bytestream.ByteStream/Write', { permission: 'cas:write', instanceOf: resourceName }],
  [
    '/google.bytestream.ByteStream/QueryWriteStatus',
    { permission: 'cas:read', instanceOf: resourceName },
  ],
  [`${REAPI}.ActionCache/GetActionResult`, { permission: 'ac:read', instanceOf: instanceName }],
  [`${REAPI}.ActionCache/UpdateActionResult`, { permission: 'ac:write', instanceOf: instanceName }],
  [`${REAPI}.Execution/Execute`, { permission: 'execute', instanceOf: instanceName }],
  [`${REAPI}.Execution/WaitExecution`, { permission: 'execute', instanceOf: noInstance }],
  [
    '/google.longrunning.Operations/GetOperation',
    { permission: 'execute', instanceOf: noInstance },
  ],
  [
    '/google.longrunning.Operations/ListOperations',
    { permission: 'execute', instanceOf: noInstance },
  ],
  [
    '/google.longrunning.Operations/WaitOperation',
    { permission: 'execute', instanceOf: noInstance },
  ],
  [
    '/google.longrunning.Operations/CancelOperation',
    { permission: 'admin', instanceOf: noInstance },
  ],
  [
    '/google.longrunning.Operations/DeleteOperation',
    { permission: 'admin', instanceOf: noInstance },
  ],
  [
    '/google.devtools.remoteworkers.v1test2.Bots/CreateBotSession',
    { permission: 'worker', instanceOf: (r) => field(r, 'parent') },
  ],
  [
    '/google.devtools.remoteworkers.v1test2.Bots/UpdateBotSession',
    { permission: 'worker', instanceOf: (r) => instanceOfBotSession(field(r, 'name')) },
  ],
  [
    '/build.bazel.remote.asset.v1.Fetch/FetchBlob',
    { permission: 'asset:fetch', instanceOf: instanceName },
  ],
  [
    '/build.bazel.remote.asset.v1.Fetch/FetchDirectory',
    { permission: 'asset:fetch', instanceOf: instanceName },
  ],
  [
    '/build.bazel.remote.asset.v1.Push/PushBlob',
    { permission: 'asset:push', instanceOf: instanceName },
  ],
  [
    '/build.bazel.remote.asset.v1.Push/PushDirectory',
    { permission: 'asset:push', instanceOf: instanceName },
  ],
  [
    '/kiln.admin.v1.ActionCacheAdmin/GetProvenance',
    { permission: 'ac:read', instanceOf: instanceName },
  ],
  ['/kiln.admin.v1.ActionCacheAdmin/Purge', { permission: 'admin', instanceOf: instanceName }],
]);

/**
 * Methods answered without authentication, even when `auth` is configured
 * or in protected mode: gRPC health checking, since load balancers and
 * container probes send no credentials. They say only whether the server
 * (or a named service) is serving, nothing about data or callers.
 */
export const PUBLIC_METHODS: ReadonlySet<string> = new Set([
  '/grpc.health.v1.Health/Check',
  '/grpc.health.v1.Health/Watch',
]);
