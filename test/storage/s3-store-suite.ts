/**
 * The S3 store's tests: the blob store contract (content-addressed and
 * action-cache keys) and the requests the store sends, counted by the fault
 * proxy. Run against the s3rver emulator and against a real server (Ceph
 * RGW), so a behaviour the emulator lets through cannot hide.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { randomBlob, runBlobStoreContract } from './blob-store-contract.ts';
import type { ProxiedS3 } from './s3-fixture.ts';

const MiB = 1024 * 1024;

/** Registers the suite under `name`, against the server behind `emulator`'s proxy. */
export function runS3StoreSuite(name: string, emulator: ProxiedS3): void {
  runBlobStoreContract(name, async () => ({
    store: await emulator.open(),
    cleanup: async () => {},
  }));

  runBlobStoreContract(`${name} (action cache: not content-addressed)`, async () => ({
    store: await emulator.open({ contentAddressed: false }),
    cleanup: async () => {},
  }));

  describe(`${name} requests`, () => {
    it('FindMissingBlobs of blobs this process wrote sends no request to S3', async () => {
      const store = await emulator.open();
      try {
        const blobs = await Promise.all(Array.from({ length: 50 }, (_, i) => randomBlob(100 + i)));
        for (const { digest, data } of blobs) await putBuffer(store, digest, data);
        emulator.proxy.resetCounts();
        const missing = await store.findMissing(blobs.map((b) => b.digest));
        assert.deepEqual(missing, []);
        assert.equal(emulator.proxy.total(), 0, JSON.stringify(emulator.proxy.counts));
      } finally {
        await store.close();
      }
    });

    it('asks S3 once per unknown digest, then never again while it is known', async () => {
      // Two stores (two Kiln processes) sharing one bucket prefix.
      const options = { prefix: `shared-${Date.now()}/` };
      const a = await emulator.open(options);
      const b = await emulator.open(options);
      try {
        const present = await Promise.all([1, 2, 3].map((n) => randomBlob(n * 10)));
        const absent = await Promise.all([4, 5].map((n) => randomBlob(n * 10)));
        for (const { digest, data } of present) await putBuffer(a, digest, data);
        const all = [...present, ...absent].map((x) => x.digest);
        emulator.proxy.resetCounts();
        const first = await b.findMissing([...all, ...all]);
        assert.deepEqual(first.map((d) => d.key).sort(), absent.map((x) => x.digest.key).sort());
        assert.deepEqual(emulator.proxy.counts.HEAD, 5);
        assert.equal(emulator.proxy.total(), 5);
        emulator.proxy.resetCounts();
        const second = await b.findMissing(all);
        assert.equal(second.length, 2);
        // Absent blobs are asked about again (they may have been uploaded since); present ones not.
        assert.equal(emulator.proxy.total(), 2, JSON.stringify(emulator.proxy.counts));
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('learns what the bucket holds from one listing at start', async () => {
      const options = { prefix: `listed-${Date.now()}/` };
      const writer = await emulator.open(options);
      const blobs = await Promise.all(Array.from({ length: 30 }, (_, i) => randomBlob(50 + i)));
      try {
        for (const { digest, data } of blobs) await putBuffer(writer, digest, data);
      } finally {
        await writer.close();
      }
      emulator.proxy.resetCounts();
      const reader = await emulator.open({ ...options, warmUp: true });
      try {
        await reader.warmedUp;
        assert.equal(reader.counters.listed, blobs.length);
        assert.deepEqual(await reader.findMissing(blobs.map((b) => b.digest)), []);
        assert.equal(emulator.proxy.counts.LIST, 1);
        assert.equal(emulator.proxy.total(), 1, JSON.stringify(emulator.proxy.counts));
      } finally {
        await reader.close();
      }
    });

    it('uploads a blob the store knows it holds no second time', async () => {
      const store = await emulator.open();
      try {
        const { digest, data } = await randomBlob(1000);
        emulator.proxy.resetCounts();
        await putBuffer(store, digest, data);
        await putBuffer(store, digest, data);
        assert.equal(emulator.proxy.counts.PUT, 1);
        assert.deepEqual(await readAll(store, digest), data);
      } finally {
        await store.close();
      }
    });

    it('sends a blob of exactly one part size as one PutObject', async () => {
      const store = await emulator.open();
      try {
        const { digest, data } = await randomBlob(5 * MiB);
        emulator.proxy.resetCounts();
        const writer = await store.put(digest);
        for (let i = 0; i < data.length; i += MiB) await writer.write(data.subarray(i, i + MiB));
        await writer.commit();
        assert.deepEqual([emulator.proxy.counts.PUT, emulator.proxy.counts.POST], [1, 0]);
        assert.deepEqual(await readAll(store, digest), data);
      } finally {
        await store.close();
      }
    });

    it('sends a large blob as a multipart upload of part-sized requests, and a ranged GET for a range', async () => {
      const store = await emulator.open();
      try {
        const { digest, data } = await randomBlob(12 * MiB + 5);
        emulator.proxy.resetCounts();
        const writer = await store.put(digest);
        for (let i = 0; i < data.length; i += MiB) await writer.write(data.subarray(i, i + MiB));
        // Nothing is visible before commit, although parts went out.
        assert.equal((await store.findMissing([digest])).length, 1);
        await writer.commit();
        // Create, three parts (5 + 5 + 2 MiB), complete.
        assert.equal(emulator.proxy.counts.POST, 2, JSON.stringify(emulator.proxy.counts));
        assert.equal(emulator.proxy.counts.PUT, 3, JSON.stringify(emulator.proxy.counts));
        emulator.proxy.resetCounts();
        const chunks: Buffer[] = [];
        for await (const c of await store.get(digest, { offset: 7 * MiB, limit: 10 })) {
          chunks.push(Buffer.from(c));
        }
        assert.deepEqual(Buffer.concat(chunks), data.subarray(7 * MiB, 7 * MiB + 10));
        assert.equal(emulator.proxy.counts.GET, 1);
        assert.deepEqual(await readAll(store, digest), data);
      } finally {
        await store.close();
      }
    });
  });
}
