/**
 * Assembles the Remote Asset API from configuration: the outbound policy and
 * HTTP client, the association store, and the Fetch and Push services over
 * them. The gRPC server registers what this returns.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RemoteAssetConfig } from '../config/asset-schema.ts';
import type { FetchServer, PushServer } from '../gen/build/bazel/remote/asset/v1/remote_asset.js';
import { createFetchService } from '../services/fetch-service.ts';
import { createPushService } from '../services/push-service.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { Logger } from '../util/logger.ts';
import { AssetAssociations } from './asset-associations.ts';
import { AssetFetcher } from './asset-fetcher.ts';
import { AssetPusher } from './asset-pusher.ts';
import { HttpFetcher } from './http-fetcher.ts';
import { OutboundPolicy } from './outbound-policy.ts';

/** Options of {@link createRemoteAsset}. */
export interface RemoteAssetOptions {
  /** The `remoteAsset` section. */
  readonly config: RemoteAssetConfig;
  /** The CAS (content-verifying), where fetched and pushed content lives. */
  readonly cas: BlobStore;
  /** The store of association records (`storage.assets`); not content-addressed. */
  readonly associations: BlobStore;
  /** Absolute directory for downloads in progress (`remoteAsset.tempDir` resolved). */
  readonly tempDir: string;
  readonly log: Logger;
  /**
   * Allow loopback origins whatever `allowPrivateNetworks` says: true in
   * protected mode (no `auth` section), where only callers on this machine
   * get in, and they reach its loopback services without Kiln anyway.
   */
  readonly allowLoopbackOrigins?: boolean;
  /** Current time in epoch ms; `Date.now` by default. */
  readonly now?: () => number;
}

/** The Remote Asset services, ready to register. */
export interface RemoteAsset {
  readonly fetch: FetchServer;
  readonly push: PushServer;
  /** Aborts downloads in progress and closes outbound connections. */
  close(): Promise<void>;
}

/**
 * Builds the Fetch and Push services. Removes `*.part` files a previous
 * process left in `tempDir` (only those: the directory may be shared).
 */
export async function createRemoteAsset(options: RemoteAssetOptions): Promise<RemoteAsset> {
  const { config, cas, log } = options;
  await removeStaleDownloads(options.tempDir);
  const policy = new OutboundPolicy({
    ...config,
    allowLoopback: options.allowLoopbackOrigins ?? false,
  });
  const http = new HttpFetcher({
    policy,
    proxy: config.proxy,
    connectTimeoutMs: config.connectTimeoutMs,
    maxRedirects: config.maxRedirects,
  });
  const associations = new AssetAssociations({ store: options.associations });
  const fetcher = new AssetFetcher({
    cas,
    associations,
    http,
    config,
    tempDir: options.tempDir,
    log: log.child({ component: 'remote-asset' }),
    now: options.now,
  });
  const pusher = new AssetPusher({
    cas,
    associations,
    maxDirectories: config.maxArchiveFiles,
    now: options.now,
  });
  return {
    fetch: createFetchService({
      log,
      fetcher,
      originFailuresAsRpcErrors: config.originFailuresAsRpcErrors,
    }),
    push: createPushService({ log, pusher }),
    async close() {
      fetcher.close();
      await http.close();
    },
  };
}

async function removeStaleDownloads(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(
    names.filter((n) => n.endsWith('.part')).map((n) => rm(join(dir, n), { force: true })),
  );
}
