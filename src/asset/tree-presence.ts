/**
 * Whether a whole directory tree is in the CAS: used before answering a
 * FetchDirectory from an association (a client must be able to fetch every
 * file it is pointed at) and before accepting a PushDirectory.
 */
import { status } from '@grpc/grpc-js';
import { type Digest, isEmptyDigest, makeDigest } from '../digest/digest.ts';
import { hasCode } from '../errors.ts';
import type { Directory } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { readDirectory } from '../services/get-tree.ts';
import type { BlobStore } from '../storage/blob-store.ts';

/** Digests per FindMissingBlobs batch. */
const BATCH = 1000;

/**
 * The digests of the tree under `root` that the CAS lacks: missing Directory
 * messages (their subtrees cannot be walked) and missing files. Walks each
 * distinct directory once, reading at most `maxDirectories` of them; a tree
 * larger than that is checked that far. A blob that is not a Directory
 * message counts as missing, since a client could not use it either.
 */
export async function missingInTree(
  cas: BlobStore,
  root: Digest,
  maxDirectories: number,
): Promise<Digest[]> {
  const missing: Digest[] = [];
  const files = new Map<string, Digest>();
  const seen = new Set<string>([root.key]);
  const queue: Digest[] = [root];
  for (let read = 0; read < queue.length && read < maxDirectories; read++) {
    const digest = queue[read] as Digest;
    const directory = await readDirectoryOrNothing(cas, digest);
    if (directory === undefined) {
      missing.push(digest);
      continue;
    }
    try {
      for (const file of directory.files) {
        if (file.digest === undefined) continue;
        const d = makeDigest(root.fn, file.digest.hash, file.digest.sizeBytes, file.name);
        if (!isEmptyDigest(d)) files.set(d.key, d);
      }
      for (const child of directory.directories) {
        if (child.digest === undefined) continue;
        const d = makeDigest(root.fn, child.digest.hash, child.digest.sizeBytes, child.name);
        if (!seen.has(d.key)) {
          seen.add(d.key);
          queue.push(d);
        }
      }
    } catch {
      missing.push(digest);
    }
  }
  const all = [...files.values()];
  for (let i = 0; i < all.length; i += BATCH) {
    missing.push(...(await cas.findMissing(all.slice(i, i + BATCH))));
  }
  return missing;
}

/** A Directory from the CAS; undefined when absent or not a Directory (then the tree is incomplete). */
async function readDirectoryOrNothing(
  cas: BlobStore,
  digest: Digest,
): Promise<Directory | undefined> {
  try {
    return await readDirectory(cas, digest);
  } catch (err) {
    if (hasCode(err, status.INVALID_ARGUMENT)) return undefined;
    throw err;
  }
}
