/**
 * Two Kiln store graphs on one bucket: a blob that one node's local tier
 * still serves but that is gone from S3 (its lifecycle rule expired it, or
 * someone deleted it) is written back from that tier, so the other node,
 * which reads the bucket, finds it again, and an action result whose
 * outputs the first node serves locally is complete on the second too.
 * Only bytes that match their digest are written back.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Registry } from 'prom-client';
import { ActionCache } from '../../src/cache/action-cache.ts';
import { parseConfigText } from '../../src/config/load-config.ts';
import { type Digest, toDigestMessage } from '../../src/digest/digest.ts';
import { ActionResult } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { StoreNodeMetrics } from '../../src/observe/store-node-metrics.ts';
import { type BlobStore, putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { createStores } from '../../src/storage/create-blob-store.ts';
import { ExistenceCacheBlobStore } from '../../src/storage/existence-cache-blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { MeteringBlobStore } from '../../src/storage/metering-blob-store.ts';
import { MirroredBlobStore } from '../../src/storage/mirrored-blob-store.ts';
import { ReadCachingBlobStore } from '../../src/storage/read-caching-blob-store.ts';
import type { S3BlobStoreOptions } from '../../src/storage/s3-blob-store.ts';
import { ShardingBlobStore } from '../../src/storage/sharding-blob-store.ts';
import { SizePartitionedBlobStore } from '../../src/storage/size-partitioned-blob-store.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { parsePrometheusText, sampleValue } from '../observe/prometheus-text.ts';
import { randomBlob } from './blob-store-contract.ts';
import { proxiedS3 } from './s3-fixture.ts';

const DAY = 24 * 60 * 60 * 1000;
const HOUR = 60 * 60 * 1000;
const emulator = proxiedS3();

/** Removes objects behind Kiln's back, as a lifecycle rule or an operator would (not through the proxy). */
async function removeFromBucket(prefix: string, digests: readonly Digest[]): Promise<void> {
  const { server } = emulator;
  const client = new S3Client({
    endpoint: server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });
  try {
    for (const d of digests) {
      await client.send(new DeleteObjectCommand({ Bucket: server.bucket, Key: prefix + d.key }));
    }
  } finally {
    client.destroy();
  }
}

/**
 * Node A: a memory tier in front of s3, through `decorate`; node B: s3 alone.
 * Both on one prefix, each on its own clock.
 */
async function twoNodes(
  options: Partial<S3BlobStoreOptions>,
  decorate: (s3: BlobStore) => BlobStore = (s3) => s3,
) {
  const prefix = `write-back-${Math.random().toString(36).slice(2)}/`;
  const clockA = { now: Date.now() };
  const clockB = { now: Date.now() };
  const s3A = await emulator.open({ ...options, prefix, clock: () => clockA.now });
  const b = await emulator.open({ ...options, prefix, clock: () => clockB.now });
  const fast = new MemoryBlobStore({ maxBytes: 1024 * 1024 });
  const a = new ReadCachingBlobStore({ fast, slow: decorate(s3A) });
  /** Waits for A's background checks and the write-backs they caused. */
  const settle = async (): Promise<void> => {
    await s3A.settled();
    await a.writeBack.idle();
  };
  const close = async () => {
    await a.close();
    await b.close();
  };
  return { prefix, a, s3A, fast, b, clockA, clockB, settle, close };
}

