/**
 * The one recursive factory that turns the `storage` section of a
 * configuration into a tree of BlobStores. Each node kind is one `case`; a new
 * kind that is added to the schema but not here fails to compile.
 */
import { ConfigError, checkStoreGraph } from '../config/load-config.ts';
import {
  assertNever,
  type KilnConfig,
  resolveStorePath,
  type StoreConfig,
  type StoreRef,
  storeChildren,
} from '../config/schema.ts';
import type { Digest } from '../digest/digest.ts';
import { withContext } from '../errors.ts';
import { type BlobStore, type MissingBlobListener, type ReadRange, statsOf } from './blob-store.ts';
import { createS3Store } from './create-s3-store.ts';
import { DiskBlobStore } from './disk-blob-store.ts';
import { ExistenceCacheBlobStore } from './existence-cache-blob-store.ts';
import { createGrpcStore } from './grpc-store.ts';
import { MemoryBlobStore } from './memory-blob-store.ts';
import { MirroredBlobStore } from './mirrored-blob-store.ts';
import { ReadCachingBlobStore } from './read-caching-blob-store.ts';
import { type Shard, ShardingBlobStore } from './sharding-blob-store.ts';
import { SizePartitionedBlobStore } from './size-partitioned-blob-store.ts';
import { VerifyingBlobStore } from './verifying-blob-store.ts';

/** The stores a server needs, built from configuration. */
export interface Stores {
  /** The CAS, verifying every upload against its digest. */
  readonly cas: BlobStore;
  /** The action cache: ActionResults keyed by action digest (not verified, not content-addressed). */
  readonly actionCache: BlobStore;
  /** Remote Asset associations, keyed by a digest of the request (not content-addressed). */
  readonly assets: BlobStore;
  /**
   * Settles when every disk store of the trees has built its index (disk
   * stores index in the background, see disk-blob-store.ts); rejects with
   * the first store's indexing error. Readiness waits for it.
   */
  whenIndexed(): Promise<void>;
  /** Closes every store that was built, each once. */
  close(): Promise<void>;
}

/**
 * Which tree a store belongs to; disk stores check blob lengths only in the
 * CAS, and grpc stores use the backend's CAS or its action cache.
 */
export type Role = 'cas' | 'actionCache' | 'assets';

/** Options for {@link createStores}. */
export interface CreateStoresOptions {
  /**
   * Called with every node once it is built, with the node's kind and its
   * name (a named store's name, or the config path of an anonymous node);
   * what it returns takes the node's place in the tree. Metrics use it.
   */
  readonly wrapNode?: (store: BlobStore, node: { store: string; kind: string }) => BlobStore;
  /** Disk stores start building their index once this settles (see `DiskBlobStoreOptions`). */
  readonly indexAfter?: Promise<unknown>;
}

/**
 * Builds the CAS and action cache trees of `config.storage`. Named stores are
 * built once, however often they are referenced, and only when referenced.
 * Relative disk paths are resolved against `server.dataDir`. Construction
 * errors carry the config path of the failing node; whatever was built before
 * the failure is closed again.
 */
export async function createStores(
  config: KilnConfig,
  options: CreateStoresOptions = {},
): Promise<Stores> {
  const problems = checkStoreGraph(config);
  if (problems.length === 0) problems.push(...checkAssetStore(config));
  if (problems.length > 0) throw new ConfigError('storage configuration', problems);
  const builder = new TreeBuilder(config, options.wrapNode, options.indexAfter);
  try {
    const casTop = await builder.build(config.storage.cas, 'storage.cas', 'cas');
    const actionCache = await builder.build(
      config.storage.actionCache,
      'storage.actionCache',
      'actionCache',
    );
    const assets = await builder.build(config.storage.assets, 'storage.assets', 'assets');
    const cas = new VerifyingBlobStore({ backend: casTop });
    let closing: Promise<void> | undefined;
    const indexed = builder.whenIndexed();
    // Whoever asks gets the error; nothing else may be left unhandled.
    indexed.catch(() => {});
    return {
      cas,
      actionCache,
      assets,
      whenIndexed: () => indexed,
      close: () => {
        closing ??= closeAll([cas, actionCache, assets]);
        return closing;
      },
    };
  } catch (err) {
    await builder.abandon();
    throw err;
  }
}

/** Where named stores sit in the configuration. */
const NAMED_PREFIX = 'storage.stores.';

/** A named store and how many parents still hold it. */
interface SharedStore {
  readonly store: Promise<BlobStore>;
  holders: number;
}

