import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
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
} from '../../src/services/cas-codec.ts';

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
});
