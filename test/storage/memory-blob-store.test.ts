import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { randomBlob, runBlobStoreContract, withCode } from './blob-store-contract.ts';

runBlobStoreContract('MemoryBlobStore', async () => ({
  store: new MemoryBlobStore({ maxBytes: 64 * 1024 * 1024 }),
  cleanup: async () => {},
}));

describe('MemoryBlobStore', () => {
  it('evicts the least recently used blob, sparing one that was just read', async () => {
    const store = new MemoryBlobStore({ maxBytes: 300 });
    const [a, b, c, d] = await Promise.all([100, 100, 100, 100].map(randomBlob));
    assert.ok(a && b && c && d);
    await putBuffer(store, a.digest, a.data);
    await putBuffer(store, b.digest, b.data);
    await putBuffer(store, c.digest, c.data);
    await readAll(store, a.digest);
    await putBuffer(store, d.digest, d.data);
    const missing = await store.findMissing([a.digest, b.digest, c.digest, d.digest]);
    assert.deepEqual(
      missing.map((m) => m.key),
      [b.digest.key],
    );
    assert.equal((await store.stats()).evictions, 1);
  });

  it('a blob reported present by findMissing is spared from the next eviction', async () => {
    const store = new MemoryBlobStore({ maxBytes: 300 });
    const [a, b, c, d] = await Promise.all([100, 100, 100, 100].map(randomBlob));
    assert.ok(a && b && c && d);
    for (const blob of [a, b, c]) await putBuffer(store, blob.digest, blob.data);
    assert.deepEqual(await store.findMissing([a.digest]), []);
    await putBuffer(store, d.digest, d.data);
    assert.deepEqual(await store.findMissing([a.digest, b.digest]), [b.digest]);
  });

  it('keeps the total within the byte budget', async () => {
    const store = new MemoryBlobStore({ maxBytes: 10_000 });
    for (let i = 0; i < 50; i++) {
      const { data, digest } = await randomBlob(100 + ((i * 37) % 900));
      await putBuffer(store, digest, data);
      assert.ok(
        (await store.stats()).bytes <= 10_000,
        `${(await store.stats()).bytes} bytes stored`,
      );
    }
    assert.ok((await store.stats()).evictions > 0);
  });

  it('rejects a blob larger than the budget with RESOURCE_EXHAUSTED', async () => {
    const store = new MemoryBlobStore({ maxBytes: 1000 });
    const small = await randomBlob(500);
    await putBuffer(store, small.digest, small.data);
    const big = await randomBlob(1001);
    await assert.rejects(
      putBuffer(store, big.digest, big.data),
      withCode(status.RESOURCE_EXHAUSTED),
    );
    assert.deepEqual(await store.findMissing([big.digest, small.digest]), [big.digest]);
    assert.deepEqual(pick(await store.stats()), { bytes: 500, blobs: 1, evictions: 0 });
  });

  it('counts a blob stored twice once', async () => {
    const store = new MemoryBlobStore({ maxBytes: 1000 });
    const blob = await randomBlob(100);
    await putBuffer(store, blob.digest, blob.data);
    await putBuffer(store, blob.digest, blob.data);
    assert.deepEqual(pick(await store.stats()), { bytes: 100, blobs: 1, evictions: 0 });
  });

  it('is not affected when the writer reuses its buffer after write', async () => {
    const store = new MemoryBlobStore({ maxBytes: 1000 });
    const blob = await randomBlob(100);
    const scratch = Buffer.from(blob.data);
    const writer = await store.put(blob.digest);
    await writer.write(scratch);
    scratch.fill(0);
    await writer.commit();
    assert.deepEqual(await readAll(store, blob.digest), blob.data);
  });
});

function pick(stats: { bytes: number; blobs: number; evictions: number }) {
  return { bytes: stats.bytes, blobs: stats.blobs, evictions: stats.evictions };
}
