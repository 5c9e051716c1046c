/**
 * The `grpc` store against a second, real Kiln server started in the test:
 * the contract suite in each role (CAS with batches, CAS with ByteStream for
 * nearly everything, action cache), streaming uploads that stay invisible
 * until committed, bearer tokens, and a clear UNAVAILABLE when the backend
 * is down.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { createAuthenticator } from '../../src/auth/authenticator.ts';
import { ActionCache } from '../../src/cache/action-cache.ts';
import { parseConfigText } from '../../src/config/load-config.ts';
import { digestOf } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { hasCode } from '../../src/errors.ts';
import { ActionResult } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  type BlobStore,
  putBuffer,
  type ReadRange,
  readAll,
} from '../../src/storage/blob-store.ts';
import { createStores } from '../../src/storage/create-blob-store.ts';
import { GrpcActionCacheBlobStore } from '../../src/storage/grpc-action-cache-blob-store.ts';
import { connectGrpcBackend } from '../../src/storage/grpc-backend.ts';
import { GrpcCasBlobStore } from '../../src/storage/grpc-cas-blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { freePort } from '../support/free-port.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { randomBlob, readChunks, runBlobStoreContract } from './blob-store-contract.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

async function backendOptions(address: string, extra: { token?: string } = {}) {
  return connectGrpcBackend({
    endpoint: `grpc://${address}`,
    instanceName: 'main',
    concurrency: 64,
    rpcTimeoutMs: 10_000,
    ...extra,
  });
}

/** A store of `role` over a fresh Kiln server; closing the store stops the server. */
async function remoteStore(
  role: 'cas' | 'actionCache',
  maxBatchBytes?: number,
): Promise<{ store: BlobStore; server: TestServer }> {
  const server = await startTestServer();
  const backend = await backendOptions(server.server.address);
  const store =
    role === 'cas'
      ? new GrpcCasBlobStore({ backend, maxBatchBytes })
      : new GrpcActionCacheBlobStore({ backend });
  return { store, server };
}

for (const [label, role, maxBatchBytes] of [
  ['GrpcCasBlobStore (batches up to the backend limit)', 'cas', undefined],
  ['GrpcCasBlobStore (ByteStream above 1 KiB)', 'cas', KiB],
  ['GrpcActionCacheBlobStore', 'actionCache', undefined],
] as const) {
  runBlobStoreContract(label, async () => {
    const { store, server } = await remoteStore(role, maxBatchBytes);
    return { store, cleanup: () => server.stop() };
  });
}

