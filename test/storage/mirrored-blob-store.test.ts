import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { Digest } from '../../src/digest/digest.ts';
import { unavailable } from '../../src/errors.ts';
import { type BlobStore, putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { MirroredBlobStore } from '../../src/storage/mirrored-blob-store.ts';
import { randomBlob, readChunks, runBlobStoreContract, withCode } from './blob-store-contract.ts';
import { childStores } from './composite-fixtures.ts';

const MiB = 1024 * 1024;

runBlobStoreContract('MirroredBlobStore (memory and memory)', async () => ({
  store: new MirroredBlobStore({
    a: new MemoryBlobStore({ maxBytes: 64 * MiB }),
    b: new MemoryBlobStore({ maxBytes: 64 * MiB }),
  }),
  cleanup: async () => {},
}));

runBlobStoreContract('MirroredBlobStore (disk and memory)', async () => {
  const children = childStores();
  return {
    store: new MirroredBlobStore({ a: await children.disk(), b: children.memory() }),
    cleanup: children.cleanup,
  };
});

/**
 * A real store that can be switched off: while down, every operation fails
 * with UNAVAILABLE, as a store on a lost machine would.
 */
class SwitchableStore implements BlobStore {
  readonly inner = new MemoryBlobStore({ maxBytes: 64 * MiB });
  down = false;
  get(digest: Digest, range?: { offset?: number; limit?: number }) {
    return this.#check().then(() => this.inner.get(digest, range));
  }
  put(digest: Digest) {
    return this.#check().then(() => this.inner.put(digest));
  }
  findMissing(digests: readonly Digest[]) {
    return this.#check().then(() => this.inner.findMissing(digests));
  }
  close() {
    return this.inner.close();
  }
  async #check(): Promise<void> {
    if (this.down) throw unavailable('side is down');
  }
}

