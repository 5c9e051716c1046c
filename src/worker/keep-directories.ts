/**
 * Emptying a used input root while keeping its directories, so that the next
 * action staged there creates only the directories it does not find. On
 * file systems where creating and deleting inodes is dear (ext4 without a
 * journal scans past recently freed inodes on every creation), a remote
 * build's actions share most of their directory skeleton (`bazel-out/<config>/bin`,
 * `external/<repo>/…`), and keeping it saves a mkdir and a rmdir per
 * directory per action.
 *
 * Imports only Node.js built-ins: the spawn helper runs this.
 */
import { lstatSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Which directories may stay. */
export interface KeepDirectories {
  /** Permission bits a directory must have to stay (those of a fresh one); others are deleted. */
  readonly mode: number;
  /** Most directories kept; the rest are deleted. */
  readonly limit: number;
}

/**
 * Deletes everything under `root` except directories with `keep.mode`,
 * keeping at most `keep.limit` of them, and returns the kept ones as paths
 * relative to `root`, parents before children. Never follows a symlink.
 * Throws when something cannot be deleted.
 */
export function emptyKeepingDirectoriesSync(root: string, keep: KeepDirectories): string[] {
  const kept: string[] = [];
  const walk = (relative: string): void => {
    const dir = relative === '' ? root : join(root, relative);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (!entry.isDirectory()) {
        unlinkSync(path);
        continue;
      }
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (kept.length < keep.limit && (lstatSync(path).mode & 0o7777) === keep.mode) {
        kept.push(child);
        walk(child);
      } else {
        rmSync(path, { recursive: true, force: true, maxRetries: 2 });
      }
    }
  };
  walk('');
  return kept;
}
