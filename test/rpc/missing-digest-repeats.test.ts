/**
 * Repeated digests in a FindMissingBlobs reply: written once, first
 * occurrence first, however many slices apart they come; and made-up
 * digests that all share a hash prefix (a client may send any hex it likes)
 * cost linear time, not quadratic, in the reply writer and in the stores'
 * `uniqueDigests`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { type Digest, makeDigest } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { FindMissingBlobsResponse } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { MissingDigestWriter } from '../../src/rpc/missing-digest-writer.ts';
import { uniqueDigests } from '../../src/storage/digest-index.ts';

const message = (d: Digest) => ({ hash: d.hash, sizeBytes: d.size });

/** `count` distinct digests whose hashes all start with the same 16 hex characters. */
function samePrefix(count: number): Digest[] {
  const prefix = randomBytes(8).toString('hex');
  return Array.from({ length: count }, (_, i) =>
    makeDigest(SHA256, `${prefix}${i.toString(16).padStart(48, '0')}`, 1 + (i % 7)),
  );
}

/**
 * Linear work here is a fraction of a second even on a loaded machine;
 * comparing 30,000 digests pairwise (what a table bucketed by prefix does)
 * took minutes.
 */
function assertLinear(started: number): void {
  const ms = performance.now() - started;
  assert.ok(ms < 8000, `${ms.toFixed(0)} ms: quadratic in the digests sharing a prefix`);
}

function write(slices: Digest[][], expectedEntries: number): Digest[] {
  const writer = new MissingDigestWriter({ deduplicate: true, expectedEntries });
  for (const slice of slices) writer.add(slice);
  const reply = FindMissingBlobsResponse.decode(writer.finish().bytes).missingBlobDigests;
  return reply.map((m) => makeDigest(SHA256, m.hash, m.sizeBytes));
}

describe('repeated digests in a reply', () => {
  it('are written once, where first written, across slices', () => {
    const digests = Array.from({ length: 5000 }, () =>
      makeDigest(SHA256, randomBytes(32).toString('hex'), 9),
    );
    const [a, b, c] = digests as [Digest, Digest, Digest];
    const sameHashOtherSize = makeDigest(SHA256, a.hash, 10);
    const slices = [
      [a, b],
      digests.slice(2, 3000),
      [c, a, sameHashOtherSize],
      digests.slice(2500),
      [b],
    ];
    const expected = [...digests.slice(0, 3000), sameHashOtherSize, ...digests.slice(3000)];
    // Sized too small on purpose: the tables grow.
    assert.deepEqual(write(slices, 10).map(message), expected.map(message));
  });

  it('that share a hash prefix by the thousand take linear time in the writer', {
    timeout: 20_000,
  }, () => {
    const digests = samePrefix(30_000);
    const slices: Digest[][] = [];
    for (let i = 0; i < digests.length; i += 4096) slices.push(digests.slice(i, i + 4096));
    slices.push(digests.slice(0, 15_000));
    const started = performance.now();
    const written = write(slices, 45_000);
    assertLinear(started);
    assert.deepEqual(written.map(message), digests.map(message));
  });

  it('are dropped by uniqueDigests call after call, and only they', () => {
    const digests = Array.from({ length: 3000 }, () =>
      makeDigest(SHA256, randomBytes(32).toString('hex'), 5),
    );
    for (let call = 0; call < 300; call++) {
      const list = digests.slice(call, call + 2000);
      // Every other call repeats one digest of its list; the others must come back as they are.
      if (call % 2 === 1) {
        const unique = uniqueDigests([...list, list[call % list.length] as Digest]);
        assert.deepEqual(unique.map(message), list.map(message));
      } else {
        assert.equal(uniqueDigests(list), list);
      }
    }
  });

  it('that share a hash prefix by the thousand take linear time in uniqueDigests', {
    timeout: 20_000,
  }, () => {
    const digests = samePrefix(30_000);
    const started = performance.now();
    const unique = uniqueDigests([...digests, ...digests.slice(0, 15_000)]);
    assertLinear(started);
    assert.deepEqual(unique.map(message), digests.map(message));
  });
});
