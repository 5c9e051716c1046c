/**
 * Remote Asset Fetch: FetchBlob and FetchDirectory. The logic lives in
 * `AssetFetcher`; this maps its results onto the response messages. Errors
 * of the request itself are RPC errors; failures at the origin arrive in the
 * response's `status`, as the Remote Asset API specifies (or, for clients
 * that ignore that field, as RPC errors when so configured).
 */
import { status } from '@grpc/grpc-js';
import type { AssetFetcher, FetchRequest, FetchResult } from '../asset/asset-fetcher.ts';
import { toDigestMessage } from '../digest/digest.ts';
import { KilnError } from '../errors.ts';
import type {
  FetchBlobRequest,
  FetchBlobResponse,
  FetchDirectoryRequest,
  FetchDirectoryResponse,
  FetchServer,
} from '../gen/build/bazel/remote/asset/v1/remote_asset.js';
import type { DigestFunction_Value } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { unary } from '../rpc/rpc.ts';
import type { Logger } from '../util/logger.ts';

/** Options for {@link createFetchService}. */
export interface FetchServiceOptions {
  readonly log: Logger;
  readonly fetcher: AssetFetcher;
  /**
   * Throw origin failures as RPC errors instead of returning them in
   * `status` (`remoteAsset.originFailuresAsRpcErrors`): Bazel 4 ignores the
   * field and would report a confusing checksum error of the empty blob.
   */
  readonly originFailuresAsRpcErrors?: boolean;
}

/** Creates the Fetch service implementation. */
export function createFetchService(options: FetchServiceOptions): FetchServer {
  const { log, fetcher } = options;
  const fetch = async (kind: 'blob' | 'directory', req: FetchRequest): Promise<FetchResult> => {
    const result = await fetcher.fetch(kind, req);
    if (options.originFailuresAsRpcErrors && result.status.code !== status.OK) {
      throw new KilnError(result.status.code, result.status.message);
    }
    return result;
  };

  async function fetchBlob(req: FetchBlobRequest): Promise<FetchBlobResponse> {
    const result = await fetch('blob', req);
    return { ...common(result), blobDigest: digestOf(result) };
  }

  async function fetchDirectory(req: FetchDirectoryRequest): Promise<FetchDirectoryResponse> {
    const result = await fetch('directory', req);
    return { ...common(result), rootDirectoryDigest: digestOf(result) };
  }

  return {
    fetchBlob: unary(log, 'Fetch.FetchBlob', fetchBlob),
    fetchDirectory: unary(log, 'Fetch.FetchDirectory', fetchDirectory),
  };
}

function common(result: FetchResult) {
  return {
    status: result.status,
    uri: result.uri,
    qualifiers: result.qualifiers,
    expiresAt: result.expiresAt,
    digestFunction: result.digestFunction as DigestFunction_Value,
  };
}

function digestOf(result: FetchResult) {
  return result.digest === undefined ? undefined : toDigestMessage(result.digest);
}
