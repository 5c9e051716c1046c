import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Digest, makeDigest } from '../../src/digest/digest.ts';
import { BLAKE3, SHA256 } from '../../src/digest/digest-function.ts';
import { DigestIndex, uniqueDigests } from '../../src/storage/digest-index.ts';

/** SHA-256 digests whose hashes all start with the same 7 hex characters: one bucket. */
function colliding(count: number, size = 1): Digest[] {
  return Array.from({ length: count }, (_, i) =>
    makeDigest(SHA256, `abcdef0${i.toString(16).padStart(57, '0')}`, size),
  );
}

const values = <V>(index: DigestIndex<V>): V[] => [...index.entries()].map(([, v]) => v);

describe('DigestIndex', () => {
  it('finds entries by function, hash and size, like a map keyed by Digest.key', () => {
    const index = new DigestIndex<string>();
    const [a, b] = colliding(2);
    if (a === undefined || b === undefined) throw new Error('no digests');
    index.set(a, 'a');
    index.set(b, 'b');
    // Equal fields, another object: the same entry.
    assert.equal(index.get(makeDigest(SHA256, a.hash, a.size)), 'a');
    assert.equal(index.get(makeDigest(SHA256, a.hash, a.size + 1)), undefined);
    assert.equal(index.get(makeDigest(BLAKE3, a.hash, a.size)), undefined);
    assert.equal(index.get(b), 'b');
    assert.equal(index.size, 2);
  });

  it('keeps entries whose hashes share a bucket apart through deletes', () => {
    const index = new DigestIndex<number>();
    const digests = colliding(5);
    digests.forEach((d, i) => {
      index.set(d, i);
    });
    // Delete from the middle, the head and the tail of the bucket's chain.
    for (const i of [2, 4, 0]) assert.equal(index.delete(digests[i] as Digest), true);
    assert.equal(index.delete(digests[2] as Digest), false);
    assert.deepEqual(
      digests.map((d) => index.get(d)),
      [undefined, 1, undefined, 3, undefined],
    );
    assert.equal(index.size, 2);
  });

  it('iterates from the least recently set or touched to the most recent', () => {
    const index = new DigestIndex<string>();
    const [a, b, c] = colliding(3);
    if (a === undefined || b === undefined || c === undefined) throw new Error('no digests');
    index.set(a, 'a');
    index.set(b, 'b');
    index.set(c, 'c');
    assert.deepEqual(values(index), ['a', 'b', 'c']);
    assert.equal(index.touch(a), true);
    assert.deepEqual(values(index), ['b', 'c', 'a']);
    index.set(b, 'B');
    assert.deepEqual(values(index), ['c', 'a', 'B']);
    assert.equal(index.oldestValue(), 'c');
    assert.equal(index.touch(makeDigest(SHA256, '0'.repeat(64), 1)), false);
  });

  it('adds only absent digests, and reports whether it did', () => {
    const index = new DigestIndex<string>();
    const [a] = colliding(1);
    if (a === undefined) throw new Error('no digest');
    assert.equal(index.add(a, 'first'), true);
    assert.equal(index.add(makeDigest(SHA256, a.hash, a.size), 'second'), false);
    assert.equal(index.get(a), 'first');
  });

  it('adds an absent digest as the oldest entry, keeping a present one where it is', () => {
    const index = new DigestIndex<number>();
    const [a, b, c, d] = colliding(4);
    if (a === undefined || b === undefined || c === undefined || d === undefined) {
      throw new Error('no digests');
    }
    assert.equal(index.addOldest(a, 1), true);
    index.set(b, 2);
    assert.equal(index.addOldest(c, 3), true);
    assert.equal(index.addOldest(b, 4), false);
    assert.equal(index.addOldest(d, 5), true);
    assert.deepEqual(values(index), [5, 3, 1, 2]);
    assert.equal(index.oldestValue(), 5);
    assert.equal(index.deleteOldest(), d);
    index.touch(c);
    assert.deepEqual(values(index), [1, 2, 3]);
  });

  it('lets iteration delete the entry it just yielded, as eviction does', () => {
    const index = new DigestIndex<number>();
    const digests = colliding(4);
    digests.forEach((d, i) => {
      index.set(d, i);
    });
    const seen: number[] = [];
    for (const [digest, value] of index.entries()) {
      seen.push(value);
      if (value % 2 === 0) index.delete(digest);
    }
    assert.deepEqual(seen, [0, 1, 2, 3]);
    assert.deepEqual(values(index), [1, 3]);
  });

  it('removes the oldest entry first and empties completely', () => {
    const index = new DigestIndex<number>();
    const digests = colliding(3);
    digests.forEach((d, i) => {
      index.set(d, i);
    });
    assert.equal(index.deleteOldest(), digests[0]);
    assert.deepEqual(values(index), [1, 2]);
    index.clear();
    assert.equal(index.size, 0);
    assert.equal(index.deleteOldest(), undefined);
    assert.equal(index.get(digests[1] as Digest), undefined);
    index.set(digests[1] as Digest, 7);
    assert.deepEqual(values(index), [7]);
  });

  it('drops repeated digests, keeping first occurrences in order', () => {
    const [a, b, c] = colliding(3);
    if (a === undefined || b === undefined || c === undefined) throw new Error('no digests');
    const other = makeDigest(SHA256, '1'.repeat(64), 1);
    const distinct = [a, other];
    assert.equal(uniqueDigests(distinct), distinct, 'a list without repeats is returned as is');
    const copyOfA = makeDigest(SHA256, a.hash, a.size);
    assert.deepEqual(uniqueDigests([a, b, other, copyOfA, c, b, other]), [a, b, other, c]);
  });
});
