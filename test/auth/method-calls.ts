/**
 * Calls any Kiln RPC by its path with a request naming a chosen instance,
 * over a generic grpc-js client, and resolves with the status code it ends
 * with: for tests that go through every method the same way.
 */
import { Client, credentials, Metadata, status } from '@grpc/grpc-js';
import {
  FetchBlobRequest,
  FetchDirectoryRequest,
  PushBlobRequest,
  PushDirectoryRequest,
} from '../../src/gen/build/bazel/remote/asset/v1/remote_asset.js';
import {
  BatchReadBlobsRequest,
  BatchUpdateBlobsRequest,
  ExecuteRequest,
  FindMissingBlobsRequest,
  GetActionResultRequest,
  GetCapabilitiesRequest,
  GetTreeRequest,
  SpliceBlobRequest,
  SplitBlobRequest,
  UpdateActionResultRequest,
  WaitExecutionRequest,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  QueryWriteStatusRequest,
  ReadRequest,
  WriteRequest,
} from '../../src/gen/google/bytestream/bytestream.js';
import {
  CreateBotSessionRequest,
  UpdateBotSessionRequest,
} from '../../src/gen/google/devtools/remoteworkers/v1test2/bots.js';
import {
  CancelOperationRequest,
  DeleteOperationRequest,
  GetOperationRequest,
  ListOperationsRequest,
  WaitOperationRequest,
} from '../../src/gen/google/longrunning/operations.js';

import {
  GetProvenanceRequest,
  PurgeRequest,
} from '../../src/gen/kiln/admin/v1/action_cache_admin.js';

const REAPI = '/build.bazel.remote.execution.v2';
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const digest = { hash: EMPTY, sizeBytes: 0 };
const prefix = (instance: string): string => (instance === '' ? '' : `${instance}/`);

type Encoder = (instance: string) => Uint8Array;

/** What kind of call a method is, and how to encode its request for an instance. */
interface MethodCall {
  readonly kind: 'unary' | 'serverStream' | 'clientStream';
  readonly encode: Encoder;
}

const unary = (encode: Encoder): MethodCall => ({ kind: 'unary', encode });
const serverStream = (encode: Encoder): MethodCall => ({ kind: 'serverStream', encode });

