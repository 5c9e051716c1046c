import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { Digest } from '../../src/digest/digest.ts';
import { unavailable } from '../../src/errors.ts';
import {
  type BlobStore,
  type BlobWriter,
  hasBlob,
  putBuffer,
  type ReadRange,
  readAll,
} from '../../src/storage/blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { ReadCachingBlobStore } from '../../src/storage/read-caching-blob-store.ts';
import { randomBlob, readChunks, runBlobStoreContract, withCode } from './blob-store-contract.ts';

const MiB = 1024 * 1024;
const memory = () => new MemoryBlobStore({ maxBytes: 64 * MiB });

runBlobStoreContract('ReadCachingBlobStore over two MemoryBlobStores', async () => ({
  store: new ReadCachingBlobStore({ fast: memory(), slow: memory() }),
  cleanup: async () => {},
}));

/** A store whose every operation fails, like a fast tier on a dead disk. */
class BrokenBlobStore implements BlobStore {
  async get(): Promise<AsyncIterable<Uint8Array>> {
    throw unavailable('fast tier is broken');
  }
  async put(): Promise<BlobWriter> {
    throw unavailable('fast tier is broken');
  }
  async findMissing(): Promise<Digest[]> {
    throw unavailable('fast tier is broken');
  }
  async close(): Promise<void> {}
}

runBlobStoreContract('ReadCachingBlobStore with a broken fast store', async () => ({
  store: new ReadCachingBlobStore({ fast: new BrokenBlobStore(), slow: memory() }),
  cleanup: async () => {},
}));

/** Wraps a store, optionally failing chosen operations, and counts findMissing calls. */
class FaultyBlobStore implements BlobStore {
  readonly inner: BlobStore;
  failWrites = false;
  failCommits = false;
  /** Fail reads after delivering this many chunks. */
  failReadsAfterChunks: number | undefined;
  readonly findMissingCalls: string[][] = [];

  constructor(inner: BlobStore) {
    this.inner = inner;
  }
  async get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    const stream = await this.inner.get(digest, range);
    const limit = this.failReadsAfterChunks;
    if (limit === undefined) return stream;
    return (async function* () {
      let n = 0;
      for await (const chunk of stream) {
        if (n++ === limit) throw unavailable('read failed part-way');
        yield chunk;
      }
    })();
  }
  async put(digest: Digest): Promise<BlobWriter> {
    const inner = await this.inner.put(digest);
    return {
      write: (chunk) =>
        this.failWrites ? Promise.reject(unavailable('write failed')) : inner.write(chunk),
      commit: () =>
        this.failCommits ? Promise.reject(unavailable('commit failed')) : inner.commit(),
      abort: () => inner.abort(),
      get written() {
        return inner.written;
      },
    };
  }
  findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    this.findMissingCalls.push(digests.map((d) => d.key));
    return this.inner.findMissing(digests);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

function setup() {
  const fastMemory = memory();
  const slowMemory = memory();
  const fast = new FaultyBlobStore(fastMemory);
  const slow = new FaultyBlobStore(slowMemory);
  return { fastMemory, slowMemory, fast, slow, store: new ReadCachingBlobStore({ fast, slow }) };
}

