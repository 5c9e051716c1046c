/**
 * Eviction with a bucket lifecycle rule (objects expire a fixed time after
 * their last write): blobs that builds still use are rewritten in place when
 * older than half that time, so they never expire while in use, and the
 * existence index never vouches for a blob past that half.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import type { S3BlobStore } from '../../src/storage/s3-blob-store.ts';
import { randomBlob } from './blob-store-contract.ts';
import { proxiedS3 } from './s3-fixture.ts';

const DAY = 24 * 60 * 60 * 1000;
const emulator = proxiedS3();

/** Waits until the store's background touches are done (close waits for them). */
async function settle(store: S3BlobStore, touches: number): Promise<void> {
  for (let i = 0; i < 200 && store.counters.touches < touches; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('S3BlobStore with a lifecycle rule', () => {
  it('rewrites a blob found present after half its expiry, once, keeping its bytes', async () => {
    let now = Date.now();
    const store = await emulator.open({
      expireAfterMs: 30 * DAY,
      knownTtlMs: 365 * DAY,
      clock: () => now,
    });
    try {
      const { digest, data } = await randomBlob(1000);
      await putBuffer(store, digest, data);
      emulator.proxy.resetCounts();
      // Within half the expiry the index answers.
      now += 14 * DAY;
      assert.deepEqual(await store.findMissing([digest]), []);
      assert.equal(emulator.proxy.total(), 0);
      // Past it, the index no longer vouches: S3 is asked, and the old blob is rewritten.
      now += 2 * DAY;
      assert.deepEqual(await store.findMissing([digest]), []);
      await settle(store, 1);
      assert.equal(emulator.proxy.counts.HEAD, 1);
      assert.equal(emulator.proxy.counts.COPY, 1);
      assert.equal(store.counters.touches, 1);
      emulator.proxy.resetCounts();
      assert.deepEqual(await store.findMissing([digest]), []);
      assert.deepEqual(await readAll(store, digest), data);
      assert.equal(emulator.proxy.counts.COPY, 0);
    } finally {
      await store.close();
    }
  });

  it('rewrites an old action cache entry when it is read', async () => {
    let now = Date.now();
    const store = await emulator.open({
      expireAfterMs: 30 * DAY,
      contentAddressed: false,
      clock: () => now,
    });
    try {
      const { digest, data } = await randomBlob(200);
      await putBuffer(store, digest, data);
      emulator.proxy.resetCounts();
      assert.deepEqual(await readAll(store, digest), data);
      assert.equal(emulator.proxy.counts.COPY, 0, 'a fresh entry was rewritten');
      now += 20 * DAY;
      assert.deepEqual(await readAll(store, digest), data);
      await settle(store, 1);
      assert.equal(emulator.proxy.counts.COPY, 1);
    } finally {
      await store.close();
    }
  });

  it('the start-up listing neither remembers nor rewrites blobs past half their expiry', async () => {
    let now = Date.now();
    const options = {
      prefix: `listed-${now}/`,
      expireAfterMs: 30 * DAY,
      clock: () => now,
    };
    const writer = await emulator.open(options);
    const fresh = await randomBlob(100);
    try {
      await putBuffer(writer, fresh.digest, fresh.data);
    } finally {
      await writer.close();
    }
    now += 20 * DAY;
    emulator.proxy.resetCounts();
    const reader = await emulator.open({ ...options, warmUp: true });
    try {
      await reader.warmedUp;
      assert.equal(reader.counters.listed, 0);
      assert.equal(emulator.proxy.counts.COPY, 0);
      assert.equal(emulator.proxy.total(), 1, JSON.stringify(emulator.proxy.counts));
    } finally {
      await reader.close();
    }
  });

  it('without a lifecycle rule nothing is ever rewritten', async () => {
    let now = Date.now();
    const store = await emulator.open({ clock: () => now, knownTtlMs: DAY });
    try {
      const { digest, data } = await randomBlob(100);
      await putBuffer(store, digest, data);
      now += 400 * DAY;
      emulator.proxy.resetCounts();
      assert.deepEqual(await store.findMissing([digest]), []);
      assert.deepEqual(await readAll(store, digest), data);
      assert.equal(emulator.proxy.counts.HEAD, 1);
      assert.equal(emulator.proxy.counts.COPY, 0);
    } finally {
      await store.close();
    }
  });
});