describe('grpc store', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.stop());

  it('a streamed upload is not visible on the backend before commit, and an abort leaves nothing', async () => {
    const backend = await backendOptions(server.server.address);
    const store = new GrpcCasBlobStore({ backend, maxBatchBytes: 64 * KiB });
    try {
      const { data, digest } = await randomBlob(3 * MiB);
      const writer = await store.put(digest);
      for (let at = 0; at < data.length; at += 256 * KiB) {
        await writer.write(data.subarray(at, at + 256 * KiB));
      }
      assert.equal(writer.written, data.length);
      // Every byte was written: still nothing on the backend until commit.
      assert.deepEqual(await server.casBackend.findMissing([digest]), [digest]);
      await writer.abort();
      assert.deepEqual(await server.casBackend.findMissing([digest]), [digest]);

      const again = await store.put(digest);
      await again.write(data);
      await again.commit();
      assert.deepEqual(await readAll(server.casBackend, digest), data);
    } finally {
      await store.close();
    }
  });

  it('a ranged read of a large blob asks the backend for that range only', async () => {
    const requested: Array<ReadRange | undefined> = [];
    const memory = new MemoryBlobStore({ maxBytes: 64 * MiB });
    const recording: BlobStore = {
      get: (digest, range) => {
        requested.push(range);
        return memory.get(digest, range);
      },
      put: (digest) => memory.put(digest),
      findMissing: (digests) => memory.findMissing(digests),
      close: () => memory.close(),
    };
    const ranged = await startTestServer({ casBackend: recording });
    const store = new GrpcCasBlobStore({
      backend: await backendOptions(ranged.server.address),
      maxBatchBytes: 64 * KiB,
    });
    try {
      const { data, digest } = await randomBlob(4 * MiB);
      await putBuffer(memory, digest, data);
      const got = await readChunks(store, digest, { offset: 3 * MiB, limit: 100 * KiB });
      assert.deepEqual(Buffer.concat(got), data.subarray(3 * MiB, 3 * MiB + 100 * KiB));
      assert.deepEqual(
        requested.map((r) => [r?.offset ?? 0, r?.limit ?? 0]),
        [[3 * MiB, 100 * KiB]],
      );
    } finally {
      await store.close();
      await ranged.stop();
    }
  });

  it('storage.actionCache on a grpc store keeps results on the backend, readable by another frontend', async () => {
    const config = parseConfigText(
      [
        'storage:',
        '  cas: { grpc: { endpoint: "grpc://ADDR", instanceName: shared } }',
        '  actionCache: { grpc: { endpoint: "grpc://ADDR", instanceName: shared } }',
        '  assets: { memory: {} }',
      ]
        .join('\n')
        .replaceAll('ADDR', server.server.address),
      'test.yaml',
      { env: {} },
    );
    const first = await createStores(config);
    const second = await createStores(config);
    try {
      const stdout = Buffer.from('hello from the first frontend\n');
      const stdoutBlob = await digestOf(SHA256, stdout);
      await putBuffer(first.cas, stdoutBlob, stdout);
      const { digest: action } = await randomBlob(200);
      const result = ActionResult.fromPartial({
        exitCode: 0,
        stdoutDigest: { hash: stdoutBlob.hash, sizeBytes: stdoutBlob.size },
      });
      await new ActionCache({ store: first.actionCache, cas: first.cas }).put(
        'team',
        action,
        result,
      );
      const served = await new ActionCache({ store: second.actionCache, cas: second.cas }).get(
        'team',
        action,
      );
      assert.equal(served?.stdoutDigest?.hash, stdoutBlob.hash);
      // The CAS blob went to the backend's CAS, under the configured instance.
      assert.deepEqual(await readAll(server.casBackend, stdoutBlob), stdout);
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('storage.assets on a grpc store keeps association records in the backend action cache', async () => {
    const config = parseConfigText(
      `storage:\n  assets: { grpc: { endpoint: "grpc://${server.server.address}", instanceName: assets } }\n`,
      'test.yaml',
      { env: {} },
    );
    const stores = await createStores(config);
    const direct = new GrpcActionCacheBlobStore({
      backend: await connectGrpcBackend({
        endpoint: `grpc://${server.server.address}`,
        instanceName: 'assets',
        concurrency: 4,
        rpcTimeoutMs: 10_000,
      }),
    });
    try {
      const { data, digest } = await randomBlob(300);
      await putBuffer(stores.assets, digest, data);
      assert.deepEqual(await readAll(direct, digest), data);
      assert.deepEqual(await server.casBackend.findMissing([digest]), [digest]);
    } finally {
      await stores.close();
      await direct.close();
    }
  });

  it('sends the bearer token, and reports a refused one as such', async () => {
    const auth = parseConfigText(
      [
        'auth:',
        '  tokens:',
        '    - principal: frontend',
        '      token: frontend-token',
        '      permissions: [cas:read, cas:write, ac:read, ac:write]',
      ].join('\n'),
      'test.yaml',
      { env: {} },
    ).auth;
    const guarded = await startTestServer({ authenticator: createAuthenticator(auth) });
    const good = new GrpcCasBlobStore({
      backend: await backendOptions(guarded.server.address, { token: 'frontend-token' }),
    });
    const bad = new GrpcCasBlobStore({
      backend: await backendOptions(guarded.server.address, { token: 'wrong-token' }),
    });
    try {
      const { data, digest } = await randomBlob(100);
      await putBuffer(good, digest, data);
      assert.deepEqual(await readAll(good, digest), data);
      await assert.rejects(bad.findMissing([digest]), (err: unknown) => {
        assert.ok(
          hasCode(err, status.UNAUTHENTICATED) || hasCode(err, status.PERMISSION_DENIED),
          String(err),
        );
        assert.match((err as Error).message, /refused this server's credentials/);
        return true;
      });
    } finally {
      await good.close();
      await bad.close();
      await guarded.stop();
    }
  });

  it('a backend that is down fails every operation with UNAVAILABLE naming it', async () => {
    const port = await freePort();
    const endpoint = `grpc://127.0.0.1:${port}`;
    const { data, digest } = await randomBlob(100);
    for (const role of ['cas', 'actionCache'] as const) {
      const backend = await backendOptions(`127.0.0.1:${port}`);
      const store =
        role === 'cas'
          ? new GrpcCasBlobStore({ backend, maxBatchBytes: 4 * MiB })
          : new GrpcActionCacheBlobStore({ backend });
      const unavailable = (err: unknown) => {
        assert.ok(hasCode(err, status.UNAVAILABLE), String(err));
        assert.ok(
          (err as Error).message.includes(`storage backend ${endpoint} is unavailable`),
          String(err),
        );
        return true;
      };
      try {
        await assert.rejects(store.findMissing([digest]), unavailable);
        await assert.rejects(store.get(digest), unavailable);
        await assert.rejects(putBuffer(store, digest, data), unavailable);
      } finally {
        await store.close();
      }
    }
  });

  it('a backend that is down does not stop the server from starting', async () => {
    const port = await freePort();
    const config = parseConfigText(
      `storage:\n  cas: { grpc: { endpoint: "grpc://127.0.0.1:${port}" } }\n`,
      'test.yaml',
      { env: {} },
    );
    const stores = await createStores(config);
    try {
      const { digest } = await randomBlob(10);
      await assert.rejects(stores.cas.findMissing([digest]), (err: unknown) =>
        hasCode(err, status.UNAVAILABLE),
      );
    } finally {
      await stores.close();
    }
  });
});
