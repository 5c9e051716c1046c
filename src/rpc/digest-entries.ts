/**
 * The Digest entries of an encoded FindMissingBlobsRequest, read in place:
 * decoded like the generated decoder but faster ({@link decodeDigest}), or
 * validated straight into packed digests ({@link readValidatedDigests}), so
 * that a request of hundreds of thousands of digests costs one small object
 * per digest.
 */
import { BinaryReader } from '@bufbuild/protobuf/wire';
import type { Digest as ValidDigest } from '../digest/digest.ts';
import type { PackedDigestBatch } from '../digest/packed-digest.ts';
import {
  Digest,
  type Digest as DigestMessage,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';

/**
 * Decodes one Digest from `bytes[start, end)`. Hashes of ASCII characters and
 * sizes of at most 7 varint bytes are read directly; anything else (UTF-8,
 * negative or huge sizes, unknown fields) goes to the generated decoder.
 */
export function decodeDigest(bytes: Buffer, start: number, end: number): DigestMessage {
  let hash = '';
  let sizeBytes = 0;
  let pos = start;
  while (pos < end) {
    const tag = bytes[pos] as number;
    if (tag === 10) {
      const length = bytes[pos + 1] as number;
      const from = pos + 2;
      if (length >= 0x80 || from + length > end || !isAscii(bytes, from, from + length)) break;
      hash = bytes.toString('latin1', from, from + length);
      pos = from + length;
    } else if (tag === 16) {
      let value = 0;
      let p = pos + 1;
      let byte = 0x80;
      for (let shift = 1; byte >= 0x80 && p < end && p - pos <= 7; shift *= 128) {
        byte = bytes[p++] as number;
        value += (byte & 0x7f) * shift;
      }
      if (byte >= 0x80) break;
      sizeBytes = value;
      pos = p;
    } else {
      break;
    }
  }
  return pos === end ? { hash, sizeBytes } : Digest.decode(bytes.subarray(start, end));
}

function isAscii(bytes: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if ((bytes[i] as number) >= 0x80) return false;
  return true;
}

/** How {@link readValidatedDigests} turns digests into validated {@link ValidDigest}s. */
export interface ValidatingReader {
  /**
   * Packs digests of the plain shape; undefined when the request's digest
   * function cannot be told from its value alone.
   */
  batch: PackedDigestBatch | undefined;
  /**
   * Validates any other digest (decoded as the generated decoder would),
   * the `index`-th read by this reader: throws what the request deserves.
   */
  readonly parse: (message: DigestMessage, index: number) => ValidDigest;
  /** Digests read so far, empty ones included: the next one's index. */
  read: number;
}

/**
 * Reads digests of the request in `bytes` from offset `from` into `into`
 * until `max` have been read, leaving out the empty blob's. A digest of the
 * plain shape (a hash of ASCII bytes, then a size of at most 7 varint bytes,
 * nothing else) is validated in place and packed into the reader's batch,
 * with no object but the digest; any other, or one the batch refuses, goes
 * to the reader's `parse`. Returns where to go on from.
 */
export function readValidatedDigests(
  bytes: Buffer,
  from: number,
  max: number,
  reader: ValidatingReader,
  into: ValidDigest[],
): number {
  const { batch, parse } = reader;
  const len = bytes.length;
  let pos = from;
  let taken = 0;
  while (pos < len && taken < max) {
    const tag = bytes[pos] as number;
    if (tag !== 18) {
      // Another field: the generic reader skips it (or stops at an end tag).
      const skipper = new BinaryReader(bytes);
      skipper.pos = pos;
      const t = skipper.uint32();
      if ((t & 7) === 4 || t === 0) return len;
      if (t === 18) {
        pos = readOne(bytes, skipper, reader, into);
        taken++;
        continue;
      }
      skipper.skip(t & 7);
      pos = skipper.pos;
      continue;
    }
    if (pos + 2 > len) throw new RangeError('premature EOF');
    let length = bytes[pos + 1] as number;
    let start = pos + 2;
    if (length >= 0x80) {
      // A digest of 128 bytes or more: never of the plain shape.
      const sizer = new BinaryReader(bytes);
      sizer.pos = pos + 1;
      pos = readOne(bytes, sizer, reader, into);
      taken++;
      continue;
    }
    const end = start + length;
    if (end > len) throw new RangeError('premature EOF');
    taken++;
    const index = reader.read++;
    let digest: ValidDigest | undefined;
    if (batch !== undefined && bytes[start] === 10) {
      length = bytes[start + 1] as number;
      start += 2;
      const hashEnd = start + length;
      let size = 0;
      let p = hashEnd;
      if (length < 0x80 && hashEnd <= end) {
        if (p < end && bytes[p] === 16) {
          p++;
          let byte = 0x80;
          for (let shift = 1; byte >= 0x80 && p < end && shift <= 2 ** 42; shift *= 128) {
            byte = bytes[p++] as number;
            size += (byte & 0x7f) * shift;
          }
          if (byte >= 0x80) p = -1;
        }
        if (p === end) digest = batch.add(bytes, start, length, size);
      }
    }
    digest ??= parse(decodeDigest(bytes, pos + 2, end), index);
    if (digest.size !== 0 || digest.hash !== digest.fn.emptyHash) into.push(digest);
    pos = end;
  }
  return pos;
}

/** Reads one digest at the reader's position (just past its tag) the general way. */
function readOne(
  bytes: Buffer,
  at: BinaryReader,
  reader: ValidatingReader,
  into: ValidDigest[],
): number {
  const length = at.uint32();
  const start = at.pos;
  const end = start + length;
  if (end > bytes.length) throw new RangeError('premature EOF');
  const digest = reader.parse(decodeDigest(bytes, start, end), reader.read++);
  if (digest.size !== 0 || digest.hash !== digest.fn.emptyHash) into.push(digest);
  return end;
}
