import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { digestOf } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import type { ReadResponse } from '../../src/gen/google/bytestream/bytestream.js';
import { decodeReadResponse, encodeReadResponseFramed } from '../../src/rpc/bytestream-codec.ts';
import {
  frameHeadroomInstalled,
  GRPC_FRAME_HEADER_BYTES,
  installFrameHeadroom,
} from '../../src/rpc/grpc-frame-headroom.ts';
import { putBuffer } from '../../src/storage/blob-store.ts';
import { DiskBlobStore } from '../../src/storage/disk-blob-store.ts';
import { startTestServer } from '../support/test-server.ts';

describe('gRPC frame headroom', () => {
  it('hooks the installed grpc-js (a grpc-js upgrade that moves the method fails here)', () => {
    assert.equal(installFrameHeadroom(), true);
    assert.equal(frameHeadroomInstalled(), true);
  });

  it('serializes a disk chunk as a whole frame inside the read buffer, without a copy', async () => {
    installFrameHeadroom();
    const dir = await mkdtemp(join(tmpdir(), 'kiln-frame-'));
    try {
      const store = await DiskBlobStore.open({ path: dir, maxBytes: 16 * 1024 * 1024 });
      const data = randomBytes(1024 * 1024 + 3);
      const digest = await digestOf(SHA256, data);
      await putBuffer(store, digest, data);
      for await (const chunk of await store.get(digest)) {
        const view = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        const frame = encodeReadResponseFramed({ data: view });
        assert.equal(frame.buffer, chunk.buffer, 'the chunk is not copied');
        // The protobuf message follows the 5 bytes grpc-js fills in.
        const message = frame.subarray(GRPC_FRAME_HEADER_BYTES);
        assert.deepEqual(decodeReadResponse(message).data, view);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('serves multi-MiB reads from a disk store byte for byte through a real server', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-frame-server-'));
    const casBackend = await DiskBlobStore.open({ path: dir, maxBytes: 64 * 1024 * 1024 });
    const server = await startTestServer({ casBackend });
    try {
      const data = randomBytes(5 * 1024 * 1024 + 77);
      const digest = await digestOf(SHA256, data);
      await putBuffer(casBackend, digest, data);
      const received = await new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        const stream = server.clients.byteStream.read({
          resourceName: `blobs/${digest.hash}/${digest.size}`,
          readOffset: 3,
          readLimit: 0,
        });
        stream.on('data', (res: ReadResponse) => chunks.push(Buffer.from(res.data)));
        stream.once('error', reject);
        stream.once('end', () => resolve(Buffer.concat(chunks)));
      });
      assert.ok(received.equals(data.subarray(3)));
      // Other methods still get grpc-js's own framing.
      const missing = await new Promise<unknown>((resolve, reject) =>
        server.clients.cas.findMissingBlobs(
          {
            instanceName: '',
            blobDigests: [{ hash: digest.hash, sizeBytes: digest.size }],
            digestFunction: 0,
          },
          (err, res) => (err ? reject(err) : resolve(res?.missingBlobDigests)),
        ),
      );
      assert.deepEqual(missing, []);
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
