/**
 * Packed digests, validated straight from a FindMissingBlobs request's bytes:
 * the same digests and the same errors as the general path for every shape a
 * digest can arrive in, found by the disk index as the general ones are, and
 * never kept with their batch by the stores that remember digests.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { status } from '@grpc/grpc-js';
import { type Digest, makeDigest, parseDigest } from '../../src/digest/digest.ts';
import { SHA1, SHA256 } from '../../src/digest/digest-function.ts';
import {
  hashPrefixOf,
  PackedDigest,
  PackedDigestBatch,
  writeHexHash,
} from '../../src/digest/packed-digest.ts';
import type { KilnError } from '../../src/errors.ts';
import {
  type Digest as DigestMessage,
  FindMissingBlobsRequest,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { LazyFindMissingBlobsRequest, type ValidatingReader } from '../../src/rpc/cas-codec.ts';
import { CompactDigestIndex, NONE } from '../../src/storage/compact-digest-index.ts';
import { DigestIndex, uniqueDigests } from '../../src/storage/digest-index.ts';

const hex = (bytes = 32): string => randomBytes(bytes).toString('hex');

/** Reads every digest of `request` the way the handler does, with `fnValue` as its function. */
function readAll(request: Buffer, fnValue: number, max = 1000): Digest[] {
  const lazy = new LazyFindMissingBlobsRequest(request);
  const fn = fnValue === 0 ? SHA256 : fnValue === 2 ? SHA1 : undefined;
  const reader: ValidatingReader = {
    batch: undefined,
    parse: (message, index) => parseDigest(message, fnValue, 'blob_digests', index),
    read: 0,
  };
  const out: Digest[] = [];
  let pos = 0;
  while (pos < lazy.byteLength) {
    reader.batch = fn === undefined ? undefined : new PackedDigestBatch(fn, max);
    pos = lazy.readValidated(pos, max, reader, out);
  }
  return out;
}

/** The general path: decode, then validate each digest, leaving out the empty blob's. */
function readGenerally(request: Buffer, fnValue: number): Digest[] {
  const decoded = FindMissingBlobsRequest.decode(request);
  return decoded.blobDigests
    .map((m, i) => parseDigest(m, fnValue, 'blob_digests', i))
    .filter((d) => d.size !== 0 || d.hash !== d.fn.emptyHash);
}

function encodeRequest(blobDigests: DigestMessage[], digestFunction = 0): Buffer {
  return Buffer.from(
    FindMissingBlobsRequest.encode({
      instanceName: '',
      blobDigests,
      digestFunction: digestFunction as FindMissingBlobsRequest['digestFunction'],
    }).finish(),
  );
}

/** A request whose one digest is written field by field, in any order or form. */
function rawRequest(write: (w: BinaryWriter) => void): Buffer {
  const digest = new BinaryWriter();
  write(digest);
  return Buffer.from(new BinaryWriter().uint32(18).bytes(digest.finish()).finish());
}

/** A valid request of two digests. */
const request0 = (): Buffer =>
  encodeRequest([
    { hash: hex(), sizeBytes: 1 },
    { hash: hex(), sizeBytes: 2 },
  ]);

const plain = (d: Digest) => ({ fn: d.fn.name, hash: d.hash, size: d.size });

function errorOf(read: () => unknown): string {
  try {
    read();
  } catch (err) {
    return (err as Error).message;
  }
  return 'no error';
}