describe('MirroredBlobStore', () => {
  it('writes every blob to both sides', async () => {
    const a = new MemoryBlobStore({ maxBytes: MiB });
    const b = new MemoryBlobStore({ maxBytes: MiB });
    const mirror = new MirroredBlobStore({ a, b });
    const { data, digest } = await randomBlob(1000);
    await putBuffer(mirror, digest, data);
    assert.deepEqual(await readAll(a, digest), data);
    assert.deepEqual(await readAll(b, digest), data);
  });

  it('a read that finds the blob only on b serves it and copies it to a', async () => {
    const a = new MemoryBlobStore({ maxBytes: 8 * MiB });
    const b = new MemoryBlobStore({ maxBytes: 8 * MiB });
    const mirror = new MirroredBlobStore({ a, b });
    const { data, digest } = await randomBlob(2 * MiB);
    await putBuffer(b, digest, data);
    assert.deepEqual(await readAll(mirror, digest), data);
    await mirror.idle();
    assert.deepEqual(await readAll(a, digest), data);
    assert.deepEqual(mirror.repairs(), { toA: 1, toB: 0, failed: 0 });
  });

  it('a ranged read from b serves the range and repairs the whole blob on a', async () => {
    const a = new MemoryBlobStore({ maxBytes: 8 * MiB });
    const b = new MemoryBlobStore({ maxBytes: 8 * MiB });
    const mirror = new MirroredBlobStore({ a, b });
    const { data, digest } = await randomBlob(100_000);
    await putBuffer(b, digest, data);
    const got = Buffer.concat(await readChunks(mirror, digest, { offset: 10, limit: 20 }));
    assert.deepEqual(got, data.subarray(10, 30));
    await mirror.idle();
    assert.deepEqual(await readAll(a, digest), data);
  });

  it('findMissing reports missing only what both sides lack, and first copies one-sided blobs over', async () => {
    const a = new MemoryBlobStore({ maxBytes: 8 * MiB });
    const b = new MemoryBlobStore({ maxBytes: 8 * MiB });
    const mirror = new MirroredBlobStore({ a, b });
    const [onlyA, onlyB, both, neither] = await Promise.all(
      [300, 400, 500, 600].map((n) => randomBlob(n)),
    );
    assert.ok(onlyA && onlyB && both && neither);
    await putBuffer(a, onlyA.digest, onlyA.data);
    await putBuffer(b, onlyB.digest, onlyB.data);
    await putBuffer(mirror, both.digest, both.data);
    const missing = await mirror.findMissing([
      onlyA.digest,
      onlyB.digest,
      both.digest,
      neither.digest,
    ]);
    assert.deepEqual(
      missing.map((d) => d.key),
      [neither.digest.key],
    );
    // The answer came after the repairs: both sides hold both one-sided blobs now.
    assert.deepEqual(await readAll(b, onlyA.digest), onlyA.data);
    assert.deepEqual(await readAll(a, onlyB.digest), onlyB.data);
    assert.deepEqual(mirror.repairs(), { toA: 1, toB: 1, failed: 0 });
  });

  it('a mirror with a wiped side fills it again from use (disk sides)', async () => {
    const children = childStores();
    const diskA = await children.disk();
    const diskB = await children.disk();
    const mirror = new MirroredBlobStore({ a: diskA, b: diskB });
    try {
      const blobs = await Promise.all(Array.from({ length: 20 }, () => randomBlob(5000)));
      const digests = blobs.map((b) => b.digest);
      for (const blob of blobs) await putBuffer(diskB, blob.digest, blob.data);
      assert.equal((await diskA.findMissing(digests)).length, 20);
      assert.deepEqual(await mirror.findMissing(digests), []);
      assert.deepEqual(await diskA.findMissing(digests), []);
      assert.equal(mirror.repairs().toA, 20);
    } finally {
      await mirror.close();
      await children.cleanup();
    }
  });

  it('a write that fails on one side is reported, naming the side', async () => {
    const a = new MemoryBlobStore({ maxBytes: MiB });
    const b = new SwitchableStore();
    const mirror = new MirroredBlobStore({ a, b });
    const { data, digest } = await randomBlob(1000);
    b.down = true;
    await assert.rejects(putBuffer(mirror, digest, data), (err: unknown) => {
      assert.ok(withCode(status.UNAVAILABLE)(err), String(err));
      assert.match((err as Error).message, /failed on side b/);
      return true;
    });
    // A side that fails while the bytes are written: the upload fails, naming it, and a keeps nothing.
    const tooSmall = new MirroredBlobStore({ a, b: new MemoryBlobStore({ maxBytes: 100 }) });
    await assert.rejects(putBuffer(tooSmall, digest, data), /failed on side b/);
    assert.deepEqual(await a.findMissing([digest]), [digest]);
  });

  it('a read that a fails part-way continues from b at the first byte not delivered', async () => {
    const memoryA = new MemoryBlobStore({ maxBytes: 8 * MiB });
    const b = new MemoryBlobStore({ maxBytes: 8 * MiB });
    const { data, digest } = await randomBlob(100_000);
    await putBuffer(memoryA, digest, data);
    await putBuffer(b, digest, data);
    // a delivers 30,000 bytes, then its disk fails.
    const a: BlobStore = {
      get: async (d, range) => {
        const inner = await memoryA.get(d, range);
        return (async function* () {
          let sent = 0;
          for await (const chunk of inner) {
            const part = chunk.subarray(0, Math.max(0, 30_000 - sent));
            sent += part.byteLength;
            if (part.byteLength > 0) yield part;
            if (sent >= 30_000) throw unavailable('disk failed');
          }
        })();
      },
      put: (d) => memoryA.put(d),
      findMissing: (ds) => memoryA.findMissing(ds),
      close: () => memoryA.close(),
    };
    const mirror = new MirroredBlobStore({ a, b });
    assert.deepEqual(await readAll(mirror, digest), data);
    const ranged = Buffer.concat(
      await readChunks(mirror, digest, { offset: 10_000, limit: 50_000 }),
    );
    assert.deepEqual(ranged, data.subarray(10_000, 60_000));
  });

  it('reads fall back to b while a is down, and NOT_FOUND only when both lack the blob', async () => {
    const a = new SwitchableStore();
    const b = new MemoryBlobStore({ maxBytes: MiB });
    const mirror = new MirroredBlobStore({ a, b });
    const { data, digest } = await randomBlob(1000);
    const absent = await randomBlob(10);
    await putBuffer(b, digest, data);
    a.down = true;
    assert.deepEqual(await readAll(mirror, digest), data);
    // a cannot say whether it holds the absent blob: not NOT_FOUND.
    await assert.rejects(mirror.get(absent.digest), withCode(status.UNAVAILABLE));
    // findMissing answers from the side that works.
    assert.deepEqual(
      (await mirror.findMissing([digest, absent.digest])).map((d) => d.key),
      [absent.digest.key],
    );
    a.down = false;
    await assert.rejects(mirror.get(absent.digest), withCode(status.NOT_FOUND));
  });
});
