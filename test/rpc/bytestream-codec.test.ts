import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { digestOf } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { ReadResponse, WriteRequest } from '../../src/gen/google/bytestream/bytestream.js';
import {
  decodeReadResponse,
  decodeWriteRequest,
  encodeReadResponse,
  encodeWriteRequest,
} from '../../src/rpc/bytestream-codec.ts';
import { putBuffer } from '../../src/storage/blob-store.ts';
import { DiskBlobStore } from '../../src/storage/disk-blob-store.ts';

const generated = <T>(fns: { encode(m: T): { finish(): Uint8Array } }, m: T): Buffer =>
  Buffer.from(fns.encode(m).finish());

describe('ByteStream copy-free codecs', () => {
  const writes: WriteRequest[] = [
    {
      resourceName: 'uploads/u/blobs/ab/1',
      writeOffset: 0,
      finishWrite: false,
      data: randomBytes(1),
    },
    { resourceName: '', writeOffset: 2 ** 40, finishWrite: true, data: randomBytes(300_000) },
    { resourceName: 'x', writeOffset: 7, finishWrite: true, data: Buffer.alloc(0) },
    { resourceName: '', writeOffset: 0, finishWrite: false, data: Buffer.alloc(0) },
  ];

  it('encodes WriteRequests to the same bytes as the generated encoder', () => {
    for (const m of writes) assert.deepEqual(encodeWriteRequest(m), generated(WriteRequest, m));
  });

  it('decodes WriteRequests like the generated decoder', () => {
    for (const m of writes) {
      const bytes = generated(WriteRequest, m);
      assert.deepEqual(decodeWriteRequest(bytes), WriteRequest.decode(bytes));
    }
  });

  it('decodes WriteRequest data as a view of the message, without copying', () => {
    const bytes = generated(WriteRequest, writes[1] as WriteRequest);
    const decoded = decodeWriteRequest(bytes);
    assert.equal(decoded.data.buffer, bytes.buffer);
  });

  it('skips unknown fields and keeps the last value of a repeated field', () => {
    const first = generated(WriteRequest, writes[0] as WriteRequest);
    const unknown = Buffer.from([0x58, 0x05, 0x62, 0x02, 0x01, 0x02]); // field 11 varint, 12 bytes
    const later = generated(WriteRequest, {
      resourceName: '',
      writeOffset: 9,
      finishWrite: true,
      data: Buffer.from('later'),
    });
    const bytes = Buffer.concat([first, unknown, later]);
    const decoded = decodeWriteRequest(bytes);
    assert.deepEqual(decoded, WriteRequest.decode(bytes));
    assert.equal(decoded.writeOffset, 9);
    assert.equal(decoded.data.toString(), 'later');
  });

  it('rejects a write_offset beyond the safe integer range', () => {
    const bytes = Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert.throws(() => decodeWriteRequest(bytes));
  });

  it('encodes and decodes ReadResponses like the generated codec', () => {
    for (const data of [
      Buffer.alloc(0),
      randomBytes(127),
      randomBytes(128),
      randomBytes(1 << 20),
    ]) {
      const expected = generated(ReadResponse, { data });
      assert.deepEqual(encodeReadResponse({ data }), expected);
      assert.deepEqual(decodeReadResponse(expected), ReadResponse.decode(expected));
    }
  });

  it('encodes disk chunks in place, without copying, to the same bytes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-codec-'));
    try {
      const store = await DiskBlobStore.open({ path: dir, maxBytes: 16 * 1024 * 1024 });
      const data = randomBytes(3 * 1024 * 1024 + 5);
      const digest = await digestOf(SHA256, data);
      await putBuffer(store, digest, data);
      const encoded: Buffer[] = [];
      let at = 7;
      for await (const chunk of await store.get(digest, { offset: 7 })) {
        const view = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        const out = encodeReadResponse({ data: view });
        assert.equal(out.buffer, chunk.buffer, 'the chunk is not copied');
        assert.deepEqual(out, generated(ReadResponse, { data: view }));
        encoded.push(out);
        // A slice of a chunk has no headroom of its own: it is copied, not clobbered.
        const slice = view.subarray(1);
        const copied = encodeReadResponse({ data: slice });
        assert.notEqual(copied.buffer, chunk.buffer);
        assert.deepEqual(copied, generated(ReadResponse, { data: slice }));
        assert.deepEqual(view, data.subarray(at, at + view.length), 'the chunk is intact');
        at += view.length;
      }
      const received = Buffer.concat(encoded.map((m) => decodeReadResponse(m).data));
      assert.deepEqual(received, data.subarray(7));
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