/** Every method Kiln serves, with its request. */
export const METHOD_CALLS: ReadonlyMap<string, MethodCall> = new Map<string, MethodCall>([
  [
    `${REAPI}.Capabilities/GetCapabilities`,
    unary((i) => GetCapabilitiesRequest.encode({ instanceName: i }).finish()),
  ],
  [
    `${REAPI}.ContentAddressableStorage/FindMissingBlobs`,
    unary((i) =>
      FindMissingBlobsRequest.encode(
        FindMissingBlobsRequest.fromPartial({ instanceName: i, blobDigests: [digest] }),
      ).finish(),
    ),
  ],
  [
    `${REAPI}.ContentAddressableStorage/BatchUpdateBlobs`,
    unary((i) =>
      BatchUpdateBlobsRequest.encode(
        BatchUpdateBlobsRequest.fromPartial({ instanceName: i, requests: [] }),
      ).finish(),
    ),
  ],
  [
    `${REAPI}.ContentAddressableStorage/BatchReadBlobs`,
    unary((i) =>
      BatchReadBlobsRequest.encode(
        BatchReadBlobsRequest.fromPartial({ instanceName: i, digests: [digest] }),
      ).finish(),
    ),
  ],
  [
    `${REAPI}.ContentAddressableStorage/GetTree`,
    serverStream((i) =>
      GetTreeRequest.encode(
        GetTreeRequest.fromPartial({ instanceName: i, rootDigest: digest }),
      ).finish(),
    ),
  ],
  [
    `${REAPI}.ContentAddressableStorage/SplitBlob`,
    unary((i) =>
      SplitBlobRequest.encode(
        SplitBlobRequest.fromPartial({ instanceName: i, blobDigest: digest }),
      ).finish(),
    ),
  ],
  [
    `${REAPI}.ContentAddressableStorage/SpliceBlob`,
    unary((i) =>
      SpliceBlobRequest.encode(
        SpliceBlobRequest.fromPartial({ instanceName: i, blobDigest: digest }),
      ).finish(),
    ),
  ],
  [
    '/google.bytestream.ByteStream/Read',
    serverStream((i) =>
      ReadRequest.encode(
        ReadRequest.fromPartial({ resourceName: `${prefix(i)}blobs/${EMPTY}/0` }),
      ).finish(),
    ),
  ],
  [
    '/google.bytestream.ByteStream/Write',
    {
      kind: 'clientStream',
      encode: (i) =>
        WriteRequest.encode(
          WriteRequest.fromPartial({
            resourceName: `${prefix(i)}uploads/0b4e8f7c-1d1a-4a4e-9b6e-1f2d3c4b5a69/blobs/${EMPTY}/0`,
            finishWrite: true,
          }),
        ).finish(),
    },
  ],
  [
    '/google.bytestream.ByteStream/QueryWriteStatus',
    unary((i) =>
      QueryWriteStatusRequest.encode({
        resourceName: `${prefix(i)}uploads/0b4e8f7c-1d1a-4a4e-9b6e-1f2d3c4b5a69/blobs/${EMPTY}/0`,
      }).finish(),
    ),
  ],
  [
    `${REAPI}.ActionCache/GetActionResult`,
    unary((i) =>
      GetActionResultRequest.encode(
        GetActionResultRequest.fromPartial({ instanceName: i, actionDigest: digest }),
      ).finish(),
    ),
  ],
  [
    `${REAPI}.ActionCache/UpdateActionResult`,
    unary((i) =>
      UpdateActionResultRequest.encode(
        UpdateActionResultRequest.fromPartial({
          instanceName: i,
          actionDigest: digest,
          actionResult: {},
        }),
      ).finish(),
    ),
  ],
  [
    `${REAPI}.Execution/Execute`,
    serverStream((i) =>
      ExecuteRequest.encode(
        ExecuteRequest.fromPartial({ instanceName: i, actionDigest: digest }),
      ).finish(),
    ),
  ],
  [
    `${REAPI}.Execution/WaitExecution`,
    serverStream(() => WaitExecutionRequest.encode({ name: 'operations/none' }).finish()),
  ],
  [
    '/google.longrunning.Operations/GetOperation',
    unary(() => GetOperationRequest.encode({ name: 'operations/none' }).finish()),
  ],
  [
    '/google.longrunning.Operations/ListOperations',
    unary(() =>
      ListOperationsRequest.encode(ListOperationsRequest.fromPartial({ name: '' })).finish(),
    ),
  ],
  [
    '/google.longrunning.Operations/WaitOperation',
    unary(() =>
      WaitOperationRequest.encode(
        WaitOperationRequest.fromPartial({ name: 'operations/none', timeout: { seconds: 1 } }),
      ).finish(),
    ),
  ],
  [
    '/google.longrunning.Operations/CancelOperation',
    unary(() => CancelOperationRequest.encode({ name: 'operations/none' }).finish()),
  ],
  [
    '/google.longrunning.Operations/DeleteOperation',
    unary(() => DeleteOperationRequest.encode({ name: 'operations/none' }).finish()),
  ],
  [
    '/google.devtools.remoteworkers.v1test2.Bots/CreateBotSession',
    unary((i) =>
      CreateBotSessionRequest.encode(
        CreateBotSessionRequest.fromPartial({ parent: i, botSession: {} }),
      ).finish(),
    ),
  ],
  [
    '/google.devtools.remoteworkers.v1test2.Bots/UpdateBotSession',
    unary((i) =>
      UpdateBotSessionRequest.encode(
        UpdateBotSessionRequest.fromPartial({
          name: `${prefix(i)}botSessions/none`,
          botSession: { name: `${prefix(i)}botSessions/none` },
        }),
      ).finish(),
    ),
  ],
  [
    '/build.bazel.remote.asset.v1.Fetch/FetchBlob',
    unary((i) =>
      FetchBlobRequest.encode(FetchBlobRequest.fromPartial({ instanceName: i })).finish(),
    ),
  ],
  [
    '/build.bazel.remote.asset.v1.Fetch/FetchDirectory',
    unary((i) =>
      FetchDirectoryRequest.encode(FetchDirectoryRequest.fromPartial({ instanceName: i })).finish(),
    ),
  ],
  [
    '/build.bazel.remote.asset.v1.Push/PushBlob',
    unary((i) => PushBlobRequest.encode(PushBlobRequest.fromPartial({ instanceName: i })).finish()),
  ],
  [
    '/build.bazel.remote.asset.v1.Push/PushDirectory',
    unary((i) =>
      PushDirectoryRequest.encode(PushDirectoryRequest.fromPartial({ instanceName: i })).finish(),
    ),
  ],
  [
    '/kiln.admin.v1.ActionCacheAdmin/GetProvenance',
    unary((i) =>
      GetProvenanceRequest.encode(
        GetProvenanceRequest.fromPartial({ instanceName: i, actionDigest: digest }),
      ).finish(),
    ),
  ],
  [
    '/kiln.admin.v1.ActionCacheAdmin/Purge',
    unary((i) =>
      PurgeRequest.encode(
        PurgeRequest.fromPartial({ instanceName: i, principal: 'nobody' }),
      ).finish(),
    ),
  ],
]);

/** How a call ended. */
export interface CallOutcome {
  readonly code: status;
  readonly details: string;
}

const raw = (b: Buffer): Buffer => b;

/** A generic client to `address` that calls methods by path. */
export function rawClient(address: string): Client {
  return new Client(address, credentials.createInsecure());
}

/**
 * Calls `path` on `instance` with `authorization` (when given) and resolves
 * with its final status; a call still running after `timeoutMs` is
 * cancelled by its deadline (DEADLINE_EXCEEDED: not an authorization answer).
 */
export function callMethod(
  client: Client,
  path: string,
  instance: string,
  authorization?: string,
  timeoutMs = 3000,
): Promise<CallOutcome> {
  const method = METHOD_CALLS.get(path);
  if (method === undefined) throw new Error(`no request for ${path}`);
  const metadata = new Metadata();
  if (authorization !== undefined) metadata.set('authorization', authorization);
  const request = Buffer.from(method.encode(instance));
  const options = { deadline: Date.now() + timeoutMs };
  return new Promise((resolve) => {
    const done = (code: status, details: string): void => resolve({ code, details });
    switch (method.kind) {
      case 'unary':
        client.makeUnaryRequest(path, raw, raw, request, metadata, options, (err) =>
          err ? done(err.code, err.details) : done(status.OK, ''),
        );
        return;
      case 'serverStream': {
        const stream = client.makeServerStreamRequest(path, raw, raw, request, metadata, options);
        stream.on('data', () => {});
        stream.on('error', () => {});
        stream.on('status', (s) => done(s.code, s.details));
        return;
      }
      case 'clientStream': {
        const stream = client.makeClientStreamRequest(path, raw, raw, metadata, options, (err) =>
          err ? done(err.code, err.details) : done(status.OK, ''),
        );
        stream.write(request);
        stream.end();
        return;
      }
    }
  });
}
