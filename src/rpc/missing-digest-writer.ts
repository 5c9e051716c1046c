/**
 * The FindMissingBlobs reply, encoded while the request is answered: each
 * digest found missing is written out as reply bytes at once instead of
 * being kept as objects until the end. A request of 400,000 digests that are
 * all missing then holds about 28 MB of reply outside the JS heap, rather
 * than 400,000 digest objects and hash strings in it.
 */
import type { Digest } from '../digest/digest.ts';
import { hashPrefixOf, writeHexHash } from '../digest/packed-digest.ts';
import {
  type Digest as DigestMessage,
  FindMissingBlobsResponse,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { GRPC_FRAME_HEADER_BYTES } from './grpc-frame-headroom.ts';

/** Field 2 (`missing_blob_digests`), length-delimited. */
const MISSING_DIGESTS_TAG = 0x12;
/** Digest field 1 (`hash`), length-delimited. */
const HASH_TAG = 0x0a;
/** Digest field 2 (`size_bytes`), varint. */
const SIZE_TAG = 0x10;

/** The size of the varint encoding of a non-negative safe integer. */
export function varintSize(value: number): number {
  let size = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 128)) size++;
  return size;
}

/** Writes `value` (a non-negative safe integer) as a varint at `pos`; returns the end. */
export function writeVarint(out: Buffer, pos: number, value: number): number {
  let v = value;
  let p = pos;
  while (v >= 0x80) {
    out[p++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[p++] = v;
  return p;
}

/** A FindMissingBlobsResponse already encoded: the server sends {@link bytes} as they are. */
export class EncodedFindMissingBlobsResponse implements FindMissingBlobsResponse {
  readonly bytes: Buffer;
  /**
   * {@link bytes} with {@link GRPC_FRAME_HEADER_BYTES} free bytes in front,
   * when there are: the server can then send the reply without copying it
   * (see grpc-frame-headroom.ts).
   */
  readonly framed: Buffer | undefined;

  constructor(bytes: Buffer, framed?: Buffer) {
    this.bytes = bytes;
    this.framed = framed;
  }

  /** Decoded anew on every read, for callers in this process; the server never reads it. */
  get missingBlobDigests(): DigestMessage[] {
    return FindMissingBlobsResponse.decode(this.bytes).missingBlobDigests;
  }
}

/** The size of the varint of a size below 2^49 (every size a store reports), by comparisons. */
function sizeVarintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return varintSize(value);
}

/**
 * Most bytes one entry takes: tag and length (up to 2 bytes), hash tag and
 * length (2 bytes), the hash, size tag and a size of up to 10 varint bytes.
 */
function maxEntryLength(d: Digest): number {
  return 3 + 3 + d.fn.hexLength + 11;
}

/**
 * Writes `d` as one `missing_blob_digests` entry at `pos`, exactly as the
 * generated encoder would; returns the end. The hash is validated lower-case
 * hex of its function's length, so each character is one byte.
 */
function writeEntry(out: Buffer, pos: number, d: Digest): number {
  const { size } = d;
  const hashLength = d.fn.hexLength;
  let p = pos;
  out[p++] = MISSING_DIGESTS_TAG;
  const hashPart = 1 + (hashLength < 0x80 ? 1 : varintSize(hashLength)) + hashLength;
  p = writeVarint(out, p, hashPart + (size === 0 ? 0 : 1 + sizeVarintSize(size)));
  out[p++] = HASH_TAG;
  p = writeVarint(out, p, hashLength);
  p = writeHexHash(out, p, d);
  if (size !== 0) {
    out[p++] = SIZE_TAG;
    p = writeVarint(out, p, size);
  }
  return p;
}

/** Options for {@link MissingDigestWriter}. */
export interface MissingDigestWriterOptions {
  /**
   * Whether a digest may be passed in more than one {@link MissingDigestWriter.add}
   * call and must still be written once. Costs 8 bytes per digest written
   * and a bitset of up to half a megabyte.
   */
  readonly deduplicate: boolean;
  /**
   * Bytes to reserve at once: an upper bound of the reply (the request's own
   * size is one: a digest is never encoded longer in the reply than in the
   * request) spares copying the reply each time it outgrows its buffer.
   * Pages never written are never resident. The first `add` reserves what it
   * needs when absent.
   */
  readonly capacity?: number;
  /**
   * With deduplication: about how many digests may be written (the
   * request's digest count is an upper bound), to size its tables at once.
   */
  readonly expectedEntries?: number;
}

/**
 * Accumulates the encoded reply of one FindMissingBlobs call from validated
 * digests (lower-case hex hashes of at least 7 characters).
 */
export class MissingDigestWriter {
  /** The reply from {@link GRPC_FRAME_HEADER_BYTES} on: the frame header goes in front. */
  #out: Buffer = Buffer.allocUnsafe(GRPC_FRAME_HEADER_BYTES);
  #length = GRPC_FRAME_HEADER_BYTES;
  readonly #repeats: RepeatFinder | undefined;

  constructor(options: MissingDigestWriterOptions) {
    if (options.capacity !== undefined) {
      this.#out = Buffer.allocUnsafe(GRPC_FRAME_HEADER_BYTES + options.capacity);
    }
    if (options.deduplicate) this.#repeats = new RepeatFinder(options.expectedEntries ?? 0);
  }

  /** Appends `missing` (without repeats of its own) in order; repeats of earlier ones are dropped. */
  add(missing: readonly Digest[]): void {
    let bytes = 0;
    for (const d of missing) bytes += maxEntryLength(d);
    this.#reserve(bytes);
    const out = this.#out;
    const repeats = this.#repeats;
    let length = this.#length;
    for (const d of missing) {
      repeats?.record(hashPrefixOf(d), length);
      length = writeEntry(out, length, d);
    }
    this.#length = length;
  }

  /** The reply. The writer must not be used afterwards. */
  finish(): EncodedFindMissingBlobsResponse {
    if (this.#repeats !== undefined) this.#length = this.#repeats.drop(this.#out, this.#length);
    const framed = this.#out.subarray(0, this.#length);
    return new EncodedFindMissingBlobsResponse(framed.subarray(GRPC_FRAME_HEADER_BYTES), framed);
  }

  #reserve(bytes: number): void {
    const needed = this.#length + bytes;
    if (needed <= this.#out.length) return;
    // Doubling keeps the copies of a many-slice reply to about its size in total.
    const grown = Buffer.allocUnsafe(Math.max(needed, 2 * this.#out.length));
    this.#out.copy(grown, 0, 0, this.#length);
    this.#out = grown;
  }
}

/** Largest groups of entries with one hash prefix that are compared pairwise. */
const PAIRWISE_GROUP = 8;

/**
 * Finds the entries of a reply that repeat an earlier one, and drops them
 * once the reply is complete. A hash table of every entry written took most
 * of the writer's time for a 400,000-digest call (each insertion a cache
 * miss in megabytes of table). Instead, each entry's hash prefix sets a bit
 * in a bitset small enough to stay in cache; an entry whose bit was already
 * set is a suspect (a repeat, or a prefix that shares the bit), and only the
 * suspects' prefixes are looked into at the end, in one pass over the
 * entries. Entries are canonical, so equal digests have equal bytes.
 */
class RepeatFinder {
  readonly #seen: Int32Array;
  readonly #mask: number;
  /** Start offset and hash prefix of every entry, in order. */
  #starts: Int32Array;
  #prefixes: Int32Array;
  #count = 0;
  /** Prefixes of entries whose bit was set before them, and a bitset of them for quick misses. */
  #suspects: Set<number> | undefined;
  #suspectBits: Int32Array | undefined;

  constructor(expected: number) {
    // About 16 bits per expected entry, at most half a megabyte: some 5% of entries are suspects.
    let bits = 1 << 16;
    while (bits < 16 * expected && bits < 1 << 22) bits *= 2;
    this.#seen = new Int32Array(bits >> 5);
    this.#mask = bits - 1;
    const room = Math.max(1024, Math.min(expected, 1 << 20));
    this.#starts = new Int32Array(room);
    this.#prefixes = new Int32Array(room);
  }

  /** Records the entry about to be written at `start`. */
  record(prefix: number, start: number): void {
    const bit = prefix & this.#mask;
    const word = bit >>> 5;
    const flag = 1 << (bit & 31);
    const seen = this.#seen[word] as number;
    if ((seen & flag) === 0) {
      this.#seen[word] = seen | flag;
    } else {
      this.#suspects ??= new Set();
      this.#suspectBits ??= new Int32Array(this.#seen.length);
      this.#suspects.add(prefix);
      this.#suspectBits[word] = (this.#suspectBits[word] as number) | flag;
    }
    if (this.#count === this.#starts.length) this.#grow();
    this.#starts[this.#count] = start;
    this.#prefixes[this.#count] = prefix;
    this.#count++;
  }

  /** Removes the repeated entries from the entries ending at `length`; returns the new length. */
  drop(out: Buffer, length: number): number {
    const suspects = this.#suspects;
    if (suspects === undefined) return length;
    const count = this.#count;
    const starts = this.#starts;
    const endOf = (i: number): number => (i + 1 < count ? (starts[i + 1] as number) : length);
    const suspectBits = this.#suspectBits as Int32Array;
    const mask = this.#mask;
    const groups = new Map<number, number[]>();
    for (let i = 0; i < count; i++) {
      const prefix = this.#prefixes[i] as number;
      const bit = prefix & mask;
      if (((suspectBits[bit >>> 5] as number) & (1 << (bit & 31))) === 0) continue;
      if (!suspects.has(prefix)) continue;
      const group = groups.get(prefix);
      if (group === undefined) groups.set(prefix, [i]);
      else group.push(i);
    }
    const repeated = new Uint8Array(count);
    let repeats = 0;
    const same = (a: number, b: number): boolean => {
      const startA = starts[a] as number;
      const startB = starts[b] as number;
      const lengthA = endOf(a) - startA;
      return (
        lengthA === endOf(b) - startB &&
        out.compare(out, startA, startA + lengthA, startB, startB + lengthA) === 0
      );
    };
    for (const group of groups.values()) {
      if (group.length <= PAIRWISE_GROUP) {
        for (let j = 1; j < group.length; j++) {
          const b = group[j] as number;
          for (let k = 0; k < j; k++) {
            const a = group[k] as number;
            if (repeated[a] === 0 && same(a, b)) {
              repeated[b] = 1;
              repeats++;
              break;
            }
          }
        }
      } else {
        // Made-up digests can share a prefix by the thousand: compare by content, not pairwise.
        const firsts = new Set<string>();
        for (const i of group) {
          const entry = out.toString('latin1', starts[i] as number, endOf(i));
          if (firsts.has(entry)) {
            repeated[i] = 1;
            repeats++;
          } else {
            firsts.add(entry);
          }
        }
      }
    }
    if (repeats === 0) return length;
    let to = count > 0 ? (starts[0] as number) : length;
    for (let i = 0; i < count; i++) {
      const start = starts[i] as number;
      const end = endOf(i);
      if (repeated[i] === 1) continue;
      if (to !== start) out.copyWithin(to, start, end);
      to += end - start;
    }
    return to;
  }

  #grow(): void {
    const starts = new Int32Array(this.#starts.length * 2);
    const prefixes = new Int32Array(this.#prefixes.length * 2);
    starts.set(this.#starts);
    prefixes.set(this.#prefixes);
    this.#starts = starts;
    this.#prefixes = prefixes;
  }
}
