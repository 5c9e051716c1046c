import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { type Digest, makeDigest } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import type { BlobStore } from '../../src/storage/blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { type Shard, ShardingBlobStore } from '../../src/storage/sharding-blob-store.ts';
import { randomBlob, runBlobStoreContract } from './blob-store-contract.ts';
import { childStores } from './composite-fixtures.ts';

const MiB = 1024 * 1024;

runBlobStoreContract('ShardingBlobStore', async () => ({
  store: new ShardingBlobStore({
    shards: ['a', 'b', 'c'].map((key) => ({
      key,
      weight: 1,
      store: new MemoryBlobStore({ maxBytes: 64 * MiB }),
    })),
  }),
  cleanup: async () => {},
}));

runBlobStoreContract('ShardingBlobStore (disk shards of weights 1 and 2)', async () => {
  const children = childStores();
  return {
    store: new ShardingBlobStore({
      shards: [
        { key: 'disk-1', weight: 1, store: await children.disk() },
        { key: 'disk-2', weight: 2, store: await children.disk() },
      ],
    }),
    cleanup: children.cleanup,
  };
});

/** 10,000 fixed digests (hashes of the numbers 0..9999): the same in every run. */
const DIGESTS: Digest[] = Array.from({ length: 10_000 }, (_, i) =>
  makeDigest(SHA256, createHash('sha256').update(String(i)).digest('hex'), 100 + i),
);

function sharding(weights: Record<string, number>): ShardingBlobStore {
  const shards: Shard[] = Object.entries(weights).map(([key, weight]) => ({
    key,
    weight,
    store: new MemoryBlobStore({ maxBytes: MiB }),
  }));
  return new ShardingBlobStore({ shards });
}

function counts(store: ShardingBlobStore): Map<string, number> {
  const out = new Map<string, number>();
  for (const d of DIGESTS) {
    const key = store.shardOf(d);
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

describe('ShardingBlobStore', () => {
  it('adding a fourth shard moves about a quarter of the blobs, all of them to the new shard', () => {
    const three = sharding({ s1: 1, s2: 1, s3: 1 });
    const four = sharding({ s1: 1, s2: 1, s3: 1, s4: 1 });
    let moved = 0;
    for (const d of DIGESTS) {
      const before = three.shardOf(d);
      const after = four.shardOf(d);
      if (before !== after) {
        moved++;
        assert.equal(after, 's4', 'a blob only ever moves to the new shard');
      }
    }
    const share = moved / DIGESTS.length;
    // Binomial(10000, 1/4): one standard deviation is 0.43 %; allow 2 points.
    assert.ok(Math.abs(share - 0.25) < 0.02, `moved ${moved} of ${DIGESTS.length} (${share})`);
  });

  it('removing a shard moves only its own blobs', () => {
    const four = sharding({ s1: 1, s2: 1, s3: 1, s4: 1 });
    const three = sharding({ s1: 1, s2: 1, s4: 1 });
    for (const d of DIGESTS) {
      const before = four.shardOf(d);
      if (before !== 's3') assert.equal(three.shardOf(d), before);
    }
  });

  it('honours weights: each shard holds its weight’s share of the blobs', () => {
    const store = sharding({ small: 1, medium: 2, large: 5 });
    const byShard = counts(store);
    const total = 8;
    for (const [key, weight] of [
      ['small', 1],
      ['medium', 2],
      ['large', 5],
    ] as const) {
      const share = (byShard.get(key) ?? 0) / DIGESTS.length;
      assert.ok(
        Math.abs(share - weight / total) < 0.02,
        `${key}: ${share} of the blobs, expected ${weight / total}`,
      );
    }
  });

  it('equal weights spread the blobs evenly', () => {
    const byShard = counts(sharding({ a: 1, b: 1, c: 1, d: 1, e: 1 }));
    for (const [key, n] of byShard) {
      assert.ok(Math.abs(n / DIGESTS.length - 0.2) < 0.02, `${key}: ${n}`);
    }
  });

  it('placement depends on shard keys, not on their order', () => {
    const forward = sharding({ a: 1, b: 2, c: 1 });
    const backward = sharding({ c: 1, b: 2, a: 1 });
    for (const d of DIGESTS.slice(0, 2000)) assert.equal(forward.shardOf(d), backward.shardOf(d));
  });

  it('findMissing asks each shard once, with only the digests it holds', async () => {
    const calls: Array<{ key: string; digests: string[] }> = [];
    const shards: Shard[] = ['a', 'b', 'c'].map((key) => {
      const memory = new MemoryBlobStore({ maxBytes: MiB });
      const recording: BlobStore = {
        get: (d, r) => memory.get(d, r),
        put: (d) => memory.put(d),
        findMissing: (digests) => {
          calls.push({ key, digests: digests.map((d) => d.key) });
          return memory.findMissing(digests);
        },
        close: () => memory.close(),
      };
      return { key, weight: 1, store: recording };
    });
    const store = new ShardingBlobStore({ shards });
    const blobs = await Promise.all(Array.from({ length: 60 }, () => randomBlob(50)));
    for (const b of blobs.slice(0, 30)) {
      const writer = await store.put(b.digest);
      await writer.write(b.data);
      await writer.commit();
    }
    const asked = blobs.map((b) => b.digest);
    const missing = await store.findMissing(asked);
    assert.deepEqual(
      missing.map((d) => d.key),
      asked.slice(30).map((d) => d.key),
    );
    assert.equal(calls.length, 3, 'one call per shard');
    for (const call of calls) {
      for (const key of call.digests) {
        const digest = asked.find((d) => d.key === key) as Digest;
        assert.equal(store.shardOf(digest), call.key);
      }
    }
    assert.equal(
      calls.reduce((n, c) => n + c.digests.length, 0),
      asked.length,
    );
  });

  it('rejects duplicate keys and non-positive weights', () => {
    const memory = () => new MemoryBlobStore({ maxBytes: MiB });
    assert.throws(
      () =>
        new ShardingBlobStore({
          shards: [
            { key: 'a', weight: 1, store: memory() },
            { key: 'a', weight: 1, store: memory() },
          ],
        }),
      /used twice/,
    );
    assert.throws(
      () => new ShardingBlobStore({ shards: [{ key: 'a', weight: 0, store: memory() }] }),
      /weight must be a positive number/,
    );
  });
});
