/**
 * Where the disk store keeps its files, and how it finds them again at open:
 * blobs in `<blobs>/<fn>/<first two hex chars>/<hash>_<size>`. Nothing here
 * keeps state; `DiskBlobStore` owns the index built from a scan.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Digest, isLowerHex, makeDigest } from '../digest/digest.ts';
import { type DigestFunction, digestFunctionByName } from '../digest/digest-function.ts';
import { invalidArgument } from '../errors.ts';

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

/** A size in a key: decimal, without leading zeros, at most 16 digits. */
const SIZE = /^(0|[1-9][0-9]{0,15})$/;
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

/**
 * The digest a key stands for (`<fn>/<hex>_<size>`), or undefined when it is
 * malformed. Parsed by hand rather than with a RegExp: at open it runs once
 * per pack record, and a million records spent half a second in the RegExp.
 */
export function digestOfKey(key: string): Digest | undefined {
  const slash = key.indexOf('/');
  const underscore = key.indexOf('_', slash + 1);
  if (slash < 1 || underscore < 0) return undefined;
  const fn = digestFunctionByName(key.slice(0, slash));
  if (fn === undefined || underscore - slash - 1 !== fn.hexLength) return undefined;
  const hash = key.slice(slash + 1, underscore);
  const sizeText = key.slice(underscore + 1);
  const bytes = Number(sizeText);
  if (!isLowerHex(hash) || !SIZE.test(sizeText) || !Number.isSafeInteger(bytes)) return undefined;
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
