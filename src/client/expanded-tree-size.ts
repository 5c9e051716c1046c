/**
 * How many entries a Directory DAG holds once expanded into paths, counted
 * without expanding it. Trees reuse identical directories (Bazel's do), so a
 * few dozen small Directory messages can name 2^40 paths: walking the paths
 * to count them costs time and memory in proportion to the expansion, while
 * this costs a visit per distinct directory.
 */
import type { Digest } from '../digest/digest.ts';
import type { Directory } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { childDigest } from './fetch-directory-tree.ts';

/** A directory whose expanded size is being summed, on the depth-first stack. */
interface Frame {
  readonly key: string;
  /** Keys of the child directories, in order; `next` is the next to add. */
  readonly children: readonly string[];
  next: number;
  /** Entries counted so far: the directory's own, then each finished child's subtree. */
  size: number;
}

/**
 * The number of files, directories and symlinks under `root` (the root
 * itself excluded) once every directory is expanded at each path that names
 * it: size(dir) = its files, symlinks and directories + the size of each
 * child directory. Each distinct directory is counted once and remembered.
 *
 * Returns `limit + 1` as soon as the count is known to pass `limit`. Absent
 * directories count as empty, and child nodes without a valid digest are
 * skipped: whoever expands the tree reports those, naming the path. A
 * directory that contains itself (possible only in a store that does not
 * check content against digests) expands without end and counts as over
 * the limit.
 */
export function expandedTreeSize(
  root: Digest,
  directories: ReadonlyMap<string, Directory>,
  limit: number,
): number {
  const over = limit + 1;
  const rootDirectory = directories.get(root.key);
  if (rootDirectory === undefined) return 0;
  const sizes = new Map<string, number>();
  const open = new Set<string>([root.key]);
  const stack: Frame[] = [frameOf(root, root.key, rootDirectory)];
  for (;;) {
    const frame = stack[stack.length - 1] as Frame;
    if (frame.size >= over || frame.next === frame.children.length) {
      const size = Math.min(frame.size, over);
      stack.pop();
      const parent = stack[stack.length - 1];
      if (parent === undefined) return size;
      open.delete(frame.key);
      sizes.set(frame.key, size);
      parent.size += size;
      continue;
    }
    const child = frame.children[frame.next++] as string;
    const known = sizes.get(child);
    if (known !== undefined) {
      frame.size += known;
    } else if (open.has(child)) {
      frame.size = over;
    } else {
      const directory = directories.get(child);
      if (directory !== undefined) {
        open.add(child);
        stack.push(frameOf(root, child, directory));
      }
    }
  }
}

function frameOf(root: Digest, key: string, directory: Directory): Frame {
  const children: string[] = [];
  for (const node of directory.directories) {
    try {
      children.push(childDigest(root, node.name, node.digest).key);
    } catch {
      // Reported by the expansion, with the node's path.
    }
  }
  const own = directory.files.length + directory.directories.length + directory.symlinks.length;
  return { key, children, next: 0, size: own };
}
