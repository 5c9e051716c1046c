/**
 * Remote Asset Push: PushBlob and PushDirectory, recording associations that
 * Fetch then serves for everyone. Only for trusted clients: callers need the
 * `asset:push` permission (src/auth/method-permissions.ts).
 */
import type { AssetPusher } from '../asset/asset-pusher.ts';
import type {
  PushBlobRequest,
  PushBlobResponse,
  PushDirectoryRequest,
  PushDirectoryResponse,
  PushServer,
} from '../gen/build/bazel/remote/asset/v1/remote_asset.js';
import { unary } from '../rpc/rpc.ts';
import type { Logger } from '../util/logger.ts';

/** Options for {@link createPushService}. */
export interface PushServiceOptions {
  readonly log: Logger;
  readonly pusher: AssetPusher;
}

/** Creates the Push service implementation. */
export function createPushService(options: PushServiceOptions): PushServer {
  const { log, pusher } = options;

  async function pushBlob(req: PushBlobRequest): Promise<PushBlobResponse> {
    await pusher.push('blob', { ...req, digest: req.blobDigest });
    return {};
  }

  async function pushDirectory(req: PushDirectoryRequest): Promise<PushDirectoryResponse> {
    await pusher.push('directory', { ...req, digest: req.rootDirectoryDigest });
    return {};
  }

  return {
    pushBlob: unary(log, 'Push.PushBlob', pushBlob),
    pushDirectory: unary(log, 'Push.PushDirectory', pushDirectory),
  };
}
