import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readAll } from '../../src/storage/blob-store.ts';
import {
  AlignedBufferPool,
  DIRECT_CHUNK_BYTES,
  DirectFileSink,
} from '../../src/storage/direct-file-sink.ts';
import { DIRECT_MIN_BYTES, DiskBlobStore } from '../../src/storage/disk-blob-store.ts';
import { randomBlob } from './blob-store-contract.ts';

// The scratch directory lives in the repository, not os.tmpdir(): /tmp is
// tmpfs on many machines, and older kernels' tmpfs refuses O_DIRECT, which
// would turn these tests of the O_DIRECT path into tests of the fallback.
const SCRATCH_ROOT = join(import.meta.dirname, '..', '..', 'test-artifacts', 'direct-io');

let root: string;
before(async () => {
  await mkdir(SCRATCH_ROOT, { recursive: true });
  root = await mkdtemp(join(SCRATCH_ROOT, 'run-'));
});
after(() => rm(root, { recursive: true, force: true }));

/** Splits `data` into chunks of varying sizes that straddle the staging buffers. */
function* oddChunks(data: Buffer): Generator<Buffer> {
  const sizes = [1, 4095, 65_536, DIRECT_CHUNK_BYTES + 17, 300_001];
  for (let at = 0, i = 0; at < data.byteLength; i++) {
    const n = Math.min(sizes[i % sizes.length] as number, data.byteLength - at);
    yield data.subarray(at, at + n);
    at += n;
  }
}

describe('AlignedBufferPool', () => {
  it('finds aligned buffers on a filesystem that takes O_DIRECT and reuses released ones', () => {
    const pool = AlignedBufferPool.open({ dir: root, maxBuffers: 2 });
    assert.ok(pool, 'the repository filesystem should accept O_DIRECT writes');
    const a = pool.acquire();
    const b = pool.acquire();
    assert.equal(a?.byteLength, DIRECT_CHUNK_BYTES);
    assert.equal(b?.byteLength, DIRECT_CHUNK_BYTES);
    assert.equal(pool.acquire(), undefined, 'the pool stops at maxBuffers');
    pool.release(a as Buffer);
    assert.equal(pool.acquire(), a);
  });
});

describe('DirectFileSink', () => {
  it('writes odd-sized chunks exactly, padding and then truncating the tail', async () => {
    const pool = AlignedBufferPool.open({ dir: root }) as AlignedBufferPool;
    const data = randomBytes(3 * DIRECT_CHUNK_BYTES + 12_345);
    const file = join(root, 'sink-file');
    const { constants } = await import('node:fs');
    const handle = await open(
      file,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT,
    );
    const sink = new DirectFileSink({
      handle,
      pool,
      buffers: [pool.acquire() as Buffer, pool.acquire() as Buffer],
    });
    for (const chunk of oddChunks(data)) await sink.write(chunk);
    await sink.finish(data.byteLength);
    await handle.close();
    assert.ok((await readFile(file)).equals(data));
  });
});

describe('DiskBlobStore with O_DIRECT', () => {
  it('stores large blobs byte for byte and serves them', async () => {
    const store = await DiskBlobStore.open({ path: join(root, 'store'), maxBytes: 1 << 30 });
    try {
      assert.equal(store.directIo, true);
      for (const size of [DIRECT_MIN_BYTES, DIRECT_MIN_BYTES + 1, 5 * DIRECT_CHUNK_BYTES + 511]) {
        const { data, digest } = await randomBlob(size);
        const writer = await store.put(digest);
        for (const chunk of oddChunks(data)) await writer.write(chunk);
        await writer.commit();
        assert.ok((await readAll(store, digest)).equals(data), `blob of ${size} bytes`);
      }
    } finally {
      await store.close();
    }
  });

  it('leaves nothing behind when a large upload is aborted or has the wrong length', async () => {
    const path = join(root, 'store-abort');
    const store = await DiskBlobStore.open({ path, maxBytes: 1 << 30 });
    try {
      const { data, digest } = await randomBlob(DIRECT_MIN_BYTES + 100);
      const aborted = await store.put(digest);
      await aborted.write(data.subarray(0, DIRECT_CHUNK_BYTES + 5));
      await aborted.abort();
      const short = await store.put(digest);
      await short.write(data.subarray(0, data.byteLength - 1));
      await assert.rejects(short.commit(), /declares/);
      assert.deepEqual(await store.findMissing([digest]), [digest]);
      assert.deepEqual(await readdir(join(path, 'tmp')), []);
      // The staging buffers went back to the pool: a later upload still works.
      const writer = await store.put(digest);
      await writer.write(data);
      await writer.commit();
      assert.equal(
        (
          await stat(
            join(path, 'blobs', 'sha256', digest.hash.slice(0, 2), `${digest.hash}_${digest.size}`),
          )
        ).size,
        data.byteLength,
      );
    } finally {
      await store.close();
    }
  });

  it('can be turned off', async () => {
    const store = await DiskBlobStore.open({
      path: join(root, 'store-off'),
      maxBytes: 1 << 30,
      directIo: false,
    });
    try {
      assert.equal(store.directIo, false);
    } finally {
      await store.close();
    }
  });
});
