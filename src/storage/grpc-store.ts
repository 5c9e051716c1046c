/**
 * Builds a `grpc` store for its role: the backend's CAS for `storage.cas`,
 * its action cache for `storage.actionCache` and `storage.assets` (whose
 * values are Kiln's records under Kiln's keys, see
 * grpc-action-cache-blob-store.ts).
 */
import type { GrpcStoreConfig } from '../config/grpc-store-schema.ts';
import type { BlobStore } from './blob-store.ts';
import type { Role } from './create-blob-store.ts';
import { GrpcActionCacheBlobStore } from './grpc-action-cache-blob-store.ts';
import { connectGrpcBackend } from './grpc-backend.ts';
import { GrpcCasBlobStore } from './grpc-cas-blob-store.ts';

/** Opens the connection and returns the store for `role`. */
export async function createGrpcStore(config: GrpcStoreConfig, role: Role): Promise<BlobStore> {
  const backend = await connectGrpcBackend({
    endpoint: config.endpoint,
    instanceName: config.instanceName,
    tls: config.tls,
    token: config.token,
    tokenFile: config.tokenFile,
    concurrency: config.concurrency,
    rpcTimeoutMs: config.timeout,
  });
  return role === 'cas'
    ? new GrpcCasBlobStore({ backend, maxBatchBytes: config.maxBatchSize })
    : new GrpcActionCacheBlobStore({ backend });
}
