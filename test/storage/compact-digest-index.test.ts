/**
 * The disk store's typed-array index: checked against a plain Map and array
 * under random operations (fixed seed), through growth, deletes and
 * reinserts, across every digest function, and for its memory per entry.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Digest, makeDigest } from '../../src/digest/digest.ts';
import { DIGEST_FUNCTIONS, type DigestFunction, SHA256 } from '../../src/digest/digest-function.ts';
import { CompactDigestIndex, NONE } from '../../src/storage/compact-digest-index.ts';

/** A small seeded generator (mulberry32), so that every run makes the same operations. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Digest number `n` of `fn`: hashes that differ in few bits (the index
 * draws the bits that choose a bucket at random, and small tables give
 * chains anyway), and sizes that vary.
 */
function digestNo(fn: DigestFunction, n: number): Digest {
  const group = (n >> 2).toString(16).padStart(8, '0');
  const hash = `${group}${n.toString(16).padStart(fn.hexLength - 8, '0')}`;
  return makeDigest(fn, hash, n % 3);
}

/** Keys from the oldest to the newest entry. */
function order(index: CompactDigestIndex<string>): string[] {
  const keys: string[] = [];
  for (let id = index.oldest; id !== NONE; id = index.newerThan(id)) {
    keys.push(index.digestOf(id).key);
  }
  return keys;
}