class TreeBuilder {
  readonly #config: KilnConfig;
  readonly #named = new Map<string, SharedStore>();
  /** Built stores that no parent owns yet: what to close if construction fails. */
  readonly #orphans = new Set<BlobStore>();
  /** Every disk store built, for {@link whenIndexed}. */
  readonly #disks: DiskBlobStore[] = [];

  readonly #wrapNode: CreateStoresOptions['wrapNode'];
  readonly #indexAfter: Promise<unknown> | undefined;

  constructor(
    config: KilnConfig,
    wrapNode?: CreateStoresOptions['wrapNode'],
    indexAfter?: Promise<unknown>,
  ) {
    this.#config = config;
    this.#wrapNode = wrapNode;
    this.#indexAfter = indexAfter;
  }

  /** Builds (or, for a name, shares) the store `ref` refers to. The caller owns the result. */
  async build(ref: StoreRef, path: string, role: Role): Promise<BlobStore> {
    if (typeof ref !== 'string') return this.#buildNode(ref, path, role);
    let shared = this.#named.get(ref);
    if (shared === undefined) {
      const node = this.#config.storage.stores[ref];
      if (node === undefined) throw new ConfigError(path, [`${path}: unknown store "${ref}"`]);
      const store = this.#buildNode(node, `storage.stores.${ref}`, role).then((s) => {
        this.#orphans.delete(s);
        return s;
      });
      shared = { store, holders: 0 };
      this.#named.set(ref, shared);
    }
    return this.#own(shareHandle(shared, await shared.store));
  }

  /** Settles when every disk store built so far has its index. */
  async whenIndexed(): Promise<void> {
    await Promise.all(this.#disks.map((disk) => disk.whenIndexed()));
  }

  /** Closes everything built so far that no parent owns. */
  async abandon(): Promise<void> {
    await closeAll([...this.#orphans]).catch(() => {});
    this.#orphans.clear();
  }

  async #buildNode(node: StoreConfig, path: string, role: Role): Promise<BlobStore> {
    // Children first, so a child's error carries the child's own path.
    const at = (field: string) => `${path}.${field}`;
    switch (node.kind) {
      case 'memory':
        return this.#construct(
          path,
          node.kind,
          [],
          () => new MemoryBlobStore({ maxBytes: node.maxSize }),
        );
      case 'disk':
        return this.#construct(path, node.kind, [], async () => {
          const disk = await DiskBlobStore.open({
            path: resolveStorePath(this.#config, node.path),
            maxBytes: node.maxSize,
            fsync: node.fsync,
            directIo: node.directIo,
            // Action cache values are ActionResults stored under action digests.
            contentAddressed: role === 'cas',
            // Serve at once after a restart; lookups of blobs not indexed yet wait for the index.
            indexInBackground: true,
            indexAfter: this.#indexAfter,
          });
          this.#disks.push(disk);
          return disk;
        });
      case 'existenceCache': {
        const backend = await this.build(node.backend, at('existenceCache.backend'), role);
        return this.#construct(
          path,
          node.kind,
          [backend],
          () =>
            new ExistenceCacheBlobStore({ backend, ttlMs: node.ttl, maxEntries: node.maxEntries }),
        );
      }
      case 'readCaching': {
        const fast = await this.build(node.fast, at('readCaching.fast'), role);
        const slow = await this.build(node.slow, at('readCaching.slow'), role);
        return this.#construct(
          path,
          node.kind,
          [fast, slow],
          () => new ReadCachingBlobStore({ fast, slow }),
        );
      }
      case 'grpc':
        return this.#construct(path, node.kind, [], () => createGrpcStore(node, role));
      case 'sharding': {
        const shards: Shard[] = [];
        for (const [key, shard] of Object.entries(node.shards)) {
          const store = await this.build(shard.backend, at(`sharding.shards.${key}.backend`), role);
          shards.push({ key, weight: shard.weight, store });
        }
        const stores = shards.map((s) => s.store);
        return this.#construct(path, node.kind, stores, () => new ShardingBlobStore({ shards }));
      }
      case 'mirrored': {
        const a = await this.build(node.a, at('mirrored.a'), role);
        const b = await this.build(node.b, at('mirrored.b'), role);
        return this.#construct(path, node.kind, [a, b], () => new MirroredBlobStore({ a, b }));
      }
      case 'sizePartitioned': {
        const small = await this.build(node.small, at('sizePartitioned.small'), role);
        const large = await this.build(node.large, at('sizePartitioned.large'), role);
        return this.#construct(
          path,
          node.kind,
          [small, large],
          () => new SizePartitionedBlobStore({ small, large, maxSmallBytes: node.maxSmallSize }),
        );
      }
      case 's3':
        return this.#construct(path, node.kind, [], () => createS3Store(node, role === 'cas'));
      default:
        return assertNever(node);
    }
  }

  /** Constructs one node, which then owns `children`; errors gain the node's config path. */
  async #construct(
    path: string,
    kind: string,
    children: readonly BlobStore[],
    create: () => BlobStore | Promise<BlobStore>,
  ): Promise<BlobStore> {
    let store: BlobStore;
    try {
      store = await create();
    } catch (err) {
      throw withContext(err, `${path}.${kind}`);
    }
    for (const child of children) this.#orphans.delete(child);
    if (this.#wrapNode !== undefined) {
      const named = path.startsWith(NAMED_PREFIX) ? path.slice(NAMED_PREFIX.length) : undefined;
      store = this.#wrapNode(store, { store: named ?? path, kind });
    }
    return this.#own(store);
  }

  #own(store: BlobStore): BlobStore {
    this.#orphans.add(store);
    return store;
  }
}