describe('packed digests', () => {
  it('read valid digests of every shape as the general path does, packed when plain', () => {
    const h = hex();
    const request = Buffer.concat([
      encodeRequest([
        { hash: hex(), sizeBytes: 1 },
        { hash: hex(), sizeBytes: 2 ** 49 - 1 },
        { hash: hex(), sizeBytes: 2 ** 50 },
        { hash: SHA256.emptyHash, sizeBytes: 0 },
        { hash: hex(), sizeBytes: 0 },
        { hash: hex(20), sizeBytes: 9 },
      ]),
      // Size before hash, an unknown field, a repeated hash (the last wins).
      rawRequest((w) => w.uint32(16).int64(5).uint32(10).string(h)),
      rawRequest((w) => w.uint32(10).string(h).uint32(16).int64(6).uint32(24).int32(1)),
      rawRequest((w) => w.uint32(10).string(hex()).uint32(10).string(h).uint32(16).int64(7)),
    ]);
    const packed = readAll(request, 0, 3);
    assert.deepEqual(packed.map(plain), readGenerally(request, 0).map(plain));
    assert.deepEqual(
      packed.map((d) => d instanceof PackedDigest),
      [true, true, false, true, false, false, false, false],
    );
    // SHA-1 named by the request: packed too.
    const sha1 = encodeRequest([{ hash: hex(20), sizeBytes: 3 }], 2);
    assert.deepEqual(readAll(sha1, 2).map(plain), readGenerally(sha1, 2).map(plain));
    assert.ok(readAll(sha1, 2)[0] instanceof PackedDigest);
  });

  it('reject invalid digests with the general path’s error, named by index', () => {
    const valid = Array.from({ length: 1500 }, () => ({ hash: hex(), sizeBytes: 4 }));
    for (const bad of [
      { hash: hex().toUpperCase(), sizeBytes: 1 },
      { hash: `${hex().slice(1)}g`, sizeBytes: 1 },
      { hash: hex().slice(2), sizeBytes: 1 },
      { hash: '', sizeBytes: 1 },
      { hash: hex(), sizeBytes: -1 },
      { hash: 'ä'.repeat(32), sizeBytes: 1 },
    ]) {
      const request = encodeRequest([...valid, bad]);
      const expected = errorOf(() => readGenerally(request, 0));
      assert.match(expected, /^blob_digests\[1500\]/);
      assert.equal(
        errorOf(() => readAll(request, 0)),
        expected,
      );
    }
    // A size above 2^53 cannot be decoded to a number: INVALID_ARGUMENT, as before.
    const huge = encodeRequest([...valid, { hash: hex(), sizeBytes: 2 ** 60 }]);
    assert.throws(
      () => readAll(huge, 0),
      (err: KilnError) =>
        err.code === status.INVALID_ARGUMENT &&
        /^FindMissingBlobsRequest cannot be decoded: .*MAX_SAFE_INTEGER/.test(err.message),
    );
    // Cut short, in a digest or just after a tag.
    for (const truncated of [
      huge.subarray(0, huge.length - 3),
      Buffer.concat([request0(), Buffer.from([18])]),
    ]) {
      assert.throws(
        () => readAll(truncated, 0),
        (err: KilnError) =>
          err.code === status.INVALID_ARGUMENT &&
          /^FindMissingBlobsRequest cannot be decoded/.test(err.message),
      );
    }
    const unsupported = encodeRequest([{ hash: hex(), sizeBytes: 1 }], 4);
    assert.equal(
      errorOf(() => readAll(unsupported, 4)),
      errorOf(() => readGenerally(unsupported, 4)),
    );
  });

  it('are found by the disk index as general digests are', () => {
    const index = new CompactDigestIndex<undefined>();
    const stored = Array.from({ length: 3000 }, () => makeDigest(SHA256, hex(), 10));
    for (const d of stored) index.insert(d, d.size, 0, undefined);
    const request = encodeRequest([
      ...stored.map((d) => ({ hash: d.hash, sizeBytes: d.size })),
      ...stored.map((d) => ({ hash: d.hash, sizeBytes: d.size + 1 })),
      ...stored.map((d) => ({
        hash: `${d.hash.slice(0, 63)}${d.hash[63] === '0' ? 1 : 0}`,
        sizeBytes: d.size,
      })),
    ]);
    const packed = readAll(request, 0);
    assert.ok(packed.every((d) => d instanceof PackedDigest));
    assert.deepEqual(
      packed.map((d) => index.find(d)),
      packed.map((d) => index.find(makeDigest(d.fn, d.hash, d.size))),
    );
    assert.equal(packed.filter((d) => index.find(d) !== NONE).length, stored.length);
  });

  it('give the same prefix and hex as their hash string', () => {
    const request = encodeRequest(
      Array.from({ length: 100 }, () => ({ hash: hex(), sizeBytes: 1 })),
    );
    for (const d of readAll(request, 0)) {
      const general = makeDigest(d.fn, d.hash, d.size);
      assert.equal(hashPrefixOf(d), hashPrefixOf(general));
      const a = Buffer.alloc(64);
      const b = Buffer.alloc(64);
      writeHexHash(a, 0, d);
      writeHexHash(b, 0, general);
      assert.ok(a.equals(b));
    }
  });

  it('are not kept with their batch by a DigestIndex, and are told apart by uniqueDigests', () => {
    const h = hex();
    const request = encodeRequest([
      { hash: h, sizeBytes: 1 },
      { hash: hex(), sizeBytes: 1 },
      { hash: h, sizeBytes: 1 },
      { hash: h, sizeBytes: 2 },
    ]);
    const packed = readAll(request, 0);
    assert.deepEqual(
      uniqueDigests(packed).map(plain),
      [0, 1, 3].map((i) => plain(packed[i] as Digest)),
    );
    const index = new DigestIndex<number>();
    index.set(packed[0] as Digest, 1);
    const [[kept]] = [...index.entries()] as [[Digest, number]];
    assert.ok(!(kept instanceof PackedDigest));
    assert.deepEqual(plain(kept), plain(packed[0] as Digest));
    assert.equal(index.get(packed[2] as Digest), 1);
  });
});
