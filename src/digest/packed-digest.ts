/**
 * Digests validated straight from the bytes of a request, for requests that
 * name hundreds of thousands of them (FindMissingBlobs). A {@link Digest}
 * made by `parseDigest` costs a decoded message, a 64-character hash string
 * and the digest itself; a {@link PackedDigest} is one small object whose
 * hash sits as binary bytes in a table shared by a batch of digests. The
 * hash string is built only when something reads `hash`: the disk index
 * compares the bytes, and the FindMissingBlobs reply is written from them,
 * so a digest that a disk-backed CAS answers never gets one.
 *
 * A packed digest keeps its batch's table alive (32 bytes per SHA-256
 * digest of the batch): a store that remembers digests beyond a call keeps
 * {@link standaloneDigest} of them instead.
 */
import type { Digest } from './digest.ts';
import { makeDigest } from './digest.ts';
import type { DigestFunction } from './digest-function.ts';

/** Lower-case hex character of each nibble, as a char code. */
const HEX_CHARS = new Uint8Array(16);
for (let i = 0; i < 16; i++) HEX_CHARS[i] = i.toString(16).charCodeAt(0);

/**
 * Value of each byte as a lower-case hex digit, 0x10 for any other byte:
 * OR-ing the values of a hash tells at the end whether any was not hex.
 */
const HEX_VALUE = new Uint8Array(256).fill(0x10);
for (let i = 0; i < 16; i++) HEX_VALUE[i.toString(16).charCodeAt(0)] = i;

/**
 * A validated digest whose hash is `fn.hexLength / 2` bytes of {@link table}
 * from {@link offset}. Made only by {@link PackedDigestBatch.add}, after
 * validating it.
 */
export class PackedDigest implements Digest {
  declare readonly fn: DigestFunction;
  declare readonly size: number;
  /** The batch's hash bytes; shared, never written after the digest was made. */
  declare readonly table: Uint8Array;
  declare readonly offset: number;
  #hash: string | undefined;
  #key: string | undefined;

  constructor(fn: DigestFunction, table: Uint8Array, offset: number, size: number) {
    this.fn = fn;
    this.table = table;
    this.offset = offset;
    this.size = size;
  }

  get hash(): string {
    if (this.#hash === undefined) {
      const { table, offset } = this;
      this.#hash = Buffer.from(table.buffer, table.byteOffset + offset, this.width).toString('hex');
    }
    return this.#hash;
  }

  get key(): string {
    if (this.#key === undefined) this.#key = `${this.fn.name}/${this.hash}_${this.size}`;
    return this.#key;
  }

  /** Bytes of the hash. */
  get width(): number {
    return this.fn.hexLength >> 1;
  }
}

/**
 * `d` itself, or for a {@link PackedDigest} an equal digest that holds
 * nothing of its batch: what a store that remembers digests keeps.
 */
export function standaloneDigest(d: Digest): Digest {
  return d instanceof PackedDigest ? makeDigest(d.fn, d.hash, d.size) : d;
}

/**
 * The first 7 hex characters of a validated hash as a number (28 bits,
 * uniformly spread for content hashes), read from a packed digest's bytes
 * without building its hash string.
 */
export function hashPrefixOf(d: Digest): number {
  if (d instanceof PackedDigest) {
    const { table, offset } = d;
    return (
      (((table[offset] as number) << 20) |
        ((table[offset + 1] as number) << 12) |
        ((table[offset + 2] as number) << 4) |
        ((table[offset + 3] as number) >> 4)) >>>
      0
    );
  }
  const hash = d.hash;
  let n = 0;
  const length = Math.min(7, hash.length);
  for (let i = 0; i < length; i++) {
    const c = hash.charCodeAt(i);
    // '0'-'9' (48-57) → 0-9 and 'a'-'f' (97-102) → 10-15, without a branch.
    n = (n << 4) | (((c & 15) + (c >> 6) * 9) & 15);
  }
  return n;
}

/**
 * Writes the lower-case hex hash of `d` as ASCII into `out` at `pos`;
 * returns the end. From the bytes for a packed digest.
 */
export function writeHexHash(out: Uint8Array, pos: number, d: Digest): number {
  let p = pos;
  if (d instanceof PackedDigest) {
    const { table, offset } = d;
    const end = offset + d.width;
    for (let i = offset; i < end; i++) {
      const b = table[i] as number;
      out[p++] = HEX_CHARS[b >> 4] as number;
      out[p++] = HEX_CHARS[b & 15] as number;
    }
    return p;
  }
  // A loop rather than Buffer#write: for 64 characters the native call costs more.
  const hash = d.hash;
  for (let i = 0; i < hash.length; i++) out[p++] = hash.charCodeAt(i);
  return p;
}

/**
 * Packs digests of one function into a shared table of hash bytes. Room for
 * `capacity` digests is taken at once; {@link add} refuses more.
 */
export class PackedDigestBatch {
  readonly #fn: DigestFunction;
  readonly #width: number;
  readonly #table: Uint8Array;
  #used = 0;

  constructor(fn: DigestFunction, capacity: number) {
    this.#fn = fn;
    this.#width = fn.hexLength >> 1;
    this.#table = new Uint8Array(capacity * this.#width);
  }

  /** The digest function of every digest of the batch. */
  get fn(): DigestFunction {
    return this.#fn;
  }

  /**
   * Validates the hash of `hexLength` ASCII bytes of `bytes` at `start` and
   * `size`, and packs them; undefined when the hash is not the function's
   * length of lower-case hex, the size is not a non-negative safe integer,
   * or the batch is full (the caller then takes the general path, which
   * also words the error).
   */
  add(bytes: Uint8Array, start: number, hexLength: number, size: number): PackedDigest | undefined {
    const fn = this.#fn;
    const width = this.#width;
    const offset = this.#used;
    if (
      hexLength !== fn.hexLength ||
      offset + width > this.#table.length ||
      !(size >= 0 && size <= Number.MAX_SAFE_INTEGER)
    ) {
      return undefined;
    }
    const table = this.#table;
    let bad = 0;
    let p = start;
    for (let i = offset; i < offset + width; i++) {
      const high = HEX_VALUE[bytes[p] as number] as number;
      const low = HEX_VALUE[bytes[p + 1] as number] as number;
      bad |= high | low;
      table[i] = (high << 4) | low;
      p += 2;
    }
    if (bad > 15) return undefined;
    this.#used = offset + width;
    return new PackedDigest(fn, table, offset, size);
  }
}
