/**
 * Where the disk store keeps its files, and how it finds them again at open:
 * blobs in `<blobs>/<fn>/<first two hex chars>/<hash>_<size>`. Nothing here
 * keeps state; `DiskBlobStore` owns the index built from a scan.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Digest, makeDigest } from '../digest/digest.ts';
import { type DigestFunction, digestFunctionByName } from '../digest/digest-function.ts';
import { invalidArgument } from '../errors.ts';
import { DigestIndex } from './digest-index.ts';
import type { PackSlot } from './pack-log.ts';

/** A blob's shard directory and file. */
export interface BlobLocation {
  readonly dir: string;
  readonly file: string;
}

/** A valid blob file found by {@link scanBlobs}. */
export interface FoundBlob {
  /** The digest its name stands for (the size in the name, which is the length in a CAS). */
  readonly digest: Digest;
  /** Its length in bytes. */
  readonly size: number;
  /** Its modification time: the last recorded access. */
  readonly mtimeMs: number;
}

/** Options of {@link scanBlobs}. */
export interface ScanOptions {
  /** The `blobs` directory of the store. */
  readonly blobsDir: string;
  /** Whether a file's length must equal the size in its name (see `DiskBlobStoreOptions`). */
  readonly contentAddressed: boolean;
}

/** What {@link scanBlobs} found. */
export interface ScanResult {
  /** Every valid blob file, in no particular order. */
  readonly blobs: FoundBlob[];
  /** Every shard directory that exists. */
  readonly dirs: string[];
}

const KEY = /^([a-z0-9]+)\/([0-9a-f]+)_(0|[1-9][0-9]{0,15})$/;
const FILE_NAME = /^([0-9a-f]+)_(0|[1-9][0-9]{0,15})$/;
const SHARD = /^[0-9a-f]{2}$/;
/** Shard directories scanned in parallel at open; enough to keep the libuv pool busy. */
const SHARD_CONCURRENCY = 4;

/**
 * Maps a key to its file under `blobsDir`, rejecting anything that is not
 * `<fn>/<hex>_<size>`, so that no key can name a path outside the store.
 */
export function locateBlob(blobsDir: string, key: string): BlobLocation {
  const digest = digestOfKey(key);
  if (digest === undefined) {
    throw invalidArgument(`disk store: malformed blob key "${key.slice(0, 200)}"`);
  }
  // Plain concatenation: every part is checked above, and `path.join`
  // normalizes character by character (a few hundred bytes of garbage per call).
  const dir = `${blobsDir}/${digest.fn.name}/${digest.hash.slice(0, 2)}`;
  return { dir, file: `${dir}/${digest.hash}_${digest.size}` };
}

/** The digest a key stands for (`<fn>/<hex>_<size>`), or undefined when it is malformed. */
export function digestOfKey(key: string): Digest | undefined {
  const [, fnName = '', hash = '', size = ''] = KEY.exec(key) ?? [];
  const fn = digestFunctionByName(fnName);
  const bytes = Number(size);
  if (fn === undefined || hash.length !== fn.hexLength || !Number.isSafeInteger(bytes)) {
    return undefined;
  }
  return makeDigest(fn, hash, bytes);
}

/**
 * Lists the valid blob files under `blobsDir` and removes anything else there:
 * unknown directories and files, and files whose length differs from the size
 * in their name (truncated by a power loss) when `contentAddressed`.
 */
export async function scanBlobs(options: ScanOptions): Promise<ScanResult> {
  const { blobsDir, contentAddressed } = options;
  const shards: { fn: DigestFunction; name: string; dir: string }[] = [];
  const strays: string[] = [];
  for (const fnEntry of await readdir(blobsDir, { withFileTypes: true })) {
    const fn = digestFunctionByName(fnEntry.name);
    const fnDir = join(blobsDir, fnEntry.name);
    if (fn === undefined || !fnEntry.isDirectory()) {
      strays.push(fnDir);
      continue;
    }
    for (const shard of await readdir(fnDir, { withFileTypes: true })) {
      const dir = join(fnDir, shard.name);
      if (SHARD.test(shard.name) && shard.isDirectory()) {
        shards.push({ fn, name: shard.name, dir });
      } else {
        strays.push(dir);
      }
    }
  }
  const blobs: FoundBlob[] = [];
  // A few shards at a time, each with all its lstat calls in flight: measured faster than a
  // fixed pool of workers over all files (the per-await overhead dominates at 100k files).
  await forEachLimit(shards, SHARD_CONCURRENCY, async ({ fn, name: shard, dir }) => {
    const names = await readdir(dir);
    await Promise.all(
      names.map(async (name) => {
        const file = `${dir}/${name}`;
        const [, hash = '', sizeText = ''] = FILE_NAME.exec(name) ?? [];
        const size = Number(sizeText);
        const info =
          hash.length === fn.hexLength && hash.startsWith(shard) && Number.isSafeInteger(size)
            ? await lstat(file).catch(() => undefined)
            : null;
        if (info === undefined) return; // Vanished meanwhile.
        if (info === null || !info.isFile() || (contentAddressed && info.size !== size)) {
          // Not ours, or truncated by a power loss.
          strays.push(file);
        } else {
          const digest = makeDigest(fn, hash, size);
          blobs.push({ digest, size: info.size, mtimeMs: info.mtimeMs });
        }
      }),
    );
  });
  await forEachLimit(strays, SHARD_CONCURRENCY, (path) =>
    rm(path, { recursive: true, force: true }),
  );
  return { blobs, dirs: shards.map((s) => s.dir) };
}

async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A blob found at open: in a file of its own (`slot` undefined) or a pack record. */
export interface KnownBlob {
  readonly digest: Digest;
  readonly size: number;
  /** The file's mtime, or the pack's: its last recorded use. */
  readonly mtimeMs: number;
  readonly slot: PackSlot<Digest> | undefined;
}

/**
 * Merges the blob files and the pack records found at open into one list,
 * oldest first. Packs are read oldest first, so a later record of a key
 * replaces an earlier one; records whose length differs from their digest's
 * size in a content-addressed store are dropped; both go to `release`. A
 * file of a key that also has a record (an older version of Kiln wrote it)
 * is out of date, and listed in `outdated` for deletion.
 */
export function mergeFound(
  files: readonly FoundBlob[],
  records: readonly PackSlot<Digest>[],
  contentAddressed: boolean,
  release: (slot: PackSlot<Digest>) => void,
): { known: KnownBlob[]; outdated: Digest[] } {
  const packed = new DigestIndex<PackSlot<Digest>>();
  for (const slot of records) {
    const earlier = packed.get(slot.tag);
    if (earlier !== undefined) release(earlier);
    if (contentAddressed && slot.size !== slot.tag.size) release(slot);
    else packed.set(slot.tag, slot);
  }
  const outdated = files.filter(({ digest }) => packed.has(digest)).map(({ digest }) => digest);
  const known: KnownBlob[] = [
    ...files
      .filter(({ digest }) => !packed.has(digest))
      .map(({ digest, size, mtimeMs }) => ({ digest, size, mtimeMs, slot: undefined })),
    ...[...packed.entries()].map(([digest, slot]) => ({
      digest,
      size: slot.size,
      mtimeMs: slot.pack.mtimeMs,
      slot,
    })),
  ];
  // A pack's records share its mtime and keep their order: the sort is stable.
  known.sort((a, b) => a.mtimeMs - b.mtimeMs);
  return { known, outdated };
}
