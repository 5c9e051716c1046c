/**
 * The disk store's in-memory index, with no JavaScript object or string per
 * blob. A `DigestIndex` of per-entry objects cost about 550 bytes of heap
 * per blob (a node, the `Digest` and its strings, an entry object): 133 MB
 * for 240,000 blobs. Here every entry is a row of typed arrays: the hash as
 * bytes, the size, the last access and the last persisted access as
 * doubles, links in recency order, a chain link for its hash bucket, and a
 * stamp that tells a re-added entry from the one it replaced. About 88
 * bytes per SHA-256 blob at full capacity (arrays grow by doubling), 8 more
 * when lengths may differ from digest sizes.
 *
 * There is one table per digest function (hash widths differ, and SHA-256
 * and BLAKE3 share a width), each a chained hash table over its own rows;
 * an entry's id is its row number times 8 plus its table's number, so that
 * the recency list runs across tables. Lookups take a request's `Digest`
 * and compare its hex hash (or a packed digest's bytes, see
 * packed-digest.ts) with the stored bytes in place, without allocating;
 * the bucket is 32 bits of the hash, uniformly distributed for content
 * hashes, taken at an offset drawn at random per table.
 */
import { randomInt } from 'node:crypto';
import { type Digest, makeDigest } from '../digest/digest.ts';
import { DIGEST_FUNCTIONS, type DigestFunction } from '../digest/digest-function.ts';
import { PackedDigest } from '../digest/packed-digest.ts';

/** No entry: what {@link CompactDigestIndex.find} and the links return at an end. */
export const NONE = -1;

/** Bits of an id that name its table. */
const TABLE_BITS = 3;
const TABLE_MASK = (1 << TABLE_BITS) - 1;
const INITIAL_ROWS = 64;

/** Value of each hex digit by char code (masked to 7 bits); hashes are validated hex. */
const HEX = new Uint8Array(128);
for (let i = 0; i < 16; i++) HEX[i.toString(16).charCodeAt(0)] = i;

/** Table number of each digest function, by its REAPI value. */
const TABLE_OF_VALUE: number[] = [];
DIGEST_FUNCTIONS.forEach((fn, i) => {
  TABLE_OF_VALUE[fn.value] = i;
});

function hexByte(hash: string, i: number): number {
  return (
    ((HEX[hash.charCodeAt(i) & 127] as number) << 4) | (HEX[hash.charCodeAt(i + 1) & 127] as number)
  );
}

/** The rows of one digest function's entries. */
class Table {
  readonly fn: DigestFunction;
  readonly tableNo: number;
  /** Bytes per hash. */
  readonly width: number;
  rows = 0;
  hashes = new Uint8Array(0);
  /** The digest's size; -1 for a free row. */
  sizes = new Float64Array(0);
  /** The blob's length: the same array as {@link sizes} unless lengths may differ. */
  lengths = new Float64Array(0);
  readonly #distinctLengths: boolean;
  /**
   * Where in the hash the 32 bits that choose the bucket start, drawn at
   * random: a client that does not know it cannot pick hashes that fill one
   * bucket, however much it is willing to compute.
   */
  readonly #bucketByte: number;
  accessMs = new Float64Array(0);
  persistedMs = new Float64Array(0);
  stamps = new Uint32Array(0);
  /** Ids of the older and newer neighbours in recency order. */
  older = new Int32Array(0);
  newer = new Int32Array(0);
  /** Next row of the same bucket, or of the free list. */
  chain = new Int32Array(0);
  /**
   * First row of each bucket; twice as many buckets as rows, so that most
   * lookups of an absent digest find an empty bucket and read nothing else.
   */
  buckets = new Int32Array(0);
  refs: unknown[] = [];
  /** Rows ever used; rows at and past it are fresh. */
  used = 0;
  /** First free row below {@link used}. */
  free = NONE;

  constructor(fn: DigestFunction, tableNo: number, distinctLengths: boolean) {
    this.fn = fn;
    this.#distinctLengths = distinctLengths;
    this.#bucketByte = randomInt(0, fn.hexLength / 2 - 3);
    this.tableNo = tableNo;
    this.width = fn.hexLength / 2;
    this.#resize(INITIAL_ROWS);
  }