describe('a blob gone from S3 that a local tier still serves', () => {
  it('is written back when the lifecycle touch finds it expired; the other node then finds it', async () => {
    const n = await twoNodes({ expireAfterMs: 30 * DAY, knownTtlMs: HOUR });
    try {
      const { digest, data } = await randomBlob(900);
      await putBuffer(n.a, digest, data);
      // Unused for 31 days: the bucket's rule removed it, A's memory tier still has it.
      await removeFromBucket(n.prefix, [digest]);
      n.clockA.now += 31 * DAY;
      assert.deepEqual(
        (await n.b.findMissing([digest])).map((d) => d.key),
        [digest.key],
      );
      emulator.proxy.resetCounts();
      for (let i = 0; i < 5; i++) assert.deepEqual(await readAll(n.a, digest), data);
      assert.deepEqual(await n.a.findMissing([digest]), []);
      await n.settle();
      // The touch (COPY) finds it gone; one PUT writes it back. Nothing else.
      assert.deepEqual(
        { COPY: emulator.proxy.counts.COPY, PUT: emulator.proxy.counts.PUT },
        { COPY: 1, PUT: 1 },
      );
      assert.equal(emulator.proxy.total(), 2, JSON.stringify(emulator.proxy.counts));
      assert.equal(n.s3A.counters.goneReported, 1);
      assert.deepEqual(n.a.writeBack.counters, { written: 1, failed: 0, dropped: 0 });
      // B (whose index said "missing") asks S3 again and reads the bytes.
      assert.deepEqual(await n.b.findMissing([digest]), []);
      assert.deepEqual(await readAll(n.b, digest), data);
      // Written back means vouched for again: more use costs nothing.
      emulator.proxy.resetCounts();
      assert.deepEqual(await n.a.findMissing([digest]), []);
      await n.settle();
      assert.equal(emulator.proxy.total(), 0);
    } finally {
      await n.close();
    }
  });

  it('without a lifecycle rule, is found at the first use after the existence TTL and written back once', async () => {
    const n = await twoNodes({ expireAfterMs: 0, knownTtlMs: HOUR });
    try {
      const blobs = await Promise.all([300, 301, 302].map((size) => randomBlob(size)));
      for (const { digest, data } of blobs) await putBuffer(n.a, digest, data);
      const [kept, ...deleted] = blobs.map((x) => x.digest) as [Digest, ...Digest[]];
      await removeFromBucket(n.prefix, deleted);
      emulator.proxy.resetCounts();
      // Within the TTL, A trusts what it wrote: nothing is asked, nothing repaired.
      n.clockA.now += HOUR / 2;
      assert.deepEqual(await n.a.findMissing([kept, ...deleted]), []);
      await n.settle();
      assert.equal(emulator.proxy.total(), 0);
      // Past it: one HEAD per served blob, one PUT per blob that was gone.
      n.clockA.now += HOUR;
      for (let i = 0; i < 3; i++) assert.deepEqual(await n.a.findMissing([kept, ...deleted]), []);
      await n.settle();
      assert.deepEqual(
        { HEAD: emulator.proxy.counts.HEAD, PUT: emulator.proxy.counts.PUT },
        { HEAD: 3, PUT: 2 },
      );
      assert.equal(emulator.proxy.total(), 5, JSON.stringify(emulator.proxy.counts));
      assert.deepEqual(await n.b.findMissing([kept, ...deleted]), []);
      for (const { digest, data } of blobs) assert.deepEqual(await readAll(n.b, digest), data);
    } finally {
      await n.close();
    }
  });

  it('keeps an action result that one node serves locally complete on the other', async () => {
    const prefix = `write-back-ac-${Math.random().toString(36).slice(2)}/`;
    const clock = { now: Date.now() };
    const options = { expireAfterMs: 0, knownTtlMs: HOUR, clock: () => clock.now };
    const s3A = await emulator.open({ ...options, prefix: `${prefix}cas/` });
    const casA = new ReadCachingBlobStore({
      fast: new MemoryBlobStore({ maxBytes: 1024 * 1024 }),
      slow: s3A,
    });
    const casB = await emulator.open({ ...options, prefix: `${prefix}cas/` });
    const acOptions = { ...options, prefix: `${prefix}ac/`, contentAddressed: false };
    const acStoreA = await emulator.open(acOptions);
    const cacheA = new ActionCache({ store: acStoreA, cas: casA });
    const acStoreB = await emulator.open(acOptions);
    const cacheB = new ActionCache({ store: acStoreB, cas: casB });
    try {
      const [output, stdout] = await Promise.all([randomBlob(2000), randomBlob(30)]);
      for (const { digest, data } of [output, stdout]) await putBuffer(casA, digest, data);
      const action = (await randomBlob(140)).digest;
      const result = ActionResult.fromPartial({
        outputFiles: [{ path: 'out/lib.a', digest: toDigestMessage(output.digest) }],
        stdoutDigest: toDigestMessage(stdout.digest),
      });
      await cacheA.put('', action, result);
      // The output vanishes from the bucket; A's local tier still holds it.
      await removeFromBucket(`${prefix}cas/`, [output.digest]);
      clock.now += 2 * HOUR;
      assert.equal(await cacheB.get('', action), undefined, 'incomplete on B before the repair');
      // A hit on A: complete there (the local tier), and it writes the output back.
      assert.ok(await cacheA.get('', action));
      await s3A.settled();
      await casA.writeBack.idle();
      assert.equal(casA.writeBack.counters.written, 1);
      const onB = await cacheB.get('', action);
      assert.ok(onB, 'complete on B after the repair');
      assert.deepEqual(await readAll(casB, output.digest), output.data);
    } finally {
      await acStoreA.close();
      await casA.close();
      await casB.close();
      await acStoreB.close();
    }
  });

  it('is not written back when the local copy does not match its digest', async () => {
    const n = await twoNodes({ expireAfterMs: 0, knownTtlMs: HOUR });
    try {
      const { digest, data } = await randomBlob(500);
      await putBuffer(n.a, digest, data);
      await removeFromBucket(n.prefix, [digest]);
      // The local copy rots (same length, one byte changed).
      const rotten = Buffer.from(data);
      rotten[7] = (rotten[7] ?? 0) ^ 0xff;
      const fresh = new MemoryBlobStore({ maxBytes: 1024 * 1024 });
      await putBuffer(fresh, digest, rotten);
      const tier = new ReadCachingBlobStore({ fast: fresh, slow: n.s3A });
      n.clockA.now += 2 * HOUR;
      emulator.proxy.resetCounts();
      assert.deepEqual(await tier.findMissing([digest]), []);
      await n.s3A.settled();
      await tier.writeBack.idle();
      assert.deepEqual(tier.writeBack.counters, { written: 0, failed: 1, dropped: 0 });
      // A HEAD found it gone; no upload of the wrong bytes was committed.
      assert.equal(emulator.proxy.counts.HEAD, 1);
      assert.equal(emulator.proxy.counts.PUT, 0);
      assert.deepEqual(
        (await n.b.findMissing([digest])).map((d) => d.key),
        [digest.key],
      );
    } finally {
      await n.close();
    }
  });

  // Every decorator that can sit between the local tier and s3 must carry the report back.
  const decorators: Record<string, (s3: BlobStore) => BlobStore> = {
    'existence cache': (backend) =>
      new ExistenceCacheBlobStore({ backend, ttlMs: 60_000, maxEntries: 100 }),
    'verifying store': (backend) => new VerifyingBlobStore({ backend }),
    'metering store': (backend) =>
      new MeteringBlobStore({ backend, onRead: () => {}, onWrite: () => {} }),
    'sharding store': (store) =>
      new ShardingBlobStore({ shards: [{ key: 's3', weight: 1, store }] }),
    'mirrored store': (a) =>
      new MirroredBlobStore({ a, b: new MemoryBlobStore({ maxBytes: 1024 * 1024 }) }),
    'size-partitioned store': (small) =>
      new SizePartitionedBlobStore({
        small,
        large: new MemoryBlobStore({ maxBytes: 1024 * 1024 }),
        maxSmallBytes: 64 * 1024,
      }),
  };
  for (const [name, decorate] of Object.entries(decorators)) {
    it(`is written back through the ${name}`, async () => {
      const n = await twoNodes({ expireAfterMs: 30 * DAY, knownTtlMs: HOUR }, decorate);
      try {
        const { digest, data } = await randomBlob(700);
        await putBuffer(n.a, digest, data);
        await removeFromBucket(n.prefix, [digest]);
        n.clockA.now += 31 * DAY;
        assert.deepEqual(await readAll(n.a, digest), data);
        await n.settle();
        assert.equal(n.a.writeBack.counters.written, 1);
        assert.deepEqual(await n.b.findMissing([digest]), []);
      } finally {
        await n.close();
      }
    });
  }

  it('is written back by store graphs built from configuration, with disk tiers', {
    timeout: 60_000,
  }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'kiln-s3-write-back-'));
    const prefix = `write-back-config-${Date.now()}/`;
    // Each node its own data directory, so its own disk tier; both on one bucket prefix.
    const configOf = (node: string) =>
      parseConfigText(
        `
storage:
  stores:
    shared:
      s3:
        endpoint: ${emulator.proxy.endpoint}
        bucket: ${emulator.server.bucket}
        prefix: ${prefix}
        accessKeyId: ${emulator.server.accessKeyId}
        secretAccessKey: ${emulator.server.secretAccessKey}
        forcePathStyle: true
        warmUp: false
        writeLogInterval: 0
        existenceTtl: 200ms
    local: { disk: { path: cas, maxSize: 64MiB } }
  cas: { readCaching: { fast: local, slow: shared } }
`,
        'test.yaml',
        { overrides: { dataDir: join(dataDir, node) } },
      );
    const metrics = new StoreNodeMetrics();
    const nodeA = await createStores(configOf('a'), { wrapNode: metrics.wrap.bind(metrics) });
    const nodeB = await createStores(configOf('b'));
    try {
      await Promise.all([nodeA.whenIndexed(), nodeB.whenIndexed()]);
      const { digest, data } = await randomBlob(1200);
      await putBuffer(nodeA.cas, digest, data);
      await removeFromBucket(prefix, [digest]);
      // Past the existence TTL (a real wait: the factory's stores use the real clock).
      await new Promise((resolve) => setTimeout(resolve, 250));
      emulator.proxy.resetCounts();
      assert.deepEqual(await nodeA.cas.findMissing([digest]), []);
      // The HEAD and the PUT run in the background: wait (bounded) for /metrics to count the write-back.
      const registry = new Registry();
      metrics.register(registry);
      const writeBacks = async (outcome: string) =>
        sampleValue(parsePrometheusText(await registry.metrics()), 'kiln_store_write_backs_total', {
          store: 'storage.cas',
          outcome,
        });
      for (let i = 0; i < 500 && (await writeBacks('written')) !== 1; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.deepEqual([await writeBacks('written'), await writeBacks('failed')], [1, 0]);
      assert.deepEqual(await nodeB.cas.findMissing([digest]), []);
      assert.deepEqual(await readAll(nodeB.cas, digest), data);
      assert.equal(emulator.proxy.counts.PUT, 1);
    } finally {
      await nodeA.close();
      await nodeB.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
