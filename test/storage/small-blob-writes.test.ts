import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import {
  DiskBlobStore,
  type DiskBlobStoreOptions,
  SMALL_BLOB_BYTES,
} from '../../src/storage/disk-blob-store.ts';
import { randomBlob, withCode } from './blob-store-contract.ts';

/** Small blobs are buffered and written whole by the file writer thread. */
describe('DiskBlobStore small-blob writes', () => {
  let path: string;
  const stores: DiskBlobStore[] = [];
  const open = async (options: Partial<DiskBlobStoreOptions> = {}) => {
    const store = await DiskBlobStore.open({ path, maxBytes: 1024 * 1024, ...options });
    stores.push(store);
    return store;
  };
  beforeEach(async () => {
    path = await mkdtemp(join(tmpdir(), 'kiln-small-'));
  });
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    await rm(path, { recursive: true, force: true });
  });

  it('stores many small blobs written at once, each whole, and finds them after a reopen', async () => {
    const store = await open();
    const blobs = await Promise.all(Array.from({ length: 200 }, (_, i) => randomBlob(i * 37)));
    await Promise.all(blobs.map(({ data, digest }) => putBuffer(store, digest, data)));
    for (const { data, digest } of blobs) assert.deepEqual(await readAll(store, digest), data);
    await store.close();
    stores.length = 0;
    const again = await open();
    assert.equal((await again.stats()).blobs, 200);
    for (const { data, digest } of blobs) assert.deepEqual(await readAll(again, digest), data);
    assert.deepEqual(await readdir(join(path, 'tmp')), []);
  });

  it('keeps an upload invisible until commit, and nothing of an aborted one', async () => {
    const store = await open();
    const blob = await randomBlob(1000);
    const writer = await store.put(blob.digest);
    await writer.write(blob.data.subarray(0, 500));
    assert.deepEqual(await store.findMissing([blob.digest]), [blob.digest]);
    await writer.abort();
    await assert.rejects(writer.commit(), withCode(status.FAILED_PRECONDITION));
    assert.deepEqual(await store.findMissing([blob.digest]), [blob.digest]);
    assert.deepEqual(await readdir(join(path, 'tmp')), []);
  });

  it('rejects more bytes than the digest declares as soon as they arrive', async () => {
    const store = await open();
    const blob = await randomBlob(100);
    const writer = await store.put(blob.digest);
    await assert.rejects(
      writer.write(Buffer.concat([blob.data, Buffer.from('x')])),
      withCode(status.INVALID_ARGUMENT),
    );
    assert.deepEqual(await store.findMissing([blob.digest]), [blob.digest]);
  });

  it('moves a value of unknown length that outgrows memory to a file', async () => {
    const store = await open({ contentAddressed: false, maxBytes: 4 * SMALL_BLOB_BYTES });
    const key = await randomBlob(10);
    const value = (await randomBlob(SMALL_BLOB_BYTES + 4096)).data;
    const writer = await store.put(key.digest);
    for (let at = 0; at < value.length; at += 10_000) {
      await writer.write(value.subarray(at, at + 10_000));
    }
    assert.equal(writer.written, value.length);
    await writer.commit();
    assert.deepEqual(await readAll(store, key.digest), value);
  });

  it('fails a commit the thread cannot write with the file system error, and loses nothing else', async () => {
    const store = await open();
    const kept = await randomBlob(10);
    await putBuffer(store, kept.digest, kept.data);
    // The temporary directory vanishing makes creating the temporary file fail.
    await rm(join(path, 'tmp'), { recursive: true });
    const lost = await randomBlob(20);
    await assert.rejects(putBuffer(store, lost.digest, lost.data), /disk store: writing blob/);
    assert.deepEqual(await store.findMissing([lost.digest, kept.digest]), [lost.digest]);
    assert.deepEqual(await readAll(store, kept.digest), kept.data);
  });
});
