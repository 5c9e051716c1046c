/**
 * A DiskBlobStore on a really full file system: a 2 MiB tmpfs mounted for the
 * test. Needs root (mount); without it the test fails under CI=true and is
 * skipped otherwise.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { status } from '@grpc/grpc-js';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { DiskBlobStore } from '../../src/storage/disk-blob-store.ts';
import { randomBlob, withCode } from './blob-store-contract.ts';

const run = promisify(execFile);

describe('DiskBlobStore on a full file system', () => {
  let mountPoint: string | undefined;
  let skipReason: string | undefined;

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-disk-full-'));
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir]);
      mountPoint = dir;
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      skipReason = `cannot mount a 2 MiB tmpfs (needs root): ${(err as Error).message.trim()}`;
    }
  });

  after(async () => {
    if (mountPoint === undefined) return;
    await run('umount', [mountPoint]);
    await rm(mountPoint, { recursive: true, force: true });
  });

  it('rejects a blob that does not fit with RESOURCE_EXHAUSTED, leaves nothing, and still takes small blobs', async (t) => {
    if (mountPoint === undefined) {
      // CI must exercise the real thing; a developer without root may skip it.
      if (process.env.CI) assert.fail(skipReason);
      return t.skip(skipReason);
    }
    const store = await DiskBlobStore.open({ path: mountPoint, maxBytes: 64 * 1024 * 1024 });
    try {
      const small = await randomBlob(300 * 1024);
      await putBuffer(store, small.digest, small.data);

      const big = await randomBlob(3 * 1024 * 1024);
      const writer = await store.put(big.digest);
      const failure = (async () => {
        for (let at = 0; at < big.data.length; at += 256 * 1024) {
          await writer.write(big.data.subarray(at, at + 256 * 1024));
        }
        await writer.commit();
      })();
      await assert.rejects(failure, (err: unknown) => {
        assert.ok(withCode(status.RESOURCE_EXHAUSTED)(err), String(err));
        assert.match((err as Error).message, /ENOSPC/);
        return true;
      });
      await writer.abort();
      assert.deepEqual(await store.findMissing([big.digest]), [big.digest]);
      await assert.rejects(store.get(big.digest), withCode(status.NOT_FOUND));
      assert.deepEqual(await readdir(join(mountPoint, 'tmp')), [], 'the partial upload is removed');

      const after = await randomBlob(200 * 1024);
      await putBuffer(store, after.digest, after.data);
      assert.deepEqual(await readAll(store, after.digest), after.data);
      assert.deepEqual(await readAll(store, small.digest), small.data);
      assert.equal((await store.stats()).bytes, 500 * 1024);
    } finally {
      await store.close();
    }
  });

  it('rejects small blobs with RESOURCE_EXHAUSTED once the file system is full, and leaves nothing', async (t) => {
    if (mountPoint === undefined) {
      if (process.env.CI) assert.fail(skipReason);
      return t.skip(skipReason);
    }
    const store = await DiskBlobStore.open({ path: mountPoint, maxBytes: 64 * 1024 * 1024 });
    try {
      const kept: Awaited<ReturnType<typeof randomBlob>>[] = [];
      let failure: unknown;
      // The 2 MiB file system fills within 40 blobs of 48 KiB.
      for (let i = 0; i < 80 && failure === undefined; i++) {
        const blob = await randomBlob(48 * 1024);
        try {
          await putBuffer(store, blob.digest, blob.data);
          kept.push(blob);
        } catch (err) {
          failure = err;
          assert.deepEqual(await store.findMissing([blob.digest]), [blob.digest]);
        }
      }
      assert.ok(withCode(status.RESOURCE_EXHAUSTED)(failure), String(failure));
      assert.deepEqual(await readdir(join(mountPoint, 'tmp')), [], 'no temporary file is left');
      for (const blob of kept) assert.deepEqual(await readAll(store, blob.digest), blob.data);
    } finally {
      await store.close();
    }
  });
});
