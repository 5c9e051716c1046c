import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { Digest } from '../../src/digest/digest.ts';
import { type BlobStore, putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { ExistenceCacheBlobStore } from '../../src/storage/existence-cache-blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { randomBlob, runBlobStoreContract, withCode } from './blob-store-contract.ts';

const MiB = 1024 * 1024;

runBlobStoreContract('ExistenceCacheBlobStore over MemoryBlobStore', async () => ({
  store: new ExistenceCacheBlobStore({
    backend: new MemoryBlobStore({ maxBytes: 64 * MiB }),
    ttlMs: 60_000,
    maxEntries: 1000,
  }),
  cleanup: async () => {},
}));

/** Passes everything to a store and records what findMissing was asked. */
class CountingBlobStore implements BlobStore {
  readonly inner: BlobStore;
  readonly findMissingCalls: string[][] = [];

  constructor(inner: BlobStore) {
    this.inner = inner;
  }
  get(digest: Digest, range?: { offset?: number; limit?: number }) {
    return this.inner.get(digest, range);
  }
  put(digest: Digest) {
    return this.inner.put(digest);
  }
  findMissing(digests: readonly Digest[]) {
    this.findMissingCalls.push(digests.map((d) => d.key));
    return this.inner.findMissing(digests);
  }
  close() {
    return this.inner.close();
  }
}

function setup(options: { maxBytes?: number; maxEntries?: number } = {}) {
  let now = 1_000_000;
  const memory = new MemoryBlobStore({ maxBytes: options.maxBytes ?? MiB });
  const backend = new CountingBlobStore(memory);
  const store = new ExistenceCacheBlobStore({
    backend,
    ttlMs: 10_000,
    maxEntries: options.maxEntries ?? 100,
    clock: () => now,
  });
  return {
    memory,
    backend,
    store,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const keys = (digests: readonly Digest[]) => digests.map((d) => d.key);

describe('ExistenceCacheBlobStore', () => {
  it('answers a second findMissing of present digests without the backend', async () => {
    const { memory, backend, store } = setup();
    const a = await randomBlob(10);
    const b = await randomBlob(20);
    await putBuffer(memory, a.digest, a.data);
    await putBuffer(memory, b.digest, b.data);

    assert.deepEqual(await store.findMissing([a.digest, b.digest]), []);
    assert.deepEqual(await store.findMissing([a.digest, b.digest]), []);
    assert.equal(backend.findMissingCalls.length, 1);
  });

  it('asks the backend only about digests it does not know', async () => {
    const { memory, backend, store } = setup();
    const known = await randomBlob(10);
    const unknown = await randomBlob(11);
    await putBuffer(memory, known.digest, known.data);
    await store.findMissing([known.digest]);

    const missing = await store.findMissing([known.digest, unknown.digest]);
    assert.deepEqual(keys(missing), [unknown.digest.key]);
    assert.deepEqual(backend.findMissingCalls.at(-1), [unknown.digest.key]);
  });

  it('remembers a blob after its upload commits', async () => {
    const { backend, store } = setup();
    const a = await randomBlob(10);
    await putBuffer(store, a.digest, a.data);
    assert.deepEqual(await store.findMissing([a.digest]), []);
    assert.equal(backend.findMissingCalls.length, 0);
  });

  it('does not remember an aborted upload', async () => {
    const { backend, store } = setup();
    const a = await randomBlob(10);
    const writer = await store.put(a.digest);
    await writer.write(a.data);
    await writer.abort();
    assert.deepEqual(keys(await store.findMissing([a.digest])), [a.digest.key]);
    assert.equal(backend.findMissingCalls.length, 1);
  });

  it('remembers a blob after a successful read', async () => {
    const { memory, backend, store } = setup();
    const a = await randomBlob(10);
    await putBuffer(memory, a.digest, a.data);
    assert.deepEqual(await readAll(store, a.digest), a.data);
    assert.deepEqual(await store.findMissing([a.digest]), []);
    assert.equal(backend.findMissingCalls.length, 0);
  });

  it('forgets a digest once its ttl has passed', async () => {
    const { memory, backend, store, advance } = setup();
    const a = await randomBlob(10);
    await putBuffer(memory, a.digest, a.data);
    await store.findMissing([a.digest]);

    advance(9_999);
    await store.findMissing([a.digest]);
    assert.equal(backend.findMissingCalls.length, 1, 'still cached just before the ttl');

    advance(1);
    await store.findMissing([a.digest]);
    assert.equal(backend.findMissingCalls.length, 2, 'asked again once the ttl passed');
  });

  it('never caches absence: a blob uploaded elsewhere is seen at once', async () => {
    const { memory, backend, store } = setup();
    const a = await randomBlob(10);
    assert.deepEqual(keys(await store.findMissing([a.digest])), [a.digest.key]);
    assert.deepEqual(keys(await store.findMissing([a.digest])), [a.digest.key]);
    assert.equal(backend.findMissingCalls.length, 2);

    await putBuffer(memory, a.digest, a.data);
    assert.deepEqual(await store.findMissing([a.digest]), []);
  });

  it('forgets a digest when a read finds the blob gone', async () => {
    // A 150-byte budget holds one 100-byte blob: writing b behind the cache's back evicts a.
    const { memory, store } = setup({ maxBytes: 150 });
    const a = await randomBlob(100);
    const b = await randomBlob(100);
    await putBuffer(store, a.digest, a.data);
    await putBuffer(memory, b.digest, b.data);
    assert.deepEqual(await store.findMissing([a.digest]), [], 'stale, within the ttl');

    await assert.rejects(store.get(a.digest), withCode(status.NOT_FOUND));
    assert.deepEqual(keys(await store.findMissing([a.digest])), [a.digest.key]);
  });

  it('holds at most maxEntries digests, forgetting the oldest first', async () => {
    const { memory, backend, store } = setup({ maxEntries: 2 });
    const blobs = await Promise.all([1, 2, 3].map((n) => randomBlob(n)));
    for (const blob of blobs) await putBuffer(memory, blob.digest, blob.data);
    for (const blob of blobs) await store.findMissing([blob.digest]);
    assert.equal(store.size, 2);

    const [first, second, third] = blobs.map((b) => b.digest);
    assert.ok(first && second && third);
    const calls = backend.findMissingCalls.length;
    await store.findMissing([second, third]);
    assert.equal(backend.findMissingCalls.length, calls, 'the two newest are cached');
    await store.findMissing([first]);
    assert.deepEqual(backend.findMissingCalls.at(-1), [first.key], 'the oldest was forgotten');
  });

  it('closes its backend', async () => {
    const { memory, store } = setup();
    const a = await randomBlob(10);
    await putBuffer(memory, a.digest, a.data);
    await store.close();
    assert.equal((await memory.stats()).blobs, 0);
  });

  it('rejects a non-positive ttl or entry budget', () => {
    const backend = new MemoryBlobStore({ maxBytes: MiB });
    assert.throws(
      () => new ExistenceCacheBlobStore({ backend, ttlMs: 0, maxEntries: 1 }),
      withCode(status.INVALID_ARGUMENT),
    );
    assert.throws(
      () => new ExistenceCacheBlobStore({ backend, ttlMs: 1, maxEntries: 0 }),
      withCode(status.INVALID_ARGUMENT),
    );
  });
});