/**
 * Checks `storage.assets`, which the shared store-graph check does not know
 * about: its names must exist, and it must share no store and no disk
 * directory with the CAS or the action cache (association records are keyed
 * by request digests, which must never be mistaken for content).
 */
function checkAssetStore(config: KilnConfig): string[] {
  const { stores } = config.storage;
  const problems: string[] = [];
  const names = (ref: StoreRef, path: string, into: Map<string, string>): void => {
    if (typeof ref === 'string') {
      if (into.has(ref)) return;
      into.set(ref, path);
      const node = stores[ref];
      if (node === undefined) {
        const known = Object.keys(stores).map((n) => `"${n}"`);
        problems.push(
          `${path}: unknown store "${ref}" (defined in storage.stores: ${known.join(', ') || 'none'})`,
        );
      } else names(node, `storage.stores.${ref}`, into);
      return;
    }
    for (const child of storeChildren(ref)) names(child.ref, `${path}.${child.field}`, into);
  };
  const disks = (ref: StoreRef, path: string, into: Array<{ path: string; dir: string }>): void => {
    const node = typeof ref === 'string' ? stores[ref] : ref;
    const at = typeof ref === 'string' ? `storage.stores.${ref}` : path;
    if (node === undefined) return;
    if (node.kind === 'disk')
      into.push({ path: `${at}.disk.path`, dir: resolveStorePath(config, node.path) });
    for (const child of storeChildren(node)) disks(child.ref, `${at}.${child.field}`, into);
  };
  const assetNames = new Map<string, string>();
  names(config.storage.assets, 'storage.assets', assetNames);
  if (problems.length > 0) return problems;
  for (const role of ['cas', 'actionCache'] as const) {
    const other = new Map<string, string>();
    names(config.storage[role], `storage.${role}`, other);
    for (const name of assetNames.keys()) {
      if (other.has(name)) {
        problems.push(`storage.assets: store "${name}" is also used by storage.${role}`);
      }
    }
  }
  const assetDisks: Array<{ path: string; dir: string }> = [];
  const otherDisks: Array<{ path: string; dir: string }> = [];
  disks(config.storage.assets, 'storage.assets', assetDisks);
  disks(config.storage.cas, 'storage.cas', otherDisks);
  disks(config.storage.actionCache, 'storage.actionCache', otherDisks);
  for (const mine of assetDisks) {
    for (const other of otherDisks) {
      const overlaps =
        mine.dir === other.dir ||
        mine.dir.startsWith(`${other.dir}/`) ||
        other.dir.startsWith(`${mine.dir}/`);
      if (overlaps && mine.path !== other.path) {
        problems.push(`${mine.path}: disk path "${mine.dir}" overlaps ${other.path}`);
      }
    }
  }
  return problems;
}

/**
 * A parent's handle on a named store: the same store, except that `close`
 * only closes it when the last of its parents closes, since decorators close
 * their backends and a named store may have several parents.
 */
function shareHandle(shared: SharedStore, store: BlobStore): BlobStore {
  shared.holders++;
  let released = false;
  return {
    get: (digest: Digest, range?: ReadRange) => store.get(digest, range),
    put: (digest: Digest) => store.put(digest),
    findMissing: (digests: readonly Digest[]) => store.findMissing(digests),
    noteUsed: (digests: readonly Digest[], onMissing?: MissingBlobListener) =>
      store.noteUsed?.(digests, onMissing),
    stats: statsOf(store),
    close: async () => {
      if (released) return;
      released = true;
      if (--shared.holders === 0) await store.close();
    },
  };
}

async function closeAll(stores: readonly BlobStore[]): Promise<void> {
  const results = await Promise.allSettled(stores.map((s) => s.close()));
  for (const result of results) if (result.status === 'rejected') throw result.reason;
}
