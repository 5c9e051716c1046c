/**
 * An S3BlobStore against the emulator, optionally through the fault proxy,
 * with short timeouts and backoff so fault tests finish quickly; and the
 * emulator and proxy a test file shares ({@link proxiedS3}).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before } from 'node:test';
import { S3BlobStore, type S3BlobStoreOptions } from '../../src/storage/s3-blob-store.ts';
import { type S3FaultProxy, startS3FaultProxy } from '../support/s3-fault-proxy.ts';
import { type S3Server, startS3Server } from '../support/s3-server.ts';

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
    // Tests that count requests must not depend on how fast a loaded machine answers a LIST.
    writeLogWaitMs: 60_000,
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

/** An emulator behind the fault proxy, shared by one test file's tests. */
export interface ProxiedS3 {
  readonly server: S3Server;
  readonly proxy: S3FaultProxy;
  /** Opens a store ({@link s3Options}) in the emulator's bucket that talks through the proxy. */
  open(overrides?: Partial<S3BlobStoreOptions>): Promise<S3BlobStore>;
}

/**
 * Starts an emulator (or the S3 server `start` gives) and the fault proxy
 * in front of it before the file's tests, and after them checks that no
 * request broke the proxy's rules and stops both. Call at the top level of
 * a test file (or of the `describe` whose tests use it).
 */
export function proxiedS3(start: () => Promise<S3Server> = startS3Server): ProxiedS3 {
  let server: S3Server | undefined;
  let proxy: S3FaultProxy | undefined;
  before(async () => {
    server = await start();
    proxy = await startS3FaultProxy(server.endpoint);
  });
  after(async () => {
    // Every request of every test went through the proxy's checks.
    if (proxy !== undefined) assert.deepEqual(proxy.violations, []);
    await proxy?.stop();
    await server?.stop();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the S3 emulator starts in a before hook');
    return value;
  };
  return {
    get server() {
      return started(server);
    },
    get proxy() {
      return started(proxy);
    },
    open(overrides) {
      return openS3Store(started(server), started(proxy).endpoint, overrides);
    },
  };
}
