/**
 * Collects validated archive entries into an in-memory tree and encodes it as
 * REAPI Directory messages in the CAS. The tree holds digests, never content,
 * and its size is bounded by the entry limit.
 */
import { type Digest, digestOf, toDigestMessage } from '../digest/digest.ts';
import type { DigestFunction } from '../digest/digest-function.ts';
import { invalidArgument, type KilnError } from '../errors.ts';
import {
  Directory,
  type DirectoryNode,
  type FileNode,
  type SymlinkNode,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type BlobStore, putBuffer } from '../storage/blob-store.ts';
import { quote } from './archive-path.ts';

interface DirectoryTreeNode {
  readonly kind: 'directory';
  readonly children: Map<string, TreeNode>;
}
/** A regular file as stored in the CAS. */
export interface FileTreeNode {
  readonly kind: 'file';
  readonly digest: Digest;
  readonly executable: boolean;
}
interface SymlinkTreeNode {
  readonly kind: 'symlink';
  readonly target: string;
}
type TreeNode = DirectoryTreeNode | FileTreeNode | SymlinkTreeNode;

/** What {@link ArchiveTreeBuilder.finish} stored. */
export interface BuiltArchiveTree {
  /** Digest of the root Directory message. */
  readonly root: Digest;
  /** Regular files in the tree (a hard-linked file counts once per name). */
  readonly files: number;
  /** Sum of the sizes of those files. */
  readonly bytes: number;
}

/** Options of {@link ArchiveTreeBuilder}. */
export interface ArchiveTreeBuilderOptions {
  /** Where the Directory messages go. */
  readonly cas: BlobStore;
  /** Digest function of the Directory messages (the archive's own). */
  readonly fn: DigestFunction;
}

/**
 * Builds the tree entry by entry, in archive order. Paths are component
 * arrays from `entryPath`. Collision rules, applied as entries arrive:
 * - a file or symlink replaces an earlier file or symlink of the same path
 *   (the last one wins, as when tar extracts an archive with updated members);
 * - a directory entry for an existing directory is a no-op (tar lists parents
 *   before children, and some archives list them twice);
 * - a file or symlink where a directory is (explicit, or implied by a child),
 *   or a directory where a file or symlink is, is INVALID_ARGUMENT: last-wins
 *   would silently drop a whole subtree, or merge two unrelated things;
 * - a path that goes through a symlink (`link/file`) is INVALID_ARGUMENT,
 *   since a materialised tree would write through the link.
 */
export class ArchiveTreeBuilder {
  readonly #cas: BlobStore;
  readonly #fn: DigestFunction;
  readonly #root: DirectoryTreeNode = { kind: 'directory', children: new Map() };

  constructor(options: ArchiveTreeBuilderOptions) {
    this.#cas = options.cas;
    this.#fn = options.fn;
  }

  /**
   * Throws unless a file or symlink may be put at `path`. Called before an
   * entry's content is read, so that an unsafe entry costs nothing; creates
   * nothing, so that a rejected entry leaves no trace.
   */
  checkLeaf(path: readonly string[]): void {
    if (path.length === 0) {
      throw invalidArgument('an archive entry that is not a directory names the archive root');
    }
    const name = last(path);
    const parent = this.#parent(path, false);
    const existing = parent?.children.get(name);
    if (existing?.kind === 'directory') {
      throw collision(path, 'is a file or symlink, but an earlier entry made it a directory');
    }
  }

  /** Adds a directory and any missing parents. */
  addDirectory(path: readonly string[]): void {
    if (path.length === 0) return;
    const parent = this.#parent(path, true) as DirectoryTreeNode;
    const name = last(path);
    const existing = parent.children.get(name);
    if (existing === undefined) {
      parent.children.set(name, { kind: 'directory', children: new Map() });
    } else if (existing.kind !== 'directory') {
      throw collision(path, `is a directory, but an earlier entry made it a ${existing.kind}`);
    }
  }

  /** Adds a file (the last one wins over an earlier file or symlink). */
  addFile(path: readonly string[], digest: Digest, executable: boolean): void {
    this.#setLeaf(path, { kind: 'file', digest, executable });
  }

  /** Adds a symlink whose target `symlinkTarget` already validated. */
  addSymlink(path: readonly string[], target: string): void {
    this.#setLeaf(path, { kind: 'symlink', target });
  }

