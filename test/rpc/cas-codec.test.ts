import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { makeDigest, toDigestMessage } from '../../src/digest/digest.ts';
import { MD5, SHA1, SHA256, SHA512 } from '../../src/digest/digest-function.ts';
import { KilnError } from '../../src/errors.ts';
import {
  type Digest,
  FindMissingBlobsRequest,
  FindMissingBlobsResponse,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  decodeFindMissingBlobsRequest,
  encodeFindMissingBlobsResponse,
  LazyFindMissingBlobsRequest,
} from '../../src/rpc/cas-codec.ts';
import { MissingDigestWriter } from '../../src/rpc/missing-digest-writer.ts';

const hex = (): string => randomBytes(32).toString('hex');

/** Digests that take the fast paths and every fallback. */
const digests: Digest[] = [
  { hash: hex(), sizeBytes: 1 },
  { hash: hex(), sizeBytes: 0 },
  { hash: '', sizeBytes: 5 },
  { hash: hex(), sizeBytes: 2 ** 49 - 1 },
  { hash: hex(), sizeBytes: 2 ** 49 },
  { hash: hex(), sizeBytes: Number.MAX_SAFE_INTEGER },
  { hash: hex(), sizeBytes: -1 },
  { hash: 'ä-not-ascii', sizeBytes: 7 },
  { hash: 'x'.repeat(200), sizeBytes: 3 },
];

describe('FindMissingBlobs codecs', () => {
  it('decode requests like the generated decoder', () => {
    const request: FindMissingBlobsRequest = {
      instanceName: 'main/ä',
      blobDigests: digests,
      digestFunction: 1,
    };
    const bytes = Buffer.from(FindMissingBlobsRequest.encode(request).finish());
    assert.deepEqual(decodeFindMissingBlobsRequest(bytes), FindMissingBlobsRequest.decode(bytes));
    assert.deepEqual(decodeFindMissingBlobsRequest(bytes), request);
  });

  it('decode digests with unknown or repeated fields like the generated decoder', () => {
    const first = Buffer.from(
      FindMissingBlobsRequest.encode({
        instanceName: '',
        blobDigests: [{ hash: hex(), sizeBytes: 9 }],
        digestFunction: 0,
      }).finish(),
    );
    // A digest carrying an unknown field 3, then hash and size twice.
    const odd = Buffer.concat([
      Buffer.from([0x12, 0x06, 0x18, 0x01, 0x10, 0x02, 0x10, 0x03]),
      Buffer.from([0x20, 0x07]), // unknown top-level field 4
    ]);
    const bytes = Buffer.concat([first, odd]);
    const decoded = decodeFindMissingBlobsRequest(bytes);
    assert.deepEqual(decoded, FindMissingBlobsRequest.decode(bytes));
    assert.equal(decoded.blobDigests[1]?.sizeBytes, 3);
  });

  it('rejects a truncated request', () => {
    const bytes = Buffer.from(
      FindMissingBlobsRequest.encode({
        instanceName: '',
        blobDigests: [{ hash: hex(), sizeBytes: 9 }],
        digestFunction: 0,
      }).finish(),
    );
    assert.throws(() => decodeFindMissingBlobsRequest(bytes.subarray(0, bytes.length - 3)));
  });

  it('decode a request lazily to the same fields as the eager decoder', () => {
    const request: FindMissingBlobsRequest = {
      instanceName: 'main',
      blobDigests: digests,
      digestFunction: 1,
    };
    const bytes = Buffer.from(FindMissingBlobsRequest.encode(request).finish());
    const lazy = new LazyFindMissingBlobsRequest(bytes);
    assert.equal(lazy.instanceName, 'main');
    assert.deepEqual(lazy.blobDigests, decodeFindMissingBlobsRequest(bytes).blobDigests);
    assert.equal(lazy.digestFunction, 1);
  });

  it('reject a malformed request with INVALID_ARGUMENT when it is first read', () => {
    const bytes = Buffer.from(
      FindMissingBlobsRequest.encode({
        instanceName: '',
        blobDigests: [{ hash: hex(), sizeBytes: 9 }],
        digestFunction: 0,
      }).finish(),
    );
    const lazy = new LazyFindMissingBlobsRequest(bytes.subarray(0, bytes.length - 3));
    assert.throws(
      () => lazy.blobDigests,
      (err) => err instanceof KilnError && err.code === status.INVALID_ARGUMENT,
    );
  });

  it('encode responses to the same bytes as the generated encoder', () => {
    // The last list finds its non-ASCII hash only while writing the digests before it.
    const lateNonAscii: Digest[] = [...digests.slice(0, 2), { hash: 'ä-not-ascii', sizeBytes: 7 }];
    for (const missingBlobDigests of [[], digests, digests.slice(0, 1), lateNonAscii]) {
      const expected = Buffer.from(
        FindMissingBlobsResponse.encode({ missingBlobDigests }).finish(),
      );
      assert.deepEqual(encodeFindMissingBlobsResponse({ missingBlobDigests }), expected);
    }
  });

  it('decode a lazy request a slice at a time to the same digests', () => {
    const blobDigests = Array.from({ length: 10 }, (_, i) => ({ hash: hex(), sizeBytes: i }));
    const bytes = Buffer.from(
      FindMissingBlobsRequest.encode({
        instanceName: 'x',
        blobDigests,
        digestFunction: 1,
      }).finish(),
    );
    const lazy = new LazyFindMissingBlobsRequest(bytes);
    assert.equal(lazy.digestCount, 10);
    assert.equal(lazy.byteLength, bytes.byteLength);
    const slices = [...lazy.digestSlices(4)];
    assert.deepEqual(
      slices.map((s) => s.length),
      [4, 4, 2],
    );
    assert.deepEqual(slices.flat(), blobDigests);
  });

  it('write missing digests to the same bytes as the generated encoder, each once', () => {
    const all = [SHA256, SHA1, MD5, SHA512].flatMap((fn) =>
      [0, 1, 127, 128, 2 ** 49, Number.MAX_SAFE_INTEGER].map((size) =>
        makeDigest(fn, createHash(fn.name).update(String(size)).digest('hex'), size),
      ),
    );
    const writer = new MissingDigestWriter({ deduplicate: true });
    writer.add(all.slice(0, 10));
    writer.add(all.slice(5));
    writer.add(all);
    const reply = writer.finish();
    const missingBlobDigests = all.map(toDigestMessage);
    const expected = Buffer.from(FindMissingBlobsResponse.encode({ missingBlobDigests }).finish());
    assert.deepEqual(encodeFindMissingBlobsResponse(reply), expected);
    assert.deepEqual(reply.missingBlobDigests, missingBlobDigests);
  });
});
