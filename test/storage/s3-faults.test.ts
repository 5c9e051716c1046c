/**
 * The s3 store against a misbehaving server: a proxy between the store and
 * the emulator throttles, fails, resets and stalls requests. The store
 * retries what can succeed, never hands out short or wrong bytes, never
 * makes a half-written blob visible, and reports UNAVAILABLE once the store
 * stays down.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { hasCode } from '../../src/errors.ts';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { freePort } from '../support/free-port.ts';
import { type S3FaultProxy, startS3FaultProxy } from '../support/s3-fault-proxy.ts';
import { type S3Server, startS3Server } from '../support/s3-server.ts';
import { randomBlob, withCode } from './blob-store-contract.ts';
import { openS3Store } from './s3-fixture.ts';

const MiB = 1024 * 1024;
let server: S3Server;
let proxy: S3FaultProxy;
before(async () => {
  server = await startS3Server();
  proxy = await startS3FaultProxy(server.endpoint);
});
afterEach(() => proxy.setFault(undefined));
after(async () => {
  assert.deepEqual(proxy.violations, []);
  await proxy.stop();
  await server.stop();
});

/** Reads a blob chunk by chunk, keeping what arrived before any error. */
async function readUntilError(
  stream: AsyncIterable<Uint8Array>,
): Promise<{ bytes: Buffer; error: unknown }> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of stream) chunks.push(Buffer.from(chunk));
    return { bytes: Buffer.concat(chunks), error: undefined };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

