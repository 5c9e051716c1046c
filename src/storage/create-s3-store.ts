/**
 * Builds an s3 store from its configuration node (for the store factory).
 */
import type { S3StoreConfig } from '../config/s3-store-schema.ts';
import { S3BlobStore } from './s3-blob-store.ts';

/**
 * Opens the store an `s3` config node describes. `contentAddressed` is true
 * for the CAS (where an object's bytes never change for a key).
 */
export function createS3Store(
  node: S3StoreConfig,
  contentAddressed: boolean,
): Promise<S3BlobStore> {
  return S3BlobStore.open({
    ...(node.endpoint === undefined ? {} : { endpoint: node.endpoint }),
    region: node.region,
    bucket: node.bucket,
    prefix: node.prefix,
    ...(node.accessKeyId === undefined ? {} : { accessKeyId: node.accessKeyId }),
    ...(node.secretAccessKey === undefined ? {} : { secretAccessKey: node.secretAccessKey }),
    forcePathStyle: node.forcePathStyle,
    contentAddressed,
    partSize: node.partSize,
    partsInFlight: node.partsInFlight,
    maxAttempts: node.maxAttempts,
    requestTimeoutMs: node.requestTimeout,
    maxConnections: node.maxConnections,
    retryBaseMs: 100,
    retryMaxMs: 10_000,
    knownTtlMs: node.existenceTtl,
    knownMaxEntries: node.existenceMaxEntries,
    headConcurrency: node.headConcurrency,
    warmUp: node.warmUp,
    expireAfterMs: node.expireAfter,
    writeLogIntervalMs: node.writeLogInterval,
  });
}
