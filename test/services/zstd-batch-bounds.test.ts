/**
 * BatchUpdateBlobs with zstd entries: what a small request may make the
 * server decompress, per entry, per request and across requests.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { zstdCompressSync } from 'node:zlib';
import { credentials, Server, ServerCredentials, status } from '@grpc/grpc-js';
import {
  Compressor_Value,
  ContentAddressableStorageClient,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { casServiceDefinition } from '../../src/rpc/cas-codec.ts';
import { createCasService } from '../../src/services/cas-service.ts';
import {
  MAX_BATCH_TOTAL_SIZE_BYTES,
  MAX_BATCH_ZSTD_DECLARED_BYTES,
} from '../../src/services/limits.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { ByteBudget } from '../../src/util/byte-budget.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { randomBlob, sha256Digest, textBlob } from '../support/blobs.ts';
import { CLIENT_OPTIONS, call } from '../support/grpc-clients.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { peakMemoryGrowth, zerosDigest, zstdZeros } from '../support/zstd-frames.ts';

const MiB = 1024 * 1024;

interface Entry {
  digest: { hash: string; sizeBytes: number };
  data: Buffer;
  compressor?: number;
}
interface EntryStatus {
  code: number;
  message: string;
}

function batchUpdate(cas: ContentAddressableStorageClient, requests: Entry[]) {
  return call(cas, 'batchUpdateBlobs', {
    instanceName: '',
    digestFunction: 0,
    requests: requests.map((r) => ({ compressor: Compressor_Value.ZSTD, ...r })),
  } as never) as Promise<{ responses: { status: EntryStatus }[] }>;
}

async function codes(cas: ContentAddressableStorageClient, requests: Entry[]) {
  const res = await batchUpdate(cas, requests);
  return res.responses.map((r) => r.status);
}

/** A blob, its digest and its zstd encoding. */
function zstdEntry(data: Buffer): Entry {
  return { digest: sha256Digest(data), data: zstdCompressSync(data) };
}

describe('BatchUpdateBlobs zstd bounds', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  it('answers INVALID_ARGUMENT at once, without decompressing, for entries declared over max_batch_total_size_bytes', async (ctx) => {
    // Four 8 KiB entries that each expand to 256 MiB, declared as such.
    const declared = 256 * MiB;
    const bomb = zstdZeros(declared);
    const entries = [0, 1, 2, 3].map(() => ({
      digest: { hash: randomBytes(32).toString('hex'), sizeBytes: declared },
      data: bomb,
    }));
    const started = performance.now();
    const { result, growth } = await peakMemoryGrowth(() => codes(t.clients.cas, entries));
    const ms = performance.now() - started;
    ctx.diagnostic(
      `${ms.toFixed(0)} ms, peak growth: buffers ${(growth.buffers / MiB).toFixed(1)} MiB, rss ${(growth.rss / MiB).toFixed(1)} MiB`,
    );
    for (const s of result) {
      assert.equal(s.code, status.INVALID_ARGUMENT);
      assert.match(s.message, /max_batch_total_size_bytes/);
      assert.match(s.message, /ByteStream/);
    }
    assert.ok(growth.buffers < 32 * MiB, `buffers grew by ${growth.buffers} bytes`);
    assert.ok(growth.rss < 64 * MiB, `rss grew by ${growth.rss} bytes`);
    assert.ok(ms < 1000, `took ${ms} ms`);
  });

  it("bounds the declared sizes of one request's zstd entries in total", async () => {
    const each = MAX_BATCH_TOTAL_SIZE_BYTES;
    const fit = Math.floor(MAX_BATCH_ZSTD_DECLARED_BYTES / each);
    const entries = Array.from({ length: fit + 1 }, (_, i) => zstdEntry(textBlob(each, `e${i}`)));
    const statuses = await codes(t.clients.cas, entries);
    for (const s of statuses.slice(0, fit)) assert.equal(s.code, status.OK, s.message);
    const last = statuses[fit];
    assert.equal(last?.code, status.INVALID_ARGUMENT);
    assert.match(last?.message ?? '', /in total/);
  });

  it('rejects an entry that expands past, or short of, its declared size', async () => {
    const started = performance.now();
    const statuses = await codes(t.clients.cas, [
      // 32 KiB that expand to 1 GiB, declared as 1 MiB.
      { digest: zerosDigest(MiB), data: zstdZeros(1024 * MiB) },
      { digest: zerosDigest(2 * MiB), data: zstdZeros(MiB) },
      { digest: zerosDigest(MiB), data: zstdZeros(MiB).subarray(0, 20) },
      { digest: zerosDigest(MiB), data: Buffer.from('plain bytes, not zstd') },
    ]);
    const ms = performance.now() - started;
    assert.deepEqual(
      statuses.map((s) => s.code),
      [1, 2, 3, 4].map(() => status.INVALID_ARGUMENT),
    );
    assert.match(statuses[0]?.message ?? '', /beyond the declared size of 1048576/);
    assert.match(statuses[1]?.message ?? '', /1048576 bytes, but the digest declares 2097152/);
    assert.ok(ms < 1000, `took ${ms} ms`);
  });

  it('stores valid zstd entries of several sizes next to identity entries', async () => {
    const blobs = [textBlob(1), randomBlob(1000), randomBlob(100_000), textBlob(3 * MiB, 'big')];
    const plain = randomBlob(500);
    const empty = Buffer.alloc(0);
    const statuses = await codes(t.clients.cas, [
      ...blobs.map(zstdEntry),
      zstdEntry(empty),
      { digest: sha256Digest(plain), data: plain, compressor: Compressor_Value.IDENTITY },
    ]);
    for (const s of statuses) assert.equal(s.code, status.OK, s.message);
    const read = (await call(t.clients.cas, 'batchReadBlobs', {
      instanceName: '',
      digestFunction: 0,
      digests: [...blobs, plain].map(sha256Digest),
      acceptableCompressors: [],
    } as never)) as { responses: { data: Buffer }[] };
    assert.deepEqual(
      read.responses.map((r) => r.data),
      [...blobs, plain],
    );
  });
});