describe('S3BlobStore under faults', () => {
  it('retries a PUT throttled with 503 SlowDown', async () => {
    const store = await openS3Store(server, proxy.endpoint);
    try {
      const { digest, data } = await randomBlob(1000);
      proxy.resetCounts();
      proxy.failNext(2, { kind: 'status', status: 503, code: 'SlowDown' }, 'PUT');
      await putBuffer(store, digest, data);
      assert.equal(proxy.counts.PUT, 3);
      assert.deepEqual(await readAll(store, digest), data);
    } finally {
      await store.close();
    }
  });

  it('retries a GET that fails with 500 InternalError', async () => {
    const store = await openS3Store(server, proxy.endpoint);
    try {
      const { digest, data } = await randomBlob(1000);
      await putBuffer(store, digest, data);
      proxy.resetCounts();
      proxy.failNext(2, { kind: 'status', status: 500, code: 'InternalError' }, 'GET');
      assert.deepEqual(await readAll(store, digest), data);
      assert.equal(proxy.counts.GET, 3);
    } finally {
      await store.close();
    }
  });

  it('resumes a read whose connection is reset mid-body, serving every byte once', async () => {
    const store = await openS3Store(server, proxy.endpoint);
    try {
      const { digest, data } = await randomBlob(3 * MiB);
      await putBuffer(store, digest, data);
      proxy.resetCounts();
      proxy.failNext(2, { kind: 'resetMidBody', afterBytes: MiB + 17 }, 'GET');
      const { bytes, error } = await readUntilError(await store.get(digest));
      assert.equal(error, undefined);
      assert.equal(bytes.length, data.length);
      assert.ok(bytes.equals(data), 'bytes differ from the blob');
      assert.equal(store.counters.resumes, 2);
      assert.equal(proxy.counts.GET, 3);
    } finally {
      await store.close();
    }
  });

  it('resumes a read whose response stalls mid-body', async () => {
    const store = await openS3Store(server, proxy.endpoint, { requestTimeoutMs: 300 });
    try {
      const { digest, data } = await randomBlob(2 * MiB);
      await putBuffer(store, digest, data);
      proxy.failNext(1, { kind: 'stallMidBody', afterBytes: 100_000 }, 'GET');
      const got = await readAll(store, digest);
      assert.ok(got.equals(data));
      assert.equal(store.counters.resumes, 1);
    } finally {
      await store.close();
    }
  });

  it('times out and retries a request that gets no answer', async () => {
    const store = await openS3Store(server, proxy.endpoint, { requestTimeoutMs: 300 });
    try {
      const { digest, data } = await randomBlob(100);
      proxy.resetCounts();
      proxy.failNext(1, { kind: 'stall' }, 'PUT');
      await putBuffer(store, digest, data);
      assert.equal(proxy.counts.PUT, 2);
      const other = await randomBlob(10);
      proxy.failNext(1, { kind: 'stall' }, 'HEAD');
      assert.equal((await store.findMissing([other.digest])).length, 1);
    } finally {
      await store.close();
    }
  });

  it('a read that keeps breaking fails with UNAVAILABLE after a prefix of the right bytes', async () => {
    const store = await openS3Store(server, proxy.endpoint, { maxAttempts: 3 });
    try {
      const { digest, data } = await randomBlob(2 * MiB);
      await putBuffer(store, digest, data);
      proxy.setFault(({ operation }) =>
        operation === 'GET' ? { kind: 'resetMidBody', afterBytes: 1000 } : undefined,
      );
      const { bytes, error } = await readUntilError(await store.get(digest));
      assert.ok(hasCode(error, status.UNAVAILABLE), String(error));
      assert.ok(bytes.length < data.length);
      assert.ok(bytes.equals(data.subarray(0, bytes.length)), 'a served byte is wrong');
    } finally {
      await store.close();
    }
  });

  it('reports UNAVAILABLE, naming the store, when S3 keeps answering 503', async () => {
    const store = await openS3Store(server, proxy.endpoint, { maxAttempts: 3 });
    try {
      const { digest, data } = await randomBlob(100);
      proxy.resetCounts();
      proxy.setFault(() => ({ kind: 'status', status: 503, code: 'SlowDown' }));
      await assert.rejects(putBuffer(store, digest, data), (err: unknown) => {
        assert.ok(hasCode(err, status.UNAVAILABLE), String(err));
        assert.match(
          (err as Error).message,
          /S3 store s3:\/\/kiln at .* is unavailable.*3 attempts.*SlowDown/,
        );
        return true;
      });
      await assert.rejects(store.get(digest), withCode(status.UNAVAILABLE));
      await assert.rejects(store.findMissing([digest]), withCode(status.UNAVAILABLE));
      assert.equal(proxy.counts.PUT, 3);
      proxy.setFault(undefined);
      assert.equal((await store.findMissing([digest])).length, 1, 'a failed put left a blob');
    } finally {
      await store.close();
    }
  });

  it('reports UNAVAILABLE when nothing listens at the endpoint', async () => {
    const port = await freePort();
    const store = await openS3Store(server, `http://127.0.0.1:${port}`, { maxAttempts: 2 });
    try {
      const { digest } = await randomBlob(100);
      await assert.rejects(store.get(digest), (err: unknown) => {
        assert.ok(hasCode(err, status.UNAVAILABLE), String(err));
        assert.match((err as Error).message, /ECONNREFUSED/);
        return true;
      });
    } finally {
      await store.close();
    }
  });

  it('a multipart upload whose part keeps failing leaves nothing visible and is aborted', async () => {
    const store = await openS3Store(server, proxy.endpoint, { maxAttempts: 2 });
    try {
      const { digest, data } = await randomBlob(11 * MiB);
      proxy.resetCounts();
      // The second part (the second PUT) fails for good.
      let puts = 0;
      proxy.setFault(({ operation }) =>
        operation === 'PUT' && ++puts >= 2
          ? { kind: 'status', status: 500, code: 'InternalError' }
          : undefined,
      );
      await assert.rejects(putBuffer(store, digest, data), withCode(status.UNAVAILABLE));
      proxy.setFault(undefined);
      assert.equal(
        proxy.counts.DELETE,
        1,
        `no AbortMultipartUpload: ${JSON.stringify(proxy.counts)}`,
      );
      assert.equal((await store.findMissing([digest])).length, 1);
      await assert.rejects(store.get(digest), withCode(status.NOT_FOUND));
    } finally {
      await store.close();
    }
  });
});
