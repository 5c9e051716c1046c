/**
 * The disk store's temporary upload files: open only while bytes flow, and
 * only so many at once.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import { makeDigest } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { BlobFileUploads, DIRECT_MIN_BYTES } from '../../src/storage/blob-file-uploads.ts';
import type { BlobWriter } from '../../src/storage/blob-store.ts';
import { randomBlob } from '../support/blobs.ts';

const MiB = 1024 * 1024;

describe('temporary upload files of the disk store', () => {
  let dir: string;
  /** What each upload's `install` found in its temporary file, by blob hash. */
  let installed: Map<string, Buffer>;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-upload-files-'));
    installed = new Map();
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const open = (options: { maxOpenFiles?: number; idleCloseMs?: number; directIo?: boolean }) =>
    BlobFileUploads.open({ tmpDir: join(dir, 'tmp'), fsync: false, directIo: false, ...options });

  function start(files: BlobFileUploads, data: Buffer): Promise<BlobWriter> {
    const hash = createHash('sha256').update(data).digest('hex');
    return files.create({
      digest: makeDigest(SHA256, hash, data.byteLength),
      maxBytes: 1024 * MiB,
      expectedSize: data.byteLength,
      install: async (tmp) => {
        installed.set(hash, await readFile(tmp));
      },
    });
  }

  function installedContent(data: Buffer): Buffer | undefined {
    return installed.get(createHash('sha256').update(data).digest('hex'));
  }

  it('closes the least recently used idle file to open another, and reopens it on its next write', async () => {
    const files = await open({ maxOpenFiles: 2 });
    const blobs = [randomBlob(300_000), randomBlob(300_000), randomBlob(300_000)];
    const [a, b] = [await start(files, blobs[0] as Buffer), await start(files, blobs[1] as Buffer)];
    await a.write((blobs[0] as Buffer).subarray(0, 100_000));
    await b.write((blobs[1] as Buffer).subarray(0, 100_000));
    await sleep(20); // Let the writes behind finish, so that both files are idle.
    const c = await start(files, blobs[2] as Buffer);
    assert.equal(files.openFiles, 2, 'opening a third file closed one');
    // `a`, the least recently used, was closed: its next write reopens it in place of `b`.
    await a.write((blobs[0] as Buffer).subarray(100_000));
    await c.write(blobs[2] as Buffer);
    await sleep(20);
    await b.write((blobs[1] as Buffer).subarray(100_000));
    assert.ok(files.openFiles <= 2);
    for (const writer of [a, b, c]) await writer.commit();
    for (const data of blobs) assert.deepEqual(installedContent(data), data);
    assert.equal(files.openFiles, 0);
  });

  it('refuses a new upload with RESOURCE_EXHAUSTED while every open file is being written', async () => {
    const files = await open({ maxOpenFiles: 2 });
    const blobs = [randomBlob(8 * MiB), randomBlob(8 * MiB)];
    const writers = [
      await start(files, blobs[0] as Buffer),
      await start(files, blobs[1] as Buffer),
    ];
    // Past the write-behind limit, so neither write resolves before its file write.
    const writing = writers.map((w, i) => w.write(blobs[i] as Buffer));
    await assert.rejects(start(files, randomBlob(100_000)), (err: Error & { code?: number }) => {
      assert.equal(err.code, status.RESOURCE_EXHAUSTED);
      assert.match(err.message, /too many uploads writing at once: all 2 temporary upload files/);
      return true;
    });
    await Promise.all(writing);
    for (const writer of writers) await writer.commit();
    for (const data of blobs) assert.deepEqual(installedContent(data), data);
  });

  it('closes a file left idle and reopens it when the upload resumes', async () => {
    const files = await open({ idleCloseMs: 50, directIo: true });
    // Large enough for O_DIRECT where the file system takes it, and stopped mid-block.
    const data = randomBlob(DIRECT_MIN_BYTES + MiB + 4321);
    const cut = DIRECT_MIN_BYTES + 17;
    const writer = await start(files, data);
    await writer.write(data.subarray(0, cut));
    assert.equal(files.openFiles, 1);
    assert.ok(await waitFor(() => files.openFiles === 0), 'the idle file was closed');
    await writer.write(data.subarray(cut));
    assert.equal(writer.written, data.byteLength);
    await writer.commit();
    assert.deepEqual(installedContent(data), data);
    assert.equal(files.openFiles, 0);
  });

  it('discards an upload whose file was closed for being idle', async () => {
    const files = await open({ idleCloseMs: 50 });
    const data = randomBlob(200_000);
    const writer = await start(files, data);
    await writer.write(data.subarray(0, 1000));
    assert.ok(await waitFor(() => files.openFiles === 0));
    await writer.abort();
    await assert.rejects(writer.write(data), { code: status.FAILED_PRECONDITION });
    assert.equal(files.openFiles, 0);
  });

  it('answers every abort only once the temporary file is gone', async () => {
    const files = await open({});
    const data = randomBlob(200_000);
    const writer = await start(files, data);
    await writer.write(data.subarray(0, 100_000));
    const first = writer.abort();
    await writer.abort();
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
    await first;
  });
});

async function waitFor(check: () => boolean, ms = 2000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}