  /**
   * The regular file an earlier entry put at `path`, for a hard link to copy.
   * Throws INVALID_ARGUMENT when there is none: tar stores a link's data only
   * once, at the first name, so a link to a later or missing entry is broken,
   * and a link to a directory or symlink has no meaning in a REAPI tree.
   */
  fileAt(path: readonly string[], link: readonly string[]): FileTreeNode {
    const node =
      path.length === 0 ? this.#root : this.#parent(path, false)?.children.get(last(path));
    if (node?.kind === 'file') return node;
    const what = node === undefined ? 'no earlier entry' : `a ${node.kind}`;
    throw invalidArgument(
      `hard link ${quote(link.join('/'))} points to ${quote(path.join('/'))}, which is ${what}; ` +
        'hard links must name a regular file stored earlier in the archive',
    );
  }

  /**
   * Encodes every directory bottom-up, stores the Directory messages the CAS
   * lacks, and returns the root's digest with counts.
   */
  async finish(): Promise<BuiltArchiveTree> {
    const messages = new Map<string, { digest: Digest; data: Uint8Array }>();
    const counts = { files: 0, bytes: 0 };
    const root = await this.#encode(this.#root, messages, counts);
    const all = [...messages.values()];
    const missing = new Set(
      (await this.#cas.findMissing(all.map((m) => m.digest))).map((d) => d.key),
    );
    for (const { digest, data } of all) {
      if (missing.has(digest.key)) await putBuffer(this.#cas, digest, data);
    }
    return { root, ...counts };
  }

  async #encode(
    dir: DirectoryTreeNode,
    messages: Map<string, { digest: Digest; data: Uint8Array }>,
    counts: { files: number; bytes: number },
  ): Promise<Digest> {
    const files: FileNode[] = [];
    const directories: DirectoryNode[] = [];
    const symlinks: SymlinkNode[] = [];
    for (const [name, node] of dir.children) {
      if (node.kind === 'directory') {
        const digest = await this.#encode(node, messages, counts);
        directories.push({ name, digest: toDigestMessage(digest) });
      } else if (node.kind === 'file') {
        counts.files++;
        counts.bytes += node.digest.size;
        files.push({
          name,
          digest: toDigestMessage(node.digest),
          isExecutable: node.executable,
          nodeProperties: undefined,
        });
      } else {
        symlinks.push({ name, target: node.target, nodeProperties: undefined });
      }
    }
    // REAPI requires each list sorted by name; the tree's Maps keep archive order.
    files.sort(byName);
    directories.sort(byName);
    symlinks.sort(byName);
    const data = Directory.encode({
      files,
      directories,
      symlinks,
      nodeProperties: undefined,
    }).finish();
    const digest = await digestOf(this.#fn, data);
    messages.set(digest.key, { digest, data });
    return digest;
  }

  #setLeaf(path: readonly string[], node: FileTreeNode | SymlinkTreeNode): void {
    this.checkLeaf(path);
    (this.#parent(path, true) as DirectoryTreeNode).children.set(last(path), node);
  }

  /**
   * The directory that holds `path`'s last component, creating missing
   * parents when `create` is set (undefined when one is missing otherwise).
   * Throws when a parent is a file or a symlink.
   */
  #parent(path: readonly string[], create: boolean): DirectoryTreeNode | undefined {
    let dir = this.#root;
    for (let i = 0; i < path.length - 1; i++) {
      const name = path[i] as string;
      const child = dir.children.get(name);
      if (child === undefined) {
        if (!create) return undefined;
        const made: DirectoryTreeNode = { kind: 'directory', children: new Map() };
        dir.children.set(name, made);
        dir = made;
      } else if (child.kind === 'directory') {
        dir = child;
      } else {
        const through = quote(path.slice(0, i + 1).join('/'));
        throw invalidArgument(
          child.kind === 'symlink'
            ? `entry ${quote(path.join('/'))} goes through symlink ${through}`
            : `entry ${quote(path.join('/'))} needs ${through} to be a directory, but it is a file`,
        );
      }
    }
    return dir;
  }
}

function last(path: readonly string[]): string {
  return path[path.length - 1] ?? '';
}

function collision(path: readonly string[], what: string): KilnError {
  return invalidArgument(`entry ${quote(path.join('/'))} ${what}`);
}

/** REAPI orders names by their UTF-8 bytes, which differs from UTF-16 order above U+FFFF. */
const byName = (a: { name: string }, b: { name: string }): number =>
  Buffer.compare(Buffer.from(a.name), Buffer.from(b.name));
