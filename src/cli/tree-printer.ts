/**
 * Printing directory trees from the CAS: `kiln cas ls` (an `ls -l`-like
 * listing) and `kiln cas tree` (a drawing with the size of every file and
 * directory), as text or as JSON.
 */
import {
  directoryAt,
  type FetchedTree,
  listDirectory,
  type TreeEntry,
  walkTree,
} from '../client/fetched-tree.ts';
import { type Digest, formatDigest } from '../digest/digest.ts';
import { formatSize, type Output, plural, table } from './cli-output.ts';

/** An entry as `--json` prints it. */
interface JsonEntry {
  path: string;
  type: TreeEntry['kind'];
  digest?: string;
  size?: number;
  executable?: boolean;
  target?: string;
}

function toJson(entry: TreeEntry, sizes: ReadonlyMap<string, number>): JsonEntry {
  switch (entry.kind) {
    case 'file':
      return {
        path: entry.path,
        type: 'file',
        digest: formatDigest(entry.digest),
        size: entry.digest.size,
        executable: entry.executable,
      };
    case 'directory':
      return {
        path: entry.path,
        type: 'directory',
        digest: formatDigest(entry.digest),
        size: sizes.get(entry.digest.key) ?? 0,
      };
    case 'symlink':
      return { path: entry.path, type: 'symlink', target: entry.target };
  }
}

/** Total content bytes under each directory of the tree, by `Digest.key`. */
function directorySizes(tree: FetchedTree): Map<string, number> {
  const sizes = new Map<string, number>();
  const sizeOf = (digest: Digest): number => {
    const known = sizes.get(digest.key);
    if (known !== undefined) return known;
    const directory = tree.directories.get(digest.key);
    if (directory === undefined) return 0;
    let total = 0;
    for (const entry of listDirectory(tree.root.fn, directory)) {
      if (entry.kind === 'file') total += entry.digest.size;
      else if (entry.kind === 'directory') total += sizeOf(entry.digest);
    }
    sizes.set(digest.key, total);
    return total;
  };
  sizeOf(tree.root);
  return sizes;
}

/** Prints the root directory's entries, or with `recursive` every entry of the tree. */
export function printListing(out: Output, tree: FetchedTree, recursive: boolean): void {
  const entries = recursive
    ? walkTree(tree)
    : listDirectory(tree.root.fn, directoryAt(tree, tree.root));
  const sizes = recursive ? directorySizes(tree) : new Map<string, number>();
  out.result({ root: formatDigest(tree.root), entries: entries.map((e) => toJson(e, sizes)) }, () =>
    table(
      entries.map((e) => {
        switch (e.kind) {
          case 'file':
            return [
              e.executable ? '-rwxr-xr-x' : '-rw-r--r--',
              formatSize(e.digest.size),
              formatDigest(e.digest),
              e.path,
            ];
          case 'directory':
            return ['drwxr-xr-x', '-', formatDigest(e.digest), `${e.path}/`];
          default:
            return ['lrwxrwxrwx', '-', '-', `${e.path} -> ${e.target}`];
        }
      }),
    ),
  );
}

/** A node of the JSON drawing. */
interface JsonNode extends JsonEntry {
  name: string;
  children?: JsonNode[];
}

/** Draws the tree: `├──`/`└──` lines, `*` marking executables, sizes after names. */
export function printTree(out: Output, tree: FetchedTree): void {
  const sizes = directorySizes(tree);
  const counts = { files: 0, directories: 0, symlinks: 0 };
  const lines: string[] = [];
  const build = (digest: Digest, prefix: string, indent: string): JsonNode[] =>
    listDirectory(tree.root.fn, directoryAt(tree, digest), prefix).map((entry, i, all) => {
      const last = i === all.length - 1;
      const name = entry.path.slice(entry.path.lastIndexOf('/') + 1);
      const node: JsonNode = { name, ...toJson(entry, sizes) };
      const branch = `${indent}${last ? '└── ' : '├── '}`;
      if (entry.kind === 'file') {
        counts.files++;
        lines.push(
          `${branch}${name}${entry.executable ? '*' : ''}  ${formatSize(entry.digest.size)}`,
        );
      } else if (entry.kind === 'symlink') {
        counts.symlinks++;
        lines.push(`${branch}${name} -> ${entry.target}`);
      } else {
        counts.directories++;
        lines.push(`${branch}${name}/  ${formatSize(sizes.get(entry.digest.key) ?? 0)}`);
        node.children = build(entry.digest, entry.path, `${indent}${last ? '    ' : '│   '}`);
      }
      return node;
    });
  const children = build(tree.root, '', '');
  const total = sizes.get(tree.root.key) ?? 0;
  out.result({ root: formatDigest(tree.root), size: total, ...counts, children }, () =>
    [
      `${formatDigest(tree.root)}  (${plural(counts.files, 'file')}, ${plural(counts.directories, 'directory', 'directories')}, ${plural(counts.symlinks, 'symlink')}, ${formatSize(total)})`,
      ...lines,
    ].join('\n'),
  );
}
