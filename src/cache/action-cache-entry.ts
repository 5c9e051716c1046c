/**
 * The stored form of an action cache entry (`kiln.cache.v1.ActionCacheEntry`):
 * the ActionResult with its provenance, or a purge marker. Entries stored by
 * older versions of Kiln, bare ActionResults, still decode, without provenance.
 */
import { ActionResult } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { ActionCacheEntry, type Purged } from '../gen/kiln/cache/v1/entry.js';
import type { Provenance } from './provenance.ts';

/** A decoded entry. */
export interface DecodedEntry {
  /** The result; undefined for a purged entry. */
  readonly result: ActionResult | undefined;
  /** Who wrote it; undefined for entries written before provenance was recorded. */
  readonly provenance: Provenance | undefined;
  /** Set when an administrator purged the entry. */
  readonly purged: Purged | undefined;
}

/**
 * Tag of field 1, length-delimited: how every encoded entry starts. A bare
 * ActionResult never starts with it, since REAPI reserves its field 1.
 */
const ENTRY_TAG = 0x0a;

/** Encodes a result with its provenance. */
export function encodeEntry(result: ActionResult, provenance: Provenance): Uint8Array {
  return ActionCacheEntry.encode({ result, provenance, purged: undefined }).finish();
}

/** Encodes the marker that replaces a purged entry. */
export function encodePurged(purged: Purged, provenance: Provenance | undefined): Uint8Array {
  // The empty result keeps the leading tag that marks the entry format.
  return ActionCacheEntry.encode({ result: ActionResult.create(), provenance, purged }).finish();
}

/** Decodes stored bytes, of either format. Throws on bytes that are neither. */
export function decodeEntry(bytes: Uint8Array): DecodedEntry {
  if (bytes.byteLength === 0 || bytes[0] !== ENTRY_TAG) {
    return { result: ActionResult.decode(bytes), provenance: undefined, purged: undefined };
  }
  const entry = ActionCacheEntry.decode(bytes);
  return {
    result: entry.purged === undefined ? (entry.result ?? ActionResult.create()) : undefined,
    provenance: entry.provenance,
    purged: entry.purged,
  };
}
