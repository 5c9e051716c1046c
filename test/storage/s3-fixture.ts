/**
 * An S3BlobStore against the emulator, optionally through the fault proxy,
 * with short timeouts and backoff so fault tests finish quickly.
 */
import { randomUUID } from 'node:crypto';
import { S3BlobStore, type S3BlobStoreOptions } from '../../src/storage/s3-blob-store.ts';
import type { S3Server } from '../support/s3-server.ts';

/** Options for a store in `server`'s bucket under a fresh prefix, talking to `endpoint`. */
export function s3Options(
  server: S3Server,
  endpoint: string = server.endpoint,
  overrides: Partial<S3BlobStoreOptions> = {},
): S3BlobStoreOptions {
  return {
    endpoint,
    region: 'us-east-1',
    bucket: server.bucket,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
    forcePathStyle: true,
    prefix: `test-${randomUUID()}/`,
    contentAddressed: true,
    partSize: 5 * 1024 * 1024,
    partsInFlight: 2,
    knownTtlMs: 60 * 60 * 1000,
    knownMaxEntries: 100_000,
    headConcurrency: 16,
    expireAfterMs: 0,
    maxAttempts: 4,
    requestTimeoutMs: 2_000,
    maxConnections: 16,
    retryBaseMs: 5,
    retryMaxMs: 50,
    ...overrides,
  };
}

/** Opens a store with {@link s3Options}. */
export function openS3Store(
  server: S3Server,
  endpoint?: string,
  overrides?: Partial<S3BlobStoreOptions>,
): Promise<S3BlobStore> {
  return S3BlobStore.open(s3Options(server, endpoint, overrides));
}
