/**
 * The behaviour every BlobStore must have. Each backend's test file calls
 * {@link runBlobStoreContract}; a new backend passes it or is not done.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { type Digest, digestOf } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { hasCode } from '../../src/errors.ts';
import {
  type BlobStore,
  putBuffer,
  type ReadRange,
  readAll,
} from '../../src/storage/blob-store.ts';

/** A fresh, empty store and how to dispose of it. */
export interface BlobStoreFixture {
  store: BlobStore;
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;

/** A random blob and its SHA-256 digest. */
export async function randomBlob(size: number): Promise<{ data: Buffer; digest: Digest }> {
  const data = randomBytes(size);
  return { data, digest: await digestOf(SHA256, data) };
}

/** Reads a blob (or a range of it) as its list of chunks. */
export async function readChunks(
  store: BlobStore,
  digest: Digest,
  range?: ReadRange,
): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.get(digest, range)) chunks.push(Buffer.from(chunk));
  return chunks;
}

/** An assert.rejects matcher for a KilnError with `code`. */
export function withCode(code: status): (err: unknown) => boolean {
  return (err) => hasCode(err, code);
}

/** Registers the shared BlobStore tests under `describe(name)`. */
export function runBlobStoreContract(name: string, create: () => Promise<BlobStoreFixture>): void {
  describe(`${name} (BlobStore contract)`, () => {
    let fixture: BlobStoreFixture;
    let store: BlobStore;
    beforeEach(async () => {
      fixture = await create();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.store.close();
      await fixture.cleanup();
    });

    for (const [label, size] of [
      ['empty', 0],
      ['small', 100],
      ['3 MiB', 3 * MiB],
    ] as const) {
      it(`returns the bytes that were put (${label} blob)`, async () => {
        const { data, digest } = await randomBlob(size);
        await putBuffer(store, digest, data);
        assert.deepEqual(await readAll(store, digest), data);
      });
    }

    it('accepts a blob written in many chunks', async () => {
      const { data, digest } = await randomBlob(3 * MiB + 7);
      const writer = await store.put(digest);
      for (let i = 0; i < data.length; i += 64 * 1024 + 3) {
        await writer.write(data.subarray(i, i + 64 * 1024 + 3));
      }
      assert.equal(writer.written, data.length);
      await writer.commit();
      assert.deepEqual(await readAll(store, digest), data);
    });

    it('findMissing returns exactly the absent digests, once each', async () => {
      const present = await randomBlob(10);
      const absent1 = await randomBlob(11);
      const absent2 = await randomBlob(12);
      await putBuffer(store, present.digest, present.data);
      const missing = await store.findMissing([
        absent1.digest,
        present.digest,
        absent2.digest,
        absent1.digest,
        present.digest,
      ]);
      assert.deepEqual(
        missing.map((d) => d.key),
        [absent1.digest.key, absent2.digest.key],
      );
      assert.deepEqual(await store.findMissing([]), []);
    });

    it('get of an absent blob rejects with NOT_FOUND naming the digest', async () => {
      const { digest } = await randomBlob(10);
      await assert.rejects(store.get(digest), (err: unknown) => {
        assert.ok(hasCode(err, status.NOT_FOUND), String(err));
        assert.match((err as Error).message, new RegExp(digest.hash));
        return true;
      });
    });

    it('serves offset and limit ranges', async () => {
      const { data, digest } = await randomBlob(1000);
      await putBuffer(store, digest, data);
      const read = async (range: ReadRange) =>
        Buffer.concat(await readChunks(store, digest, range));
      assert.deepEqual(await read({ offset: 0 }), data);
      assert.deepEqual(await read({ offset: 10, limit: 20 }), data.subarray(10, 30));
      assert.deepEqual(await read({ offset: 990, limit: 50 }), data.subarray(990));
      assert.deepEqual(await read({ offset: 5, limit: 0 }), data.subarray(5));
      assert.deepEqual(await read({ offset: 1000 }), Buffer.alloc(0));
      await assert.rejects(store.get(digest, { offset: 1001 }), withCode(status.OUT_OF_RANGE));
      await assert.rejects(store.get(digest, { offset: -1 }), withCode(status.OUT_OF_RANGE));
    });

    it('serves a range that starts past the first read chunk', async () => {
      const { data, digest } = await randomBlob(3 * MiB);
      await putBuffer(store, digest, data);
      const got = Buffer.concat(
        await readChunks(store, digest, { offset: 2 * MiB + 5, limit: 100 }),
      );
      assert.deepEqual(got, data.subarray(2 * MiB + 5, 2 * MiB + 105));
    });

    it('an aborted upload leaves nothing visible', async () => {
      const { data, digest } = await randomBlob(1000);
      const writer = await store.put(digest);
      await writer.write(data);
      await writer.abort();
      await writer.abort();
      assert.equal((await store.findMissing([digest])).length, 1);
      await assert.rejects(store.get(digest), withCode(status.NOT_FOUND));
      await assert.rejects(writer.commit());
    });

    it('an upload that is never committed stays invisible', async () => {
      const { data, digest } = await randomBlob(1000);
      const writer = await store.put(digest);
      await writer.write(data);
      assert.equal((await store.findMissing([digest])).length, 1);
      await assert.rejects(store.get(digest), withCode(status.NOT_FOUND));
      await writer.abort();
    });

    it('putting the same blob again is harmless', async () => {
      const { data, digest } = await randomBlob(5000);
      await putBuffer(store, digest, data);
      await putBuffer(store, digest, data);
      assert.deepEqual(await readAll(store, digest), data);
      assert.deepEqual(await store.findMissing([digest]), []);
    });

    it('concurrent uploads of the same blob both succeed', async () => {
      const { data, digest } = await randomBlob(300 * 1024);
      const [a, b] = await Promise.all([store.put(digest), store.put(digest)]);
      const half = data.length / 2;
      await Promise.all([a.write(data.subarray(0, half)), b.write(data.subarray(0, half))]);
      await Promise.all([b.write(data.subarray(half)), a.write(data.subarray(half))]);
      await Promise.all([a.commit(), b.commit()]);
      assert.deepEqual(await readAll(store, digest), data);
      assert.deepEqual(await store.findMissing([digest]), []);
    });

    it('streams a large blob in several chunks', async () => {
      const { data, digest } = await randomBlob(5 * MiB);
      await putBuffer(store, digest, data);
      const chunks = await readChunks(store, digest);
      assert.ok(chunks.length > 1, `expected several chunks, got ${chunks.length}`);
      assert.deepEqual(Buffer.concat(chunks), data);
    });

    it('abort after commit keeps the blob', async () => {
      const { data, digest } = await randomBlob(100);
      const writer = await store.put(digest);
      await writer.write(data);
      await writer.commit();
      await writer.abort();
      assert.deepEqual(await readAll(store, digest), data);
    });

    it('rejects writes after commit', async () => {
      const { data, digest } = await randomBlob(100);
      const writer = await store.put(digest);
      await writer.write(data);
      await writer.commit();
      await assert.rejects(writer.write(data));
      assert.deepEqual(await readAll(store, digest), data);
    });

    it('a reader keeps its bytes when the blob is overwritten meanwhile', async () => {
      const { data, digest } = await randomBlob(2 * MiB);
      await putBuffer(store, digest, data);
      const stream = await store.get(digest);
      await putBuffer(store, digest, data);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(Buffer.from(chunk));
      assert.deepEqual(Buffer.concat(chunks), data);
    });
  });
}
