/**
 * A directory tree read from a CAS, either by its root Directory digest
 * (GetTree, then reads of whatever it did not return) or from a `Tree`
 * message (an output directory's `tree_digest`), and its entries as paths,
 * for listing and downloading.
 */
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { type Digest, digestOf, makeDigest } from '../digest/digest.ts';
import { invalidArgument } from '../errors.ts';
import { Directory } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { expandedTreeSize } from './expanded-tree-size.ts';
import { fetchDirectoryTree, type TreeSource } from './fetch-directory-tree.ts';
import { MissingBlobsError } from './missing-blobs-error.ts';

/** Every Directory of a tree, by `Digest.key`, and which one is the root. */
export interface FetchedTree {
  readonly root: Digest;
  readonly directories: ReadonlyMap<string, Directory>;
}

/** A regular file of a tree. */
export interface FileEntry {
  readonly kind: 'file';
  /** Relative to the root, `/`-separated. */
  readonly path: string;
  readonly digest: Digest;
  readonly executable: boolean;
}

/** A directory of a tree (not the root). */
export interface DirectoryEntry {
  readonly kind: 'directory';
  readonly path: string;
  readonly digest: Digest;
}

/** A symlink of a tree, never followed. */
export interface SymlinkEntry {
  readonly kind: 'symlink';
  readonly path: string;
  readonly target: string;
}

/** One entry of a listing. */
export type TreeEntry = FileEntry | DirectoryEntry | SymlinkEntry;

/** Fetches every Directory under `root`; NOT_FOUND naming each absent Directory. */
export async function fetchTree(source: TreeSource, root: Digest): Promise<FetchedTree> {
  const { directories, missing } = await fetchDirectoryTree(source, root);
  if (missing.length > 0) throw new MissingBlobsError(missing, 'reading the directory tree');
  return { root, directories };
}

/**
 * Reads a `Tree` message. Its children are hashed exactly as stored (not
 * re-encoded), so that the DirectoryNode digests that name them still match.
 */
export async function fetchTreeMessage(
  source: { readBlob(digest: Digest): Promise<Buffer> },
  treeDigest: Digest,
): Promise<FetchedTree> {
  const bytes = await source.readBlob(treeDigest);
  let root: Uint8Array | undefined;
  const children: Uint8Array[] = [];
  try {
    const reader = new BinaryReader(bytes);
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (wireType === 2 && field === 1) root = reader.bytes();
      else if (wireType === 2 && field === 2) children.push(reader.bytes());
      else reader.skip(wireType);
    }
  } catch {
    throw invalidArgument(`blob ${treeDigest.hash}/${treeDigest.size} is not a Tree message`);
  }
  if (root === undefined) {
    throw invalidArgument(`blob ${treeDigest.hash}/${treeDigest.size} is not a Tree message`);
  }
  const directories = new Map<string, Directory>();
  let rootDigest: Digest | undefined;
  for (const raw of [root, ...children]) {
    const digest = await digestOf(treeDigest.fn, raw);
    rootDigest ??= digest;
    directories.set(digest.key, decodeDirectory(raw, digest));
  }
  return { root: rootDigest as Digest, directories };
}

/**
 * Tries to read `bytes` as a Directory: it must decode and re-encode to the
 * same bytes (canonical, no unknown fields) and name its children validly.
 * A file's contents almost never pass, so this tells a Directory from a file
 * when the user did not say which a digest is.
 */
export function asDirectory(bytes: Uint8Array, fn: Digest['fn']): Directory | undefined {
  try {
    const directory = Directory.decode(bytes);
    if (!Buffer.from(Directory.encode(directory).finish()).equals(bytes)) return undefined;
    listDirectory(fn, directory);
    return directory;
  } catch {
    return undefined;
  }
}

/** Lists the entries of one Directory message; names are validated. */
export function listDirectory(fn: Digest['fn'], directory: Directory, prefix = ''): TreeEntry[] {
  const entries: TreeEntry[] = [];
  const names = new Set<string>();
  const claim = (name: string): string => {
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
      throw invalidArgument(`directory "${prefix}" holds an invalid name "${name}"`);
    }
    if (names.has(name)) throw invalidArgument(`"${name}" appears twice in "${prefix}"`);
    names.add(name);
    return prefix === '' ? name : `${prefix}/${name}`;
  };
  const digest = (path: string, m: { hash: string; sizeBytes: number } | undefined) => {
    if (m === undefined) throw invalidArgument(`"${path}" has no digest`);
    return makeDigest(fn, m.hash, m.sizeBytes, `"${path}"`);
  };
  for (const f of directory.files) {
    const path = claim(f.name);
    entries.push({
      kind: 'file',
      path,
      digest: digest(path, f.digest),
      executable: f.isExecutable,
    });
  }
  for (const d of directory.directories) {
    const path = claim(d.name);
    entries.push({ kind: 'directory', path, digest: digest(path, d.digest) });
  }
  for (const s of directory.symlinks) {
    const path = claim(s.name);
    if (s.target === '' || s.target.includes('\0')) {
      throw invalidArgument(`symlink "${path}" has an empty or invalid target`);
    }
    entries.push({ kind: 'symlink', path, target: s.target });
  }
  return entries.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

/** The Directory at `digest`; NOT_FOUND when the tree lacks it. */
export function directoryAt(tree: FetchedTree, digest: Digest): Directory {
  const directory = tree.directories.get(digest.key);
  if (directory === undefined) throw new MissingBlobsError([digest], 'reading the directory tree');
  return directory;
}

/**
 * Every entry under the root, each directory followed by its contents
 * (parents before children). Refuses trees that expand to more than
 * `maxEntries` entries (a small DAG can expand to a huge tree).
 */
export function walkTree(tree: FetchedTree, maxEntries = 1_000_000): TreeEntry[] {
  // Counted per distinct directory first, so that a DAG naming 2^40 paths costs nothing to refuse.
  if (expandedTreeSize(tree.root, tree.directories, maxEntries) > maxEntries) {
    throw invalidArgument(`the tree expands to more than ${maxEntries} entries`);
  }
  const out: TreeEntry[] = [];
  const visit = (directory: Directory, prefix: string) => {
    for (const entry of listDirectory(tree.root.fn, directory, prefix)) {
      out.push(entry);
      if (out.length > maxEntries) {
        throw invalidArgument(`the tree expands to more than ${maxEntries} entries`);
      }
      if (entry.kind === 'directory') visit(directoryAt(tree, entry.digest), entry.path);
    }
  };
  visit(directoryAt(tree, tree.root), '');
  return out;
}

/** Decodes a Directory blob; INVALID_ARGUMENT naming the blob when it is not one. */
export function decodeDirectory(bytes: Uint8Array, digest: Digest): Directory {
  try {
    return Directory.decode(bytes);
  } catch {
    throw invalidArgument(`blob ${digest.hash}/${digest.size} is not a Directory message`);
  }
}
