import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { digestOf, makeDigest } from '../../src/digest/digest.ts';
import { BLAKE3, SHA1, SHA256 } from '../../src/digest/digest-function.ts';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { runBlobStoreContract, withCode } from './blob-store-contract.ts';

runBlobStoreContract('VerifyingBlobStore over MemoryBlobStore', async () => ({
  store: new VerifyingBlobStore({ backend: new MemoryBlobStore({ maxBytes: 64 * 1024 * 1024 }) }),
  cleanup: async () => {},
}));

function stores() {
  const backend = new MemoryBlobStore({ maxBytes: 1024 * 1024 });
  return { backend, store: new VerifyingBlobStore({ backend }) };
}

describe('VerifyingBlobStore', () => {
  it('rejects content that does not match the hash, naming both hashes, and stores nothing', async () => {
    const { backend, store } = stores();
    const data = randomBytes(100);
    const actual = await digestOf(SHA256, data);
    const claimed = await digestOf(SHA256, randomBytes(100));
    await assert.rejects(putBuffer(store, claimed, data), (err: unknown) => {
      assert.ok(withCode(status.INVALID_ARGUMENT)(err), String(err));
      assert.match((err as Error).message, new RegExp(`expected sha256 ${claimed.hash}`));
      assert.match((err as Error).message, new RegExp(`computed ${actual.hash}`));
      return true;
    });
    assert.deepEqual(await backend.findMissing([claimed]), [claimed]);
    assert.equal((await backend.stats()).blobs, 0);
  });

  it('rejects a short upload at commit with INVALID_ARGUMENT', async () => {
    const { backend, store } = stores();
    const data = randomBytes(100);
    const digest = await digestOf(SHA256, data);
    await assert.rejects(putBuffer(store, digest, data.subarray(0, 99)), (err: unknown) => {
      assert.ok(withCode(status.INVALID_ARGUMENT)(err), String(err));
      assert.match((err as Error).message, /99 bytes.*declared size 100/);
      return true;
    });
    assert.equal((await backend.stats()).blobs, 0);
  });

  it('rejects a write past the declared size at once', async () => {
    const { backend, store } = stores();
    const data = randomBytes(100);
    const digest = await digestOf(SHA256, data);
    const writer = await store.put(digest);
    await writer.write(data.subarray(0, 60));
    await assert.rejects(writer.write(data.subarray(0, 41)), (err: unknown) => {
      assert.ok(withCode(status.INVALID_ARGUMENT)(err), String(err));
      assert.match((err as Error).message, /exceeds the declared size 100/);
      return true;
    });
    await assert.rejects(writer.commit());
    assert.equal((await backend.stats()).blobs, 0);
  });

  for (const fn of [BLAKE3, SHA1]) {
    it(`verifies ${fn.name.toUpperCase()} digests`, async () => {
      const { store } = stores();
      const data = randomBytes(70_000);
      const digest = await digestOf(fn, data);
      await putBuffer(store, digest, data);
      assert.deepEqual(await readAll(store, digest), data);
      const wrong = makeDigest(fn, digest.hash, data.length);
      const other = Buffer.from(data);
      other[0] = (other[0] ?? 0) ^ 1;
      const fresh = stores();
      await assert.rejects(putBuffer(fresh.store, wrong, other), withCode(status.INVALID_ARGUMENT));
      assert.equal((await fresh.backend.stats()).blobs, 0);
    });
  }

  it('accepts the empty blob', async () => {
    const { store } = stores();
    const digest = makeDigest(SHA256, SHA256.emptyHash, 0);
    await putBuffer(store, digest, Buffer.alloc(0));
    assert.deepEqual(await readAll(store, digest), Buffer.alloc(0));
  });
});
