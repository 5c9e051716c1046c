/**
 * Fetching every Directory message of a directory tree (a worker's input
 * root, a tree the CLI downloads or lists). One GetTree call
 * returns the whole tree; since GetTree returns messages without their
 * digests, each is re-encoded and hashed to find its digest. Directories it
 * did not return (absent from the CAS, encoded non-canonically by the client,
 * or a server without GetTree) are then read by digest, one tree level per
 * batch, which also tells exactly which ones are missing.
 *
 * A source without GetTree (the in-process worker's CAS, where a read is a
 * call into the store) is read level by level from the start: no message is
 * decoded, re-encoded and hashed only to learn a digest already known. With
 * a {@link DirectoryCache}, directories decoded for earlier trees are taken
 * from it: build tools' input roots share most of their subtrees (a
 * toolchain, a genrule's setup script), and a Directory never changes under
 * its digest.
 */
import { status } from '@grpc/grpc-js';
import { type Digest, digestOf, isEmptyDigest, makeDigest } from '../digest/digest.ts';
import { hasCode, invalidArgument } from '../errors.ts';
import { Directory } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';

/** What fetching a tree needs from a CAS client; {@link CasClient} is one. */
export interface TreeSource {
  /**
   * Every Directory under `root`, root first; NOT_FOUND when the root is
   * absent. Without it, the tree is read level by level.
   */
  getTree?(root: Digest): Promise<Directory[]>;
  /** Reads blobs, listing absent ones in `missing`. */
  readAvailable(
    digests: readonly Digest[],
  ): Promise<{ found: Map<string, Buffer>; missing: Digest[] }>;
}

/** The directories of a tree. */
export interface DirectoryTree {
  /** Every reachable Directory that exists, by `Digest.key`. */
  readonly directories: ReadonlyMap<string, Directory>;
  /** Reachable Directory digests that are not in the CAS. */
  readonly missing: readonly Digest[];
}

const EMPTY_DIRECTORY: Directory = Directory.create({});

/**
 * Decoded Directory messages by digest key, the most recently used kept
 * (at most `capacity` of them). Shared by the trees one worker fetches.
 */
export class DirectoryCache {
  readonly #capacity: number;
  readonly #entries = new Map<string, Directory>();

  constructor(capacity = 4096) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): Directory | undefined {
    const directory = this.#entries.get(key);
    if (directory !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, directory);
    }
    return directory;
  }

  set(key: string, directory: Directory): void {
    this.#entries.delete(key);
    this.#entries.set(key, directory);
    if (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }
}

/** Fetches all Directory messages reachable from `root` (see the module comment). */
export async function fetchDirectoryTree(
  source: TreeSource,
  root: Digest,
  cache?: DirectoryCache,
): Promise<DirectoryTree> {
  const directories = new Map<string, Directory>();
  const cachedRoot = cache?.get(root.key);
  if (cachedRoot !== undefined) directories.set(root.key, cachedRoot);
  else if (!isEmptyDigest(root) && source.getTree !== undefined) {
    await addFromGetTree(source.getTree.bind(source), root, directories);
  }
  const missing: Digest[] = [];
  const seen = new Set<string>([root.key]);
  let level: Digest[] = [root];
  while (level.length > 0) {
    const toRead: Digest[] = [];
    for (const d of level) {
      if (directories.has(d.key)) continue;
      const known = isEmptyDigest(d) ? EMPTY_DIRECTORY : cache?.get(d.key);
      if (known !== undefined) directories.set(d.key, known);
      else toRead.push(d);
    }
    if (toRead.length > 0) {
      const read = await source.readAvailable(toRead);
      missing.push(...read.missing);
      for (const [key, bytes] of read.found) {
        const directory = decodeDirectory(bytes, key);
        directories.set(key, directory);
        cache?.set(key, directory);
      }
    }
    const next: Digest[] = [];
    for (const d of level) {
      const directory = directories.get(d.key);
      if (directory === undefined) continue;
      for (const child of directory.directories) {
        const digest = childDigest(root, child.name, child.digest);
        if (!seen.has(digest.key)) {
          seen.add(digest.key);
          next.push(digest);
        }
      }
    }
    level = next;
  }
  return { directories, missing };
}

/** Digest of a DirectoryNode, under the root's digest function. */
export function childDigest(
  root: Digest,
  name: string,
  message: { hash: string; sizeBytes: number } | undefined,
): Digest {
  if (message === undefined) throw invalidArgument(`directory "${name}" has no digest`);
  return makeDigest(root.fn, message.hash, message.sizeBytes, `directory "${name}"`);
}

async function addFromGetTree(
  getTree: (root: Digest) => Promise<Directory[]>,
  root: Digest,
  into: Map<string, Directory>,
): Promise<void> {
  let list: Directory[];
  try {
    list = await getTree(root);
  } catch (err) {
    // The level-by-level reads find out what is missing, and work without GetTree.
    if (hasCode(err, status.NOT_FOUND) || hasCode(err, status.UNIMPLEMENTED)) return;
    throw err;
  }
  await Promise.all(
    list.map(async (directory) => {
      const digest = await digestOf(root.fn, Directory.encode(directory).finish());
      into.set(digest.key, directory);
    }),
  );
}

function decodeDirectory(bytes: Buffer, key: string): Directory {
  try {
    return Directory.decode(bytes);
  } catch {
    throw invalidArgument(`blob ${key} is not a Directory message`);
  }
}
