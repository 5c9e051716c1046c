import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import {
  digestOf,
  formatDigest,
  isEmptyDigest,
  makeDigest,
  parseDigest,
} from '../../src/digest/digest.ts';
import {
  BLAKE3,
  DIGEST_FUNCTIONS,
  hashBuffer,
  MD5,
  resolveDigestFunction,
  SHA1,
  SHA256,
  SHA384,
  SHA512,
} from '../../src/digest/digest-function.ts';
import { validateInstanceName } from '../../src/digest/instance-name.ts';
import { KilnError } from '../../src/errors.ts';

const invalid = (err: unknown) => err instanceof KilnError && err.code === status.INVALID_ARGUMENT;

describe('digest functions', () => {
  it('hash the empty blob to each function’s known empty hash', async () => {
    for (const fn of DIGEST_FUNCTIONS) {
      assert.equal(await hashBuffer(fn, new Uint8Array(0)), fn.emptyHash, fn.name);
    }
  });

  it('agree with OpenSSL for the SHA family and MD5', async () => {
    const data = Buffer.from('kiln digest test');
    for (const fn of [SHA256, SHA1, MD5, SHA384, SHA512]) {
      assert.equal(await hashBuffer(fn, data), createHash(fn.name).update(data).digest('hex'));
    }
  });

  it('compute BLAKE3 per its published test vector', async () => {
    assert.equal(
      await hashBuffer(BLAKE3, Buffer.from('abc')),
      '6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85',
    );
  });

  it('infer the function from the hash length when the request says UNKNOWN', () => {
    assert.equal(resolveDigestFunction(0, 'a'.repeat(64)), SHA256);
    assert.equal(resolveDigestFunction(0, 'a'.repeat(40)), SHA1);
    assert.equal(resolveDigestFunction(0, 'a'.repeat(32)), MD5);
    assert.equal(resolveDigestFunction(0, 'a'.repeat(96)), SHA384);
    assert.equal(resolveDigestFunction(0, 'a'.repeat(128)), SHA512);
    assert.equal(resolveDigestFunction(9, 'a'.repeat(64)), BLAKE3);
    assert.throws(() => resolveDigestFunction(0, 'a'.repeat(63)), invalid);
    assert.throws(() => resolveDigestFunction(8), /SHA256TREE is not supported/);
    assert.throws(() => resolveDigestFunction(42), invalid);
  });
});

describe('digests', () => {
  it('accept lower-case hex of the right length and a non-negative size', () => {
    const d = makeDigest(SHA256, 'ab'.repeat(32), 10);
    assert.equal(d.key, `sha256/${'ab'.repeat(32)}_10`);
    assert.equal(formatDigest(d), `${'ab'.repeat(32)}/10`);
    assert.deepEqual([d.fn, d.hash, d.size], [SHA256, 'ab'.repeat(32), 10]);
    assert.equal(makeDigest(SHA256, '0123456789abcdef'.repeat(4), 0).size, 0);
  });

  it('reject every character just outside 0-9 and a-f, wherever it is in the hash', () => {
    for (const bad of ['/', ':', '`', 'g', 'A', 'F', ' ', '\0', 'é', '\uff10']) {
      for (const at of [0, 31, 63]) {
        const hash = `${'0'.repeat(at)}${bad}${'0'.repeat(63 - at)}`;
        assert.throws(
          () => makeDigest(SHA256, hash, 1),
          invalid,
          `${JSON.stringify(bad)} at ${at}`,
        );
        assert.throws(
          () => parseDigest({ hash, sizeBytes: 1 }, 0, 'blob_digests', 7),
          /blob_digests\[7\]: hash/,
        );
      }
    }
  });

  it('reject upper case, wrong length, non-hex, negative and fractional sizes', () => {
    assert.throws(() => makeDigest(SHA256, 'AB'.repeat(32), 1), invalid);
    assert.throws(() => makeDigest(SHA256, 'ab'.repeat(31), 1), invalid);
    assert.throws(() => makeDigest(SHA256, 'zz'.repeat(32), 1), invalid);
    assert.throws(() => makeDigest(SHA256, 'ab'.repeat(32), -1), invalid);
    assert.throws(() => makeDigest(SHA256, 'ab'.repeat(32), 1.5), invalid);
  });

  it('name the offending field in parse errors', () => {
    assert.throws(
      () => parseDigest({ hash: 'xyz', sizeBytes: 1 }, 0, 'requests[3].digest'),
      /requests\[3\]\.digest/,
    );
    assert.throws(() => parseDigest(undefined, 0, 'action_digest'), /action_digest is missing/);
  });

  it('recognise the empty blob only with the right hash', async () => {
    assert.equal(isEmptyDigest(await digestOf(SHA256, new Uint8Array(0))), true);
    assert.equal(isEmptyDigest(makeDigest(SHA256, 'ab'.repeat(32), 0)), false);
  });
});

describe('instance names', () => {
  it('accept plain paths and the empty name', () => {
    assert.equal(validateInstanceName(''), '');
    assert.equal(validateInstanceName('team/main'), 'team/main');
  });

  it('reject reserved segments, empty segments and dot segments', () => {
    for (const bad of ['blobs', 'a/uploads', 'a//b', '/a', 'a/', 'a/../b', 'x/compressed-blobs']) {
      assert.throws(() => validateInstanceName(bad), invalid, bad);
    }
  });
});
