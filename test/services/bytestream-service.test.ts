import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { status } from '@grpc/grpc-js';
import type { WriteRequest } from '../../src/gen/google/bytestream/bytestream.js';
import { randomBlob, sha256Digest, textBlob } from '../support/blobs.ts';
import { call } from '../support/grpc-clients.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

describe('ByteStream service', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  const uploadName = (data: Buffer, prefix = '') => {
    const d = sha256Digest(data);
    return `${prefix}uploads/${randomUUID()}/blobs/${d.hash}/${d.sizeBytes}`;
  };

  /** Sends requests on one Write stream; resolves with the response or rejects with the status. */
  function write(requests: Partial<WriteRequest>[]): Promise<{ committedSize: number }> {
    return new Promise((resolve, reject) => {
      const stream = t.clients.byteStream.write((err, res) => (err ? reject(err) : resolve(res)));
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
  function writeAll(name: string, data: Buffer, chunk = 64 * 1024, from = 0) {
    const requests: Partial<WriteRequest>[] = [];
    for (let at = from; at < data.byteLength || requests.length === 0; at += chunk) {
      const end = Math.min(data.byteLength, at + chunk);
      requests.push({
        resourceName: requests.length === 0 ? name : '',
        writeOffset: at,
        data: data.subarray(at, end),
        finishWrite: end === data.byteLength,
      });
    }
    return write(requests);
  }

  function read(resourceName: string, readOffset = 0, readLimit = 0): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const stream = t.clients.byteStream.read({ resourceName, readOffset, readLimit });
      stream.on('data', (r: { data: Buffer }) => chunks.push(r.data));
      stream.on('error', reject);
      stream.on('end', () => resolve(Buffer.concat(chunks)));
    });
  }

  const exists = async (data: Buffer) => {
    const res = await call(t.clients.cas, 'findMissingBlobs', {
      instanceName: '',
      blobDigests: [sha256Digest(data)],
      digestFunction: 0,
    });
    return res.missingBlobDigests.length === 0;
  };

  it('writes a blob in chunks and reads it back whole and by offset and limit', async () => {
    const data = randomBlob(3 * 1024 * 1024 + 17);
    const res = await writeAll(uploadName(data, 'main/'), data);
    assert.equal(res.committedSize, data.byteLength);
    const d = sha256Digest(data);
    assert.deepEqual(await read(`main/blobs/${d.hash}/${d.sizeBytes}`), data);
    assert.deepEqual(
      await read(`blobs/${d.hash}/${d.sizeBytes}`, 1000, 5000),
      data.subarray(1000, 6000),
    );
    assert.deepEqual(
      await read(`blobs/${d.hash}/${d.sizeBytes}`, data.byteLength),
      Buffer.alloc(0),
    );
  });

  it('answers OUT_OF_RANGE for an offset past the end and NOT_FOUND for a missing blob', async () => {
    const data = randomBlob(100);
    await writeAll(uploadName(data), data);
    const d = sha256Digest(data);
    await assert.rejects(read(`blobs/${d.hash}/${d.sizeBytes}`, 101), {
      code: status.OUT_OF_RANGE,
    });
    await assert.rejects(read(`blobs/${d.hash}/${d.sizeBytes}`, -1), { code: status.OUT_OF_RANGE });
    const absent = sha256Digest(randomBlob(100));
    await assert.rejects(read(`blobs/${absent.hash}/100`), { code: status.NOT_FOUND });
  });

  it('rejects malformed resource names with INVALID_ARGUMENT', async () => {
    const d = sha256Digest(Buffer.from('x'));
    for (const name of [
      'blobs/abc/1',
      `blobs/${d.hash}`,
      `blobs/${d.hash}/-1`,
      `blobs/${d.hash}/1x`,
      `things/${d.hash}/1`,
      `compressed-blobs/lz4/${d.hash}/1`,
      `compressed-blobs/deflate/${d.hash}/1`,
      `blobs/blake3/${'a'.repeat(40)}/1`,
    ]) {
      await assert.rejects(read(name), { code: status.INVALID_ARGUMENT }, name);
    }
    await assert.rejects(
      write([{ resourceName: `blobs/${d.hash}/1`, data: Buffer.from('x'), finishWrite: true }]),
      {
        code: status.INVALID_ARGUMENT,
      },
    );
  });

  it('rejects data past the declared size and keeps nothing', async () => {
    const data = randomBlob(1000);
    const name = uploadName(data);
    await assert.rejects(
      write([
        {
          resourceName: name,
          data: Buffer.concat([data, Buffer.from('extra')]),
          finishWrite: true,
        },
      ]),
      (err: { code: number; details: string }) =>
        err.code === status.INVALID_ARGUMENT && /exceeds|declared/.test(err.details),
    );
    assert.equal(await exists(data), false);
  });

  it('rejects content that does not hash to the digest and keeps nothing', async () => {
    const data = randomBlob(1000);
    const other = randomBlob(1000);
    await assert.rejects(
      write([{ resourceName: uploadName(data), data: other, finishWrite: true }]),
      {
        code: status.INVALID_ARGUMENT,
      },
    );
    assert.equal(await exists(data), false);
    assert.equal(await exists(other), false);
  });

  it('rejects a stream that ends without finish_write or with a wrong offset', async () => {
    const data = randomBlob(1000);
    const name = uploadName(data);
    await assert.rejects(write([{ resourceName: name, data: data.subarray(0, 10) }]), {
      code: status.INVALID_ARGUMENT,
    });
    await assert.rejects(
      write([{ resourceName: uploadName(data), writeOffset: 5, data, finishWrite: true }]),
      { code: status.INVALID_ARGUMENT },
    );
    assert.equal(await exists(data), false);
  });

  it('returns at once with the full committed_size when the blob already exists', async () => {
    const data = randomBlob(10_000);
    await writeAll(uploadName(data), data);
    const res = await write([{ resourceName: uploadName(data), data: data.subarray(0, 100) }]);
    assert.equal(res.committedSize, data.byteLength);
  });

  it('resumes an interrupted upload from the committed size reported by QueryWriteStatus', async () => {
    const data = randomBlob(2 * 1024 * 1024);
    const name = uploadName(data);
    const half = 1024 * 1024;
    const stream = t.clients.byteStream.write(() => undefined);
    stream.write({
      resourceName: name,
      writeOffset: 0,
      finishWrite: false,
      data: data.subarray(0, half),
    });
    const query = () => call(t.clients.byteStream, 'queryWriteStatus', { resourceName: name });
    // Wait until the server has received the first half, then break the stream.
    for (let i = 0; i < 100 && (await query()).committedSize < half; i++) await sleep(10);
    stream.cancel();
    await sleep(50);
    const status1 = await query();
    assert.equal(status1.committedSize, half);
    assert.equal(status1.complete, false);
    assert.equal(await exists(data), false, 'a partial upload is never visible');

    const res = await writeAll(name, data, 256 * 1024, status1.committedSize);
    assert.equal(res.committedSize, data.byteLength);
    assert.equal(await exists(data), true);
    const done = await query();
    assert.deepEqual(done, { committedSize: data.byteLength, complete: true });
  });

  it('reports committed_size 0 for an unknown upload', async () => {
    const data = randomBlob(10);
    const res = await call(t.clients.byteStream, 'queryWriteStatus', {
      resourceName: uploadName(data),
    });
    assert.deepEqual(res, { committedSize: 0, complete: false });
  });

  it('writes and reads zstd-compressed resource names', async () => {
    const data = textBlob(300_000, 'zstd stream');
    const d = sha256Digest(data);
    const compressed = zstdCompressSync(data);
    const name = `uploads/${randomUUID()}/compressed-blobs/zstd/${d.hash}/${d.sizeBytes}`;
    const res = await writeAll(name, compressed, 1000);
    assert.equal(res.committedSize, compressed.byteLength);
    assert.equal(await exists(data), true);
    const back = await read(`compressed-blobs/zstd/${d.hash}/${d.sizeBytes}`);
    assert.deepEqual(zstdDecompressSync(back), data);
    const part = await read(`compressed-blobs/zstd/${d.hash}/${d.sizeBytes}`, 10, 20);
    assert.deepEqual(zstdDecompressSync(part), data.subarray(10, 30));
    // An existing blob ends a compressed upload early with committed_size -1.
    const again = await write([
      {
        resourceName: name.replace(/uploads\/[^/]+/, `uploads/${randomUUID()}`),
        data: compressed.subarray(0, 10),
      },
    ]);
    assert.equal(again.committedSize, -1);
  });

  it('rejects zstd data that expands to the wrong content', async () => {
    const data = textBlob(5000);
    const d = sha256Digest(data);
    const name = `uploads/${randomUUID()}/compressed-blobs/zstd/${d.hash}/${d.sizeBytes}`;
    await assert.rejects(
      write([
        { resourceName: name, data: zstdCompressSync(textBlob(5000, 'other')), finishWrite: true },
      ]),
      { code: status.INVALID_ARGUMENT },
    );
    assert.equal(await exists(data), false);
  });
});
