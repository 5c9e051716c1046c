/**
 * The FindMissingBlobs reply, encoded while the request is answered: each
 * digest found missing is written out as reply bytes at once instead of
 * being kept as objects until the end. A request of 400,000 digests that are
 * all missing then holds about 28 MB of reply outside the JS heap, rather
 * than 400,000 digest objects and hash strings in it.
 */
import type { Digest } from '../digest/digest.ts';
import {
  type Digest as DigestMessage,
  FindMissingBlobsResponse,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';

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

  constructor(bytes: Buffer) {
    this.bytes = bytes;
  }

  /** Decoded anew on every read, for callers in this process; the server never reads it. */
  get missingBlobDigests(): DigestMessage[] {
    return FindMissingBlobsResponse.decode(this.bytes).missingBlobDigests;
  }
}

/** Length of a digest's encoding without the field tag and length before it. */
function digestLength(d: Digest): number {
  const hash = d.hash.length;
  return 1 + varintSize(hash) + hash + (d.size === 0 ? 0 : 1 + varintSize(d.size));
}

function entryLength(d: Digest): number {
  const length = digestLength(d);
  return 1 + varintSize(length) + length;
}

/**
 * Writes `d` as one `missing_blob_digests` entry at `pos`, exactly as the
 * generated encoder would; returns the end. The hash is validated lower-case
 * hex, so each character is one byte.
 */
function writeEntry(out: Buffer, pos: number, d: Digest): number {
  const { hash, size } = d;
  let p = pos;
  out[p++] = MISSING_DIGESTS_TAG;
  p = writeVarint(out, p, digestLength(d));
  out[p++] = HASH_TAG;
  p = writeVarint(out, p, hash.length);
  // A loop rather than Buffer#write: for 64 characters the native call costs more.
  for (let i = 0; i < hash.length; i++) out[p++] = hash.charCodeAt(i);
  if (size !== 0) {
    out[p++] = SIZE_TAG;
    p = writeVarint(out, p, size);
  }
  return p;
}

/** The first 7 hex characters of a hash as a number: uniformly spread, 28 bits. */
function prefixOf(hash: string): number {
  let n = 0;
  for (let i = 0; i < 7; i++) {
    const c = hash.charCodeAt(i);
    // '0'-'9' (48-57) → 0-9 and 'a'-'f' (97-102) → 10-15, without a branch.
    n = (n << 4) | (((c & 15) + (c >> 6) * 9) & 15);
  }
  return n;
}

/** Options for {@link MissingDigestWriter}. */
export interface MissingDigestWriterOptions {
  /**
   * Whether a digest may be passed in more than one {@link MissingDigestWriter.add}
   * call and must still be written once. Costs a table of 16 to 32 bytes per
   * digest written.
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
}

/**
 * Accumulates the encoded reply of one FindMissingBlobs call from validated
 * digests (lower-case hex hashes of at least 7 characters).
 */
export class MissingDigestWriter {
  #out: Buffer = Buffer.allocUnsafe(0);
  #length = 0;
  /**
   * With deduplication: an open-addressing table of the entries written, as
   * their offset + 1 (0 for a free slot), with their hash prefixes beside.
   * Typed arrays, so that it holds no object per digest.
   */
  #offsets: Int32Array | undefined;
  #prefixes: Int32Array | undefined;
  #entries = 0;

  constructor(options: MissingDigestWriterOptions) {
    if (options.capacity !== undefined) this.#out = Buffer.allocUnsafe(options.capacity);
    if (options.deduplicate) {
      this.#offsets = new Int32Array(1024);
      this.#prefixes = new Int32Array(1024);
    }
  }

  /** Appends `missing` (without repeats of its own) in order, skipping digests written before. */
  add(missing: readonly Digest[]): void {
    let bytes = 0;
    for (const d of missing) bytes += entryLength(d);
    this.#reserve(bytes);
    const out = this.#out;
    for (const d of missing) {
      const end = writeEntry(out, this.#length, d);
      if (this.#offsets === undefined || this.#claim(d.hash, this.#length, end)) {
        this.#length = end;
      }
    }
  }

  /** The reply. The writer must not be used afterwards. */
  finish(): EncodedFindMissingBlobsResponse {
    return new EncodedFindMissingBlobsResponse(this.#out.subarray(0, this.#length));
  }

  #reserve(bytes: number): void {
    const needed = this.#length + bytes;
    if (needed <= this.#out.length) return;
    // Doubling keeps the copies of a many-slice reply to about its size in total.
    const grown = Buffer.allocUnsafe(Math.max(needed, 2 * this.#out.length));
    this.#out.copy(grown, 0, 0, this.#length);
    this.#out = grown;
  }

  /**
   * Records the entry just written at `[start, end)` unless an equal entry
   * was written before; returns whether it is new. Entries are canonical,
   * so equal digests have equal bytes.
   */
  #claim(hash: string, start: number, end: number): boolean {
    const offsets = this.#offsets as Int32Array;
    const prefixes = this.#prefixes as Int32Array;
    const out = this.#out;
    const prefix = prefixOf(hash);
    const mask = offsets.length - 1;
    let slot = prefix & mask;
    for (let offset = offsets[slot] as number; offset !== 0; offset = offsets[slot] as number) {
      if (prefixes[slot] === prefix) {
        const earlier = offset - 1;
        if (out.compare(out, earlier, earlier + (end - start), start, end) === 0) return false;
      }
      slot = (slot + 1) & mask;
    }
    offsets[slot] = start + 1;
    prefixes[slot] = prefix;
    if (++this.#entries * 2 > offsets.length) this.#growTable();
    return true;
  }

  #growTable(): void {
    const offsets = this.#offsets as Int32Array;
    const prefixes = this.#prefixes as Int32Array;
    const grownOffsets = new Int32Array(offsets.length * 2);
    const grownPrefixes = new Int32Array(offsets.length * 2);
    const mask = grownOffsets.length - 1;
    for (let i = 0; i < offsets.length; i++) {
      if (offsets[i] === 0) continue;
      let slot = (prefixes[i] as number) & mask;
      while (grownOffsets[slot] !== 0) slot = (slot + 1) & mask;
      grownOffsets[slot] = offsets[i] as number;
      grownPrefixes[slot] = prefixes[i] as number;
    }
    this.#offsets = grownOffsets;
    this.#prefixes = grownPrefixes;
  }
}