  /** The row of (`hash`, `size`), or NONE. */
  find(hash: string, size: number): number {
    if (hash.length !== this.fn.hexLength) return NONE;
    const { hashes, sizes, chain, width } = this;
    let row = this.buckets[this.#bucketOfHex(hash)] as number;
    while (row !== NONE) {
      // The hash first: in a chain, hashes almost always differ in their first byte.
      let p = row * width;
      let i = 0;
      while (i < hash.length && hashes[p] === hexByte(hash, i)) {
        i += 2;
        p++;
      }
      if (i === hash.length && sizes[row] === size) return row;
      row = chain[row] as number;
    }
    return NONE;
  }

  /** The row of the packed hash at `table[offset]` (this table's width) with `size`, or NONE. */
  findPacked(table: Uint8Array, offset: number, size: number): number {
    const { hashes, sizes, chain, width } = this;
    const b = offset + this.#bucketByte;
    const n =
      ((table[b] as number) << 24) |
      ((table[b + 1] as number) << 16) |
      ((table[b + 2] as number) << 8) |
      (table[b + 3] as number);
    let row = this.buckets[n & (this.buckets.length - 1)] as number;
    while (row !== NONE) {
      let p = row * width;
      let i = offset;
      const end = offset + width;
      while (i < end && hashes[p] === table[i]) {
        i++;
        p++;
      }
      if (i === end && sizes[row] === size) return row;
      row = chain[row] as number;
    }
    return NONE;
  }

  /** Takes a row for (`hash`, `size`), absent, and puts it in its bucket. */
  insert(hash: string, size: number): number {
    let row = this.free;
    if (row !== NONE) {
      this.free = this.chain[row] as number;
    } else {
      if (this.used === this.rows) this.#resize(this.rows * 2);
      row = this.used++;
    }
    const p = row * this.width;
    for (let i = 0; i < hash.length; i += 2) this.hashes[p + i / 2] = hexByte(hash, i);
    this.sizes[row] = size;
    const bucket = this.#bucketOfRow(row);
    this.chain[row] = this.buckets[bucket] as number;
    this.buckets[bucket] = row;
    return row;
  }

  /** Takes `row` out of its bucket and frees it. */
  remove(row: number): void {
    const bucket = this.#bucketOfRow(row);
    let at = this.buckets[bucket] as number;
    if (at === row) {
      this.buckets[bucket] = this.chain[row] as number;
    } else {
      while (this.chain[at] !== row) at = this.chain[at] as number;
      this.chain[at] = this.chain[row] as number;
    }
    this.sizes[row] = -1;
    this.refs[row] = undefined;
    this.chain[row] = this.free;
    this.free = row;
  }

  hashOf(row: number): string {
    const start = row * this.width;
    return Buffer.from(this.hashes.buffer, start, this.width).toString('hex');
  }

  #bucketOfHex(hash: string): number {
    let n = 0;
    const end = this.#bucketByte * 2 + 8;
    for (let i = end - 8; i < end; i++) n = (n << 4) | (HEX[hash.charCodeAt(i) & 127] as number);
    return n & (this.buckets.length - 1);
  }

  #bucketOfRow(row: number): number {
    const { hashes } = this;
    const p = row * this.width + this.#bucketByte;
    const n =
      ((hashes[p] as number) << 24) |
      ((hashes[p + 1] as number) << 16) |
      ((hashes[p + 2] as number) << 8) |
      (hashes[p + 3] as number);
    return n & (this.buckets.length - 1);
  }

  #resize(rows: number): void {
    const grow = <A extends Float64Array | Int32Array | Uint32Array | Uint8Array>(
      old: A,
      fresh: A,
    ): A => {
      fresh.set(old);
      return fresh;
    };
    this.hashes = grow(this.hashes, new Uint8Array(rows * this.width));
    this.sizes = grow(this.sizes, new Float64Array(rows));
    this.lengths = this.#distinctLengths ? grow(this.lengths, new Float64Array(rows)) : this.sizes;
    this.accessMs = grow(this.accessMs, new Float64Array(rows));
    this.persistedMs = grow(this.persistedMs, new Float64Array(rows));
    this.stamps = grow(this.stamps, new Uint32Array(rows));
    this.older = grow(this.older, new Int32Array(rows));
    this.newer = grow(this.newer, new Int32Array(rows));
    this.chain = grow(this.chain, new Int32Array(rows));
    // Filled, not just lengthened: a long array of holes would be kept as a dictionary.
    const refs = new Array<unknown>(rows).fill(undefined);
    for (let row = 0; row < this.used; row++) refs[row] = this.refs[row];
    this.refs = refs;
    this.rows = rows;
    this.buckets = new Int32Array(rows * 2).fill(NONE);
    // Rehash the rows in use; free rows keep their free-list links.
    for (let row = 0; row < this.used; row++) {
      if ((this.sizes[row] as number) < 0) continue;
      const bucket = this.#bucketOfRow(row);
      this.chain[row] = this.buckets[bucket] as number;
      this.buckets[bucket] = row;
    }
  }
}

/**
 * Digest → (size, last access, last persisted access, reference), in
 * recency order, for the disk store. Entries are named by numeric ids, valid
 * until the entry is deleted; an id may be reused afterwards, which
 * {@link stamp} tells apart. `R` is what the owner attaches to an entry
 * (the disk store's pack slot), held in a plain array.
 */
export class CompactDigestIndex<R> {
  readonly #tables: (Table | undefined)[] = [];
  readonly #distinctLengths: boolean;
  #oldest = NONE;
  #newest = NONE;
  #size = 0;
  #stamps = 0;

  /**
   * With `distinctLengths`, an entry's length may differ from its digest's
   * size (a store of values keyed by unrelated digests), at 8 more bytes per
   * entry; otherwise they are one number.
   */
  constructor(options: { readonly distinctLengths?: boolean } = {}) {
    this.#distinctLengths = options.distinctLengths ?? false;
  }

  /** Number of entries. */
  get size(): number {
    return this.#size;
  }

