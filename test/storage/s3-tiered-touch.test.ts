/**
 * A local tier in front of an s3 store with a lifecycle rule: blobs the
 * local tier serves (reads and FindMissingBlobs) still restart their S3
 * lifecycle clock once they are older than half the expiry, so a blob hot on
 * one node never expires from the bucket the other nodes read; and the
 * touch costs S3 at most one COPY per half expiry however hot the blob is.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type BlobStore, putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { ExistenceCacheBlobStore } from '../../src/storage/existence-cache-blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { MeteringBlobStore } from '../../src/storage/metering-blob-store.ts';
import { ReadCachingBlobStore } from '../../src/storage/read-caching-blob-store.ts';
import type { S3BlobStore } from '../../src/storage/s3-blob-store.ts';
import { ShardingBlobStore } from '../../src/storage/sharding-blob-store.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { randomBlob } from './blob-store-contract.ts';
import { proxiedS3 } from './s3-fixture.ts';

const DAY = 24 * 60 * 60 * 1000;
const emulator = proxiedS3();

/** Waits until the store's background requests (touches, age checks) reach `touches`. */
async function settle(store: S3BlobStore, touches: number): Promise<void> {
  for (let i = 0; i < 500 && store.counters.touches < touches; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // And for any request still under way to show in the proxy's counts.
  await new Promise((resolve) => setTimeout(resolve, 30));
}

async function tiered(overrides: { expireAfterMs: number; contentAddressed?: boolean }) {
  const clock = { now: Date.now() };
  // Vouching as long as the lifecycle allows, so the only requests are the touches under test
  // (a shorter existence TTL adds a HEAD per TTL for served blobs: s3-write-back.test.ts).
  const s3 = await emulator.open({ ...overrides, knownTtlMs: 400 * DAY, clock: () => clock.now });
  const fast = new MemoryBlobStore({ maxBytes: 1024 * 1024 });
  return { s3, fast, store: new ReadCachingBlobStore({ fast, slow: s3 }), clock };
}

describe('s3 behind a local tier, with a lifecycle rule', () => {
  it('touches an old blob the local tier serves, once per half expiry however often it is read', async () => {
    const { s3, store, clock } = await tiered({ expireAfterMs: 30 * DAY });
    try {
      const { digest, data } = await randomBlob(500);
      await putBuffer(store, digest, data);
      emulator.proxy.resetCounts();
      // Young: served locally, S3 hears nothing.
      assert.deepEqual(await readAll(store, digest), data);
      assert.deepEqual(await store.findMissing([digest]), []);
      assert.equal(emulator.proxy.total(), 0);
      // Past half the expiry: still served locally, but the S3 object is rewritten in place.
      clock.now += 16 * DAY;
      for (let i = 0; i < 20; i++) assert.deepEqual(await readAll(store, digest), data);
      await settle(s3, 1);
      assert.deepEqual(emulator.proxy.counts, { ...zero(), COPY: 1 });
      // Its clock restarted: nothing more for another half expiry.
      emulator.proxy.resetCounts();
      clock.now += 10 * DAY;
      assert.deepEqual(await store.findMissing([digest]), []);
      assert.deepEqual(await readAll(store, digest), data);
      assert.equal(emulator.proxy.total(), 0);
      // FindMissingBlobs answered by the local tier counts as a use too.
      clock.now += 6 * DAY;
      assert.deepEqual(await store.findMissing([digest]), []);
      await settle(s3, 2);
      assert.deepEqual(emulator.proxy.counts, { ...zero(), COPY: 1 });
    } finally {
      await store.close();
    }
  });

  it('a FindMissingBlobs answered partly by the local tier touches only what that tier had', async () => {
    const { s3, store, clock } = await tiered({ expireAfterMs: 30 * DAY });
    try {
      const hot = await randomBlob(400);
      const absent = await randomBlob(40);
      await putBuffer(store, hot.digest, hot.data);
      clock.now += 16 * DAY;
      emulator.proxy.resetCounts();
      const missing = await store.findMissing([absent.digest, hot.digest, absent.digest]);
      assert.deepEqual(
        missing.map((d) => d.key),
        [absent.digest.key],
      );
      await settle(s3, 1);
      // The absent blob is asked about (HEAD), the hot one renewed (COPY); nothing else.
      assert.deepEqual(emulator.proxy.counts, { ...zero(), HEAD: 1, COPY: 1 });
    } finally {
      await store.close();
    }
  });

  it('asks S3 once for the age of a served blob it knows nothing about', async () => {
    const prefix = `age-${Date.now()}/`;
    // Another process uploaded the blob.
    const { digest, data } = await randomBlob(700);
    const writer = await emulator.open({ prefix });
    try {
      await putBuffer(writer, digest, data);
    } finally {
      await writer.close();
    }
    // Sixteen days later, this node's local tier holds it; its s3 store never saw it.
    const clock = { now: Date.now() + 16 * DAY };
    const s3 = await emulator.open({
      prefix,
      expireAfterMs: 30 * DAY,
      clock: () => clock.now,
    });
    const fast = new MemoryBlobStore({ maxBytes: 1024 * 1024 });
    await putBuffer(fast, digest, data);
    const store = new ReadCachingBlobStore({ fast, slow: s3 });
    try {
      emulator.proxy.resetCounts();
      for (let i = 0; i < 5; i++) assert.deepEqual(await readAll(store, digest), data);
      await settle(s3, 1);
      // One HEAD to learn it is old, one COPY to renew it; no GET: the bytes came from the local tier.
      assert.deepEqual(emulator.proxy.counts, { ...zero(), HEAD: 1, COPY: 1 });
      assert.equal(s3.counters.ageChecks, 1);
    } finally {
      await store.close();
    }
  });

  it('reaches an s3 shard through a sharding store', async () => {
    const { s3, fast, clock } = await tiered({ expireAfterMs: 30 * DAY });
    const other = new MemoryBlobStore({ maxBytes: 1024 * 1024 });
    const sharded = new ShardingBlobStore({
      shards: [
        { key: 's3', weight: 1, store: s3 },
        { key: 'memory', weight: 1, store: other },
      ],
    });
    const store = new ReadCachingBlobStore({ fast, slow: sharded });
    try {
      let blob = await randomBlob(90);
      while (sharded.shardOf(blob.digest) !== 's3') blob = await randomBlob(90);
      await putBuffer(store, blob.digest, blob.data);
      clock.now += 20 * DAY;
      emulator.proxy.resetCounts();
      assert.deepEqual(await readAll(store, blob.digest), blob.data);
      await settle(s3, 1);
      assert.deepEqual(emulator.proxy.counts, { ...zero(), COPY: 1 });
    } finally {
      await store.close();
    }
  });

  // Every decorator that can sit between the local tier and s3 must pass the use on.
  const decorators: Record<string, (backend: BlobStore) => BlobStore> = {
    'existence cache': (backend) =>
      new ExistenceCacheBlobStore({ backend, ttlMs: 60_000, maxEntries: 100 }),
    'verifying store': (backend) => new VerifyingBlobStore({ backend }),
    'metering store': (backend) =>
      new MeteringBlobStore({ backend, onRead: () => {}, onWrite: () => {} }),
  };
  for (const [name, decorate] of Object.entries(decorators)) {
    it(`reaches s3 through the ${name}`, async () => {
      const clock = { now: Date.now() };
      const s3 = await emulator.open({ expireAfterMs: 30 * DAY, clock: () => clock.now });
      const fast = new MemoryBlobStore({ maxBytes: 1024 * 1024 });
      const store = new ReadCachingBlobStore({ fast, slow: decorate(s3) });
      try {
        const { digest, data } = await randomBlob(120);
        await putBuffer(store, digest, data);
        clock.now += 20 * DAY;
        emulator.proxy.resetCounts();
        // Served by the local tier, yet the old S3 object is renewed, once.
        for (let i = 0; i < 3; i++) assert.deepEqual(await readAll(store, digest), data);
        assert.deepEqual(await store.findMissing([digest]), []);
        await settle(s3, 1);
        assert.deepEqual(emulator.proxy.counts, { ...zero(), COPY: 1 });
        assert.equal(s3.counters.touches, 1);
      } finally {
        await store.close();
      }
    });
  }

  it('without a lifecycle rule a served blob costs S3 nothing while vouched for, then one HEAD', async () => {
    const { s3, store, clock } = await tiered({ expireAfterMs: 0 });
    try {
      const { digest, data } = await randomBlob(50);
      await putBuffer(store, digest, data);
      clock.now += 399 * DAY;
      emulator.proxy.resetCounts();
      assert.deepEqual(await readAll(store, digest), data);
      assert.deepEqual(await store.findMissing([digest]), []);
      await s3.settled();
      assert.equal(emulator.proxy.total(), 0);
      // Past the existence TTL: one HEAD confirms the object is still there, and vouches again.
      clock.now += 2 * DAY;
      for (let i = 0; i < 5; i++) assert.deepEqual(await readAll(store, digest), data);
      assert.deepEqual(await store.findMissing([digest]), []);
      await s3.settled();
      assert.deepEqual(emulator.proxy.counts, { ...zero(), HEAD: 1 });
    } finally {
      await store.close();
    }
  });
});

function zero() {
  return { GET: 0, HEAD: 0, PUT: 0, LIST: 0, POST: 0, DELETE: 0, COPY: 0, OTHER: 0 };
}
