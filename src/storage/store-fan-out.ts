/**
 * Helpers shared by the decorators that spread blobs over several stores
 * (sharding, mirrored, size-partitioned).
 */
import type { Digest } from '../digest/digest.ts';
import type { BlobStore, StoreStats } from './blob-store.ts';

/**
 * The digests of `asked` that appear in `missing`, each once and in the
 * order they were asked, whatever order the child stores answered in.
 */
export function missingInOrder(asked: readonly Digest[], missing: readonly Digest[]): Digest[] {
  if (missing.length === 0) return [];
  const keys = new Set<string>();
  for (const d of missing) keys.add(d.key);
  const out: Digest[] = [];
  for (const d of asked) {
    if (keys.delete(d.key)) out.push(d);
  }
  return out;
}

/**
 * The stats of stores that split the blobs between them: sums, with the
 * oldest access of all. Undefined unless every store keeps stats.
 */
export function sumStats(stores: readonly BlobStore[]): (() => Promise<StoreStats>) | undefined {
  if (!stores.every((s) => s.stats !== undefined)) return undefined;
  return async () => {
    const all = await Promise.all(stores.map((s) => (s.stats as () => Promise<StoreStats>)()));
    let oldest: number | undefined;
    for (const s of all) {
      if (s.oldestAccessMs !== undefined && (oldest === undefined || s.oldestAccessMs < oldest)) {
        oldest = s.oldestAccessMs;
      }
    }
    const sum = (field: 'bytes' | 'blobs' | 'maxBytes' | 'evictions' | 'evictedBytes') =>
      all.reduce((total, s) => total + s[field], 0);
    return {
      bytes: sum('bytes'),
      blobs: sum('blobs'),
      maxBytes: sum('maxBytes'),
      evictions: sum('evictions'),
      evictedBytes: sum('evictedBytes'),
      oldestAccessMs: oldest,
    };
  };
}

/** Closes every store, rejecting with the first failure after all were tried. */
export async function closeEvery(stores: readonly BlobStore[]): Promise<void> {
  const results = await Promise.allSettled(stores.map((s) => s.close()));
  for (const result of results) if (result.status === 'rejected') throw result.reason;
}
