/**
 * ByteStream.Write to `compressed-blobs/zstd` resource names: data that is
 * not zstd, bombs, and short output are answered at once, and the upload is
 * discarded so that a retry can start over.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { zstdCompressSync } from 'node:zlib';
import { Metadata, status } from '@grpc/grpc-js';
import type { WriteRequest } from '../../src/gen/google/bytestream/bytestream.js';
import { DiskBlobStore } from '../../src/storage/disk-blob-store.ts';
import { randomBlob, sha256Digest, textBlob } from '../support/blobs.ts';
import { call } from '../support/grpc-clients.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { zerosDigest, zstdZeros } from '../support/zstd-frames.ts';

const MiB = 1024 * 1024;

/** What a failing Write should be answered with well before this. */
const DEADLINE_MS = 5000;

describe('ByteStream zstd upload bounds', () => {
  let t: TestServer;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-zstd-upload-'));
    const casBackend = await DiskBlobStore.open({ path: dir, maxBytes: 1024 * MiB });
    t = await startTestServer({ casBackend });
  });
  after(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const zstdName = (digest: { hash: string; sizeBytes: number }) =>
    `uploads/${randomUUID()}/compressed-blobs/zstd/${digest.hash}/${digest.sizeBytes}`;

  /** One Write stream of `requests`, with a deadline; resolves with the response or rejects with the status. */
  function write(requests: Partial<WriteRequest>[]): Promise<{ committedSize: number }> {
    return new Promise((resolve, reject) => {
      const stream = t.clients.byteStream.write(
        new Metadata(),
        { deadline: Date.now() + DEADLINE_MS },
        (err, res) => (err ? reject(err) : resolve(res as { committedSize: number })),
      );
      for (const r of requests) {
        stream.write({
          resourceName: '',
          writeOffset: 0,
          finishWrite: false,
          data: Buffer.alloc(0),
          ...r,
        });
      }
      stream.end();
    });
  }

  /** Writes `data` in chunks of `chunk` bytes, finishing at the end. */
  function writeAll(name: string, data: Buffer, chunk = 64 * 1024) {
    const requests: Partial<WriteRequest>[] = [];
    for (let at = 0; at < data.byteLength; at += chunk) {
      const end = Math.min(data.byteLength, at + chunk);
      requests.push({
        resourceName: at === 0 ? name : '',
        writeOffset: at,
        data: data.subarray(at, end),
        finishWrite: end === data.byteLength,
      });
    }
    return write(requests);
  }

  /** Times a Write that must fail with INVALID_ARGUMENT; returns its message and milliseconds. */
  async function rejected(pending: Promise<unknown>): Promise<{ details: string; ms: number }> {
    const started = performance.now();
    let failure: { code: number; details: string } | undefined;
    try {
      await pending;
    } catch (err) {
      failure = err as { code: number; details: string };
    }
    const ms = performance.now() - started;
    assert.equal(failure?.code, status.INVALID_ARGUMENT, failure?.details ?? 'the Write succeeded');
    return { details: failure.details, ms };
  }

  const openFds = async () => (await readdir('/proc/self/fd')).length;
  const tempFiles = async () => readdir(join(dir, 'tmp'));
  const exists = async (digest: { hash: string; sizeBytes: number }) => {
    const res = await call(t.clients.cas, 'findMissingBlobs', {
      instanceName: '',
      blobDigests: [digest],
      digestFunction: 0,
    });
    return res.missingBlobDigests.length === 0;
  };

  it('answers INVALID_ARGUMENT at once for bytes that are not zstd, discards the upload and takes a retry', async (ctx) => {
    const data = textBlob(300_000, 'not compressed');
    const digest = sha256Digest(data);
    const name = zstdName(digest);
    // Connect first, so that the count of open files does not include the connection.
    await call(t.clients.byteStream, 'queryWriteStatus', { resourceName: name });
    const fds = await openFds();
    for (const chunk of [data.byteLength, 64 * 1024]) {
      const { details, ms } = await rejected(writeAll(name, data, chunk));
      ctx.diagnostic(`rejected in ${ms.toFixed(1)} ms (chunks of ${chunk} bytes)`);
      assert.match(details, /zstd data is corrupt/);
      assert.ok(ms < 1000, `took ${ms} ms`);
      const query = await call(t.clients.byteStream, 'queryWriteStatus', { resourceName: name });
      assert.deepEqual(query, { committedSize: 0, complete: false });
      assert.deepEqual(await tempFiles(), []);
      assert.ok((await openFds()) <= fds, 'the upload closed its file');
    }
    const res = await writeAll(name, zstdCompressSync(data));
    assert.ok(res.committedSize > 0);
    assert.equal(await exists(digest), true);
  });

  it('stops decompressing a zstd bomb as soon as it passes the declared size', async (ctx) => {
    // 64 KiB that expand to 2 GiB, declared as a 1 KiB blob and as a 1 MiB one.
    const bomb = zstdZeros(2048 * MiB);
    for (const size of [1024, MiB]) {
      const digest = zerosDigest(size);
      for (const chunk of [bomb.byteLength, 4096]) {
        const { details, ms } = await rejected(writeAll(zstdName(digest), bomb, chunk));
        ctx.diagnostic(
          `${size}-byte blob, ${chunk}-byte messages: rejected in ${ms.toFixed(1)} ms`,
        );
        assert.match(details, new RegExp(`beyond the declared size of ${size} bytes`));
        assert.ok(ms < 500, `took ${ms} ms`);
      }
      assert.equal(await exists(digest), false);
    }
    assert.deepEqual(await tempFiles(), []);
  });

  it('rejects zstd data that expands to fewer bytes than declared', async () => {
    const digest = zerosDigest(2 * MiB);
    const { details } = await rejected(writeAll(zstdName(digest), zstdZeros(MiB)));
    assert.match(details, /1048576 bytes.*2097152|2097152.*1048576 bytes/);
    const blob = randomBlob(200_000);
    const compressed = zstdCompressSync(blob);
    const cut = await rejected(
      writeAll(zstdName(sha256Digest(blob)), compressed.subarray(0, compressed.byteLength - 10)),
    );
    assert.match(cut.details, /zstd data is corrupt/);
    assert.equal(await exists(digest), false);
    assert.equal(await exists(sha256Digest(blob)), false);
    assert.deepEqual(await tempFiles(), []);
  });

  it('stores a large zstd upload sent in many messages', async () => {
    const size = 64 * MiB;
    const digest = zerosDigest(size);
    const frame = zstdZeros(size);
    const res = await writeAll(zstdName(digest), frame, 16);
    assert.equal(res.committedSize, frame.byteLength);
    const data = textBlob(8 * MiB, 'many messages');
    const compressed = zstdCompressSync(data);
    await writeAll(zstdName(sha256Digest(data)), compressed, 1000);
    assert.equal(await exists(digest), true);
    assert.equal(await exists(sha256Digest(data)), true);
    assert.deepEqual(await tempFiles(), []);
  });
});
