/**
 * Opening a disk store writes nothing to the device: whether its file system
 * takes O_DIRECT is probed by the first upload large enough to use it, so
 * that a restarted server listens without waiting for a device write per
 * store.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { directIoProbeCount } from '../../src/storage/direct-file-sink.ts';
import { DIRECT_MIN_BYTES, DiskBlobStore } from '../../src/storage/disk-blob-store.ts';
import { randomBlob } from './blob-store-contract.ts';
import { LARGE } from './disk-store-fixture.ts';

// In the repository, not os.tmpdir(), which may be a tmpfs without O_DIRECT
// (see direct-file-sink.test.ts).
const SCRATCH_ROOT = join(import.meta.dirname, '..', '..', 'test-artifacts', 'direct-io');

describe('the O_DIRECT probe of a disk store', () => {
  let root: string;
  before(async () => {
    await mkdir(SCRATCH_ROOT, { recursive: true });
    root = await mkdtemp(join(SCRATCH_ROOT, 'probe-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('does not run when the store opens, nor for uploads too small for O_DIRECT', async () => {
    const before = directIoProbeCount();
    const store = await DiskBlobStore.open({
      path: join(root, 'small'),
      maxBytes: 64 * 1024 * 1024,
      directIo: true,
    });
    try {
      assert.equal(directIoProbeCount(), before, 'opening probed O_DIRECT');
      for (const size of [100, LARGE, DIRECT_MIN_BYTES - 1]) {
        const { digest, data } = await randomBlob(size);
        await putBuffer(store, digest, data);
      }
      assert.equal(directIoProbeCount(), before, 'an upload below the O_DIRECT size probed');
    } finally {
      await store.close();
    }
  });

  it('runs at the first large upload, which is written with O_DIRECT', async () => {
    const store = await DiskBlobStore.open({
      path: join(root, 'large'),
      maxBytes: 64 * 1024 * 1024,
      directIo: true,
    });
    try {
      const before = directIoProbeCount();
      const { digest, data } = await randomBlob(DIRECT_MIN_BYTES + 4096);
      await putBuffer(store, digest, data);
      // Two staging buffers, each found by a probe.
      assert.equal(directIoProbeCount(), before + 2);
      assert.equal(store.directIo, true, 'the repository file system should take O_DIRECT');
      assert.deepEqual(await readAll(store, digest), data);
      // The buffers are reused: the next upload probes nothing.
      const next = await randomBlob(DIRECT_MIN_BYTES + 8192);
      await putBuffer(store, next.digest, next.data);
      assert.equal(directIoProbeCount(), before + 2);
    } finally {
      await store.close();
    }
  });
});