/** Memory per entry measured by the fixture in a process of its own (see index-memory.ts). */
function memoryPerEntry(kind: 'compact' | 'disk', count: number): number {
  const script = fileURLToPath(new URL('./fixtures/index-memory.ts', import.meta.url));
  const run = spawnSync(process.execPath, ['--expose-gc', script, kind, String(count)], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(run.status, 0, run.stderr);
  const result = JSON.parse(run.stdout) as { bytesPerEntry: number; size: number };
  assert.equal(result.size, count);
  return result.bytesPerEntry;
}

describe('CompactDigestIndex', () => {
  it('matches a Map and an array under random operations, over every digest function', () => {
    const next = random(0x5eed);
    const index = new CompactDigestIndex<string>({ distinctLengths: true });
    /** key → [length, ref]; `recency` from the oldest. */
    const model = new Map<string, [number, string]>();
    let recency: string[] = [];
    const pool = DIGEST_FUNCTIONS.flatMap((fn) =>
      Array.from({ length: 300 }, (_, n) => digestNo(fn, n)),
    );
    for (let step = 0; step < 40_000; step++) {
      const digest = pool[Math.floor(next() * pool.length)] as Digest;
      const { key } = digest;
      const id = index.find(digest);
      assert.equal(id !== NONE, model.has(key), `step ${step}: find ${key}`);
      const op = next();
      if (id === NONE) {
        const length = Math.floor(next() * 1000);
        const oldest = op < 0.3;
        const newId = index.insert(digest, length, step, `r${step}`, oldest);
        assert.equal(index.find(digest), newId);
        model.set(key, [length, `r${step}`]);
        recency = oldest ? [key, ...recency] : [...recency, key];
      } else if (op < 0.4) {
        index.delete(id);
        model.delete(key);
        recency = recency.filter((k) => k !== key);
      } else if (op < 0.8) {
        index.touch(id);
        recency = [...recency.filter((k) => k !== key), key];
      } else {
        const [length, ref] = model.get(key) as [number, string];
        assert.equal(index.lengthOf(id), length);
        assert.equal(index.refOf(id), ref);
        assert.equal(index.digestOf(id).key, key);
      }
      if (step % 1000 === 0) {
        assert.equal(index.size, model.size);
        assert.deepEqual(order(index), recency);
      }
    }
    assert.deepEqual(order(index), recency);
  });

  it('grows by doubling and keeps every entry, its fields and the order', () => {
    const index = new CompactDigestIndex<number>();
    const count = 10_000;
    for (let n = 0; n < count; n++) {
      const digest = digestNo(SHA256, n);
      index.insert(digest, digest.size, n * 10, n % 2 === 0 ? n : undefined);
    }
    assert.equal(index.size, count);
    let n = 0;
    for (let id = index.oldest; id !== NONE; id = index.newerThan(id), n++) {
      const digest = digestNo(SHA256, n);
      assert.equal(index.find(digest), id);
      assert.equal(index.accessMsOf(id), n * 10);
      assert.equal(index.persistedMsOf(id), n * 10);
      assert.equal(index.refOf(id), n % 2 === 0 ? n : undefined);
    }
    assert.equal(n, count);
    // A hash not stored, and a stored hash with another size or function, are absent.
    assert.equal(index.find(digestNo(SHA256, count)), NONE);
    const first = digestNo(SHA256, 1);
    assert.equal(index.find(makeDigest(SHA256, first.hash, first.size + 7)), NONE);
    const blake3 = DIGEST_FUNCTIONS.find((fn) => fn.name === 'blake3') as DigestFunction;
    assert.equal(index.find(makeDigest(blake3, first.hash, first.size)), NONE);
  });

  it('reuses deleted rows, and a stamp tells the new entry from the old', () => {
    const index = new CompactDigestIndex<string>();
    const a = digestNo(SHA256, 1);
    const b = digestNo(SHA256, 2);
    const idA = index.insert(a, a.size, 1, 'a');
    const stampA = index.stamp(idA);
    index.delete(idA);
    assert.equal(index.find(a), NONE);
    assert.equal(index.refOf(idA), undefined);
    const idB = index.insert(b, b.size, 2, 'b');
    assert.equal(idB, idA, 'the freed row is taken again');
    assert.notEqual(index.stamp(idB), stampA);
    const again = index.insert(a, a.size, 3, 'a2');
    assert.equal(index.find(a), again);
    assert.equal(index.refOf(again), 'a2');
    assert.equal(index.find(b), idB);
    assert.equal(index.size, 2);
  });

  it('walks from the oldest while deleting each entry it yields, as eviction does', () => {
    const index = new CompactDigestIndex<undefined>();
    const digests = Array.from({ length: 50 }, (_, n) => digestNo(SHA256, n));
    for (const digest of digests) index.insert(digest, digest.size, 0, undefined);
    // The 10 oldest become the newest, in that order.
    for (const digest of digests.slice(0, 10)) index.touch(index.find(digest));
    // Entries found on disk during indexing go before everything.
    const found = digestNo(SHA256, 99);
    index.insert(found, found.size, 0, undefined, true);
    const expected = [found, ...digests.slice(10), ...digests.slice(0, 10)].map((d) => d.key);
    const evicted: string[] = [];
    for (let id = index.oldest; id !== NONE; ) {
      const newer = index.newerThan(id);
      evicted.push(index.digestOf(id).key);
      index.delete(id);
      id = newer;
    }
    assert.deepEqual(evicted, expected);
    assert.equal(index.size, 0);
    assert.equal(index.oldest, NONE);
  });

  it('keeps the digest size and the length apart only when asked to', () => {
    const distinct = new CompactDigestIndex<undefined>({ distinctLengths: true });
    const digest = digestNo(SHA256, 5);
    const id = distinct.insert(digest, 12345, 0, undefined);
    assert.equal(distinct.lengthOf(id), 12345);
    assert.equal(distinct.find(digest), id, 'found by the digest size, not the length');
    assert.equal(distinct.digestOf(id).key, digest.key);
  });

  it('holds 200,000 SHA-256 entries in under 150 bytes each, heap and buffers', () => {
    // A DigestIndex of entry objects, as the disk store had, takes about 325.
    const bytes = memoryPerEntry('compact', 200_000);
    assert.ok(bytes < 150, `${bytes} bytes per entry`);
  });

  it('lets a disk store hold 200,000 packed blobs in under 300 bytes each', () => {
    // With a DigestIndex of entry objects, and a key string per pack record, it took 478.
    const bytes = memoryPerEntry('disk', 200_000);
    assert.ok(bytes < 300, `${bytes} bytes per blob`);
  });
});
