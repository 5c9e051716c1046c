/**
 * Blobs spread over several stores by weighted rendezvous (highest random
 * weight) hashing. Each shard has a stable key; a digest goes to the shard
 * whose score for (key, digest) is highest, with the score scaled so that a
 * shard's share of the blobs is proportional to its weight. Adding a shard
 * moves only the blobs it now wins (about weight/total of them) and removing
 * one moves only its own: no blob moves between two shards that stay.
 */
import type { Digest } from '../digest/digest.ts';
import type { BlobStore, BlobWriter, MissingBlobListener, ReadRange } from './blob-store.ts';
import { closeEvery, missingInOrder, sumStats } from './store-fan-out.ts';

/** One shard of a {@link ShardingBlobStore}. */
export interface Shard {
  /**
   * Stable identity of the shard: placement depends on it, not on the
   * shard's position, so renaming a shard moves its blobs and reordering
   * moves none.
   */
  readonly key: string;
  /** Relative share of the blobs; positive. */
  readonly weight: number;
  readonly store: BlobStore;
}

/** Options of {@link ShardingBlobStore}. Every shard's store is closed by its `close`. */
export interface ShardingBlobStoreOptions {
  /** At least one shard, with distinct keys. */
  readonly shards: readonly Shard[];
}

/** A shard with its hash seeds. */
interface PlacedShard extends Shard {
  readonly seedHigh: number;
  readonly seedLow: number;
}

/** Routes each digest to one shard chosen by weighted rendezvous hashing. */
export class ShardingBlobStore implements BlobStore {
  readonly #shards: readonly PlacedShard[];
  readonly stats: BlobStore['stats'];

  constructor(options: ShardingBlobStoreOptions) {
    if (options.shards.length === 0) throw new TypeError('a sharding store needs a shard');
    const keys = new Set<string>();
    for (const shard of options.shards) {
      if (keys.has(shard.key)) throw new TypeError(`shard key "${shard.key}" is used twice`);
      keys.add(shard.key);
      if (!(shard.weight > 0) || !Number.isFinite(shard.weight)) {
        throw new TypeError(`shard "${shard.key}": weight must be a positive number`);
      }
    }
    this.#shards = options.shards.map((shard) => ({
      ...shard,
      seedHigh: fnv1a(shard.key, 0x811c9dc5),
      seedLow: fnv1a(shard.key, 0x01000193),
    }));
    this.stats = sumStats(options.shards.map((s) => s.store));
  }

  /** The key of the shard that holds `digest`. */
  shardOf(digest: Digest): string {
    return this.#place(digest).key;
  }

  get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    return this.#place(digest).store.get(digest, range);
  }

  put(digest: Digest): Promise<BlobWriter> {
    return this.#place(digest).store.put(digest);
  }

  /** One findMissing per shard that holds any of the digests, all at once. */
  async findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    const byShard = new Map<PlacedShard, Digest[]>();
    for (const d of digests) {
      const shard = this.#place(d);
      const list = byShard.get(shard);
      if (list === undefined) byShard.set(shard, [d]);
      else list.push(d);
    }
    const answers = await Promise.all(
      [...byShard].map(([shard, list]) => shard.store.findMissing(list)),
    );
    return missingInOrder(digests, answers.flat());
  }

  noteUsed(digests: readonly Digest[], onMissing?: MissingBlobListener): void {
    for (const d of digests) this.#place(d).store.noteUsed?.([d], onMissing);
  }

  /** Closes every shard. */
  close(): Promise<void> {
    return closeEvery(this.#shards.map((s) => s.store));
  }

  #place(digest: Digest): PlacedShard {
    const shards = this.#shards;
    if (shards.length === 1) return shards[0] as PlacedShard;
    // Two 32-bit words of the hash (uniform for every digest function).
    const high = Number.parseInt(digest.hash.slice(0, 8), 16) | 0;
    const low = Number.parseInt(digest.hash.slice(8, 16), 16) | 0;
    let best = shards[0] as PlacedShard;
    let bestScore = -1;
    for (const shard of shards) {
      const score = shard.weight / -Math.log(unitInterval(high, low, shard));
      if (score > bestScore) {
        bestScore = score;
        best = shard;
      }
    }
    return best;
  }
}

/**
 * A pseudo-random number in (0, 1) from the digest's words and the shard's
 * seeds: 53 bits from two rounds of murmur3's finaliser, so each shard sees
 * an independent uniform value per digest. With weight w, the score
 * w / -ln(u) makes a shard win a share w / Σw of the digests.
 */
function unitInterval(high: number, low: number, shard: PlacedShard): number {
  const a = fmix32(high ^ shard.seedHigh);
  const b = fmix32(low ^ shard.seedLow ^ a);
  const bits53 = (a >>> 0) * 2 ** 21 + (b >>> 11);
  return (bits53 + 0.5) / 2 ** 53;
}

function fmix32(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

function fnv1a(text: string, basis: number): number {
  let h = basis;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}
