/**
 * A map from digests to values that keeps its entries in recency order, for
 * the stores that answer FindMissingBlobs from memory (existence cache, disk
 * index). A `Map<string, V>` keyed by `Digest.key` was their largest cost:
 * every digest of a request arrives as a fresh string, and V8 hashes a fresh
 * 80-character string character by character before it can look it up (about
 * 200 ns per digest here, a third of a 1000-digest request). Content hashes
 * are uniformly distributed, so their first 7 hex characters make a good
 * number key (28 bits, always a small integer), which V8 hashes in constant
 * time.
 */
import { randomInt } from 'node:crypto';
import type { Digest } from '../digest/digest.ts';
import { hashPrefixOf, standaloneDigest } from '../digest/packed-digest.ts';

interface Node<V> {
  readonly digest: Digest;
  value: V;
  /** Neighbours in recency order: `prev` is older, `next` newer. */
  prev: Node<V> | undefined;
  next: Node<V> | undefined;
  /** The next entry of the same bucket. */
  chain: Node<V> | undefined;
}

function sameDigest(a: Digest, b: Digest): boolean {
  // Hash last: a packed digest's string is built on first read.
  return a.size === b.size && a.fn === b.fn && a.hash === b.hash;
}

/**
 * `digests` without repeats (first occurrences, in order): the same array
 * when it has none. Allocates next to nothing when all bucket numbers differ,
 * the usual case, which a set of small integers tells; a list with a
 * shared bucket number is filtered by key.
 */
export function uniqueDigests(digests: Digest[]): Digest[] {
  if (digests.length > MAX_SEEN_SLOTS / 2) return uniqueBySet(digests);
  // An open-addressing set of bucket numbers, reused from call to call and sized to the list
  // (so that it stays in cache): a slot is taken when its stamp is this call's, so nothing needs
  // clearing. Stamp and bucket number sit side by side. A Set cost several times more.
  seen ??= new Int32Array(2 * MAX_SEEN_SLOTS);
  // Odd and drawn at random: bucket numbers a client picked cannot be made to share slots.
  seenMultiplier ??= randomInt(0, 2 ** 31) * 2 + 1;
  seenStamp = (seenStamp + 1) | 0;
  if (seenStamp === 0) {
    seen.fill(0);
    seenStamp = 1;
  }
  const table = seen;
  const stamp = seenStamp;
  const multiplier = seenMultiplier;
  let bits = 6;
  while (1 << bits < 2 * digests.length) bits++;
  const mask = (1 << bits) - 1;
  for (const digest of digests) {
    const bucket = hashPrefixOf(digest);
    let slot = Math.imul(bucket, multiplier) >>> (32 - bits);
    while (table[2 * slot] === stamp) {
      if (table[2 * slot + 1] === bucket) return withoutRepeats(digests);
      slot = (slot + 1) & mask;
    }
    table[2 * slot] = stamp;
    table[2 * slot + 1] = bucket;
  }
  return digests;
}

/** Most slots of the set {@link uniqueDigests} reuses: lists of up to half as many digests. */
const MAX_SEEN_SLOTS = 1 << 16;
let seen: Int32Array | undefined;
let seenStamp = 0;
let seenMultiplier: number | undefined;

function uniqueBySet(digests: Digest[]): Digest[] {
  const buckets = new Set<number>();
  for (const digest of digests) {
    const bucket = hashPrefixOf(digest);
    if (buckets.has(bucket)) return withoutRepeats(digests);
    buckets.add(bucket);
  }
  return digests;
}