  /** The id of `digest`'s entry, or {@link NONE}. Allocates nothing. */
  find(digest: Digest): number {
    const tableNo = TABLE_OF_VALUE[digest.fn.value] as number;
    const table = this.#tables[tableNo];
    if (table === undefined) return NONE;
    const row =
      digest instanceof PackedDigest
        ? table.findPacked(digest.table, digest.offset, digest.size)
        : table.find(digest.hash, digest.size);
    return row === NONE ? NONE : (row << TABLE_BITS) | tableNo;
  }

  /**
   * Adds an entry for `digest`, which must have none, as the newest (or the
   * oldest, for entries found on disk while newer ones are being added);
   * returns its id. `length` may differ from the digest's size only with
   * `distinctLengths`.
   */
  insert(
    digest: Digest,
    length: number,
    accessMs: number,
    ref: R | undefined,
    oldest = false,
  ): number {
    const tableNo = TABLE_OF_VALUE[digest.fn.value] as number;
    let table = this.#tables[tableNo];
    if (table === undefined) {
      table = new Table(digest.fn, tableNo, this.#distinctLengths);
      this.#tables[tableNo] = table;
    }
    const row = table.insert(digest.hash, digest.size);
    table.lengths[row] = length;
    table.accessMs[row] = accessMs;
    table.persistedMs[row] = accessMs;
    table.stamps[row] = this.#stamps = (this.#stamps + 1) >>> 0;
    table.refs[row] = ref;
    const id = (row << TABLE_BITS) | tableNo;
    if (oldest) this.#linkOldest(table, row, id);
    else this.#linkNewest(table, row, id);
    this.#size++;
    return id;
  }

  /** Removes entry `id`. */
  delete(id: number): void {
    const table = this.#table(id);
    const row = id >> TABLE_BITS;
    this.#unlink(table, row);
    table.remove(row);
    this.#size--;
  }

  /** Makes entry `id` the newest. */
  touch(id: number): void {
    if (id === this.#newest) return;
    const table = this.#table(id);
    const row = id >> TABLE_BITS;
    this.#unlink(table, row);
    this.#linkNewest(table, row, id);
  }

  /** The oldest entry, or {@link NONE}. */
  get oldest(): number {
    return this.#oldest;
  }

  /**
   * The entry after `id` in recency order, or {@link NONE}: read it before
   * deleting `id` to walk from the oldest while deleting.
   */
  newerThan(id: number): number {
    return this.#table(id).newer[id >> TABLE_BITS] as number;
  }

  /** A number that differs between an entry and any later one given the same id. */
  stamp(id: number): number {
    return this.#table(id).stamps[id >> TABLE_BITS] as number;
  }

  /** The blob's length. */
  lengthOf(id: number): number {
    return this.#table(id).lengths[id >> TABLE_BITS] as number;
  }

  /** Changes the blob's length (only with `distinctLengths`, or to the digest's size). */
  setLength(id: number, length: number): void {
    this.#table(id).lengths[id >> TABLE_BITS] = length;
  }

  accessMsOf(id: number): number {
    return this.#table(id).accessMs[id >> TABLE_BITS] as number;
  }

  setAccessMs(id: number, ms: number): void {
    this.#table(id).accessMs[id >> TABLE_BITS] = ms;
  }

  persistedMsOf(id: number): number {
    return this.#table(id).persistedMs[id >> TABLE_BITS] as number;
  }

  setPersistedMs(id: number, ms: number): void {
    this.#table(id).persistedMs[id >> TABLE_BITS] = ms;
  }

  refOf(id: number): R | undefined {
    return this.#table(id).refs[id >> TABLE_BITS] as R | undefined;
  }

  setRef(id: number, ref: R | undefined): void {
    this.#table(id).refs[id >> TABLE_BITS] = ref;
  }

  /** The digest of entry `id`, built anew (for eviction and tools, not per lookup). */
  digestOf(id: number): Digest {
    const table = this.#table(id);
    const row = id >> TABLE_BITS;
    return makeDigest(table.fn, table.hashOf(row), table.sizes[row] as number);
  }

  #table(id: number): Table {
    return this.#tables[id & TABLE_MASK] as Table;
  }

  #linkNewest(table: Table, row: number, id: number): void {
    table.older[row] = this.#newest;
    table.newer[row] = NONE;
    if (this.#newest === NONE) this.#oldest = id;
    else this.#table(this.#newest).newer[this.#newest >> TABLE_BITS] = id;
    this.#newest = id;
  }

  #linkOldest(table: Table, row: number, id: number): void {
    table.newer[row] = this.#oldest;
    table.older[row] = NONE;
    if (this.#oldest === NONE) this.#newest = id;
    else this.#table(this.#oldest).older[this.#oldest >> TABLE_BITS] = id;
    this.#oldest = id;
  }

  #unlink(table: Table, row: number): void {
    const older = table.older[row] as number;
    const newer = table.newer[row] as number;
    if (older === NONE) this.#oldest = newer;
    else this.#table(older).newer[older >> TABLE_BITS] = newer;
    if (newer === NONE) this.#newest = older;
    else this.#table(newer).older[newer >> TABLE_BITS] = older;
  }
}
