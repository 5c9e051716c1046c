/**
 * Turns a directory on disk (an action's output directory, or a tree the CLI
 * uploads) into REAPI messages: one canonical
 * Directory per directory (entries sorted by UTF-8 bytes, files with their
 * executable bit, symlinks as SymlinkNodes, never followed), and a `Tree` of
 * them written in the topologically sorted record form REAPI describes for
 * `is_topologically_sorted`: the root first, then every distinct child
 * directory exactly once, each after a directory that references it.
 *
 * Sockets, FIFOs and devices cannot be represented and are left out, unless
 * the tree is confined (an action's outputs, see {@link CollectOptions.confine}):
 * they fail the collection then.
 */
import { closeSync, type Dirent, readlinkSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Digest, digestOf, toDigestMessage } from '../digest/digest.ts';
import type { DigestFunction } from '../digest/digest-function.ts';
import { fromFsError } from '../errors.ts';
import {
  Directory,
  type DirectoryNode,
  type FileNode,
  type SymlinkNode,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { ConcurrencyLimiter } from './concurrency-limiter.ts';
import {
  type ConfinedSource,
  descriptorPath,
  hashConfined,
  openConfinedDirectory,
  specialFileError,
} from './confined-file.ts';
import { digestFile } from './digest-file.ts';

/** A file inside a collected directory, to upload from disk. */
export interface LocalFileBlob {
  readonly digest: Digest;
  readonly path: string;
  /** Set for a confined tree: read the file again only as this says. */
  readonly confined?: ConfinedSource;
}

/** A directory on disk as messages and blobs. */
export interface CollectedDirectory {
  /** The encoded Tree (root, then children in topological order). */
  readonly tree: Buffer;
  readonly treeDigest: Digest;
  /** Digest of the encoded root Directory. */
  readonly rootDigest: Digest;
  /** Every distinct encoded Directory, the root included, by `Digest.key`. */
  readonly directories: ReadonlyMap<string, { digest: Digest; data: Buffer }>;
  /** Every file in the tree (one per path). */
  readonly files: readonly LocalFileBlob[];
}

/** Options for {@link collectDirectory}. */
export interface CollectOptions {
  readonly fn: DigestFunction;
  /** Absolute path of the directory. */
  readonly path: string;
  /** Bounds concurrent file system work (hashing, reads). */
  readonly limiter: ConcurrencyLimiter;
  /**
   * Paths relative to `path` (`/`-separated) to leave out, with everything
   * under them: `kiln run` leaves out its declared outputs, so that outputs
   * downloaded into the input directory do not change the next run's inputs.
   */
  readonly skip?: ReadonlySet<string>;
  /**
   * For a tree an untrusted process wrote and may still change (an action's
   * outputs, collected by a worker that is often root): every directory and
   * file is opened and checked as `confined-file.ts` describes, so nothing
   * outside `root` is listed or read, and a FIFO, socket or device fails the
   * collection with FAILED_PRECONDITION instead of being left out. Unset for
   * the user's own files (the CLI).
   */
  readonly confine?: {
    /** Canonical path (realpath) of the input root; `path` lies inside it. */
    readonly root: string;
    /** The output path of `path`, as errors name it and its entries. */
    readonly name: string;
  };
}

interface Encoded {
  readonly digest: Digest;
  readonly data: Buffer;
  /** Keys of the child directories, in entry order. */
  readonly children: readonly string[];
}

const byName = (a: { name: string }, b: { name: string }) =>
  Buffer.compare(Buffer.from(a.name), Buffer.from(b.name));

/** Reads the directory at `options.path` into a Tree and its blobs. */
export async function collectDirectory(options: CollectOptions): Promise<CollectedDirectory> {
  const encoded = new Map<string, Encoded>();
  const files: LocalFileBlob[] = [];
  const root =
    (await encodeDirectory(options, options.path, '', encoded, files)) ??
    (await emptyDirectory(options.fn, encoded));

  // Pre-order from the root, each distinct directory once: parents before children.
  const order: Encoded[] = [];
  const seen = new Set<string>([root.digest.key]);
  const visit = (dir: Encoded) => {
    for (const key of dir.children) {
      if (seen.has(key)) continue;
      seen.add(key);
      const child = encoded.get(key) as Encoded;
      order.push(child);
      visit(child);
    }
  };
  visit(root);
  const tree = Buffer.concat([record(0x0a, root.data), ...order.map((d) => record(0x12, d.data))]);
  return {
    tree,
    treeDigest: await digestOf(options.fn, tree),
    rootDigest: root.digest,
    directories: new Map([...encoded].map(([k, e]) => [k, { digest: e.digest, data: e.data }])),
    files,
  };
}

/**
 * Encodes one directory. Resolves undefined for a directory that is empty
 * only because `options.skip` left out everything in it: it held nothing but
 * skipped paths (outputs, for `kiln run`), so it goes too.
 */
async function encodeDirectory(
  options: CollectOptions,
  path: string,
  relative: string,
  encoded: Map<string, Encoded>,
  files: LocalFileBlob[],
): Promise<Encoded | undefined> {
  const { limiter, fn, confine } = options;
  // How errors name an entry: by its output path.
  const prefix = confine?.name ?? '';
  const nameOf = (child: string) =>
    prefix === '' ? child : child === '' ? prefix : `${prefix}/${child}`;
  const { entries, targets } = await limiter.run(() =>
    listDirectory(path, confine && { root: confine.root, name: nameOf(relative) }),
  );
  const fileNodes: FileNode[] = [];
  const dirNodes: Array<DirectoryNode & { key: string }> = [];
  const symlinkNodes: SymlinkNode[] = [];
  let skipped = false;
  await Promise.all(
    entries.map(async (entry) => {
      const full = join(path, entry.name);
      const childRelative = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (options.skip?.has(childRelative)) {
        skipped = true;
        return;
      }
      if (entry.isDirectory()) {
        const child = await encodeDirectory(options, full, childRelative, encoded, files);
        if (child === undefined) {
          skipped = true;
          return;
        }
        dirNodes.push({
          name: entry.name,
          digest: toDigestMessage(child.digest),
          key: child.digest.key,
        });
      } else if (entry.isFile()) {
        const { digest, isExecutable, confined } = await limiter.run(() =>
          hashFile(fn, full, confine && { root: confine.root, name: nameOf(childRelative) }),
        );
        files.push({ digest, path: full, confined });
        fileNodes.push({
          name: entry.name,
          digest: toDigestMessage(digest),
          isExecutable,
          nodeProperties: undefined,
        });
      } else if (entry.isSymbolicLink()) {
        const target = targets.get(entry.name) as string;
        symlinkNodes.push({ name: entry.name, target, nodeProperties: undefined });
      } else if (confine !== undefined) {
        throw specialFileError(nameOf(childRelative), entry);
      }
    }),
  );
  if (skipped && fileNodes.length + dirNodes.length + symlinkNodes.length === 0) return undefined;
  fileNodes.sort(byName);
  dirNodes.sort(byName);
  symlinkNodes.sort(byName);
  const data = Buffer.from(
    Directory.encode({
      files: fileNodes,
      directories: dirNodes.map(({ name, digest }) => ({ name, digest })),
      symlinks: symlinkNodes,
      nodeProperties: undefined,
    }).finish(),
  );
  const digest = await digestOf(fn, data);
  const result: Encoded = { digest, data, children: dirNodes.map((d) => d.key) };
  encoded.set(digest.key, result);
  return result;
}

/**
 * A directory's entries, and the targets of its symlinks. Confined, the
 * directory is opened and checked first, and listed (symlinks read) through
 * its descriptor, so the names are those of that directory even if a parent
 * is swapped for a symlink meanwhile; the descriptor is closed before this
 * resolves, so open descriptors stay bounded by the limiter.
 */
async function listDirectory(
  path: string,
  confine: { root: string; name: string } | undefined,
): Promise<{ entries: Dirent[]; targets: Map<string, string> }> {
  const fd = confine && openConfinedDirectory(path, confine.root, confine.name);
  const at = fd === undefined ? path : descriptorPath(fd);
  try {
    const entries = await readdir(at, { withFileTypes: true });
    // Symlinks are read here, while the listed directory is still held open;
    // reading one is a metadata call of microseconds.
    const targets = new Map<string, string>();
    for (const entry of entries) {
      if (entry.isSymbolicLink()) targets.set(entry.name, readlinkSync(join(at, entry.name)));
    }
    return { entries, targets };
  } catch (err) {
    throw fromFsError(err, `reading directory ${path}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Digest and executable bit of a file: by path, or confined (see `confined-file.ts`). */
async function hashFile(
  fn: DigestFunction,
  path: string,
  confine: { root: string; name: string } | undefined,
): Promise<{ digest: Digest; isExecutable: boolean; confined?: ConfinedSource }> {
  if (confine !== undefined) {
    // The contents of a small file are dropped: the whole tree's would be
    // too much to hold, and most are in the CAS already, never read again.
    const { digest, isExecutable, source } = await hashConfined(
      fn,
      path,
      confine.root,
      confine.name,
    );
    return { digest, isExecutable, confined: source };
  }
  const [info, digest] = await Promise.all([lstat(path), digestFile(fn, path)]);
  return { digest, isExecutable: (info.mode & 0o100) !== 0 };
}

/** The empty Directory, for a root whose every entry was skipped. */
async function emptyDirectory(fn: DigestFunction, encoded: Map<string, Encoded>): Promise<Encoded> {
  const data = Buffer.alloc(0);
  const result: Encoded = { digest: await digestOf(fn, data), data, children: [] };
  encoded.set(result.digest.key, result);
  return result;
}

/** One Tree record: a single-byte field tag, the length as a varint, the message. */
function record(tag: number, message: Buffer): Buffer {
  const header: number[] = [tag];
  let length = message.byteLength;
  while (length >= 0x80) {
    header.push((length & 0x7f) | 0x80);
    length = Math.floor(length / 128);
  }
  header.push(length);
  return Buffer.concat([Buffer.from(header), message]);
}
