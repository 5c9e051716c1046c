/**
 * How blobs are grouped into batch requests, and how downloaded bytes are
 * checked against their digest.
 */
import { status } from '@grpc/grpc-js';
import type { Digest } from '../digest/digest.ts';
import { KilnError } from '../errors.ts';

/** Bytes a blob's entry in a batch costs beyond its data (digest, framing), counted against the limit. */
export const BATCH_ENTRY_OVERHEAD = 200;
/** Most blobs in one batch request, so that big sets are spread over parallel calls. */
export const MAX_BATCH_ENTRIES = 2000;

/** The `hash_size` pair a server echoes back, to match replies with requests. */
export function wireKey(d: { hash: string; size: number } | { hash: string; sizeBytes: number }) {
  return `${d.hash}_${'size' in d ? d.size : d.sizeBytes}`;
}

/** True when the blob fits in a batch request under `limit` bytes. */
export function fitsBatch(d: Digest, limit: number): boolean {
  return d.size + BATCH_ENTRY_OVERHEAD <= limit;
}

/** Greedy packing of items into batches under `limit` bytes and {@link MAX_BATCH_ENTRIES}. */
export function packBatches<T>(
  items: readonly T[],
  digestOf: (item: T) => Digest,
  limit: number,
): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const cost = digestOf(item).size + BATCH_ENTRY_OVERHEAD;
    if (current.length > 0 && (bytes + cost > limit || current.length >= MAX_BATCH_ENTRIES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += cost;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** Splits `items` into runs of at most `size`. */
export function splitEvery<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Views of `data` of at most `size` bytes each (no copies). */
export function* chunksOf(data: Uint8Array, size: number): Iterable<Uint8Array> {
  for (let at = 0; at < data.byteLength; at += size) yield data.subarray(at, at + size);
}

/** Throws DATA_LOSS unless `size` and `hash` are those of `d`. */
export function verifyBlob(d: Digest, size: number, hash: string): void {
  if (size !== d.size || hash !== d.hash) {
    throw new KilnError(
      status.DATA_LOSS,
      `blob ${d.key} arrived as ${size} bytes hashing to ${hash}; the download is corrupt`,
    );
  }
}
