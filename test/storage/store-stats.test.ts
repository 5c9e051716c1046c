import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load-config.ts';
import { type BlobStore, putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { createStores } from '../../src/storage/create-blob-store.ts';
import { DiskBlobStore } from '../../src/storage/disk-blob-store.ts';
import { ExistenceCacheBlobStore } from '../../src/storage/existence-cache-blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { MeteringBlobStore } from '../../src/storage/metering-blob-store.ts';
import { ReadCachingBlobStore } from '../../src/storage/read-caching-blob-store.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { randomBlob } from './blob-store-contract.ts';

/** A clock the test moves by hand. */
function manualClock(start: number) {
  let now = start;
  return {
    now: () => now,
    set(ms: number) {
      now = ms;
    },
  };
}

/**
 * Stores 400-byte blobs a, b, c at times 1000, 2000, 3000 into a 1000-byte
 * budget (evicting a), then reads b at 4000: c is then the least recently used.
 */
async function exerciseBudget(store: BlobStore, clock: ReturnType<typeof manualClock>) {
  const empty = await store.stats?.();
  assert.deepEqual(empty, {
    bytes: 0,
    blobs: 0,
    maxBytes: 1000,
    evictions: 0,
    evictedBytes: 0,
    oldestAccessMs: undefined,
  });
  const blobs = await Promise.all([400, 400, 400].map(randomBlob));
  for (const [i, blob] of blobs.entries()) {
    clock.set(1000 * (i + 1));
    await putBuffer(store, blob.digest, blob.data);
  }
  assert.deepEqual(await store.stats?.(), {
    bytes: 800,
    blobs: 2,
    maxBytes: 1000,
    evictions: 1,
    evictedBytes: 400,
    oldestAccessMs: 2000,
  });
  clock.set(4000);
  const b = blobs[1];
  assert.ok(b);
  await readAll(store, b.digest);
  assert.equal((await store.stats?.())?.oldestAccessMs, 3000, 'reading b made c the oldest');
}

describe('store stats', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-store-stats-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('a memory store reports size, budget, evictions and its oldest access', async () => {
    const clock = manualClock(0);
    await exerciseBudget(new MemoryBlobStore({ maxBytes: 1000, now: clock.now }), clock);
  });

  it('a disk store reports size, budget, evictions and its oldest access', async () => {
    const clock = manualClock(0);
    const store = await DiskBlobStore.open({
      path: join(dir, 'disk'),
      maxBytes: 1000,
      now: clock.now,
    });
    try {
      await exerciseBudget(store, clock);
    } finally {
      await store.close();
    }
  });

  it('decorators report the stats of the store that holds the blobs', async () => {
    const memory = new MemoryBlobStore({ maxBytes: 1000 });
    const blob = await randomBlob(300);
    await putBuffer(memory, blob.digest, blob.data);
    const expected = await memory.stats();
    const verifying = new VerifyingBlobStore({ backend: memory });
    const existence = new ExistenceCacheBlobStore({ backend: memory, ttlMs: 1000, maxEntries: 10 });
    const metering = new MeteringBlobStore({ backend: memory, onRead() {}, onWrite() {} });
    const fast = new MemoryBlobStore({ maxBytes: 5000 });
    const readCaching = new ReadCachingBlobStore({ fast, slow: memory });
    for (const store of [verifying, existence, metering, readCaching]) {
      assert.deepEqual(await store.stats?.(), expected, store.constructor.name);
    }
  });

  it('decorators over a store without stats have none either', () => {
    const bare: BlobStore = {
      get: () => Promise.reject(new Error('unused')),
      put: () => Promise.reject(new Error('unused')),
      findMissing: async () => [],
      close: async () => {},
    };
    assert.equal(new VerifyingBlobStore({ backend: bare }).stats, undefined);
  });

  it('the configured CAS reports its disk store through every layer, shared names included', async () => {
    const config = parseConfigText(
      `
storage:
  stores:
    shared: { disk: { path: shared, maxSize: 1MiB } }
  cas: { existenceCache: { backend: shared } }
  actionCache: { memory: { maxSize: 1MiB } }
`,
      'test.yaml',
      { overrides: { dataDir: join(dir, 'configured') } },
    );
    const stores = await createStores(config);
    try {
      const blob = await randomBlob(1234);
      await putBuffer(stores.cas, blob.digest, blob.data);
      const stats = await stores.cas.stats?.();
      assert.equal(stats?.bytes, 1234);
      assert.equal(stats?.blobs, 1);
      assert.equal(stats?.maxBytes, 1024 * 1024);
      assert.equal((await stores.actionCache.stats?.())?.maxBytes, 1024 * 1024);
    } finally {
      await stores.close();
    }
  });
});

describe('MeteringBlobStore', () => {
  it('counts bytes handed to readers and bytes of committed blobs', async () => {
    let read = 0;
    let written = 0;
    const store = new MeteringBlobStore({
      backend: new MemoryBlobStore({ maxBytes: 10 * 1024 * 1024 }),
      onRead: (n) => {
        read += n;
      },
      onWrite: (n) => {
        written += n;
      },
    });
    const blob = await randomBlob(3 * 1024 * 1024);
    await putBuffer(store, blob.digest, blob.data);
    assert.equal(written, blob.data.length);
    const aborted = await store.put((await randomBlob(10)).digest);
    await aborted.write(Buffer.alloc(10));
    await aborted.abort();
    assert.equal(written, blob.data.length, 'an aborted upload is not counted');

    assert.deepEqual(await readAll(store, blob.digest), blob.data);
    assert.equal(read, blob.data.length);
    for await (const _ of await store.get(blob.digest, { offset: 100, limit: 50 })) {
      // drain
    }
    assert.equal(read, blob.data.length + 50);
  });
});