describe('ReadCachingBlobStore', () => {
  it('copies a blob read from slow into fast', async () => {
    const { fastMemory, slowMemory, store } = setup();
    const { data, digest } = await randomBlob(3 * MiB);
    await putBuffer(slowMemory, digest, data);

    assert.deepEqual(await readAll(store, digest), data);
    assert.ok(await hasBlob(fastMemory, digest));
    assert.deepEqual(await readAll(fastMemory, digest), data);
  });

  it('serves a blob from fast without touching slow', async () => {
    const { fastMemory, store } = setup();
    const { data, digest } = await randomBlob(100);
    await putBuffer(fastMemory, digest, data);
    assert.deepEqual(await readAll(store, digest), data);
  });

  it('does not copy a range read into fast', async () => {
    const { fastMemory, slowMemory, store } = setup();
    const { data, digest } = await randomBlob(1000);
    await putBuffer(slowMemory, digest, data);
    const got = Buffer.concat(await readChunks(store, digest, { offset: 10, limit: 20 }));
    assert.deepEqual(got, data.subarray(10, 30));
    assert.equal(await hasBlob(fastMemory, digest), false);
  });

  it('leaves nothing in fast when the reader stops part-way', async () => {
    const { fastMemory, slowMemory, store } = setup();
    const { data, digest } = await randomBlob(3 * MiB);
    await putBuffer(slowMemory, digest, data);
    for await (const chunk of await store.get(digest)) {
      assert.ok(chunk.byteLength > 0);
      break;
    }
    assert.equal(await hasBlob(fastMemory, digest), false);
  });

  it('still serves a read when writing the copy into fast fails', async () => {
    const { fast, fastMemory, slowMemory, store } = setup();
    const { data, digest } = await randomBlob(3 * MiB);
    await putBuffer(slowMemory, digest, data);
    fast.failWrites = true;
    assert.deepEqual(await readAll(store, digest), data);
    assert.equal(await hasBlob(fastMemory, digest), false);
  });

  it('still serves a read when committing the copy into fast fails', async () => {
    const { fast, slowMemory, store } = setup();
    const { data, digest } = await randomBlob(1000);
    await putBuffer(slowMemory, digest, data);
    fast.failCommits = true;
    assert.deepEqual(await readAll(store, digest), data);
  });

  it('continues from slow when a fast read fails part-way', async () => {
    const { fast, fastMemory, slowMemory, store } = setup();
    const { data, digest } = await randomBlob(3 * MiB);
    await putBuffer(fastMemory, digest, data);
    await putBuffer(slowMemory, digest, data);
    fast.failReadsAfterChunks = 1;
    assert.deepEqual(await readAll(store, digest), data);
    const range = { offset: 100, limit: 2 * MiB };
    const got = Buffer.concat(await readChunks(store, digest, range));
    assert.deepEqual(got, data.subarray(100, 100 + 2 * MiB));
  });

  it('writes land in both stores', async () => {
    const { fastMemory, slowMemory, store } = setup();
    const { data, digest } = await randomBlob(1000);
    await putBuffer(store, digest, data);
    assert.deepEqual(await readAll(slowMemory, digest), data);
    assert.deepEqual(await readAll(fastMemory, digest), data);
  });

  it('a write succeeds in slow when fast fails', async () => {
    const { fast, fastMemory, slowMemory, store } = setup();
    const { data, digest } = await randomBlob(1000);
    fast.failWrites = true;
    await putBuffer(store, digest, data);
    assert.deepEqual(await readAll(slowMemory, digest), data);
    assert.equal(await hasBlob(fastMemory, digest), false);
  });

  it('a write that slow rejects fails and leaves fast empty', async () => {
    const { slow, fastMemory, slowMemory, store } = setup();
    const { data, digest } = await randomBlob(1000);
    slow.failCommits = true;
    await assert.rejects(putBuffer(store, digest, data), withCode(status.UNAVAILABLE));
    assert.equal(await hasBlob(fastMemory, digest), false);
    assert.equal(await hasBlob(slowMemory, digest), false);
  });

  it('asks slow only about the digests fast lacks', async () => {
    const { slow, fastMemory, slowMemory, store } = setup();
    const inFast = await randomBlob(10);
    const inSlow = await randomBlob(11);
    const nowhere = await randomBlob(12);
    await putBuffer(fastMemory, inFast.digest, inFast.data);
    await putBuffer(slowMemory, inSlow.digest, inSlow.data);

    const missing = await store.findMissing([inFast.digest, inSlow.digest, nowhere.digest]);
    assert.deepEqual(
      missing.map((d) => d.key),
      [nowhere.digest.key],
    );
    assert.deepEqual(slow.findMissingCalls, [[inSlow.digest.key, nowhere.digest.key]]);

    await store.findMissing([inFast.digest]);
    assert.equal(slow.findMissingCalls.length, 1, 'slow is not asked when fast has everything');
  });

  it('an offset past the end is OUT_OF_RANGE, from either tier', async () => {
    const { fastMemory, slowMemory, store } = setup();
    const a = await randomBlob(10);
    const b = await randomBlob(10);
    await putBuffer(fastMemory, a.digest, a.data);
    await putBuffer(slowMemory, b.digest, b.data);
    await assert.rejects(store.get(a.digest, { offset: 11 }), withCode(status.OUT_OF_RANGE));
    await assert.rejects(store.get(b.digest, { offset: 11 }), withCode(status.OUT_OF_RANGE));
  });

  it('closes both stores', async () => {
    const { fastMemory, slowMemory, store } = setup();
    const { data, digest } = await randomBlob(10);
    await putBuffer(store, digest, data);
    await store.close();
    assert.equal((await fastMemory.stats()).blobs, 0);
    assert.equal((await slowMemory.stats()).blobs, 0);
  });
});