function withoutRepeats(digests: Digest[]): Digest[] {
  // By key rather than by bucket: a request can name any number of made-up digests that share
  // a bucket, and comparing them pairwise would take quadratic time.
  const seen = new Set<string>();
  return digests.filter((digest) => {
    const { key } = digest;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Digest → value, in recency order: {@link set} and {@link touch} make an
 * entry the newest, iteration starts at the oldest. Two digests are the same
 * entry when their function, hash and size are equal, exactly as when their
 * keys are. Entries whose hashes share a prefix share a bucket and are told
 * apart by comparing hashes; a client cannot make buckets long without
 * uploading blobs whose hashes share their first 28 bits, each of which costs
 * hundreds of millions of hash computations.
 */
export class DigestIndex<V> {
  readonly #buckets = new Map<number, Node<V>>();
  /** The oldest entry. */
  #head: Node<V> | undefined;
  /** The newest entry. */
  #tail: Node<V> | undefined;
  #size = 0;

  /** Number of entries. */
  get size(): number {
    return this.#size;
  }

  /** The value stored for `digest`, or undefined. */
  get(digest: Digest): V | undefined {
    return this.#find(digest)?.value;
  }

  /** Whether `digest` has an entry. */
  has(digest: Digest): boolean {
    return this.#find(digest) !== undefined;
  }

  /** Stores `value` for `digest` (replacing any value) and makes it the newest entry. */
  set(digest: Digest, value: V): void {
    const found = this.#find(digest);
    if (found !== undefined) {
      found.value = value;
      this.#moveToTail(found);
      return;
    }
    this.#insert(digest, value);
  }

  /**
   * Stores `value` for `digest` as the newest entry unless it has one already;
   * returns whether it was added. One lookup, for sets of digests.
   */
  add(digest: Digest, value: V): boolean {
    if (this.#find(digest) !== undefined) return false;
    this.#insert(digest, value);
    return true;
  }

  /**
   * Stores `value` for `digest` as the oldest entry unless it has one
   * already; returns whether it was added. For entries older than all
   * others, such as those found on disk while newer ones are being added.
   */
  addOldest(digest: Digest, value: V): boolean {
    if (this.#find(digest) !== undefined) return false;
    this.#insert(digest, value);
    this.#moveToHead(this.#tail as Node<V>);
    return true;
  }

  /** Makes the entry of `digest` the newest; returns false when there is none. */
  touch(digest: Digest): boolean {
    const found = this.#find(digest);
    if (found === undefined) return false;
    this.#moveToTail(found);
    return true;
  }

  /** Removes the entry of `digest`; returns whether there was one. */
  delete(digest: Digest): boolean {
    const bucket = hashPrefixOf(digest);
    let previous: Node<V> | undefined;
    for (let node = this.#buckets.get(bucket); node !== undefined; node = node.chain) {
      if (sameDigest(node.digest, digest)) {
        if (previous !== undefined) previous.chain = node.chain;
        else if (node.chain !== undefined) this.#buckets.set(bucket, node.chain);
        else this.#buckets.delete(bucket);
        this.#unlink(node);
        this.#size--;
        return true;
      }
      previous = node;
    }
    return false;
  }

  /** Removes every entry. */
  clear(): void {
    this.#buckets.clear();
    this.#head = undefined;
    this.#tail = undefined;
    this.#size = 0;
  }

  /** The oldest entry's value, or undefined when empty. */
  oldestValue(): V | undefined {
    return this.#head?.value;
  }

  /** Removes the oldest entry; returns its digest, or undefined when empty. */
  deleteOldest(): Digest | undefined {
    const oldest = this.#head?.digest;
    if (oldest !== undefined) this.delete(oldest);
    return oldest;
  }

  /**
   * Entries from the oldest to the newest. The entry just yielded may be
   * deleted before the next step; other changes during iteration are not
   * allowed.
   */
  *entries(): Generator<[Digest, V]> {
    let node = this.#head;
    while (node !== undefined) {
      const next = node.next;
      yield [node.digest, node.value];
      node = next;
    }
  }

  #insert(digest: Digest, value: V): void {
    const bucket = hashPrefixOf(digest);
    const node: Node<V> = {
      // Kept: a packed digest would keep its whole batch alive.
      digest: standaloneDigest(digest),
      value,
      prev: undefined,
      next: undefined,
      chain: this.#buckets.get(bucket),
    };
    this.#buckets.set(bucket, node);
    this.#append(node);
    this.#size++;
  }

  #find(digest: Digest): Node<V> | undefined {
    let node = this.#buckets.get(hashPrefixOf(digest));
    while (node !== undefined && !sameDigest(node.digest, digest)) node = node.chain;
    return node;
  }

  #moveToTail(node: Node<V>): void {
    if (node === this.#tail) return;
    this.#unlink(node);
    this.#append(node);
  }

  #moveToHead(node: Node<V>): void {
    if (node === this.#head) return;
    this.#unlink(node);
    node.next = this.#head;
    if (this.#head !== undefined) this.#head.prev = node;
    else this.#tail = node;
    this.#head = node;
  }

  #append(node: Node<V>): void {
    node.prev = this.#tail;
    node.next = undefined;
    if (this.#tail !== undefined) this.#tail.next = node;
    else this.#head = node;
    this.#tail = node;
  }

  #unlink(node: Node<V>): void {
    if (node.prev !== undefined) node.prev.next = node.next;
    else this.#head = node.next;
    if (node.next !== undefined) node.next.prev = node.prev;
    else this.#tail = node.prev;
    node.prev = undefined;
    node.next = undefined;
  }
}
