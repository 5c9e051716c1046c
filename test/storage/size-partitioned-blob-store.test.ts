import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { SizePartitionedBlobStore } from '../../src/storage/size-partitioned-blob-store.ts';
import { randomBlob, runBlobStoreContract } from './blob-store-contract.ts';
import { childStores } from './composite-fixtures.ts';

const MiB = 1024 * 1024;

runBlobStoreContract('SizePartitionedBlobStore (memory small, disk large)', async () => {
  const children = childStores();
  return {
    store: new SizePartitionedBlobStore({
      small: children.memory(),
      large: await children.disk(),
      // The contract's blobs of 1000 bytes and less go to memory, larger ones to disk.
      maxSmallBytes: 1000,
    }),
    cleanup: children.cleanup,
  };
});

describe('SizePartitionedBlobStore', () => {
  it('puts blobs up to the limit in small and larger ones in large', async () => {
    const small = new MemoryBlobStore({ maxBytes: MiB });
    const large = new MemoryBlobStore({ maxBytes: 8 * MiB });
    const store = new SizePartitionedBlobStore({ small, large, maxSmallBytes: 4096 });
    const [atLimit, above] = await Promise.all([randomBlob(4096), randomBlob(4097)]);
    assert.ok(atLimit && above);
    await putBuffer(store, atLimit.digest, atLimit.data);
    await putBuffer(store, above.digest, above.data);
    assert.deepEqual(await readAll(small, atLimit.digest), atLimit.data);
    assert.deepEqual(await large.findMissing([atLimit.digest]), [atLimit.digest]);
    assert.deepEqual(await readAll(large, above.digest), above.data);
    assert.deepEqual(await small.findMissing([above.digest]), [above.digest]);
  });

  it('findMissing asks each side about its own digests and keeps the order asked', async () => {
    const small = new MemoryBlobStore({ maxBytes: MiB });
    const large = new MemoryBlobStore({ maxBytes: 8 * MiB });
    const store = new SizePartitionedBlobStore({ small, large, maxSmallBytes: 100 });
    const blobs = await Promise.all([50, 5000, 60, 6000].map((n) => randomBlob(n)));
    // Present in the wrong side only: the store must not find them there.
    for (const b of blobs) await putBuffer(b.data.length <= 100 ? large : small, b.digest, b.data);
    const asked = blobs.map((b) => b.digest);
    assert.deepEqual(
      (await store.findMissing(asked)).map((d) => d.key),
      asked.map((d) => d.key),
    );
  });
});
