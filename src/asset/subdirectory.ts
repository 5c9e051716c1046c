/**
 * Finds a subdirectory of a Directory tree in the CAS, for the `directory`
 * qualifier of FetchDirectory.
 */
import { type Digest, makeDigest } from '../digest/digest.ts';
import { Directory } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type BlobStore, readAll } from '../storage/blob-store.ts';

/**
 * The digest of the directory at `path` (segments) under `root`, or
 * undefined when some segment is not a directory there. Symlinks are not
 * followed: the qualifier names a directory of the archive as stored.
 */
export async function subdirectoryDigest(
  cas: BlobStore,
  root: Digest,
  path: readonly string[],
): Promise<Digest | undefined> {
  let current = root;
  for (const [i, name] of path.entries()) {
    const directory = Directory.decode(await readAll(cas, current));
    const child = directory.directories.find((d) => d.name === name);
    if (child?.digest === undefined) return undefined;
    current = makeDigest(
      root.fn,
      child.digest.hash,
      child.digest.sizeBytes,
      `directory ${path.slice(0, i + 1).join('/')}`,
    );
  }
  return current;
}