describe('BatchUpdateBlobs decompression budget', () => {
  const budget = new ByteBudget({
    name: 'batch decompression',
    maxBytes: 2 * MiB,
    maxWaitMs: 150,
  });
  const server = new Server();
  let cas: ContentAddressableStorageClient;
  before(async () => {
    const store = new VerifyingBlobStore({ backend: new MemoryBlobStore({ maxBytes: 64 * MiB }) });
    server.addService(
      casServiceDefinition,
      createCasService({ log: silentLogger(), cas: store, batchDecompressionBudget: budget }),
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    cas = new ContentAddressableStorageClient(
      `127.0.0.1:${port}`,
      credentials.createInsecure(),
      CLIENT_OPTIONS,
    );
  });
  after(() => {
    cas.close();
    server.forceShutdown();
  });

  it('makes entries wait for budget and answers RESOURCE_EXHAUSTED when the wait runs out', async () => {
    const held = await budget.acquire(2 * MiB);
    const entry = zstdEntry(textBlob(MiB, 'waits'));
    const started = performance.now();
    const [timedOut] = await codes(cas, [entry]);
    const waited = performance.now() - started;
    assert.equal(timedOut?.code, status.RESOURCE_EXHAUSTED);
    assert.match(timedOut?.message ?? '', /waited 150 ms/);
    assert.ok(waited >= 140, `answered after ${waited} ms`);

    // Budget freed while the entry waits: it goes ahead.
    const pending = codes(cas, [entry]);
    await sleep(50);
    assert.equal(budget.waiting, 1);
    held();
    const [stored] = await pending;
    assert.equal(stored?.code, status.OK, stored?.message);
    assert.equal(budget.inUse, 0);
  });

  it('answers RESOURCE_EXHAUSTED at once for an entry larger than the whole budget', async () => {
    const entry = zstdEntry(textBlob(3 * MiB, 'too big for the budget'));
    const started = performance.now();
    const [s] = await codes(cas, [entry]);
    assert.equal(s?.code, status.RESOURCE_EXHAUSTED);
    assert.match(s?.message ?? '', /never/);
    assert.ok(performance.now() - started < 100);
  });

  it('releases the budget whatever the outcome of each entry', async () => {
    const good = textBlob(MiB, 'good');
    const statuses = await codes(cas, [
      zstdEntry(good),
      { digest: zerosDigest(MiB), data: zstdZeros(64 * MiB) },
      { digest: zerosDigest(MiB), data: Buffer.from('not zstd') },
      { digest: sha256Digest(textBlob(MiB, 'other')), data: zstdCompressSync(good) },
      zstdEntry(textBlob(MiB, 'fourth')),
    ]);
    assert.deepEqual(
      statuses.map((s) => s.code),
      [
        status.OK,
        status.INVALID_ARGUMENT,
        status.INVALID_ARGUMENT,
        status.INVALID_ARGUMENT,
        status.OK,
      ],
    );
    assert.equal(budget.inUse, 0);
    assert.equal(budget.waiting, 0);
  });
});
